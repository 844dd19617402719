"""The assessment pipeline: question -> passages -> five variables -> checked Assessment.

``Assessor.assess`` is written against the small interfaces in :mod:`bot.core.ports`: a retriever,
an optional structured LLM and a sentence embedder. With an LLM, :class:`bot.core.judge.Judge`
asks one plain question per variable over one pooled list of passages; with none (or when the LLM
fails or times out) the indicator engine answers, and the assessment says so in a plain sentence
(the detail goes to the log). Every claim shown has a quote that code found in its passage.

A likelihood is shown only for an engine whose figures on held-out case files beat always saying
50 % (:mod:`bot.core.skill`), and never when no variable has checked evidence.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from bot.core.citations import check_citations
from bot.core.indicators import IndicatorEngine
from bot.core.judge import Judge
from bot.core.models import Assessment, Engine, Passage, Timings, VariableAssessment
from bot.core.places import Gazetteer, clean_text
from bot.core.ports import ProgressCallback, Retriever, SentenceEmbedder, StructuredLLM, retrieve_many
from bot.core.prompts import Prompts
from bot.core.relevance import rerank
from bot.core.scoring import ScoringParams, likelihood, overall_confidence, verdict
from bot.core.skill import NO_EVIDENCE_NOTE, NO_SKILL_NOTE, SkillFile, engine_key
from bot.core.subject import RUSSIA, Subject, expand_query, extract_subject, read_question
from bot.corpus.cleaning import strip_controls
from bot.errors import BadQuestion, LLMError

log = logging.getLogger(__name__)

LLM_UNAVAILABLE = "The language model is unavailable; this answer is based on the evidence alone."

EXAMPLE = 'e.g. "Will Russia send troops into Kazakhstan?"'
_INTERVENTION = re.compile(
    r"\b(troops?|forces?|military|army|armed|soldiers?|interven\w*|invad\w*|invasion|deploy\w*|send|sent|occup\w*|"
    r"annex\w*|attack\w*|war|peacekeep\w*|csto|incursion|operation|strike|tanks?|paratroop\w*|boots|marines?|"
    r"base|bases|mobili[sz]\w*|seize|seizure)\b",
    re.I,
)


def check_question(question: str, max_chars: int) -> str:
    """The question, stripped of control characters and escape sequences and with its whitespace
    collapsed; or BadQuestion with a one-sentence reason."""
    q = " ".join(strip_controls(question or "").split())
    if not q:
        raise BadQuestion(f"Ask a question about a possible intervention, {EXAMPLE}")
    if len(q) > max_chars:
        raise BadQuestion(
            f"That question is {len(q):,} characters long; keep it under {max_chars:,} ({EXAMPLE}) "
            "and add long material to the corpus instead."
        )
    if len(q.split()) < 3 or not _INTERVENTION.search(q):
        raise BadQuestion(
            f"This bot assesses whether Russia will intervene militarily somewhere; ask about that, {EXAMPLE}"
        )
    return q


def guess_subject(question: str) -> str:
    """The place the question is about ("Kazakhstan", "South Ossetia"), from the gazetteer
    (:func:`bot.core.subject.extract_subject`); "" when it names none."""
    subject = extract_subject(question)
    return subject.name if subject else ""


_NAME = re.compile(r"\b(?:into|in|to|against|over|on|of|near)\s+((?:[A-Z][\w'\-]+)(?:\s+[A-Z][\w'\-]+){0,2})")
_NOT_PLACE = {"Russia", "Russian", "Russians", "Moscow", "Kremlin", "Putin", "CSTO", "NATO", "The", "Will", "Would"}


def read_subject(q: str, gazetteer: Gazetteer | None = None) -> tuple[str, Subject | None]:
    """(name, Subject) of the place the question is about, or BadQuestion.

    The gazetteer knows every country and the contested regions of the former Soviet space; a
    capitalised name it does not know ("Ruritania", a small town) is still taken as the place, so
    the corpus decides whether there is evidence. A question about another actor's intervention, or
    one that names no place, gets a one-sentence explanation instead of an answer about Russia.
    """
    reading = read_question(q, gazetteer=gazetteer)
    if reading.actor is not None and reading.actor != RUSSIA:
        raise BadQuestion(
            f"This bot assesses Russian military intervention only; it has no framework for {reading.actor}. "
            f"Ask about Russia, {EXAMPLE}"
        )
    if reading.subject is not None:
        return reading.subject.name, reading.subject
    for m in _NAME.finditer(clean_text(q)):
        words = [w.strip("'") for w in m.group(1).split() if w.strip("'") not in _NOT_PLACE]
        if words and not words[0].endswith("'s"):
            return " ".join(words), None
    raise BadQuestion(f"Name the country or region you mean, {EXAMPLE}")


@dataclass
class Draft:
    """What an engine produced, before scoring: the pieces :meth:`Assessor._finish` turns into an Assessment."""

    question: str
    subject: str
    as_of: dt.date | None
    engine: Engine
    model: str
    variables: list[VariableAssessment]
    passages: list[Passage]
    summary: str
    notes: list[str] = field(default_factory=list)
    removed: int = 0
    claims_made: int = 0
    claims_kept: int = 0
    timings: Timings = field(default_factory=Timings)


class Assessor:
    """Holds what every assessment shares (prompts, embedder, indicator engine, optional LLM)."""

    def __init__(
        self,
        prompts: Prompts,
        embedder: SentenceEmbedder,
        *,
        llm: StructuredLLM | None = None,
        params: ScoringParams | None = None,
        thresholds: dict[str, float] | None = None,
        skill: SkillFile | None = None,
        n_passages: int = 12,
        max_question_chars: int = 500,
        samples: int = 1,
        llm_budget_s: float = 600.0,
    ) -> None:
        self.prompts = prompts
        self.llm = llm
        self.params = params or ScoringParams()
        self.skill = skill or SkillFile()
        self.n_passages = n_passages
        self.max_question_chars = max_question_chars
        self.indicators = IndicatorEngine(prompts.framework, embedder, thresholds)
        self.judge = (
            Judge(prompts, llm, samples=samples, budget_s=llm_budget_s, embedder=embedder) if llm is not None else None
        )

    def assess(
        self,
        question: str,
        retriever: Retriever,
        *,
        as_of: dt.date | None = None,
        engine: Literal["auto", "llm", "indicators"] = "auto",
        on_progress: ProgressCallback | None = None,
    ) -> Assessment:
        t0 = time.perf_counter()
        q = check_question(question, self.max_question_chars)
        subject, place = read_subject(q, self.prompts.gazetteer)
        use_llm = self.judge is not None and engine != "indicators"
        notes: list[str] = []
        if engine == "llm" and self.judge is None:
            notes.append("No language model is configured; this answer is based on the evidence alone.")
        if use_llm:
            try:
                return self._finish(self._assess_llm(q, subject, place, retriever, as_of, on_progress), t0)
            except LLMError as exc:
                log.warning("LLM assessment failed, falling back to indicators: %s", exc.message)
                notes.append(LLM_UNAVAILABLE)
        draft = self._assess_indicators(q, subject, place, retriever, as_of)
        draft.notes = notes + draft.notes
        if on_progress is not None:
            for v in draft.variables:
                on_progress(v.variable, v)
        return self._finish(draft, t0)

    # -- indicator engine -------------------------------------------------------------------
    def _assess_indicators(
        self, q: str, subject: str, place: Subject | None, retriever: Retriever, as_of: dt.date | None
    ) -> Draft:
        t1 = time.perf_counter()
        passages, variables = self.indicators.run(q, subject, retriever, as_of, place)
        t2 = time.perf_counter()
        checked, removed = self._check(variables, len(passages))
        notes = []
        if not passages:
            notes.append("No passage in the corpus is about this subject" + (f" as of {as_of}." if as_of else "."))
        claims = sum(len(v.evidence_for) + len(v.evidence_against) for v in checked)
        return Draft(
            q, subject, as_of, "indicators", self.indicators.name, checked, passages,
            self._summary(subject, checked), notes, removed, claims, claims,
            Timings(retrieval_ms=(t2 - t1) * 1000),
        )

    @staticmethod
    def _summary(subject: str, variables: list[VariableAssessment]) -> str:
        """A summary written by code from the checked variables (never by the model)."""
        place = subject or "this question"
        assessed = [v for v in variables if v.assessed]
        if not assessed:
            return f"The corpus holds no checked evidence on {place}; add articles and ask again."
        n_for = sum(len(v.evidence_for) for v in variables)
        n_against = sum(len(v.evidence_against) for v in variables)
        weakest = min(assessed, key=lambda v: v.score or 0)
        text = (
            f"On {place}: {n_for} checked piece(s) of evidence favour intervention and {n_against} work against it; "
            f"the weakest variable is {weakest.variable.replace('_', ' ')} ({weakest.score}/4)."
        )
        missing = [v.variable.replace("_", " ") for v in variables if not v.assessed]
        if missing:
            text += f" No checked evidence on: {', '.join(missing)}."
        return text

    # -- LLM engine -------------------------------------------------------------------------
    def pool_passages(
        self, q: str, subject: str, retriever: Retriever, as_of: dt.date | None, place: Subject | None = None
    ) -> list[Passage]:
        """One pooled list for all five questions: the question's best passages, then each
        variable's best two, numbered in that order (one shared prompt prefix for the model).
        Each list is re-ranked toward passages about the place (any of its names) and recent
        relative to ``as_of``; older ones stay as background and carry their date."""
        queries = [q] + [expand_query(spec.queries[0], place, subject or q) for spec in self.prompts.framework.variables]
        k_main = max(3, self.n_passages // 3)
        results = [rerank(hits, place, as_of) for hits in retrieve_many(retriever, queries, k=k_main + 2, as_of=as_of)]
        pool: dict[str, Passage] = {p.id: p for p in results[0][:k_main]}
        for hits in results[1:]:
            for p in hits[:2]:
                pool.setdefault(p.id, p)
        return list(pool.values())[: self.n_passages]

    def _assess_llm(
        self,
        q: str,
        subject: str,
        place: Subject | None,
        retriever: Retriever,
        as_of: dt.date | None,
        on_progress: ProgressCallback | None,
    ) -> Draft:
        assert self.judge is not None and self.llm is not None
        t1 = time.perf_counter()
        passages = self.pool_passages(q, subject, retriever, as_of, place)
        t2 = time.perf_counter()
        if not passages:
            raise LLMError("no passages to give the model")
        variables, made, kept, out_of_time = self.judge.run(passages, subject or q, on_progress=on_progress)
        t3 = time.perf_counter()
        checked, removed = self._check(variables, len(passages))
        notes = []
        if out_of_time:
            notes.append("The language model ran out of time; the variables it did not reach show no evidence.")
        if made > kept:
            notes.append(
                f"{made - kept} of the model's {made} quoted claim(s) were not found in their passages, "
                "or were not sentences, and were dropped."
            )
        return Draft(
            q, subject, as_of, "llm", self.llm.model_name, checked, passages,
            self._summary(subject, checked), notes, removed, made, kept,
            Timings(retrieval_ms=(t2 - t1) * 1000, llm_ms=(t3 - t2) * 1000),
        )

    # -- shared ------------------------------------------------------------------------------
    @staticmethod
    def _check(variables: list[VariableAssessment], n: int) -> tuple[list[VariableAssessment], int]:
        checked, removed = [], 0
        for v in variables:
            c, r = check_citations(v, n)
            checked.append(c)
            removed += r
        return checked, removed

    def _finish(self, d: Draft, t0: float) -> Assessment:
        t5 = time.perf_counter()
        computed: int | None = None
        if any(v.assessed for v in d.variables):
            computed = likelihood([v.score if v.assessed else None for v in d.variables], self.params)
        pct: int | None = None
        note = ""
        if computed is None:
            note = NO_EVIDENCE_NOTE
        elif not self.skill.has_skill(engine_key(d.engine, d.model)):
            note = NO_SKILL_NOTE
        else:
            pct = computed
        timings = d.timings
        result = Assessment(
            question=d.question,
            subject=d.subject or "unspecified",
            as_of=d.as_of,
            variables=d.variables,
            likelihood=pct,
            verdict=verdict(pct) if pct is not None else None,
            likelihood_note=note,
            computed_likelihood=computed,
            confidence=overall_confidence(d.variables),
            summary=d.summary,
            passages=d.passages,
            engine=d.engine,
            model=d.model,
            removed_citations=d.removed,
            claims_made=d.claims_made,
            claims_kept=d.claims_kept,
            notes=d.notes,
            timings=timings,
        )
        t6 = time.perf_counter()
        result.timings.scoring_ms = (t6 - t5) * 1000
        result.timings.total_ms = (t6 - t0) * 1000
        return result
