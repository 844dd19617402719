"""Test doubles for the project's own interfaces (reusable by any test module).

``FakeLLM`` implements :class:`bot.core.ports.StructuredLLM` the way simonw/llm's ``MockModel``
does: queue the answers you want with ``enqueue(...)``, run the code, then look at ``calls``.
Each queued response is one of

* a ``dict`` (or ``Valid(dict)``): an answer, validated against the schema the pipeline asked
  for, exactly like a real provider; if it does not fit, the call raises ``LLMInvalidOutput``;
* ``Unchecked(dict)``: an answer whose citations may point at passages that were never given
  (a remote model that ignored the enum); it skips the citation-number check only;
* ``Invalid("why")``: the model answered junk -> raises ``LLMInvalidOutput("why")``;
* ``Timeout()``: raises ``LLMTimeout``;  ``Fail("why")``: raises ``LLMError("why")``;
* ``Delay(seconds, then)``: sleeps, then answers ``then`` (any of the above);
* any exception instance: raised as-is.

``judgement(...)`` builds one variable's structured answer in one line::

    llm = FakeLLM().enqueue(*[judgement("true", for_statement=[(1, "a sentence of passage 1")])] * 5)
    assessment = assessor_with(llm).assess("Will Russia send troops into Kazakhstan?", retriever)

``FakeOptionLLM`` adds next-word probabilities, as the in-process model has.

An empty queue answers ``default`` when one was given, and otherwise fails the test loudly.
``ListRetriever`` is an in-memory :class:`bot.core.ports.Retriever` over a list of Passages.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.core.judge import judgement_schema, quote_schema
from bot.core.models import Passage
from bot.errors import LLMError, LLMInvalidOutput, LLMTimeout

T = TypeVar("T", bound=BaseModel)


@dataclass(frozen=True)
class Valid:
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Unchecked:
    data: Mapping[str, Any]


@dataclass(frozen=True)
class Invalid:
    message: str = "the answer was not valid JSON"


@dataclass(frozen=True)
class Timeout:
    message: str = "no answer within 1 s"


@dataclass(frozen=True)
class Fail:
    message: str = "could not connect to the LLM server at http://127.0.0.1:9"


@dataclass(frozen=True)
class Delay:
    seconds: float
    then: Any


@dataclass(frozen=True)
class FakeCall:
    system: str
    prompt: str
    schema: type[BaseModel]


def judgement(
    answer: str = "true",
    for_statement: Sequence[tuple[int, str]] = (),
    for_negation: Sequence[tuple[int, str]] = (),
) -> dict[str, Any]:
    """One structured answer to a variable's statement (the hosted-model path of the judge)."""
    return {
        "evidence_for_statement": [{"passage": n, "quote": q} for n, q in for_statement],
        "evidence_for_negation": [{"passage": n, "quote": q} for n, q in for_negation],
        "answer": answer,
    }


def sentence(text: str) -> dict[str, Any]:
    """The sentence the local-model path picks after its yes/no probabilities (its schema is an
    enum of the passages' sentences, so anything else is invalid output)."""
    return {"sentence": text}


_STATEMENT = re.compile(r"Statement: (.+?)\n")
_SHOWS = re.compile(r"best shows this: (.+)$", re.S)


class FakeLLM:
    """A scripted StructuredLLM that records every call (system, prompt, schema)."""

    def __init__(self, name: str = "fake:scripted", *, default: Any = None) -> None:
        self._name = name
        self._queue: deque[Any] = deque()
        self._lock = threading.Lock()
        self.default = default
        self.calls: list[FakeCall] = []

    @property
    def model_name(self) -> str:
        return self._name

    def enqueue(self, *responses: Any) -> FakeLLM:
        with self._lock:
            self._queue.extend(responses)
        return self

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def prompts(self) -> list[str]:
        return [c.prompt for c in self.calls]

    def generate(self, system: str, prompt: str, schema: type[T]) -> T:
        with self._lock:
            self.calls.append(FakeCall(system, prompt, schema))
            if self._queue:
                response = self._queue.popleft()
            elif self.default is not None:
                response = self.default
            else:
                raise AssertionError(f"FakeLLM got call #{len(self.calls)} with nothing enqueued")
        return self._respond(response, schema)

    def _respond(self, response: Any, schema: type[T]) -> T:
        if isinstance(response, Delay):
            time.sleep(response.seconds)
            return self._respond(response.then, schema)
        if isinstance(response, BaseException):
            raise response
        if isinstance(response, Invalid):
            raise LLMInvalidOutput(response.message)
        if isinstance(response, Timeout):
            raise LLMTimeout(response.message)
        if isinstance(response, Fail):
            raise LLMError(response.message)
        if isinstance(response, Unchecked):
            data = response.data
            if "answer" in data:
                cited = [c["passage"] for k in ("evidence_for_statement", "evidence_for_negation") for c in data[k]]
                loose: type[BaseModel] = judgement_schema(max([3, *cited]))
            else:
                loose = quote_schema(max(3, data["passage"]))
            return loose.model_validate(data)  # type: ignore[return-value]
        data = response.data if isinstance(response, Valid) else response
        try:
            return schema.model_validate(data)
        except ValidationError as exc:  # what a real provider does with an answer that does not fit
            raise LLMInvalidOutput(
                f"the answer did not fit the required structure ({exc.error_count()} errors)"
            ) from exc


class FakeOptionLLM(FakeLLM):
    """A FakeLLM that also has next-word probabilities (an :class:`bot.core.ports.OptionLLM`,
    like the in-process model). ``p_yes(statement, passages)`` gives P(yes) for a statement over
    the passages' text; each ``generate`` for a quote answers ``quote_for(side, passages)``, by
    default the offered sentence (the schema's enum) that shares most words with the side asked
    about (a well-behaved model), unless responses were enqueued."""

    def __init__(self, p_yes, *, name: str = "fake:options", quote_for=None) -> None:
        super().__init__(name)
        self.p_yes = p_yes
        self.quote_for = quote_for or _best_sentence
        self.option_calls: list[str] = []

    def option_probs(self, system: str, prompt: str, options: Sequence[str]) -> dict[str, float]:
        with self._lock:
            self.option_calls.append(prompt)
        m = _STATEMENT.search(prompt)
        assert m, "a judge question names its statement"
        p = float(self.p_yes(m.group(1), prompt))
        return {options[0]: p, options[1]: 1 - p}

    def generate(self, system: str, prompt: str, schema: type[T]) -> T:
        if self._queue:
            return super().generate(system, prompt, schema)
        with self._lock:
            self.calls.append(FakeCall(system, prompt, schema))
        m = _SHOWS.search(prompt)
        assert m, "the quote request names the side it wants shown"
        prop = schema.model_json_schema()["properties"]["sentence"]
        offered = prop.get("enum") or [prop["const"]]  # what the grammar lets the model write
        return self._respond(self.quote_for(m.group(1), offered), schema)


def _best_sentence(side: str, offered: list[str]) -> dict[str, Any]:
    """The offered sentence sharing most words with ``side``: what a grammar-constrained model returns."""
    words = set(re.findall(r"\w+", side.lower()))
    return {"sentence": max(offered, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))}


@dataclass
class ListRetriever:
    """An in-memory Retriever: passages sharing the most words with the query come first.

    ``as_of`` drops passages dated after it; ``queries`` records what was asked.
    """

    passages: list[Passage]
    queries: list[tuple[str, int, dt.date | None]] = field(default_factory=list)

    def retrieve(self, query: str, *, k: int, as_of: dt.date | None = None) -> list[Passage]:
        self.queries.append((query, k, as_of))
        words = set(re.findall(r"\w+", query.lower()))
        pool = [p for p in self.passages if as_of is None or p.date is None or p.date <= as_of]
        ranked = sorted(pool, key=lambda p: -len(words & set(re.findall(r"\w+", p.text.lower()))))
        return ranked[:k]


def make_passages(texts: Iterable[str], *, date: dt.date = dt.date(2022, 1, 7)) -> list[Passage]:
    """Passages with distinct ids and titles ("Doc 1", "Doc 2", ...), all dated ``date``."""
    return [
        Passage(id=f"p{i}", doc_id=f"doc{i}", title=f"Doc {i}", date=date, source="test", text=t)
        for i, t in enumerate(texts, start=1)
    ]
