"""Domain models shared by every layer (pydantic, no I/O)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

VariableKey = Literal["trigger", "local_support", "military_opposition", "feasibility", "costs"]
VARIABLES: tuple[VariableKey, ...] = ("trigger", "local_support", "military_opposition", "feasibility", "costs")
Score = Literal[0, 1, 2, 3, 4]
Confidence = Literal["low", "medium", "high"]
Verdict = Literal["very unlikely", "unlikely", "uncertain", "likely", "very likely"]
Engine = Literal["llm", "indicators"]
EngineChoice = Literal["auto", "llm", "indicators"]  # what a caller asks for


class Passage(BaseModel):
    """One retrieved chunk of a document, with everything a citation needs."""

    id: str
    doc_id: str
    title: str
    date: dt.date | None = None
    source: str = ""
    url: str | None = None
    tags: list[str] = Field(default_factory=list)
    paragraph_start: int = 1
    paragraph_end: int = 1
    text: str
    score: float = 0.0
    vector_rank: int | None = None
    lexical_rank: int | None = None

    @property
    def paragraphs(self) -> str:
        if self.paragraph_start == self.paragraph_end:
            return f"¶{self.paragraph_start}"
        return f"¶{self.paragraph_start}-{self.paragraph_end}"

    @property
    def label(self) -> str:
        """"Why Russia Sent Troops Into Kazakhstan (2022-01-07), ¶5"."""
        when = self.date.isoformat() if self.date else "undated"
        return f"{self.title} ({when}), {self.paragraphs}"


class Citation(BaseModel):
    """A pointer to a numbered passage (1-based, in the assessment's ``passages``)."""

    passage: int = Field(ge=1)
    quote: str | None = None  # the sentence that carried the evidence, when known


class Claim(BaseModel):
    """One piece of evidence shown to the user: what it says, the passage (1-based), and the
    verbatim quote that code found in that passage (claims whose quote is not found are never shown)."""

    text: str = ""
    passage: int = Field(ge=1)
    quote: str = ""


class VariableAssessment(BaseModel):
    variable: VariableKey
    status: Literal["assessed", "insufficient_evidence"]
    score: Score | None = None  # 0-4: how far the variable favours intervention
    confidence: Confidence = "low"
    rationale: str = ""
    citations: list[Citation] = Field(default_factory=list)
    evidence_for: list[Claim] = Field(default_factory=list)  # favours intervention
    evidence_against: list[Claim] = Field(default_factory=list)  # works against intervention
    judgement: float | None = None  # the engine's raw lean in [-1, 1] towards intervention, when it has one

    @property
    def assessed(self) -> bool:
        return self.status == "assessed" and self.score is not None


class Timings(BaseModel):
    retrieval_ms: float = 0.0
    prompt_ms: float = 0.0
    llm_ms: float = 0.0
    validation_ms: float = 0.0
    scoring_ms: float = 0.0
    total_ms: float = 0.0


class Assessment(BaseModel):
    question: str
    subject: str
    as_of: dt.date | None = None
    variables: list[VariableAssessment]
    # None: no number is shown, because the engine has not beaten always-50 % on held-out case
    # files, or because there is no evidence; likelihood_note says which
    likelihood: int | None = Field(None, ge=0, le=100)
    verdict: Verdict | None = None
    likelihood_note: str = ""
    # what the scoring function gives for these scores, shown or not: for the evaluation harness
    # only (it is how an engine earns the right to show ``likelihood``); None without evidence
    computed_likelihood: int | None = Field(None, ge=0, le=100)
    confidence: Confidence
    summary: str
    passages: list[Passage]
    engine: Engine
    model: str
    removed_citations: int = 0
    claims_made: int = 0  # claims the engine proposed
    claims_kept: int = 0  # of which the quote was found verbatim in the cited passage
    notes: list[str] = Field(default_factory=list)
    timings: Timings = Field(default_factory=Timings)
    created_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def variable(self, key: VariableKey) -> VariableAssessment:
        for v in self.variables:
            if v.variable == key:
                return v
        raise KeyError(key)

    def cited_passage_numbers(self) -> list[int]:
        """Every passage number cited, by a citation or by a claim for or against, in order."""
        seen: set[int] = set()
        for v in self.variables:
            seen.update(c.passage for c in v.citations)
            seen.update(c.passage for c in (*v.evidence_for, *v.evidence_against))
        return sorted(seen)
