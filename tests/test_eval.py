"""The evaluation harness: the dev case set end to end (real chromadb, real embedder, indicator
engine), eval-retrieval on a tiny corpus, and the metrics and calibration as pure functions.

Quality figures (Brier, agreement, recall) are reported by the harness, not asserted here; what is
asserted is what must always hold: every case runs, citation validity is exactly 100 % and no
retrieved passage is dated after its case's as_of.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import pytest
import typer
import yaml
from fakes import FakeOptionLLM
from rich.console import Console
from typer.testing import CliRunner

from bot.config import shared_dir
from bot.core.models import VARIABLES, Assessment, Citation, Passage, VariableAssessment
from bot.core.scoring import ScoringParams, likelihood
from bot.errors import BadInput
from bot.evaluation import metrics as M
from bot.evaluation.cases import Case, load_cases
from bot.evaluation.cli import register
from bot.evaluation.report import compare_eval, reliability_png
from bot.evaluation.runner import (
    AuditRetriever,
    CaseResult,
    EvalReport,
    RetrievalReport,
    check_citations,
    fitted_on,
    run_cases,
    score_ranking,
    summarise,
    write_params,
)

DEV = shared_dir() / "eval" / "dev" / "cases.yaml"


def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


# --- the dev case set, end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def dev_run(tmp_path_factory) -> tuple[EvalReport, str, Path]:
    if not DEV.is_file():
        pytest.skip(f"dev case set not found at {DEV}")
    out = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:  # no developer .env or ANALYST_* variable leaks in
        mp.chdir(out)
        for name in [n for n in os.environ if n.upper().startswith("ANALYST_")]:
            mp.delenv(name)
        result = CliRunner().invoke(cli(), ["eval", str(DEV), "--engine", "indicators", "--calibrate", "--out", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    report = EvalReport.model_validate_json((out / "eval-dev-cases.json").read_text(encoding="utf-8"))
    return report, result.output, out


def test_dev_set_runs_every_case(dev_run):
    report, output, _ = dev_run
    expected_ids = [c.id for c in load_cases(DEV).cases]
    assert [r.id for r in report.results] == expected_ids
    assert len(report.results) == 6
    assert all(r.error is None for r in report.results)
    assert all(r.likelihood is None or 1 <= r.likelihood <= 99 for r in report.results)
    assert not any(r.likelihood_shown for r in report.results)  # the indicator engine has no proven skill
    assert all(set(r.scores) == set(VARIABLES) for r in report.results)
    assert report.engine_requested == "indicators" and report.summary.engines_used == {"indicators": 6}
    assert report.documents_indexed == len(list((DEV.parent / "docs").glob("*.md")))
    for case_id in expected_ids:
        assert case_id in output
    assert "citation validity" in output


def test_dev_set_citations_are_all_valid(dev_run):
    report, _, _ = dev_run
    s = report.summary
    assert s.citations_shown > 0  # 100 % of nothing would prove nothing
    assert s.citations_valid == s.citations_shown
    assert s.citation_validity == 1.0
    assert all(not r.citation_problems for r in report.results)


def test_dev_set_never_retrieves_after_as_of(dev_run):
    report, _, _ = dev_run
    for r in report.results:
        assert r.passages_retrieved > 0, r.id
        assert r.date_violations == [], r.id
    assert report.summary.date_violations == 0
    assert report.passed and report.failures == []


def test_dev_set_report_has_every_figure(dev_run):
    report, _, out = dev_run
    s = report.summary
    for value in (s.brier, s.brier_limited_half, s.accuracy_at_50, s.insufficient_share, s.latency_p50_ms, s.latency_p95_ms):
        assert value is not None and math.isfinite(value)
    assert set(s.agreement) == set(VARIABLES)
    assert all(a.cases == 6 and a.agree + a.disagree + a.insufficient == 6 for a in s.agreement.values())
    assert sum(sum(row.values()) for row in s.outcome_by_verdict.values()) == 6
    # six cases: too few for a reliability diagram, and the report says so
    assert s.reliability is None and "skipped" in s.reliability_note
    assert not list(out.glob("*.png"))


def test_dev_set_calibration_is_leave_one_out(dev_run, tmp_path):
    report, _, _ = dev_run
    cal = report.calibration
    assert cal is not None
    assert set(cal.loo_predictions) == {r.id for r in report.results}
    assert math.isfinite(cal.loo_brier) and cal.in_sample_brier <= cal.base_brier + 1e-12
    assert cal.params.beta in cal.grid["beta"] and cal.params.delta in cal.grid["delta"]
    assert cal.written_to is None  # only --write-params writes prompts/scoring.yaml
    assert cal.base_rate_loo_brier == pytest.approx(0.36)  # the dev set has 3 interventions out of 6
    target = tmp_path / "scoring.yaml"
    write_params(target, report)
    text = target.read_text(encoding="utf-8")
    assert "leave-one-out Brier" in text and "shared/eval/dev/cases.yaml" in text
    assert ScoringParams.model_validate(yaml.safe_load(text)["params"]) == cal.params
    assert fitted_on(target, DEV) and not fitted_on(target, tmp_path / "other" / "cases.yaml")


def test_comparison_with_a_baseline(dev_run):
    report, _, _ = dev_run
    worse = report.model_copy(deep=True)
    worse.summary.brier = (report.summary.brier or 0) + 0.1
    worse.results[0].likelihood = report.results[0].likelihood % 98 + 1
    console = Console(width=120, record=True)
    console.print(compare_eval(report, worse))
    text = console.export_text()
    assert "worse" in text and report.results[0].id in text


def test_reliability_diagram_with_enough_cases(tmp_path):
    cases = [
        Case(id=f"C{i}", question="Will Russia send troops into X?", as_of=dt.date(2020, 1, 1),
             outcome="intervened" if i % 3 else "not_intervened")
        for i in range(12)
    ]
    results = [
        CaseResult(id=c.id, question=c.question, as_of=c.as_of, outcome=c.outcome, likelihood=5 + 8 * i,
                   scores=dict.fromkeys(VARIABLES, 2), citations_shown=1, citations_valid=1)
        for i, c in enumerate(cases)
    ]
    summary = summarise(results, cases)
    assert summary.reliability is not None and sum(b["count"] for b in summary.reliability) == 12
    report = EvalReport(
        case_file="x", label="synthetic", created_at=dt.datetime.now(dt.UTC), engine_requested="indicators",
        llm_provider="none", llm_model="", params=ScoringParams(), with_starter_corpus=False, documents_indexed=0,
        results=results, summary=summary, passed=True,
    )
    png = reliability_png(report, tmp_path / "r.png")
    assert png is not None and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the LLM engine on a tiny case file, with a document that gives the outcome away --------------

def tiny_case_file(root: Path, write_doc) -> Path:
    docs = root / "docs"
    docs.mkdir(parents=True)
    write_doc(docs, "tl-01.md", "Protesters seized government buildings in Testland and the president fled the capital.",
              title="Testland unrest", date="2020-01-05", source="desk")
    write_doc(docs, "tl-02.md", "Testland's cabinet sent Moscow a written request for paratroopers to restore order.",
              title="Testland asks for help", date="2020-01-09", source="desk")
    write_doc(docs, "tl-late.md", "Russian airborne troops entered Testland on 11 January and guarded the airport.",
              title="Troops in Testland", date="2020-01-12", source="desk")
    cases = [
        {"id": "TL-2020", "question": "Will Russia send troops into Testland?", "as_of": "2020-01-10",
         "outcome": "limited", "expected_variables": {"trigger": "favourable", "costs": "mixed"},
         "docs": ["tl-01.md", "tl-02.md"]},
        {"id": "TL-2019", "question": "Will Russia send troops into Testland?", "as_of": "2020-01-06",
         "outcome": "not_intervened", "docs": ["tl-01.md"]},
    ]
    path = root / "cases.yaml"
    path.write_text(yaml.safe_dump(cases, sort_keys=False), encoding="utf-8")
    return path


def test_llm_engine_run_hides_later_documents_and_checks_every_quote(tmp_path, settings, write_doc):
    case_file = load_cases(tiny_case_file(tmp_path / "set", write_doc))
    # a model that leans towards local support and picks the sentence closest to each statement
    llm = FakeOptionLLM(lambda statement, prompt: 0.8 if "want Russian forces" in statement else 0.5)
    report = run_cases(case_file, settings, engine="llm", llm=llm, calibrate=True)
    assert [r.id for r in report.results] == ["TL-2020", "TL-2019"]
    assert all(r.engine == "llm" and r.model == "fake:options" for r in report.results)
    assert report.summary.engines_used == {"llm": 2}
    # the document that tells the outcome was indexed but never reached the model or the audit
    assert report.documents_indexed == 3
    prompts = llm.option_calls + [c.prompt for c in llm.calls]
    assert all("entered Testland on 11 January" not in p for p in prompts)
    assert any("written request for paratroopers" in p for p in prompts[:10])
    second = [c.prompt for c in llm.calls][5:] + llm.option_calls[10:]
    assert all("written request for paratroopers" not in p for p in second)  # dated after TL-2019's as_of
    assert report.summary.date_violations == 0
    # every claim shown was found in its passage
    assert report.summary.citation_validity == 1.0 and report.passed
    assert report.summary.claims_made == report.summary.claims_kept == 10
    assert report.summary.quote_verification == 1.0
    assert report.results[0].scores["local_support"] >= 3
    assert report.summary.auc is not None and report.summary.brier_best_constant is not None
    assert report.calibration is not None and len(report.calibration.loo_predictions) == 2


# --- the date audit and citation check on hand-made data ------------------------------------------

def passage(pid: str, date: dt.date | None) -> Passage:
    return Passage(id=pid, doc_id=pid.split("#")[0], title=pid, date=date, text="Some text about troops.")


class LeakyRetriever:
    """Ignores as_of: what a broken store would do."""

    def retrieve(self, query: str, *, k: int, as_of: dt.date | None = None) -> list[Passage]:
        return [passage("old#1", dt.date(2020, 1, 1)), passage("late#1", dt.date(2022, 1, 1)), passage("undated#1", None)]


def test_audit_flags_passages_after_as_of_and_undated():
    audit = AuditRetriever(LeakyRetriever(), dt.date(2021, 1, 1))
    audit.retrieve("q", k=3, as_of=dt.date(2021, 1, 1))
    assert audit.calls == 1 and set(audit.seen) == {"old#1", "late#1", "undated#1"}
    assert set(audit.violations) == {"late#1", "undated#1"}


def test_citation_check_counts_out_of_range_and_late_passages():
    as_of = dt.date(2021, 1, 1)
    variables = [
        VariableAssessment(variable=k, status="assessed", score=2, citations=[Citation(passage=1)]) for k in VARIABLES
    ]
    variables[1] = variables[1].model_copy(update={"citations": [Citation(passage=2), Citation(passage=3)]})
    a = Assessment(
        question="Will Russia send troops into X?", subject="X", as_of=as_of, variables=variables, likelihood=30,
        verdict="unlikely", confidence="low", summary="", passages=[passage("a#1", as_of), passage("b#1", dt.date(2021, 1, 2))],
        engine="indicators", model="test",
    )
    shown, valid, problems = check_citations(a, as_of)
    assert (shown, valid) == (6, 4)
    assert len(problems) == 2 and any("after" in p for p in problems) and any("not one of" in p for p in problems)


# --- metrics -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("score", "call"),
    [(0, "unfavourable"), (1, "unfavourable"), (2, "mixed"), (3, "favourable"), (4, "favourable"), (None, None)],
)
def test_score_to_call(score, call):
    assert M.score_to_call(score) == call


def test_score_to_call_rejects_out_of_scale():
    with pytest.raises(ValueError):
        M.score_to_call(5)


def test_outcome_coding():
    assert [M.outcome_value(o) for o in ("intervened", "limited", "not_intervened")] == [1, 1, 0]


def test_brier_and_accuracy():
    assert M.brier([1.0, 0.0], [1, 0]) == 0.0
    assert M.brier([0.5, 0.5, 0.5], [1, 0, 1]) == pytest.approx(0.25)
    assert M.brier([0.8, 0.3], [1, 0]) == pytest.approx((0.04 + 0.09) / 2)
    assert M.accuracy([0.8, 0.5, 0.49, 0.1], [1, 1, 1, 0]) == pytest.approx(0.75)
    assert math.isnan(M.brier([], []))
    with pytest.raises(ValueError):
        M.brier([0.1], [])


def test_three_way_view():
    pcts = [90, 50, 10, 30]
    outcomes = ["intervened", "limited", "not_intervened", "limited"]
    table = M.outcome_by_verdict(pcts, outcomes)
    assert table["intervened"]["very likely"] == 1
    assert table["limited"]["uncertain"] == 1 and table["limited"]["unlikely"] == 1
    assert table["not_intervened"]["very unlikely"] == 1
    assert M.mean_likelihood_by_outcome(pcts, outcomes) == {"intervened": 90, "limited": 40, "not_intervened": 10}
    # limited coded 0.5: (0.9-1)^2, (0.5-0.5)^2, (0.1-0)^2, (0.3-0.5)^2
    assert M.brier_limited_half([p / 100 for p in pcts], outcomes) == pytest.approx((0.01 + 0 + 0.01 + 0.04) / 4)


def test_agreement_counts_insufficient_separately():
    expected = {"trigger": "favourable", "local_support": "mixed", "military_opposition": "unfavourable",
                "feasibility": "favourable", "costs": "mixed"}
    rows = [
        (expected, {"trigger": 4, "local_support": 2, "military_opposition": 3, "feasibility": None, "costs": 2}),
        (expected, {"trigger": 1, "local_support": 2, "military_opposition": 0, "feasibility": 3, "costs": None}),
    ]
    a = M.agreement(rows)
    assert (a["trigger"].agree, a["trigger"].disagree, a["trigger"].rate) == (1, 1, 0.5)
    assert a["local_support"].rate == 1.0
    assert (a["feasibility"].agree, a["feasibility"].insufficient, a["feasibility"].rate) == (1, 1, 0.5)
    assert a["feasibility"].rate_when_assessed == 1.0
    assert a["costs"].confusion == {"mixed": {"mixed": 1, "insufficient": 1}}


def test_percentile_and_reliability_bins():
    assert M.percentile([10, 20, 30, 40], 50) == 25
    assert M.percentile([5.0], 95) == 5.0
    assert math.isnan(M.percentile([], 50))  # no latencies: n/a, not an error
    bins = M.reliability_bins([0.1, 0.15, 0.9, 1.0], [0, 1, 1, 1], n_bins=5)
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 2]
    assert bins[0]["observed"] == 0.5 and bins[4]["observed"] == 1.0


# --- calibration on synthetic data where the answer is known ----------------------------------

SCORE_SETS = [
    (4, 4, 4, 4, 4), (4, 3, 4, 3, 4), (3, 3, 3, 3, 3), (4, 4, 2, 4, 3), (2, 3, 2, 3, 2),
    (4, 1, 4, 4, 4), (2, 2, 2, 2, 2), (3, 4, 1, 3, 2), (0, 4, 4, 4, 4), (1, 1, 2, 1, 1), (3, 2, 4, 0, 3),
]
GRID = {"beta": (0.5, 1.0, 1.5, 2.0, 3.0), "delta": (0.0, 0.5, 1.0, 2.0), "prior": (0.0, 1.0, 2.0, 3.0)}


def test_calibration_recovers_the_generating_parameters():
    # each case's outcome is the probability the true function gives: only the true parameters fit exactly
    true = ScoringParams(beta=1.5, delta=1.0, prior=2.0)
    cases = [(s, likelihood(list(s), true) / 100) for s in SCORE_SETS]
    cal = M.calibrate(cases, grid=GRID)
    assert (cal.params.beta, cal.params.delta) == (1.5, 1.0)
    assert cal.in_sample_brier == pytest.approx(0.0, abs=1e-12)
    assert all((p.beta, p.delta) == (1.5, 1.0) for p in cal.loo_params)
    assert cal.loo_brier == pytest.approx(0.0, abs=1e-12)
    assert not cal.fit_prior and cal.params.prior == ScoringParams().prior  # no insufficient variable: prior kept


def test_calibration_fits_the_prior_only_when_identifiable():
    true = ScoringParams(beta=1.0, delta=0.5, prior=1.0)
    sets = [tuple(None if i == j % 5 and j % 2 else s for i, s in enumerate(ss)) for j, ss in enumerate(SCORE_SETS)]
    cases = [(s, likelihood(list(s), true) / 100) for s in sets]
    assert M.prior_identifiable(cases)
    cal = M.calibrate(cases, grid=GRID)
    assert cal.fit_prior
    assert (cal.params.beta, cal.params.delta, cal.params.prior) == (1.0, 0.5, 1.0)
    assert cal.loo_brier == pytest.approx(0.0, abs=1e-12)


def test_calibration_separable_binary_outcomes_and_loo():
    # interventions have every variable at 4, non-interventions one variable at 0: a hard veto (delta 0) fits
    cases = [((4, 4, 4, 4, 4), 1)] * 3 + [((0, 4, 4, 4, 4), 0), ((4, 4, 0, 4, 4), 0), ((4, 4, 4, 4, 0), 0)]
    cal = M.calibrate(cases, grid={"beta": (0.5, 1.0, 2.0), "delta": (0.0, 2.0), "prior": (2.0,)})
    assert cal.params.delta == 0.0
    assert cal.loo_brier == pytest.approx(0.0001, abs=1e-9)  # 99 % / 1 %: the clip, never certainty
    assert cal.base_brier > cal.in_sample_brier


def test_base_rate_reference():
    # 3 yes / 3 no: each case is predicted by the other five's rate, 2/5 or 3/5, always 0.6 off
    assert M.base_rate_loo_brier([1, 1, 1, 0, 0, 0]) == pytest.approx(0.36)
    assert M.base_rate_loo_brier([1, 1, 1]) == 0.0


def test_calibration_needs_two_cases():
    with pytest.raises(ValueError):
        M.calibrate([((4, 4, 4, 4, 4), 1)])


# --- eval-retrieval on a tiny corpus --------------------------------------------------------------

DOCS = {
    "volcano.md": ("Volcanic ash over Iceland", "2020-01-01",
                   "The Eyjafjallajokull eruption grounded flights across northern Europe for six days."),
    "wheat.md": ("Black Sea wheat exports", "2020-02-01",
                 "Wheat shipments from Odesa and Novorossiysk rose as the harvest beat forecasts."),
    "bases.md": ("Garrisons abroad", "2020-03-01",
                 "The 201st base in Tajikistan hosts several thousand soldiers near Dushanbe."),
}


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, date, body) in DOCS.items():
        (corpus / name).write_text(f'---\ntitle: "{title}"\ndate: {date}\nsource: "test"\n---\n{body}\n', encoding="utf-8")
    questions = tmp_path / "questions.yaml"
    questions.write_text(
        yaml.safe_dump(
            [
                {"question": "Eyjafjallajokull", "relevant": ["volcano.md"]},
                {"question": "grain exports from Ukrainian and Russian ports", "relevant": ["wheat.md"]},
                {"question": "Where are soldiers stationed abroad?", "relevant": ["bases.md", "volcano.md"]},
            ]
        ),
        encoding="utf-8",
    )
    return corpus, questions


def test_eval_retrieval_on_a_tiny_corpus(tiny_corpus, tmp_path):
    corpus, questions = tiny_corpus
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli(), ["eval-retrieval", str(questions), "--corpus", str(corpus), "--k", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = RetrievalReport.model_validate_json((out / "retrieval-questions.json").read_text(encoding="utf-8"))
    assert report.documents_indexed == 3 and report.k == 1 and len(report.questions) == 3
    assert set(report.summary) == {"vector", "lexical", "hybrid"}
    for q in report.questions:
        assert len(q.modes["vector"].top_docs) == 1  # lexical may find no matching word at all
        for m in q.modes.values():
            assert len(m.top_docs) <= 1
            assert m.rr == (1.0 if m.hit else 0.0)
    # a word that occurs in one document only: BM25 must put it first
    assert report.questions[0].modes["lexical"].top_docs == ["volcano"]
    assert report.questions[0].modes["lexical"].rr == 1.0
    # two relevant documents and k = 1: recall can be at most one half
    assert all(m.recall <= 0.5 for m in report.questions[2].modes.values())
    means = json.loads((out / "retrieval-questions.json").read_text())["summary"]
    for mode, s in means.items():
        assert s["mrr"] == pytest.approx(sum(q.modes[mode].rr for q in report.questions) / 3)
    assert "recall@1" in result.output


def test_eval_retrieval_rejects_unknown_relevant_files(tiny_corpus, tmp_path):
    from bot.config import Settings
    from bot.evaluation.runner import run_retrieval

    corpus, _ = tiny_corpus
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"question": "wheat", "relevant": ["nowhere.md"]}]), encoding="utf-8")
    with pytest.raises(BadInput, match="nowhere.md"):
        run_retrieval(bad, [corpus], Settings(data_dir=tmp_path / "unused"), k=3)


def test_score_ranking():
    r = score_ranking(["a", "b", "c", "b"], {"b", "z"})
    assert (r.first_rank, r.rr, r.recall, r.hit) == (2, 0.5, 0.5, True)
    miss = score_ranking(["a"], {"z"})
    assert (miss.first_rank, miss.rr, miss.recall, miss.hit) == (None, 0.0, 0.0, False)


def test_benchmark_questions_are_well_formed():
    root = Path(__file__).resolve().parent.parent
    qs = yaml.safe_load((root / "benchmarks" / "retrieval_questions.yaml").read_text(encoding="utf-8"))
    assert len(qs) >= 30
    for q in qs:
        assert q["question"].strip() and q["relevant"]
        for name in q["relevant"]:
            assert (root / "knowledge" / name).is_file(), name


# --- case files -------------------------------------------------------------------------------

def test_case_file_errors_are_one_line(tmp_path):
    (tmp_path / "docs").mkdir()
    f = tmp_path / "cases.yaml"
    f.write_text(yaml.safe_dump([{"id": "A", "question": "Will Russia send troops?", "as_of": "2020-01-01",
                                  "outcome": "maybe"}]), encoding="utf-8")
    with pytest.raises(BadInput, match="outcome"):
        load_cases(f)
    f.write_text(yaml.safe_dump([{"id": "A", "question": "Will Russia send troops?", "as_of": "2020-01-01",
                                  "outcome": "limited", "docs": ["missing.md"]}]), encoding="utf-8")
    with pytest.raises(BadInput, match="missing.md"):
        load_cases(f)
