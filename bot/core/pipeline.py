"""The assessment pipeline: question -> passages -> five variables -> checked, scored Assessment.

``Assessor.assess`` is written against the small interfaces in :mod:`bot.core.ports`: a retriever,
an optional structured LLM and a sentence embedder. With no LLM (or when the LLM fails, times out
or answers invalid output twice) the indicator engine answers, and the assessment says so.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, create_model

from bot.core.citations import check_citations
from bot.core.indicators import IndicatorEngine
from bot.core.models import VARIABLES, Assessment, Citation, Passage, Timings, VariableAssessment
from bot.core.ports import Retriever, SentenceEmbedder, StructuredLLM, retrieve_many
from bot.core.prompts import Prompts
from bot.core.scoring import ScoringParams, likelihood, overall_confidence, verdict
from bot.errors import BadQuestion, LLMError, LLMInvalidOutput

log = logging.getLogger(__name__)

EXAMPLE = 'e.g. "Will Russia send troops into Kazakhstan?"'
_INTERVENTION = re.compile(
    r"\b(troops?|forces?|military|army|armed|soldiers?|interven\w*|invad\w*|invasion|deploy\w*|send|sent|occup\w*|"
    r"annex\w*|attack\w*|war|peacekeep\w*|csto|incursion|operation|strike|tanks?|paratroop\w*|boots|marines?|"
    r"base|bases|mobili[sz]\w*|seize|seizure)\b",
    re.I,
)
_SUBJECT = re.compile(
    r"\b(?:into|in|to|against|over|on|of|defend|invade|occupy|annex)\s+((?:the\s+)?[A-Z][\w'\-]+(?:\s+(?:[A-Z][\w'\-]+|of|and)){0,3})"
)
_NOT_SUBJECT = {"Russia", "Russian", "Moscow", "Kremlin", "Putin", "CSTO", "Will", "Would", "Could", "The", "NATO"}


def check_question(question: str, max_chars: int) -> str:
    """The question, stripped; or BadQuestion with a one-sentence reason."""
    q = " ".join((question or "").split())
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
    """The place the question is about ("Kazakhstan", "South Ossetia"), by a simple pattern."""
    for m in _SUBJECT.finditer(question):
        words = [w for w in m.group(1).split() if w not in _NOT_SUBJECT and w.lower() != "the"]
        while words and words[-1] in {"of", "and"}:
            words.pop()
        if words:
            return " ".join(words).strip(" ?.,")
    names = [w.strip("?,.'") for w in re.findall(r"\b[A-Z][\w'\-]+", question) if w.strip("?,.'") not in _NOT_SUBJECT]
    return names[0] if names else ""


# --- the structured output asked of the LLM ---------------------------------------------------

class _VariableOut(BaseModel):
    insufficient_evidence: bool
    score: Literal[0, 1, 2, 3, 4] | None  # required, null when insufficient
    confidence: Literal["low", "medium", "high"]
    rationale: str = Field(max_length=400)
    citations: list[int] = Field(max_length=3)  # required, may be empty


@lru_cache(maxsize=64)
def output_schema(n_passages: int) -> type[BaseModel]:
    """The schema for one call: citations are enums of the passage numbers actually given, so a
    grammar-constrained local model cannot even write an invalid one (remote ones are checked)."""
    numbers = tuple(range(1, n_passages + 1))
    Cite = Literal[numbers]  # type: ignore[valid-type]
    variable = create_model(
        "VariableAssessmentOut",
        __base__=_VariableOut,
        citations=(list[Cite], Field(max_length=3)),
    )
    fields: dict = {"subject": (str, Field(max_length=80))}
    for key in VARIABLES:
        fields[key] = (variable, ...)
    fields["summary"] = (str, Field(max_length=600))
    return create_model("AssessmentOut", **fields)


def format_passages(passages: list[Passage]) -> str:
    blocks = []
    for i, p in enumerate(passages, start=1):
        text = p.text.replace("</passage>", "</ passage>")
        blocks.append(f'<passage n="{i}" source="{p.label}">\n{text}\n</passage>')
    return "\n".join(blocks)


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
        n_passages: int = 12,
        max_question_chars: int = 500,
    ) -> None:
        self.prompts = prompts
        self.llm = llm
        self.params = params or ScoringParams()
        self.n_passages = n_passages
        self.max_question_chars = max_question_chars
        self.indicators = IndicatorEngine(prompts.framework, embedder, thresholds)
        self._system: str | None = None

    def _system_prompt(self) -> str:
        if self._system is None:
            fw = self.prompts.framework
            self._system = self.prompts.render(
                "system",
                variables=", ".join(f"{i}) {v.name}" for i, v in enumerate(fw.variables, 1)),
                framework=fw.describe(),
            )
        return self._system

    def assess(
        self,
        question: str,
        retriever: Retriever,
        *,
        as_of: dt.date | None = None,
        engine: Literal["auto", "llm", "indicators"] = "auto",
    ) -> Assessment:
        t0 = time.perf_counter()
        q = check_question(question, self.max_question_chars)
        subject = guess_subject(q)
        use_llm = self.llm is not None and engine != "indicators"
        notes: list[str] = []
        if engine == "llm" and self.llm is None:
            notes.append("No LLM is configured; this answer is indicator-based.")
        if use_llm:
            try:
                return self._assess_llm(q, subject, retriever, as_of, t0)
            except LLMError as exc:
                log.warning("LLM assessment failed, falling back to indicators: %s", exc.message)
                notes.append("The language model is unavailable; this answer is based on the evidence alone.")
        return self._assess_indicators(q, subject, retriever, as_of, t0, notes)

    # -- indicator engine -------------------------------------------------------------------
    def _assess_indicators(
        self, q: str, subject: str, retriever: Retriever, as_of: dt.date | None, t0: float, notes: list[str]
    ) -> Assessment:
        t1 = time.perf_counter()
        passages, variables = self.indicators.run(q, subject, retriever, as_of)
        t2 = time.perf_counter()
        checked, removed = self._check(variables, len(passages))
        if not passages:
            notes.append("No passage in the corpus is about this subject" + (f" as of {as_of}." if as_of else "."))
        return self._finish(
            q, subject, as_of, checked, passages, "indicators", self.indicators.name,
            self._indicator_summary(subject, checked), removed, notes,
            Timings(retrieval_ms=(t2 - t1) * 1000), t0, t2,
        )

    @staticmethod
    def _indicator_summary(subject: str, variables: list[VariableAssessment]) -> str:
        assessed = [v for v in variables if v.assessed]
        if not assessed:
            return f"The corpus holds no usable evidence on {subject or 'this question'}; add articles and ask again."
        weakest = min(assessed, key=lambda v: v.score or 0)
        missing = [v.variable.replace("_", " ") for v in variables if not v.assessed]
        text = f"Indicator-based reading of the corpus on {subject or 'the question'}: the weakest variable is {weakest.variable.replace('_', ' ')} ({weakest.score}/4)."
        if missing:
            text += f" No evidence found on: {', '.join(missing)}."
        return text

    # -- LLM engine -------------------------------------------------------------------------
    def _llm_passages(self, q: str, subject: str, retriever: Retriever, as_of: dt.date | None) -> list[Passage]:
        """The question's best passages, then each variable's best few, numbered in that order."""
        queries = [q] + [spec.queries[0].format(subject=subject or q) for spec in self.prompts.framework.variables]
        k_main = max(4, self.n_passages // 2)
        results = retrieve_many(retriever, queries, k=k_main, as_of=as_of)
        pool: dict[str, Passage] = {p.id: p for p in results[0]}
        for hits in results[1:]:
            for p in hits[:3]:
                pool.setdefault(p.id, p)
        return list(pool.values())[: self.n_passages]

    def _assess_llm(self, q: str, subject: str, retriever: Retriever, as_of: dt.date | None, t0: float) -> Assessment:
        assert self.llm is not None
        t1 = time.perf_counter()
        passages = self._llm_passages(q, subject, retriever, as_of)
        t2 = time.perf_counter()
        if not passages:
            raise LLMError("no passages to give the model")
        system = self._system_prompt()
        prompt = self.prompts.render(
            "assess",
            question=q,
            as_of=as_of.isoformat() if as_of else "today",
            passages=format_passages(passages),
        )
        schema = output_schema(len(passages))
        t3 = time.perf_counter()
        notes: list[str] = []
        try:
            out = self.llm.generate(system, prompt, schema)
        except LLMInvalidOutput as exc:
            repair = self.prompts.render("repair", error=exc.message, n_passages=len(passages))
            out = self.llm.generate(system, prompt + "\n\n" + repair, schema)  # a second failure propagates
            notes.append("The model's first answer was invalid and was repaired.")
        t4 = time.perf_counter()
        variables = []
        for key in VARIABLES:
            v = getattr(out, key)
            cites = [Citation(passage=int(n)) for n in v.citations]
            insufficient = v.insufficient_evidence or v.score is None
            variables.append(
                VariableAssessment(
                    variable=key,
                    status="insufficient_evidence" if insufficient else "assessed",
                    score=None if insufficient else v.score,
                    confidence=v.confidence,
                    rationale=v.rationale.strip(),
                    citations=cites,
                )
            )
        checked, removed = self._check(variables, len(passages))
        if removed:
            notes.append(f"{removed} citation(s) to passages that were not given were removed.")
        subject_out = (getattr(out, "subject", "") or "").strip() or subject
        return self._finish(
            q, subject_out, as_of, checked, passages, "llm", self.llm.model_name, out.summary.strip(), removed, notes,
            Timings(retrieval_ms=(t2 - t1) * 1000, prompt_ms=(t3 - t2) * 1000, llm_ms=(t4 - t3) * 1000), t0, t4,
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

    def _finish(
        self, q, subject, as_of, variables, passages, engine, model, summary, removed, notes, timings: Timings, t0, t_last
    ) -> Assessment:
        t5 = time.perf_counter()
        pct = likelihood([v.score if v.assessed else None for v in variables], self.params)
        result = Assessment(
            question=q,
            subject=subject or "unspecified",
            as_of=as_of,
            variables=variables,
            likelihood=pct,
            verdict=verdict(pct),
            confidence=overall_confidence(variables),
            summary=summary,
            passages=passages,
            engine=engine,
            model=model,
            removed_citations=removed,
            notes=notes,
            timings=timings,
        )
        t6 = time.perf_counter()
        result.timings.validation_ms = (t5 - t_last) * 1000
        result.timings.scoring_ms = (t6 - t5) * 1000
        result.timings.total_ms = (t6 - t0) * 1000
        return result
