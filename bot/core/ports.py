"""The two (three) small interfaces the pipeline is written against."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel

from bot.core.models import Passage, VariableAssessment

T = TypeVar("T", bound=BaseModel)

# Progress of one assessment, called from the worker thread that runs it: ``(stage, variable)``,
# e.g. ``("variable", <the trigger's VariableAssessment>)`` as each variable is decided, or
# ``("retrieval", None)`` for a stage without a variable. It must return quickly and never raise
# into the pipeline (the Discord layer hands it to the event loop and throttles the edits).
ProgressCallback = Callable[[str, VariableAssessment | None], None]


@runtime_checkable
class Retriever(Protocol):
    def retrieve(self, query: str, *, k: int, as_of: dt.date | None = None) -> list[Passage]:
        """The k most relevant passages published on or before ``as_of`` (all when None)."""
        ...


def retrieve_many(retriever: Retriever, queries: list[str], *, k: int, as_of: dt.date | None = None) -> list[list[Passage]]:
    """Several retrievals at once: batched when the retriever offers ``retrieve_many``."""
    batched = getattr(retriever, "retrieve_many", None)
    if batched is not None:
        return batched(queries, k=k, as_of=as_of)
    return [retriever.retrieve(q, k=k, as_of=as_of) for q in queries]


@runtime_checkable
class StructuredLLM(Protocol):
    """A chat model that fills a pydantic schema.

    Raises :class:`bot.errors.LLMTimeout` when it does not answer in time and
    :class:`bot.errors.LLMInvalidOutput` when its answer does not fit ``schema``.
    """

    @property
    def model_name(self) -> str: ...

    def generate(self, system: str, prompt: str, schema: type[T]) -> T: ...


@runtime_checkable
class OptionLLM(StructuredLLM, Protocol):
    """A StructuredLLM that also reads its next-word probabilities (the in-process model)."""

    def option_probs(self, system: str, prompt: str, options: Sequence[str]) -> dict[str, float]:
        """The probability of each option as the answer's first word, normalised over the options."""
        ...


@runtime_checkable
class SentenceEmbedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        ...
