"""The vector side of the index: one chromadb collection per corpus collection.

chromadb (embedded ``PersistentClient`` by default, or a Chroma server through ``HttpClient``) holds
one vector per chunk, with the chunk's metadata (document id and version, date, source, tags,
paragraph range). The collection records the embedding model's identity; opening it with another
model raises :class:`EmbeddingMismatch`.

Only this module (and :func:`open_chroma_client`) talks to chromadb; every chromadb failure becomes
a :class:`StoreUnavailable` with a message for the user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.config import Settings
from bot.errors import EmbeddingMismatch, StoreUnavailable
from bot.store.records import SearchFilter

if TYPE_CHECKING:
    from bot.embeddings import MiniLMEmbedder
    from bot.store.registry import LexicalIndex

# Query tuning (see VectorIndex.candidates)
OVERFETCH = 4  # unfiltered top-N is fetched OVERFETCH times over, then filtered; exact fallback if too few pass
MAX_VECTOR_SCAN = 2_000  # vector search with a filter: widest unfiltered look before searching by ids
ALLOWED_IDS_CAP = 20_000  # a filter passing at most this many chunks is searched among exactly those ids
WRITE_BATCH = 1000


def open_chroma_client(settings: Settings, *, fresh: bool = False):
    """The chroma client chosen by settings (embedded by default). In http mode the server must answer
    a heartbeat within ``chroma_timeout_s`` first, and every later request is bounded by it.

    ``fresh=True`` (embedded mode) builds a new client that reads the files again instead of the one
    chromadb caches per path and process: that is how a reader picks up another process's writes.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if settings.chroma_mode == "http":
        from bot import chroma_http

        chroma_http.check_server(settings)  # chromadb's client would wait for ever on a silent server
    try:
        if settings.chroma_mode == "http":
            client = chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl, settings=chroma_settings
            )
            chroma_http.bound_client(client, settings.chroma_timeout_s)  # every later request bounded too
            return client
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        if fresh:
            _forget_cached_system(settings)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises many kinds here (ValueError, ConnectionError, ...)
        where = (
            f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_mode == "http"
            else f"the index at {settings.chroma_path}"
        )
        raise StoreUnavailable(f"Cannot open {where} ({type(exc).__name__}: {str(exc)[:160]}).") from exc


def _forget_cached_system(settings: Settings) -> None:
    """Stop and drop chromadb's cached in-process system for this path, so the next client reloads."""
    from chromadb.api.shared_system_client import SharedSystemClient

    cache = SharedSystemClient._identifier_to_system
    key = str(settings.chroma_path)
    system = cache.pop(key, None)
    if system is not None:
        with contextlib.suppress(Exception):  # a stale system that fails to stop is dropped anyway
            system.stop()


def chroma_where(flt: SearchFilter) -> dict[str, Any] | None:
    """The filter as a chroma ``where`` clause (None when it passes everything)."""
    clauses: list[dict[str, Any]] = []
    lo, hi = flt.date_bounds()
    if lo is not None:
        clauses.append({"date_ord": {"$gte": lo}})
    if hi is not None:
        clauses.append({"date_ord": {"$lte": hi}})
    if flt.sources:
        clauses.append({"source_key": {"$in": [s.lower() for s in flt.sources]}})
    if flt.tags:
        tag_clauses = [{"tags": {"$contains": t.lower()}} for t in flt.tags]
        clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


class VectorIndex:
    """One chroma collection: write, delete, nearest neighbours, fetch."""

    def __init__(self, client: Any, name: str, embedder: MiniLMEmbedder) -> None:
        self.name = name
        self.embedder = embedder
        self.collection = self._open(client)

    def _open(self, client: Any):
        meta = {"hnsw:space": "cosine", "embedding_model": self.embedder.model_id, "embedding_dim": 384}
        try:
            col = client.get_or_create_collection(self.name, metadata=meta, embedding_function=self.embedder)
        except ValueError as exc:
            if "embedding function" in str(exc).lower():
                raise EmbeddingMismatch(
                    f"Collection '{self.name}' was built with another embedding function; "
                    "re-index into a new collection (ANALYST_COLLECTION) or with the model it was built with."
                ) from exc
            raise StoreUnavailable(f"Cannot open collection '{self.name}' ({exc}).") from exc
        except Exception as exc:
            raise StoreUnavailable(f"Cannot open collection '{self.name}' ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        stored = (col.metadata or {}).get("embedding_model")
        if stored and stored != self.embedder.model_id:
            raise EmbeddingMismatch(
                f"Collection '{self.name}' was built with embedding model {stored}, not {self.embedder.model_id}; "
                "re-index into a new collection (ANALYST_COLLECTION) or configure the model it was built with."
            )
        return col

    def reopen(self, client: Any) -> None:
        """Point at the collection through another client (after another process wrote)."""
        self.collection = self._open(client)

    # -- writing ------------------------------------------------------------------------------
    def upsert(self, ids: Sequence[str], vectors: np.ndarray, texts: Sequence[str], metadatas: Sequence[dict]) -> None:
        try:
            for start in range(0, len(ids), WRITE_BATCH):
                sl = slice(start, start + WRITE_BATCH)
                self.collection.upsert(
                    ids=list(ids[sl]), embeddings=vectors[sl], documents=list(texts[sl]), metadatas=list(metadatas[sl])
                )
        except Exception as exc:
            raise StoreUnavailable(f"The vector store refused the write ({type(exc).__name__}: {str(exc)[:160]}).") from exc

    def delete_document(self, doc_id: str, keep_version: str | None = None) -> None:
        """Delete a document's vectors (all, or every version but ``keep_version``)."""
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_version is not None:
            where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
        try:
            self.collection.delete(where=where)
        except Exception as exc:
            raise StoreUnavailable(f"The vector store refused the delete ({type(exc).__name__}).") from exc

    def delete_ids(self, ids: Sequence[str]) -> None:
        try:
            for start in range(0, len(ids), WRITE_BATCH):
                self.collection.delete(ids=list(ids[start : start + WRITE_BATCH]))
        except Exception as exc:
            raise StoreUnavailable(f"The vector store refused the delete ({type(exc).__name__}).") from exc

    # -- reading ------------------------------------------------------------------------------
    def count(self) -> int:
        return self.collection.count()

    def metadata_pages(self, page: int = 5000) -> Iterator[tuple[list[str], list[dict]]]:
        """Every vector's (id, metadata), a page at a time."""
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=page, offset=offset)
            if not got["ids"]:
                return
            yield list(got["ids"]), list(got["metadatas"])
            if len(got["ids"]) < page:
                return
            offset += page

    def query(self, vec: np.ndarray, n: int, **kw: Any) -> list[tuple[str, float]]:
        """chroma's nearest ``n`` (chunk id, cosine similarity): ids and distances only, the cheap part."""
        try:
            res = self.collection.query(query_embeddings=[vec], n_results=n, include=["distances"], **kw)
        except Exception as exc:
            raise StoreUnavailable(f"The vector store failed the search ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def fetch(self, ids: Sequence[str]) -> dict[str, tuple[dict, str, np.ndarray]]:
        """(metadata, text, vector) of each of ``ids`` that exists."""
        if not ids:
            return {}
        try:
            got = self.collection.get(ids=list(ids), include=["metadatas", "documents", "embeddings"])
        except Exception as exc:
            raise StoreUnavailable(f"The vector store failed the search ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        return {
            i: (m, t, np.asarray(e, dtype=np.float32))
            for i, m, t, e in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True)
        }

    def candidates(
        self, vec: np.ndarray, limit: int, flt: SearchFilter, registry: LexicalIndex, collection: str
    ) -> list[tuple[str, float]]:
        """The ``limit`` nearest active chunks that pass the filter, as (chunk id, cosine similarity).

        The nearest ``OVERFETCH * limit`` of the whole collection are checked against the registry
        (active version, dates, sources, tags: one indexed SQLite query). That is exact whenever
        enough of them pass; if too few pass, a wider look (up to ``MAX_VECTOR_SCAN``, sized by the
        share that passed); failing that (a narrow filter) the search is repeated among exactly the
        chunks that pass, by id when there are at most ``ALLOWED_IDS_CAP``, else by chroma's own
        metadata filter. Chroma's metadata filter is exact too but slow on a large collection (it
        scans the metadata), hence the order.
        """
        n = limit * OVERFETCH
        hits = self.query(vec, n)
        ok = registry.active_among(collection, [i for i, _ in hits], flt)
        found = [h for h in hits if h[0] in ok]
        if len(found) >= limit or len(hits) < n:
            return found[:limit]
        if found:  # some pass: look wider, as far as the share that passed suggests (up to a bound)
            wider = int(1.5 * limit * n / len(found))
            if wider <= MAX_VECTOR_SCAN:
                hits = self.query(vec, wider)
                ok = registry.active_among(collection, [i for i, _ in hits], flt)
                found = [h for h in hits if h[0] in ok]
                if len(found) >= limit or len(hits) < wider:
                    return found[:limit]
        allowed = registry.allowed_ids(collection, flt, ALLOWED_IDS_CAP)
        if allowed is not None:
            return self.query(vec, limit, ids=allowed) if allowed else []
        hits = self.query(vec, n, where=chroma_where(flt))
        ok = registry.active_among(collection, [i for i, _ in hits], flt)
        return [h for h in hits if h[0] in ok][:limit]
