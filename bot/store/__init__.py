"""The index: chromadb for vectors, SQLite FTS5 for BM25, kept in step; hybrid search over both.

* :mod:`bot.store.registry` -- the SQLite registry of documents and the FTS5 lexical index;
* :mod:`bot.store.vectors` -- the chroma side (client, collection, nearest-neighbour candidates);
* :mod:`bot.store.fusion` -- fusing the two rankings and collapsing near-duplicates (pure);
* :mod:`bot.store.terms` -- which words of a query the lexical side searches for (pure);
* :mod:`bot.store.locking` -- one writer per data directory across processes;
* :mod:`bot.store.corpus` -- :class:`CorpusStore`, one collection with both sides kept in step.

Chunking and embedding documents is ingestion's job (:mod:`bot.ingest`).
"""

from bot.store.corpus import Backend, CheckReport, CorpusStore
from bot.store.locking import StoreBusy, WriterLock
from bot.store.records import DocumentInfo, IngestOutcome, SearchFilter, date_ord
from bot.store.registry import LexicalIndex
from bot.store.vectors import open_chroma_client

__all__ = [
    "Backend",
    "CheckReport",
    "CorpusStore",
    "DocumentInfo",
    "IngestOutcome",
    "LexicalIndex",
    "SearchFilter",
    "StoreBusy",
    "WriterLock",
    "date_ord",
    "open_chroma_client",
]
