"""Which way of asking the local model carries information? A measurement, not a component.

For every case of a case file, the case's passages are retrieved as the bot retrieves them
(as of the case's date, over the whole docs/ folder), and each variable's plain statement and its
negation (``judge`` in prompts/framework.yaml) are put to the model in two framings, reading the
probabilities of the answer words instead of sampling:

* ``contrast``: "is the statement true? yes/no", asked of the statement and of its negation;
  value = P(yes | statement) - P(yes | negation): a constant yes-bias cancels.
* ``pair``: "which of A and B do the passages support?", asked in both orders; value =
  P(picks the statement) averaged over the two orders, minus 0.5, times 2: position bias cancels.

Each value is turned towards "favours intervention" with the variable's polarity (code, not the
model). The rows go to a JSON file; ``--analyse`` compares framings against the analyst's calls and
the outcomes. Usage:

    .venv/bin/python benchmarks/framings.py ../shared/eval/dev/cases.yaml --out /tmp/dev.json
    .venv/bin/python benchmarks/framings.py --analyse /tmp/dev.json /tmp/heldout.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SYSTEM = (
    "You check statements against news passages. Use only the passages. "
    "Answer with one word."
)


def passages_block(passages) -> str:
    lines = []
    for i, p in enumerate(passages, 1):
        when = p.date.isoformat() if p.date else "undated"
        lines.append(f"[{i}] {p.title} ({when}): {' '.join(p.text.split())}")
    return "\n\n".join(lines)


def run(case_path: Path, out: Path, n_passages: int, threads: int) -> None:
    from bot.app import App
    from bot.config import Settings
    from bot.core.models import VARIABLES
    from bot.core.pipeline import guess_subject
    from bot.core.ports import retrieve_many
    from bot.evaluation.cases import load_cases
    from bot.evaluation.runner import _index
    from bot.llm.llamacpp import LlamaCppLLM
    from bot.llm.model_files import ensure_model

    cf = load_cases(case_path)
    tmp = Path(tempfile.mkdtemp(prefix="framings-"))
    settings = Settings(data_dir=tmp, collection="eval")
    app = App(settings, build_llm=False)
    model = ensure_model(Path.home() / ".cache" / "analyst-bot" / "models")
    llm = LlamaCppLLM(model, n_ctx=4096, n_threads=threads, timeout_s=600)
    rows = []
    try:
        _index(app, "eval", cf.doc_paths(), settings, None)
        fw = app.prompts.framework
        retriever = app.retriever("eval")
        for case in cf.cases:
            subject = guess_subject(case.question) or case.question
            queries = [case.question] + [v.queries[0].format(subject=subject) for v in fw.variables]
            hits = retrieve_many(retriever, queries, k=4, as_of=case.as_of)
            pool = {p.id: p for p in hits[0][:3]}
            for h in hits[1:]:
                for p in h[:2]:
                    pool.setdefault(p.id, p)
            passages = list(pool.values())[:n_passages]
            block = passages_block(passages)
            t_case = time.perf_counter()
            for key in VARIABLES:
                spec = fw.spec(key)
                s = spec.judge.statement.format(subject=subject)
                n = spec.judge.negation.format(subject=subject)
                pol = spec.judge.polarity

                def ask(q: str, options=("yes", "no"), block=block):
                    prompt = f"Passages:\n{block}\n\n{q}"
                    return llm.option_probs(SYSTEM, prompt, options)

                t0 = time.perf_counter()
                ys = ask(f"Statement: {s}\nBased only on the passages, is the statement true? Answer yes or no.")["yes"]
                yn = ask(f"Statement: {n}\nBased only on the passages, is the statement true? Answer yes or no.")["yes"]
                ab = ask(f"Which statement do the passages support better?\nA: {s}\nB: {n}\nAnswer A or B.", ("A", "B"))["A"]
                ba = ask(f"Which statement do the passages support better?\nA: {n}\nB: {s}\nAnswer A or B.", ("A", "B"))["B"]
                rows.append({
                    "case": case.id, "outcome": case.outcome, "variable": key,
                    "expected": case.expected_variables.get(key), "polarity": pol,
                    "p_yes_statement": ys, "p_yes_negation": yn, "p_pair_ab": ab, "p_pair_ba": ba,
                    "contrast": pol * (ys - yn), "pair": pol * (ab + ba - 1.0),
                    "seconds": time.perf_counter() - t0, "passages": len(passages),
                })
                print(f"{case.id:12s} {key:20s} exp={case.expected_variables.get(key)!s:12s} "
                      f"yes(S)={ys:.2f} yes(N)={yn:.2f} pair={ab:.2f}/{ba:.2f} "
                      f"contrast={rows[-1]['contrast']:+.2f} pair={rows[-1]['pair']:+.2f}", flush=True)
            print(f"{case.id}: {time.perf_counter() - t_case:.1f} s, {len(passages)} passages", flush=True)
    finally:
        app.close()
        llm.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out.write_text(json.dumps(rows, indent=1))


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def analyse(paths: list[Path]) -> None:
    for path in paths:
        rows = json.loads(path.read_text())
        print(f"== {path} ({len({r['case'] for r in rows})} cases)")
        for framing in ("contrast", "pair"):
            fav = [r[framing] for r in rows if r["expected"] == "favourable"]
            unf = [r[framing] for r in rows if r["expected"] == "unfavourable"]
            mix = [r[framing] for r in rows if r["expected"] == "mixed"]
            fav_or_mixed = fav + mix
            cases: dict[str, list[float]] = {}
            outcome: dict[str, str] = {}
            for r in rows:
                cases.setdefault(r["case"], []).append(r[framing])
                outcome[r["case"]] = r["outcome"]
            pos_mean = [statistics.mean(v) for c, v in cases.items() if outcome[c] != "not_intervened"]
            neg_mean = [statistics.mean(v) for c, v in cases.items() if outcome[c] == "not_intervened"]
            pos_min = [min(v) for c, v in cases.items() if outcome[c] != "not_intervened"]
            neg_min = [min(v) for c, v in cases.items() if outcome[c] == "not_intervened"]
            print(
                f"  {framing:9s} variable AUC fav>unf {auc(fav, unf):.2f} (n={len(fav)}/{len(unf)}), "
                f"fav+mixed>unf {auc(fav_or_mixed, unf):.2f}, fav>mixed {auc(fav, mix):.2f}; "
                f"case AUC mean {auc(pos_mean, neg_mean):.2f}, min {auc(pos_min, neg_min):.2f}; "
                f"values {min(r[framing] for r in rows):+.2f}..{max(r[framing] for r in rows):+.2f}"
            )
            for key in ("trigger", "local_support", "military_opposition", "feasibility", "costs"):
                f = [r[framing] for r in rows if r["variable"] == key and r["expected"] == "favourable"]
                o = [r[framing] for r in rows if r["variable"] == key and r["expected"] != "favourable"]
                print(f"      {key:20s} AUC fav>rest {auc(f, o):.2f} (n={len(f)}/{len(o)})")
        print(f"  seconds per variable: median {statistics.median(r['seconds'] for r in rows):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="?", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--passages", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--analyse", nargs="+", type=Path)
    args = ap.parse_args()
    if args.analyse:
        analyse(args.analyse)
    else:
        run(args.cases, args.out, args.passages, args.threads)


if __name__ == "__main__":
    main()
