"""Rendering of evaluation reports: rich tables for the terminal, JSON and a reliability diagram."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from bot.core.framework import abbreviations
from bot.core.models import VARIABLES
from bot.core.scoring import VERDICT_BANDS
from bot.evaluation.metrics import OUTCOMES, VERDICTS
from bot.evaluation.runner import EvalReport, RetrievalReport
from bot.terminal import markup_safe, safe

OUTCOME_ABBR = {"intervened": "yes", "limited": "limited", "not_intervened": "no"}


def pct(x: float | None, digits: int = 0) -> str:
    return "n/a" if x is None else f"{100 * x:.{digits}f} %"


def pct1(x: float | None) -> str:
    return pct(x, 1)


def num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def ms(x: float | None) -> str:
    return "n/a" if x is None else (f"{x / 1000:.1f}s" if x >= 1000 else f"{x:.0f}ms")


def case_table(report: EvalReport) -> Table:
    t = Table(
        title=f"{markup_safe(report.label)}: {len(report.results)} cases, engine {report.engine_requested}",
        box=box.SIMPLE_HEAD, pad_edge=False,
    )
    t.add_column("case", no_wrap=True)
    t.add_column("in?", no_wrap=True)
    t.add_column("p", justify="right")
    abbrev = abbreviations()
    for v in VARIABLES:
        t.add_column(abbrev[v], justify="left")
    t.add_column("cites", justify="right", no_wrap=True)
    t.add_column("leaks", justify="right", no_wrap=True)
    t.add_column("time", justify="right", no_wrap=True)
    for r in report.results:
        outcome = OUTCOME_ABBR[r.outcome] + ("*" if r.framework_miss else "")
        if r.error:
            t.add_row(Text(safe(r.id)), outcome, Text(safe(f"error: {r.error}"), style="red"), *[""] * 7, ms(r.latency_ms))
            continue
        cells = []
        for v in VARIABLES:
            got, exp, s = r.predicted_calls.get(v), r.expected.get(v), r.scores.get(v)
            if got is None:
                cells.append(Text("?", style="dim"))
            elif exp is None:
                cells.append(Text(str(s)))
            elif got == exp:
                cells.append(Text(f"{s}✓", style="green"))
            else:
                cells.append(Text(f"{s}✗{exp[0]}", style="red"))
        y = r.outcome != "not_intervened"
        right = (r.probability >= 0.5) == y
        shown = "" if r.likelihood_shown else "·"
        t.add_row(
            Text(safe(r.id)), outcome,
            Text("n/a" if r.likelihood is None else f"{r.likelihood}%{shown}", style="green" if right else "red"),
            *cells,
            f"{r.citations_valid}/{r.citations_shown}",
            Text(str(len(r.date_violations)), style="red" if r.date_violations else ""),
            ms(r.latency_ms),
        )
    t.caption = (
        "in?: did Russia intervene; p: the computed likelihood (· = not shown to users: no proven skill; n/a = no evidence, counted as 50 %); variables: score 0-4, ✓ agrees with the expected call, ✗f/✗m/✗u expected favourable/mixed/unfavourable, "
        "? insufficient evidence; * = a case the framework itself got wrong"
    )
    return t


def summary_table(report: EvalReport) -> Table:
    s = report.summary
    t = Table(title="summary", show_header=False, box=box.SIMPLE)
    t.add_column("metric", no_wrap=True)
    t.add_column("value", justify="right", no_wrap=True)
    t.add_column("reading", style="dim")
    t.add_row("Brier (limited = 1)", num(s.brier), f"lower is better; always 50 % = 0.250, best constant = {num(s.brier_best_constant)}")
    t.add_row("Brier (limited = 0.5)", num(s.brier_limited_half), f"limited outcomes scored 0.5; best constant = {num(s.brier_best_constant_limited_half)}")
    t.add_row("AUC", num(s.auc), "ranks interventions above non-interventions; 0.5 = chance")
    t.add_row("skill", "yes" if s.skill else "no", "beats the best constant on Brier and AUC > 0.5")
    t.add_row("accuracy at 50 %", pct(s.accuracy_at_50), "p >= 50 % read as yes")
    for v in VARIABLES:
        a = s.agreement[v]
        t.add_row(f"agreement: {v}", pct(a.rate), f"{a.agree}/{a.cases}, {a.insufficient} insufficient")
    t.add_row("agreement: all variables", pct(s.agreement_overall), "insufficient = no agreement")
    t.add_row(
        "citation validity", pct(s.citation_validity, 1),
        f"{s.citations_valid}/{s.citations_shown}; must be 100 %",
    )
    t.add_row(
        "quote verification", pct(s.quote_verification, 1),
        f"{s.claims_kept}/{s.claims_made} claims kept (quote found verbatim in its passage)",
    )
    t.add_row("date leaks", str(s.date_violations), "passages dated after as_of; must be 0")
    t.add_row("insufficient evidence", pct(s.insufficient_share), "variables left unscored")
    t.add_row("latency p50 / p95", f"{ms(s.latency_p50_ms)} / {ms(s.latency_p95_ms)}", "per assessment")
    t.add_row("engine used", ", ".join(f"{e} {n}" for e, n in s.engines_used.items()) or "n/a", "cases per engine")
    return t


def three_way_table(report: EvalReport) -> Table:
    s = report.summary
    t = Table(title="outcome (limited as its own class) by the verdict shown", box=box.SIMPLE_HEAD)
    t.add_column("outcome", no_wrap=True)
    lo = 0
    for upper, name in VERDICT_BANDS:
        band = f">={lo}" if upper > 100 else f"{lo}-{upper - 1}"
        t.add_column(f"{name}\n{band} %", justify="right")
        lo = upper
    t.add_column("mean p", justify="right")
    for o in OUTCOMES:
        m = s.mean_likelihood_by_outcome[o]
        t.add_row(o, *[str(s.outcome_by_verdict[o][v] or "·") for v in VERDICTS], "n/a" if m is None else f"{m:.0f} %")
    return t


def calibration_table(report: EvalReport) -> Table | None:
    c = report.calibration
    if c is None:
        return None
    t = Table(title="calibration of the likelihood function (grid search)", show_header=False, box=box.SIMPLE)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("current params", f"beta={c.base_params.beta} delta={c.base_params.delta} prior={c.base_params.prior}")
    t.add_row("Brier with current params", num(c.base_brier) + (" (in-sample)" if c.base_params == c.params else ""))
    t.add_row("fitted on all cases", f"beta={c.params.beta} delta={c.params.delta} prior={c.params.prior}")
    t.add_row("in-sample Brier (optimistic)", num(c.in_sample_brier))
    t.add_row(Text("leave-one-out Brier (honest)", style="bold"), Text(num(c.loo_brier), style="bold"))
    t.add_row("base rate, leave-one-out (no skill)", num(c.base_rate_loo_brier))
    t.add_row("prior", "fitted" if c.fit_prior else "kept (< 2 cases with insufficient evidence)")
    t.add_row("written to", c.written_to or "not written (add --write-params)")
    return t


def render_eval(report: EvalReport) -> Group:
    parts: list = [case_table(report), summary_table(report), three_way_table(report)]
    cal = calibration_table(report)
    if cal is not None:
        parts.append(cal)
    if report.calibration is not None and report.calibration.warnings:
        parts.append(Text("calibration: " + "; ".join(report.calibration.warnings), style="yellow"))
    if report.index_warnings:
        parts.append(Text("index warnings:\n  " + "\n  ".join(report.index_warnings), style="yellow"))
    fell_back = report.summary.engines_used.get("indicators", 0)
    if report.engine_requested == "llm" and fell_back:
        parts.append(
            Text(
                f"note: the LLM failed on {fell_back} of {report.summary.assessed} case(s) and the indicator engine "
                "answered them (see each case's notes in the JSON): those figures are not the LLM's",
                style="yellow",
            )
        )
    if report.params_fitted_here:
        parts.append(
            Text(
                "note: prompts/scoring.yaml was fitted on this case file, so the Brier and accuracy above are "
                "in-sample; the honest figure is the leave-one-out Brier of --calibrate",
                style="yellow",
            )
        )
    if report.summary.reliability_note:
        parts.append(Text(report.summary.reliability_note, style="dim"))
    if report.failures:
        parts.append(Text("FAILED: " + "; ".join(report.failures), style="bold red"))
    else:
        parts.append(Text("checks passed: citation validity 100 %, no date leaks, every case assessed", style="green"))
    return Group(*parts)


def reliability_png(report: EvalReport, path: Path) -> Path | None:
    """Reliability diagram (mean prediction against observed frequency per bin), or None when skipped."""
    bins = report.summary.reliability
    if not bins:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    used = [b for b in bins if b["count"]]
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.plot([b["mean_predicted"] for b in used], [b["observed"] for b in used], marker="o", label="bot")
    for b in used:
        ax.annotate(str(b["count"]), (b["mean_predicted"], b["observed"]), textcoords="offset points", xytext=(5, -10), fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("predicted likelihood")
    ax.set_ylabel("observed share that intervened")
    ax.set_title(f"{report.label} ({report.summary.assessed} cases)\nBrier {num(report.summary.brier)}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def retrieval_table(report: RetrievalReport) -> Group:
    t = Table(title=f"retrieval: {len(report.questions)} questions, {report.documents_indexed} documents, k={report.k}")
    t.add_column("mode")
    t.add_column(f"recall@{report.k}", justify="right")
    t.add_column(f"hit@{report.k}", justify="right")
    t.add_column("MRR", justify="right")
    t.add_column("p50 search", justify="right")
    best = max(report.summary.values(), key=lambda m: m.mrr).mrr
    for mode, m in report.summary.items():
        style = "bold" if m.mrr == best else ""
        t.add_row(Text(mode, style=style), pct(m.recall_at_k, 1), pct(m.hit_rate_at_k, 1), num(m.mrr), ms(m.latency_p50_ms))
    misses = [q for q in report.questions if not q.modes["hybrid"].hit]
    parts: list = [t]
    if report.by_kind:
        kt = Table(title=f"by question kind (recall@{report.k} / MRR)")
        kt.add_column("kind")
        kt.add_column("n", justify="right")
        modes = list(report.summary)
        for mode in modes:
            kt.add_column(mode, justify="right")
        for kind, per_mode in report.by_kind.items():
            best_kind = max(m.mrr for m in per_mode.values())
            cells = [
                Text(f"{pct(m.recall_at_k, 1)} / {num(m.mrr)}", style="bold" if m.mrr == best_kind else "")
                for m in (per_mode[mode] for mode in modes)
            ]
            kt.add_row(kind, str(next(iter(per_mode.values())).n), *cells)
        parts.append(kt)
    if misses:
        mt = Table(title=f"questions hybrid search missed in the top {report.k}")
        mt.add_column("question")
        mt.add_column("relevant")
        mt.add_column("vector / lexical rank", justify="right")
        for q in misses:
            ranks = " / ".join(str(q.modes[m].first_rank or "-") for m in ("vector", "lexical"))
            mt.add_row(Text(safe(q.question)), Text(safe(", ".join(q.relevant))), ranks)
        parts.append(mt)
    return Group(*parts)


# --- comparing with an earlier run -----------------------------------------------------------------

# (label, getter, True when higher is better, formatter)
# (label, the figure of a report, whether higher is better (None: neither), how to show it)
_HEADLINE: list[tuple[str, Callable[[EvalReport], float | None], bool | None, Callable[[Any], str]]] = [
    ("Brier", lambda r: r.summary.brier, False, num),
    ("accuracy at 50 %", lambda r: r.summary.accuracy_at_50, True, pct),
    ("agreement, all variables", lambda r: r.summary.agreement_overall, True, pct),
    *[
        (f"agreement: {v}", (lambda r, v=v: r.summary.agreement[v].rate), True, pct)
        for v in VARIABLES
    ],
    ("insufficient evidence", lambda r: r.summary.insufficient_share, None, pct),
    ("citation validity", lambda r: r.summary.citation_validity, True, pct1),
    ("date leaks", lambda r: r.summary.date_violations, False, str),
    ("LOO Brier", lambda r: r.calibration.loo_brier if r.calibration else None, False, num),
    ("latency p50", lambda r: r.summary.latency_p50_ms, False, ms),
]


def _arrow(old, new, higher_better: bool | None, label: str = "") -> Text:
    if old is None or new is None or old == new or higher_better is None:
        return Text("=" if old == new else "")
    if label.startswith("latency") and abs(new - old) <= 0.25 * max(old, new):
        return Text("≈ (noise)", style="dim")  # wall-clock time on a shared machine
    better = (new > old) == higher_better
    return Text("better" if better else "worse", style="green" if better else "red")


def compare_eval(old: EvalReport, new: EvalReport) -> Group:
    t = Table(title=f"compared with {old.created_at:%Y-%m-%d %H:%M} ({old.engine_requested})", box=box.SIMPLE_HEAD)
    t.add_column("figure", no_wrap=True)
    t.add_column("before", justify="right")
    t.add_column("now", justify="right")
    t.add_column("")
    for label, get, hb, fmt in _HEADLINE:
        a, b = get(old), get(new)
        if a is None and b is None:
            continue
        t.add_row(label, "n/a" if a is None else fmt(a), "n/a" if b is None else fmt(b), _arrow(a, b, hb, label))
    before = {r.id: r for r in old.results}
    moved = Table(title="cases whose likelihood or calls changed", box=box.SIMPLE_HEAD)
    moved.add_column("case", no_wrap=True)
    moved.add_column("outcome")
    moved.add_column("p before → now", justify="right")
    moved.add_column("variables changed")
    abbrev = abbreviations()
    for r in new.results:
        o = before.get(r.id)
        if o is None:
            moved.add_row(Text(safe(r.id)), r.outcome, f"new → {r.likelihood}", "")
            continue
        changed = [f"{abbrev[v]} {o.scores.get(v)}→{r.scores.get(v)}" for v in VARIABLES if o.scores.get(v) != r.scores.get(v)]
        if o.likelihood != r.likelihood or changed:
            moved.add_row(Text(safe(r.id)), r.outcome, f"{o.likelihood} → {r.likelihood}", ", ".join(changed))
    parts: list = [t]
    if moved.row_count:
        parts.append(moved)
    if old.case_file != new.case_file:
        parts.append(Text(f"note: the baseline ran on another case file ({old.case_file})", style="yellow"))
    return Group(*parts)


def compare_retrieval(old: RetrievalReport, new: RetrievalReport) -> Table:
    t = Table(title=f"compared with {old.created_at:%Y-%m-%d %H:%M} (k={old.k})", box=box.SIMPLE_HEAD)
    t.add_column("mode")
    for name in (f"recall@{new.k}", f"hit@{new.k}", "MRR"):
        t.add_column(name, justify="right")
    for mode, m in new.summary.items():
        o = old.summary.get(mode)
        if o is None:
            continue
        cells = []
        for a, b, fmt in ((o.recall_at_k, m.recall_at_k, pct1), (o.hit_rate_at_k, m.hit_rate_at_k, pct1), (o.mrr, m.mrr, num)):
            d = b - a
            style = "green" if d > 1e-9 else "red" if d < -1e-9 else ""
            cells.append(Text(f"{fmt(a)} → {fmt(b)}", style=style))
        t.add_row(mode, *cells)
    return t
