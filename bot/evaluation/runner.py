"""Run a case file or a retrieval question set and compute the report (no terminal output here).

Case evaluation
---------------
One temporary index per case file holds every document of its ``docs/`` folder (plus ``knowledge/``
with ``with_starter_corpus``). Each case is assessed *as of* its date: the store hides documents
dated after it. That cut is not taken on trust: every passage any retrieval call returns is audited
(:class:`AuditRetriever`) and a passage dated after the case's ``as_of`` (or undated) is a
violation, which fails the run, as does a shown citation that points outside the assessment's
passages or at a passage dated after ``as_of``.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, computed_field

from bot.config import REPO_ROOT, Settings, packaged_dir
from bot.core.models import VARIABLES, Assessment, EngineChoice, Passage
from bot.core.ports import Retriever, StructuredLLM
from bot.core.scoring import ScoringParams, verdict
from bot.errors import BadInput, UserError
from bot.evaluation import metrics as M
from bot.evaluation.cases import Case, CaseFile

if TYPE_CHECKING:
    from bot.app import App

Mode = Literal["vector", "lexical", "hybrid"]
MODES: tuple[Mode, ...] = ("vector", "lexical", "hybrid")
Progress = Callable[[str, int, int], None]  # (what, done, total)
MIN_CASES_FOR_DIAGRAM = 10


# --- the date audit --------------------------------------------------------------------------------

@dataclass
class AuditRetriever:
    """Wraps a retriever and records every passage it returns, flagging any dated after ``as_of``."""

    inner: Retriever
    as_of: dt.date
    calls: int = 0
    seen: dict[str, Passage] = field(default_factory=dict)
    violations: dict[str, Passage] = field(default_factory=dict)

    def retrieve(self, query: str, *, k: int, as_of: dt.date | None = None) -> list[Passage]:
        got = self.inner.retrieve(query, k=k, as_of=as_of)
        self.calls += 1
        for p in got:
            self.seen[p.id] = p
            if p.date is None or p.date > self.as_of:
                self.violations[p.id] = p
        return got


def check_citations(a: Assessment, as_of: dt.date) -> tuple[int, int, list[str]]:
    """(shown, valid, problems): a shown citation is valid when it points at one of the assessment's
    passages and that passage is dated on or before ``as_of``."""
    shown = valid = 0
    problems: list[str] = []
    for v in a.variables:
        for c in v.citations:
            shown += 1
            if not 1 <= c.passage <= len(a.passages):
                problems.append(f"{v.variable}: [{c.passage}] is not one of the {len(a.passages)} passages")
                continue
            p = a.passages[c.passage - 1]
            if p.date is None or p.date > as_of:
                problems.append(f"{v.variable}: [{c.passage}] {p.doc_id} is dated {p.date}, after {as_of}")
                continue
            valid += 1
    return shown, valid, problems


# --- report models -----------------------------------------------------------------------------

class CaseResult(BaseModel):
    id: str
    question: str
    as_of: dt.date
    outcome: M.Outcome
    framework_miss: bool = False
    error: str | None = None
    likelihood: int | None = None  # the computed likelihood (shown or not); None: no evidence (counted as 50 %)
    likelihood_shown: bool = False
    verdict: str | None = None
    engine: str | None = None
    model: str | None = None
    scores: dict[str, int | None] = Field(default_factory=dict)
    expected: dict[str, str] = Field(default_factory=dict)
    predicted_calls: dict[str, str | None] = Field(default_factory=dict)
    agreement: dict[str, bool | None] = Field(default_factory=dict)  # None = insufficient evidence
    insufficient: int = 0
    citations_shown: int = 0
    citations_valid: int = 0
    citation_problems: list[str] = Field(default_factory=list)
    passages_retrieved: int = 0
    passages_cited_docs: list[str] = Field(default_factory=list)
    date_violations: list[str] = Field(default_factory=list)
    own_docs_retrieved: int = 0  # how many of the case's own documents any retrieval returned
    latency_ms: float = 0.0
    claims_made: int = 0
    claims_kept: int = 0
    subject: str = ""
    notes: list[str] = Field(default_factory=list)

    @property
    def probability(self) -> float:
        return 0.5 if self.likelihood is None else self.likelihood / 100


class AgreementSummary(BaseModel):
    cases: int
    agree: int
    disagree: int
    insufficient: int
    rate: float | None
    rate_when_assessed: float | None
    confusion: dict[str, dict[str, int]]


class CalibrationSummary(BaseModel):
    params: ScoringParams
    base_params: ScoringParams
    in_sample_brier: float
    loo_brier: float
    base_brier: float
    base_rate_loo_brier: float
    loo_predictions: dict[str, float]
    loo_params: dict[str, ScoringParams]
    fit_prior: bool
    grid: dict[str, list[float]]
    written_to: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def warnings(self) -> list[str]:
        out = []
        if self.loo_brier >= self.base_rate_loo_brier:
            out.append(
                f"the leave-one-out Brier ({self.loo_brier:.3f}) does not beat the base rate's ({self.base_rate_loo_brier:.3f}): "
                "the variable scores do not separate the outcomes on this case file"
            )
        return out


class EvalSummary(BaseModel):
    cases: int
    assessed: int
    errors: int
    brier: float | None
    brier_limited_half: float | None
    brier_always_50: float | None = 0.25
    brier_best_constant: float | None = None  # the cases' own base rate, in hindsight
    brier_best_constant_limited_half: float | None = None
    auc: float | None = None
    skill: bool = False  # beats the best constant on Brier and ranks better than chance (AUC > 0.5)
    claims_made: int = 0
    claims_kept: int = 0
    quote_verification: float | None = None  # claims kept / claims made
    no_evidence_cases: int = 0
    accuracy_at_50: float | None
    outcome_by_verdict: dict[str, dict[str, int]]
    mean_likelihood_by_outcome: dict[str, float | None]
    agreement: dict[str, AgreementSummary]
    agreement_overall: float | None
    citations_shown: int
    citations_valid: int
    citation_validity: float | None
    date_violations: int
    insufficient_share: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    engines_used: dict[str, int] = Field(default_factory=dict)  # "llm" / "indicators" -> cases
    reliability: list[dict[str, Any]] | None = None
    reliability_note: str = ""


class EvalReport(BaseModel):
    kind: Literal["cases"] = "cases"
    case_file: str
    label: str
    created_at: dt.datetime
    engine_requested: EngineChoice
    llm_provider: str
    llm_model: str
    params: ScoringParams
    params_fitted_here: bool = False  # prompts/scoring.yaml says it was fitted on this case file
    with_starter_corpus: bool
    documents_indexed: int
    index_warnings: list[str] = Field(default_factory=list)
    results: list[CaseResult]
    summary: EvalSummary
    calibration: CalibrationSummary | None = None
    passed: bool
    failures: list[str] = Field(default_factory=list)


# --- case evaluation ---------------------------------------------------------------------------

def _nan_to_none(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else x


def assess_case(app: App, case: Case, engine: EngineChoice, collection: str) -> CaseResult:
    """Assess one case as of its date through an auditing retriever, and score the result."""
    audit = AuditRetriever(app.retriever(collection), case.as_of)
    res = CaseResult(
        id=case.id, question=case.question, as_of=case.as_of, outcome=case.outcome,
        framework_miss=case.framework_miss, expected={str(k): str(v) for k, v in case.expected_variables.items()},
    )
    t0 = time.perf_counter()
    try:
        a: Assessment = app.assessor.assess(case.question, audit, as_of=case.as_of, engine=engine)
    except UserError as exc:
        res.error = exc.message
        return res
    finally:
        res.latency_ms = (time.perf_counter() - t0) * 1000
        res.passages_retrieved = len(audit.seen)
        res.date_violations = sorted(f"{p.doc_id} ({p.date})" for p in audit.violations.values())
        own = {Path(d).stem for d in case.docs}
        res.own_docs_retrieved = len({p.doc_id for p in audit.seen.values()} & own)
    res.likelihood, res.engine, res.model = a.computed_likelihood, a.engine, a.model
    res.likelihood_shown = a.likelihood is not None
    res.verdict = verdict(a.computed_likelihood) if a.computed_likelihood is not None else None
    res.claims_made, res.claims_kept, res.subject = a.claims_made, a.claims_kept, a.subject
    res.notes = list(a.notes)
    for key in VARIABLES:
        v = a.variable(key)
        score = v.score if v.assessed else None
        res.scores[key] = score
        call = M.score_to_call(score)
        res.predicted_calls[key] = call
        exp = case.expected_variables.get(key)
        res.agreement[key] = None if call is None else (call == exp if exp else None)
    res.insufficient = sum(s is None for s in res.scores.values())
    res.citations_shown, res.citations_valid, res.citation_problems = check_citations(a, case.as_of)
    res.passages_cited_docs = sorted({a.passages[n - 1].doc_id for n in a.cited_passage_numbers() if n <= len(a.passages)})
    return res


def summarise(results: Sequence[CaseResult], cases: Sequence[Case]) -> EvalSummary:
    ok = [r for r in results if r.error is None]
    probs = [r.probability for r in ok]
    ys = [M.outcome_value(r.outcome) for r in ok]
    ys_half = [0.5 if r.outcome == "limited" else float(M.outcome_value(r.outcome)) for r in ok]
    by_id = {c.id: c for c in cases}
    agree = M.agreement((by_id[r.id].expected_variables, r.scores) for r in ok)  # type: ignore[misc]
    agreement = {
        k: AgreementSummary(
            cases=a.cases, agree=a.agree, disagree=a.disagree, insufficient=a.insufficient,
            rate=_nan_to_none(a.rate), rate_when_assessed=_nan_to_none(a.rate_when_assessed), confusion=a.confusion,
        )
        for k, a in agree.items()
    }
    total_calls = sum(a.cases for a in agree.values())
    shown = sum(r.citations_shown for r in ok)
    valid = sum(r.citations_valid for r in ok)
    n_vars = len(ok) * len(VARIABLES)
    lat = [r.latency_ms for r in ok]
    s = EvalSummary(
        cases=len(results),
        assessed=len(ok),
        errors=len(results) - len(ok),
        brier=_nan_to_none(M.brier(probs, ys)),
        brier_limited_half=_nan_to_none(M.brier_limited_half(probs, [r.outcome for r in ok])),
        brier_best_constant=_nan_to_none(M.best_constant_brier(ys)),
        brier_best_constant_limited_half=_nan_to_none(M.best_constant_brier(ys_half)),
        auc=_nan_to_none(M.auc(probs, ys)),
        claims_made=sum(r.claims_made for r in ok),
        claims_kept=sum(r.claims_kept for r in ok),
        quote_verification=(sum(r.claims_kept for r in ok) / sum(r.claims_made for r in ok)) if sum(r.claims_made for r in ok) else None,
        no_evidence_cases=sum(r.likelihood is None for r in ok),
        accuracy_at_50=_nan_to_none(M.accuracy(probs, ys)),
        outcome_by_verdict=M.outcome_by_verdict([round(p * 100) for p in probs], [r.outcome for r in ok]),
        mean_likelihood_by_outcome=M.mean_likelihood_by_outcome([round(p * 100) for p in probs], [r.outcome for r in ok]),
        agreement=agreement,
        agreement_overall=sum(a.agree for a in agree.values()) / total_calls if total_calls else None,
        citations_shown=shown,
        citations_valid=valid,
        citation_validity=valid / shown if shown else None,
        date_violations=sum(len(r.date_violations) for r in results),
        insufficient_share=sum(r.insufficient for r in ok) / n_vars if n_vars else None,
        latency_p50_ms=_nan_to_none(M.percentile(lat, 50)),
        latency_p95_ms=_nan_to_none(M.percentile(lat, 95)),
        engines_used={e: sum(r.engine == e for r in ok) for e in sorted({r.engine for r in ok if r.engine})},
    )
    s.skill = (
        s.brier is not None and s.brier_best_constant is not None and s.brier < s.brier_best_constant
        and s.auc is not None and s.auc > 0.5
    )
    if len(ok) >= MIN_CASES_FOR_DIAGRAM:
        s.reliability = M.reliability_bins(probs, ys)
    else:
        s.reliability_note = (
            f"reliability diagram skipped: {len(ok)} assessed case(s), it needs at least {MIN_CASES_FOR_DIAGRAM}"
        )
    return s


def _index(app: App, collection: str, paths: Sequence[Path], settings: Settings, progress: Progress | None) -> tuple[int, list[str]]:
    from bot.ingest import ingest_items

    def step(i: int, n: int, _o: Any) -> None:
        if progress:
            progress("indexing", i, n)

    outcomes = ingest_items(app.store(collection), [str(p) for p in paths], settings, progress=step)
    failed = [f"{o.name}: {o.reason}" for o in outcomes if o.status == "failed"]
    if failed:
        raise BadInput("evaluation documents failed to index: " + "; ".join(failed[:5]))
    warnings = [f"{o.name}: skipped ({o.reason})" for o in outcomes if o.status == "skipped"]
    return sum(o.status in ("added", "updated") for o in outcomes), warnings


def _dating_warnings(app: App, collection: str, case_file: CaseFile) -> list[str]:
    """Documents that no case can ever see (undated), or a case's own documents dated after its as_of."""
    docs = {d.id: d for d in app.store(collection).documents()}
    out = [f"{d.id}: undated, hidden from every as_of search" for d in docs.values() if d.date is None]
    for c in case_file.cases:
        for name in c.docs:
            d = docs.get(Path(name).stem)
            if d is not None and d.date is not None and d.date > c.as_of:
                out.append(f"{c.id}: its own document {name} is dated {d.date}, after as_of {c.as_of}")
    return out


def run_cases(
    case_file: CaseFile,
    settings: Settings,
    *,
    engine: EngineChoice = "auto",
    with_starter_corpus: bool = False,
    calibrate: bool = False,
    llm: StructuredLLM | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Index the case file's documents into a temporary store and assess every case as of its date."""
    from bot.app import App

    tmp = Path(tempfile.mkdtemp(prefix="analyst-eval-"))
    collection = "eval"
    s = settings.model_copy(update={"data_dir": tmp, "collection": collection, "chroma_mode": "embedded", "history_url": None})
    try:
        with App(s, llm=llm, build_llm=engine != "indicators") as app:
            paths = case_file.doc_paths()
            if with_starter_corpus:
                paths += [p for p in sorted(packaged_dir("knowledge").rglob("*")) if p.is_file()]
            n_docs, warnings = _index(app, collection, paths, s, progress)
            warnings += _dating_warnings(app, collection, case_file)
            results: list[CaseResult] = []
            for i, case in enumerate(case_file.cases, start=1):
                if progress:
                    progress(f"assessing {case.id}", i - 1, len(case_file.cases))
                results.append(assess_case(app, case, engine, collection))
                if progress:
                    progress(f"assessed {case.id}", i, len(case_file.cases))
            params = app.assessor.params
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    summary = summarise(results, case_file.cases)
    report = EvalReport(
        case_file=str(case_file.path),
        label=case_file.label,
        created_at=dt.datetime.now(dt.UTC),
        engine_requested=engine,
        llm_provider=settings.llm_provider if engine != "indicators" else "none",
        llm_model=settings.llm_model if engine != "indicators" else "",
        params=params,
        params_fitted_here=fitted_on(settings.prompts_dir / "scoring.yaml", case_file.path),
        with_starter_corpus=with_starter_corpus,
        documents_indexed=n_docs,
        index_warnings=warnings,
        results=results,
        summary=summary,
        passed=True,
    )
    if calibrate:
        report.calibration = calibration_summary(results, params)
    report.failures = failures(report)
    report.passed = not report.failures
    return report


def failures(report: EvalReport) -> list[str]:
    """What makes the run fail (exit status 1): date leaks, invalid citations, errors."""
    out: list[str] = []
    s = report.summary
    if s.date_violations:
        out.append(f"{s.date_violations} retrieved passage(s) dated after their case's as_of (or undated)")
    if s.citations_shown and s.citations_valid != s.citations_shown:
        out.append(f"citation validity {s.citations_valid}/{s.citations_shown}, not 100 %")
    if s.errors:
        out.append(f"{s.errors} case(s) could not be assessed")
    return out


def calibration_summary(results: Sequence[CaseResult], base: ScoringParams) -> CalibrationSummary:
    ok = [r for r in results if r.error is None]
    data = [([r.scores[k] for k in VARIABLES], M.outcome_value(r.outcome)) for r in ok]
    cal = M.calibrate(data, base=base)
    return CalibrationSummary(
        params=cal.params,
        base_params=base,
        in_sample_brier=cal.in_sample_brier,
        loo_brier=cal.loo_brier,
        base_brier=cal.base_brier,
        base_rate_loo_brier=cal.base_rate_loo_brier,
        loo_predictions={r.id: p for r, p in zip(ok, cal.loo_predictions, strict=True)},
        loo_params={r.id: p for r, p in zip(ok, cal.loo_params, strict=True)},
        fit_prior=cal.fit_prior,
        grid=cal.grid,
    )


def _repo_relative(path: str | Path) -> str:
    try:
        return os.path.relpath(path, REPO_ROOT)
    except ValueError:  # another drive
        return str(path)


def fitted_on(params_file: Path, case_file: Path) -> bool:
    """Whether ``prompts/scoring.yaml``'s header names this case file (then its Brier is in-sample)."""
    if not params_file.is_file():
        return False
    head = params_file.read_text(encoding="utf-8").splitlines()[:12]
    return any(line.startswith(f"# case file: {_repo_relative(case_file)} (") for line in head)


def write_params(path: Path, report: EvalReport) -> None:
    """prompts/scoring.yaml: the parameters fitted on all cases, with where they came from."""
    cal = report.calibration
    if cal is None:
        raise ValueError("no calibration in this report")
    p = cal.params
    grid = "; ".join(f"{k} in {v}" for k, v in cal.grid.items())
    case_path = _repo_relative(report.case_file)
    header = [
        "# Likelihood parameters (bot/core/scoring.py), fitted by `analyst eval --calibrate --write-params`.",
        "# Do not edit by hand: re-run the calibration instead (docs/evaluation.md).",
        f"# case file: {case_path} ({len(report.results)} cases, relative to the repository), engine: {report.engine_requested}"
        + (f" ({report.llm_provider} {report.llm_model})" if report.engine_requested != "indicators" else ""),
        f"# date: {report.created_at.date().isoformat()}",
        f"# Brier on all cases: {cal.in_sample_brier:.4f} (before: {cal.base_brier:.4f} with beta={cal.base_params.beta}, "
        f"delta={cal.base_params.delta}, prior={cal.base_params.prior})",
        f"# leave-one-out Brier (the honest figure): {cal.loo_brier:.4f}; "
        f"base rate, leave-one-out (no skill): {cal.base_rate_loo_brier:.4f}",
        f"# grid: {grid}",
        "# prior " + ("fitted (enough cases with insufficient-evidence variables)." if cal.fit_prior
                      else "kept: fewer than two cases had an insufficient-evidence variable, so the data cannot fix it."),
    ]
    header += [f"# WARNING: {w}." for w in cal.warnings]
    body = yaml.safe_dump({"params": {"beta": p.beta, "delta": p.delta, "prior": p.prior}}, sort_keys=False)
    path.write_text("\n".join(header) + "\n" + body, encoding="utf-8")


# --- retrieval evaluation ----------------------------------------------------------------------

class RetrievalQuestion(BaseModel):
    """One question of a retrieval set. Keys the harness does not use (notes, ids) are ignored."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    question: str = Field(validation_alias=AliasChoices("question", "query"))
    relevant: list[str] = Field(min_length=1)
    kind: str = "other"  # keyword | paraphrase | variable | anything else the set uses
    as_of: dt.date | None = None  # only passages dated on or before it may be retrieved


class QuestionSet(BaseModel):
    """A retrieval set: its questions and, optionally, the corpus it was written over."""

    questions: list[RetrievalQuestion]
    corpus: list[Path] = []  # from the file's ``corpus:`` key, relative to the file


class ModeResult(BaseModel):
    recall: float
    hit: bool
    rr: float
    first_rank: int | None
    top_docs: list[str]


class QuestionResult(BaseModel):
    question: str
    relevant: list[str]
    kind: str = "other"
    as_of: dt.date | None = None
    modes: dict[str, ModeResult]


class ModeSummary(BaseModel):
    recall_at_k: float
    hit_rate_at_k: float
    mrr: float
    latency_p50_ms: float
    n: int = 0


class RetrievalReport(BaseModel):
    kind: Literal["retrieval"] = "retrieval"
    questions_file: str
    corpus: list[str]
    k: int
    created_at: dt.datetime
    documents_indexed: int
    questions: list[QuestionResult]
    summary: dict[str, ModeSummary]
    by_kind: dict[str, dict[str, ModeSummary]] = {}  # question kind -> mode -> summary


def load_question_set(path: Path) -> QuestionSet:
    """A question file: a list of questions, or a mapping with ``questions:`` and ``corpus:`` (a folder
    or file, or a list of them, relative to the question file)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"{path}: no such question file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    corpus: list[Path] = []
    if isinstance(raw, dict):
        where = raw.get("corpus") or []
        corpus = [(path.parent / str(c)).resolve() for c in ([where] if isinstance(where, str) else where)]
        raw = raw.get("questions")
    if not isinstance(raw, list) or not raw:
        raise BadInput(f"{path}: expected a non-empty list of questions (or a mapping with 'questions:')")
    try:
        questions = [RetrievalQuestion.model_validate(q) for q in raw]
    except Exception as exc:
        raise BadInput(f"{path}: invalid question ({str(exc).splitlines()[0]})") from exc
    return QuestionSet(questions=questions, corpus=corpus)


def load_questions(path: Path) -> list[RetrievalQuestion]:
    return load_question_set(path).questions


def score_ranking(doc_ids: Sequence[str], relevant: set[str]) -> ModeResult:
    """recall@k = share of relevant documents with a passage in the top k; RR = 1 / rank of the first
    passage from any relevant document (0 when none is in the top k)."""
    first = next((i for i, d in enumerate(doc_ids, start=1) if d in relevant), None)
    found = relevant & set(doc_ids)
    return ModeResult(
        recall=len(found) / len(relevant),
        hit=first is not None,
        rr=1 / first if first else 0.0,
        first_rank=first,
        top_docs=list(doc_ids),
    )


def _summarise(results: Sequence[QuestionResult], latencies: dict[str, list[float]]) -> dict[str, ModeSummary]:
    n = len(results)
    return {
        m: ModeSummary(
            recall_at_k=sum(r.modes[m].recall for r in results) / n,
            hit_rate_at_k=sum(r.modes[m].hit for r in results) / n,
            mrr=sum(r.modes[m].rr for r in results) / n,
            latency_p50_ms=M.percentile(latencies[m], 50) if latencies.get(m) else 0.0,
            n=n,
        )
        for m in MODES
    }


def run_retrieval(
    questions_path: Path,
    corpus: Sequence[Path] | None,
    settings: Settings,
    *,
    k: int = 5,
    progress: Progress | None = None,
) -> RetrievalReport:
    """Index ``corpus`` (default: the set's own ``corpus:``, else ``knowledge/``) in a temporary data
    directory and score every mode on every question, each with its own ``as_of``."""
    from bot.app import App
    from bot.store import SearchFilter

    qset = load_question_set(questions_path)
    questions = qset.questions
    corpus = list(corpus or qset.corpus or [packaged_dir("knowledge")])
    for d in corpus:
        if not Path(d).exists():
            raise BadInput(f"{d}: no such file or folder")
    tmp = Path(tempfile.mkdtemp(prefix="analyst-evalret-"))
    collection = "evalret"
    s = settings.model_copy(update={"data_dir": tmp, "collection": collection, "chroma_mode": "embedded", "history_url": None})
    try:
        with App(s, build_llm=False) as app:
            from bot.ingest import ingest_items

            outcomes = ingest_items(
                app.store(collection), [str(p) for p in corpus], s,
                progress=(lambda i, n, _o: progress("indexing", i, n)) if progress else None,
            )
            failed = [f"{o.name}: {o.reason}" for o in outcomes if o.status == "failed"]
            if failed:
                raise BadInput("corpus documents failed to index: " + "; ".join(failed[:5]))
            name_to_id: dict[str, str] = {o.name: o.doc_id for o in outcomes if o.doc_id}
            missing = sorted({r for q in questions for r in q.relevant if r not in name_to_id})
            if missing:
                raise BadInput(f"{questions_path}: relevant files not in the corpus: {', '.join(missing[:8])}")
            store = app.store(collection)
            results: list[QuestionResult] = []
            latencies: dict[str, list[float]] = {m: [] for m in MODES}
            for i, q in enumerate(questions, start=1):
                rel = {name_to_id[r] for r in q.relevant}
                modes: dict[str, ModeResult] = {}
                for mode in MODES:
                    t0 = time.perf_counter()
                    passages = store.search(q.question, k, SearchFilter(as_of=q.as_of), mode=mode)
                    latencies[mode].append((time.perf_counter() - t0) * 1000)
                    modes[mode] = score_ranking([p.doc_id for p in passages], rel)
                results.append(QuestionResult(question=q.question, relevant=q.relevant, kind=q.kind, as_of=q.as_of, modes=modes))
                if progress:
                    progress("searching", i, len(questions))
            n_docs = sum(o.status in ("added", "updated") for o in outcomes)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    kinds = sorted({r.kind for r in results})
    return RetrievalReport(
        questions_file=str(Path(questions_path).resolve()),
        corpus=[str(Path(p).resolve()) for p in corpus],
        k=k,
        created_at=dt.datetime.now(dt.UTC),
        documents_indexed=n_docs,
        questions=results,
        summary=_summarise(results, latencies),
        by_kind={kind: _summarise([r for r in results if r.kind == kind], {}) for kind in kinds} if len(kinds) > 1 else {},
    )
