"""The corpus as a langchain ``BaseRetriever``, for chains and agents built with langchain.

The bot's own pipeline uses :class:`bot.app.StoreRetriever` (the core's protocol, returning
``Passage`` models); this adapter exposes the same hybrid search to the langchain ecosystem, each
passage a ``Document`` whose metadata carries everything a citation needs.
"""

from __future__ import annotations

import datetime as dt

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from bot.store import CorpusStore, SearchFilter


class CorpusRetriever(BaseRetriever):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    store: CorpusStore
    k: int = 8
    as_of: dt.date | None = None

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self.store.search(query, self.k, SearchFilter(as_of=self.as_of))
        return [
            Document(
                page_content=p.text,
                id=p.id,
                metadata={**p.model_dump(mode="json", exclude={"text"}), "label": p.label},
            )
            for p in passages
        ]
