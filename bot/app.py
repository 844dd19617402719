"""Wiring: build the shared resources once from settings and hand them to the CLI or the bot.

``App`` owns the embedder, the store backend (chroma client, registry + lexical index, writer lock),
the prompts and the assessor.
Stores are per collection (the bot gives each Discord guild its own); ``retriever_for`` adapts a
store to the core's :class:`~bot.core.ports.Retriever`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import Settings, remember_secrets
from bot.core.indicators import load_thresholds
from bot.core.models import Assessment, EngineChoice, Passage
from bot.core.pipeline import Assessor
from bot.core.ports import ProgressCallback, StructuredLLM
from bot.core.prompts import Prompts, load_prompts
from bot.core.scoring import ScoringParams
from bot.core.skill import load_skill
from bot.embeddings import MiniLMEmbedder, shared_embedder
from bot.store import Backend, CorpusStore, SearchFilter

log = logging.getLogger(__name__)


@dataclass
class StoreRetriever:
    """The core's Retriever over one CorpusStore (hybrid search, ``as_of`` filter)."""

    store: CorpusStore
    base_filter: SearchFilter = SearchFilter()

    def retrieve(self, query: str, *, k: int, as_of: dt.date | None = None) -> list[Passage]:
        return self.store.search(query, k, self._filter(as_of))

    def retrieve_many(self, queries: list[str], *, k: int, as_of: dt.date | None = None) -> list[list[Passage]]:
        return self.store.search_many(queries, k, self._filter(as_of))

    def _filter(self, as_of: dt.date | None) -> SearchFilter:
        flt = self.base_filter
        if as_of is None:
            return flt
        return SearchFilter(as_of=as_of, date_from=flt.date_from, date_to=flt.date_to, sources=flt.sources, tags=flt.tags)



def load_scoring_params(settings: Settings) -> ScoringParams:
    """Fitted parameters from ``prompts/scoring.yaml`` (written by ``analyst eval --calibrate``)."""
    import yaml

    path = settings.prompts_dir / "scoring.yaml"
    if path.exists():
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return ScoringParams.model_validate(data.get("params", {}))
    return ScoringParams()


class App:
    """The shared resources. A context manager: ``with App(settings) as app: ...`` closes the stores,
    the lexical index and the LLM on the way out, whatever happened inside."""

    def __init__(
        self, settings: Settings, *, llm: StructuredLLM | None = None, build_llm: bool = True, notify: Callable[[str], None] | None = None
    ) -> None:
        self.settings = settings
        self.notify = notify  # told when a write waits for another process (default: a log warning)
        remember_secrets(settings)
        self.prompts: Prompts = load_prompts(settings.prompts_dir)  # validated at start
        self.embedder: MiniLMEmbedder = shared_embedder(settings.embedding_model_path, settings.embedding_threads)
        if llm is None and build_llm and settings.llm_provider != "none":
            from bot.llm import build_llm as _build

            llm = _build(settings)
        self.llm = llm
        self.assessor = Assessor(
            self.prompts,
            self.embedder,
            llm=llm,
            params=load_scoring_params(settings),
            thresholds=load_thresholds(settings.prompts_dir / "indicator_thresholds.yaml"),
            skill=load_skill(settings.prompts_dir / "skill.yaml"),
            n_passages=settings.assessment_passages,
            max_question_chars=settings.max_question_chars,
            samples=settings.llm_samples,
            llm_budget_s=settings.llm_assessment_budget_s,
        )
        self._backend: Backend | None = None
        self._stores: dict[str, CorpusStore] = {}
        self._lock = threading.Lock()

    def store(self, collection: str | None = None) -> CorpusStore:
        name = collection or self.settings.collection
        with self._lock:
            if name not in self._stores:
                if self._backend is None:
                    self._backend = Backend.shared(self.settings, notify=self.notify)
                self._stores[name] = CorpusStore(self.settings, self.embedder, collection=name, backend=self._backend)
            return self._stores[name]

    def retriever(self, collection: str | None = None) -> StoreRetriever:
        return StoreRetriever(self.store(collection))

    def assess(
        self,
        question: str,
        *,
        collection: str | None = None,
        as_of: dt.date | None = None,
        engine: EngineChoice = "auto",
        progress: ProgressCallback | None = None,
    ) -> Assessment:
        """Assess ``question`` over one collection; ``progress`` hears of each variable as it is judged."""
        return self.assessor.assess(
            question, self.retriever(collection), as_of=as_of, engine=engine, on_progress=progress
        )

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Idempotent: closing twice (or after ``with``) is harmless."""
        with self._lock:
            for s in self._stores.values():
                s.close()
            self._stores.clear()
            if self._backend is not None:
                self._backend.close()
                self._backend = None
        close_llm = getattr(self.llm, "close", None)
        if close_llm is not None:
            close_llm()
