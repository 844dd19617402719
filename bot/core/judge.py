"""The LLM judge: one plain question per variable over one pooled list of passages.

Each variable has a plain factual statement about the place and its negation
(``judge`` in prompts/framework.yaml). The model is asked about the statement, never for a score:

* a model that exposes its next-word probabilities (the in-process llama.cpp model,
  :class:`~bot.core.ports.OptionLLM`) is asked "is it true? yes/no" of the statement and of its
  negation, and the lean is ``P(yes | statement) - P(yes | negation)``: a small model's constant
  yes-bias cancels (measured in ``benchmarks/framings.py``; docs/evaluation.md has the figures);
  it then picks the sentence of the passages that best shows the side it leaned to, its answer
  constrained by a grammar to the passages' own sentences (so a small model cannot paraphrase);
* any other model (hosted or served) answers a structured question per variable: the evidence for
  the statement, the evidence for its negation (each a passage number and a verbatim quote), and
  whether the statement is true, false or unclear; with ``samples`` > 1 it is asked several times
  and the median lean is kept, as the forecasting systems that beat crowds do.

Code, not the model, turns the lean into a score: the polarity (``if_true``) says whether the
statement being true favours intervention, and :func:`lean_to_score` maps the lean to 0-4. Every
claim shown carries a passage number and a quote that :func:`bot.core.quotes.found_in` found in
that passage; a claim that fails is dropped and counted, and a variable without a verified claim
is "insufficient evidence", whatever the model answered.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, Field, create_model

from bot.core.framework import VariableSpec
from bot.core.indicators import split_sentences
from bot.core.models import Citation, Claim, Passage, VariableAssessment
from bot.core.ports import OptionLLM, ProgressCallback, SentenceEmbedder, StructuredLLM
from bot.core.prompts import Prompts
from bot.core.quotes import clean_quote, found_in
from bot.corpus.prose import is_prose

log = logging.getLogger(__name__)

# lean -> score: principled, symmetric cut points (not fitted): a clear lean moves the score two
# steps, a slight one a single step, and a lean under 0.15 either way is "mixed" (2)
CUTS: tuple[float, float] = (0.15, 0.5)


def lean_to_score(lean: float) -> int:
    small, large = CUTS
    if lean >= large:
        return 4
    if lean >= small:
        return 3
    if lean > -small:
        return 2
    if lean > -large:
        return 1
    return 0


def confidence_of(lean: float) -> Literal["low", "medium", "high"]:
    a = abs(lean)
    return "high" if a >= 0.5 else "medium" if a >= 0.2 else "low"


def passages_block(passages: Sequence[Passage]) -> str:
    """The passages as the model sees them: number, title, date, text (one shared prefix)."""
    lines = []
    for i, p in enumerate(passages, 1):
        when = p.date.isoformat() if p.date else "undated"
        text = " ".join(p.text.split())
        lines.append(f"[{i}] {p.title} ({when}): {text}")
    return "Passages:\n" + "\n\n".join(lines)


# --- structured answers ------------------------------------------------------------------------

class _QuoteOut(BaseModel):
    passage: int
    quote: str = Field(max_length=300)


@lru_cache(maxsize=64)
def quote_schema(n_passages: int) -> type[BaseModel]:
    """One quoted sentence; the passage number is an enum of the numbers given."""
    numbers = tuple(range(1, n_passages + 1))
    passage: Any = Literal[numbers]  # a Literal built at run time: a value to pydantic, no static type
    return create_model("QuoteOut", __base__=_QuoteOut, passage=(passage, ...))


MAX_SENTENCES = 80  # the grammar's enum stays small enough to compile in milliseconds


def passage_sentences(passages: Sequence[Passage]) -> list[tuple[int, str]]:
    """(passage number, sentence) for every sentence of the passages, in order, each once."""
    seen: set[str] = set()
    out: list[tuple[int, str]] = []
    for n, p in enumerate(passages, 1):
        for sentence in split_sentences(" ".join(p.text.split())):
            if sentence not in seen and len(sentence) <= 400 and is_prose(sentence):
                seen.add(sentence)
                out.append((n, sentence))
    return out[:MAX_SENTENCES]


def enum_form(sentence: str) -> str:
    """A sentence as an enum value of the grammar: double quotes and backslashes, which
    llama.cpp's JSON-schema-to-grammar converter escapes wrongly, become ' and /. The claim
    shown is always the passage's own sentence, found again by this form."""
    return sentence.replace('"', "'").replace("\\", "/").replace("\u201c", "'").replace("\u201d", "'")


def sentence_schema(sentences: Sequence[str]) -> type[BaseModel]:
    """One sentence, chosen from ``sentences``: a grammar-constrained model can only copy one."""
    forms = tuple(dict.fromkeys(enum_form(s) for s in sentences))
    sentence: Any = Literal[forms]  # built at run time, as in quote_schema
    return create_model("SentenceOut", sentence=(sentence, ...))


@lru_cache(maxsize=64)
def judgement_schema(n_passages: int, max_claims: int = 3) -> type[BaseModel]:
    quotes: Any = list[quote_schema(n_passages)]  # type: ignore[misc]  # a model class made at run time
    answer: Any = Literal["true", "false", "unclear"]
    return create_model(
        "JudgementOut",
        evidence_for_statement=(quotes, Field(max_length=max_claims)),
        evidence_for_negation=(quotes, Field(max_length=max_claims)),
        answer=(answer, ...),
    )


ANSWER_LEAN = {"true": 1.0, "false": -1.0, "unclear": 0.0}


@dataclass
class Proposed:
    """A claim as the model proposed it, before the quote check."""

    passage: int
    quote: str
    supports_statement: bool


@dataclass
class VariableJudgement:
    lean: float  # towards the statement being true, in [-1, 1] (before polarity)
    proposed: list[Proposed] = field(default_factory=list)
    detail: str = ""


@dataclass
class Sentences:
    """The sentences a quote may be chosen from, (passage number, text), with their vectors."""

    items: list[tuple[int, str]]
    vectors: np.ndarray | None = None


class JudgeResult(NamedTuple):
    variables: list[VariableAssessment]
    claims_made: int
    claims_kept: int
    out_of_time: bool  # the budget ran out before every variable was judged


class Judge:
    """Runs the per-variable questions with one LLM and checks every claim."""

    def __init__(
        self,
        prompts: Prompts,
        llm: StructuredLLM,
        *,
        samples: int = 1,
        max_claims: int = 3,
        budget_s: float = 600.0,
        embedder: SentenceEmbedder | None = None,
        candidates: int = 8,
    ) -> None:
        self.budget_s = budget_s
        # the sentences offered for a quote: the ``candidates`` closest (by embedding) to the side
        # the model leaned to, so a small model picks among relevant sentences, not the whole list
        self.embedder = embedder
        self.candidates = candidates
        self.prompts = prompts
        self.framework = prompts.framework
        self.system = prompts.judge_system.strip()
        self.llm = llm
        self.samples = max(1, samples)
        self.max_claims = max_claims
        self.probabilities = isinstance(llm, OptionLLM)

    # -- one variable ---------------------------------------------------------------------
    def _ask_probabilities(
        self, block: str, spec: VariableSpec, subject: str, sentences: Sentences
    ) -> VariableJudgement:
        llm = self.llm
        assert isinstance(llm, OptionLLM)
        st = spec.judge.statement.format(subject=subject)
        neg = spec.judge.negation.format(subject=subject)
        def ask(statement: str) -> float:
            prompt = block + self.prompts.render("judge_yes_no", statement=statement).rstrip()
            return llm.option_probs(self.system, prompt, ("yes", "no"))["yes"]

        p_st = ask(st)
        p_neg = ask(neg)
        lean = p_st - p_neg
        side = st if lean >= 0 else neg
        proposed: list[Proposed] = []
        offered = self._closest(side, sentences)
        if offered:
            out = self.llm.generate(
                self.system, block + self.prompts.render("judge_quote", side=side).rstrip(),
                sentence_schema([text for _, text in offered]),
            )
            chosen = str(out.sentence)  # type: ignore[attr-defined]
            n, original = next(((n, text) for n, text in offered if enum_form(text) == chosen), (0, chosen))
            proposed.append(Proposed(n, original, lean >= 0))
        return VariableJudgement(lean, proposed, f"the model rated the statement {p_st:.0%} likely true and its opposite {p_neg:.0%}")

    def _sentences(self, passages: Sequence[Passage]) -> Sentences:
        """The passages' sentences for the quote step, embedded once for all five variables."""
        items = passage_sentences(passages) if self.probabilities else []
        vectors = self.embedder.embed([text for _, text in items]) if self.embedder is not None and items else None
        return Sentences(items, vectors)

    def _closest(self, side: str, sentences: Sentences) -> list[tuple[int, str]]:
        """The ``candidates`` sentences most similar to ``side``, most similar first (all of them, in
        passage order, without an embedder)."""
        if self.embedder is None or sentences.vectors is None:
            return sentences.items
        sims = sentences.vectors @ self.embedder.embed([side])[0]
        keep = sorted(range(len(sentences.items)), key=lambda i: -float(sims[i]))[: self.candidates]
        return [sentences.items[i] for i in keep]

    def _ask_structured(
        self, block: str, spec: VariableSpec, subject: str, sentences: Sentences
    ) -> VariableJudgement:
        st = spec.judge.statement.format(subject=subject)
        n = block.count("\n[") + 1
        schema = judgement_schema(n, self.max_claims)
        prompt = block + self.prompts.render("judge_structured", statement=st).rstrip()
        leans: list[float] = []
        proposed: list[Proposed] = []
        for _ in range(self.samples):
            out = self.llm.generate(self.system, prompt, schema)
            leans.append(ANSWER_LEAN[out.answer])  # type: ignore[attr-defined]
            proposed += [Proposed(int(c.passage), c.quote, True) for c in out.evidence_for_statement]  # type: ignore[attr-defined]
            proposed += [Proposed(int(c.passage), c.quote, False) for c in out.evidence_for_negation]  # type: ignore[attr-defined]
        lean = statistics.median(leans)
        words = {1.0: "true", -1.0: "false", 0.0: "unclear"}
        answers = ", ".join(words.get(x, f"{x:+.1f}") for x in leans)
        return VariableJudgement(lean, proposed, f"the model judged the statement {answers}")

    # -- checking and scoring (pure) ------------------------------------------------------
    @staticmethod
    def verify(
        spec: VariableSpec, judgement: VariableJudgement, passages: Sequence[Passage]
    ) -> tuple[VariableAssessment, int, int]:
        """The variable's assessment from a judgement: only claims whose quote is found in the
        cited passage are kept; polarity and score come from code. Returns (assessment, made, kept)."""
        polarity = spec.judge.polarity
        evidence_for: list[Claim] = []
        evidence_against: list[Claim] = []
        seen: set[tuple[int, str]] = set()
        made = kept = 0
        for c in judgement.proposed:
            made += 1
            quote = clean_quote(c.quote)
            if not (1 <= c.passage <= len(passages)) or not found_in(quote, passages[c.passage - 1].text):
                continue
            if not is_prose(quote):  # a keyword line or a heading is not evidence, even when quoted exactly
                continue
            kept += 1
            key = (c.passage, quote.casefold())
            if key in seen:  # the same quote from another sample: kept, shown once
                continue
            seen.add(key)
            towards = polarity if c.supports_statement else -polarity
            claim = Claim(text=spec.judge.statement if c.supports_statement else spec.judge.negation, passage=c.passage, quote=quote)
            (evidence_for if towards > 0 else evidence_against).append(claim)
        lean = polarity * judgement.lean  # towards intervention
        citations = [Citation(passage=c.passage, quote=c.quote) for c in evidence_for + evidence_against]
        if not citations:
            return (
                VariableAssessment(
                    variable=spec.key,
                    status="insufficient_evidence",
                    rationale="No claim about this variable could be checked against the passages.",
                    judgement=lean,
                ),
                made,
                kept,
            )
        score = lean_to_score(lean)
        direction = "towards" if lean > 0 else "against"
        rationale = (
            f"Leans {direction} intervention: {judgement.detail}." if abs(lean) >= CUTS[0]
            else f"No clear lean either way: {judgement.detail}."
        )
        return (
            VariableAssessment(
                variable=spec.key,
                status="assessed",
                score=score,
                confidence=confidence_of(lean),
                rationale=rationale,
                citations=citations,
                evidence_for=evidence_for,
                evidence_against=evidence_against,
                judgement=lean,
            ),
            made,
            kept,
        )

    def run(
        self, passages: Sequence[Passage], subject: str, *, on_progress: ProgressCallback | None = None
    ) -> JudgeResult:
        """Judge the five variables over ``passages`` within the budget."""
        block = passages_block(passages)
        sentences = self._sentences(passages)
        variables: list[VariableAssessment] = []
        made = kept = 0
        out_of_time = False
        deadline = time.monotonic() + self.budget_s
        for spec in self.framework.variables:
            if time.monotonic() > deadline:  # one deadline for the whole assessment, not only per call
                out_of_time = True
                va = VariableAssessment(
                    variable=spec.key, status="insufficient_evidence",
                    rationale="Not judged: the assessment ran out of time before this variable.",
                )
                variables.append(va)
                if on_progress is not None:
                    on_progress(spec.key, va)
                continue
            ask = self._ask_probabilities if self.probabilities else self._ask_structured
            judgement = ask(block, spec, subject, sentences)
            va, m, k = self.verify(spec, judgement, passages)
            made += m
            kept += k
            variables.append(va)
            if on_progress is not None:
                on_progress(spec.key, va)
        return JudgeResult(variables, made, kept, out_of_time)
