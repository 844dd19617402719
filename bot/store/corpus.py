"""One collection of the corpus: the registry + lexical index and the vectors kept in step.

Atomic ingestion
----------------
Ingestion (:mod:`bot.ingest`) chunks and embeds a document; :meth:`CorpusStore.write` then writes
the new chunks to chroma under a new version first (invisible: searches only accept chunks whose
version is the registry's active one), then one SQLite transaction swaps the registry and the lexical
rows to the new version, then the old version's vectors are deleted. A crash at any point leaves
either the old or the new version searchable, never half of one; stale vectors left by a crash are
ignored, and removed by the next ingest of that document, ``gc()`` or ``check(repair=True)``.

Several processes
-----------------
Every write holds the data directory's writer lock (:mod:`bot.store.locking`). Each committed write
increments the registry's *generation*. In embedded mode a process that finds the generation changed
since it last looked (another process wrote) reopens its chroma client before it searches or writes,
so a long-running reader (``analyst serve``) sees what ``analyst ingest`` added beside it. In Chroma
server mode the server is the one owner of the vectors and nothing is reopened.

Document ids
------------
A document keeps the id it is given unless that id belongs to a document from another origin (the
path or URL it was loaded from): then a derived id (file name, URL) becomes ``<id>-<hash of the
origin>`` with a warning, and an explicit front-matter ``id`` is refused. A document never silently
replaces another one.

Hybrid search
-------------
Vector top-N and BM25 top-N (same filters; the BM25 query made of the question's informative words
only), fused by their normalised scores (:func:`bot.store.fusion.score_fusion`, or reciprocal rank
fusion with ``fusion="rrf"``), then near-duplicate passages (cosine >= ``dedup_similarity``) collapsed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from bot.config import Settings
from bot.core.models import Passage
from bot.errors import BadInput, StoreUnavailable
from bot.store import fusion
from bot.store.locking import WriterLock
from bot.store.records import DocumentInfo, IngestOutcome, SearchFilter, date_ord
from bot.store.registry import DocumentRow, LexicalIndex
from bot.store.vectors import VectorIndex, open_chroma_client

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.corpus.document import Chunk, Document
    from bot.embeddings import MiniLMEmbedder


# --------------------------------------------------------------------------------------------
# what the collections of one data directory share in a process

# A reader reopens chroma at most this often for another process's writes (reloading the vector index
# costs ~0.3 s per few thousand chunks); a search that fails on a stale client reopens at once.
READER_REFRESH_S = 2.0


class _ReadWrite:
    """Many readers or one exclusive holder (the reopen of the chroma client)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._exclusive = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


_SHARED: dict[tuple, Backend] = {}
_SHARED_LOCK = threading.Lock()


class Backend:
    """The chroma client, the registry and the writer lock of one data directory, and the registry
    generation this process's client reflects.

    One per data directory per process (:meth:`shared`): chromadb itself keeps one in-memory system
    per path and process, so every collection of a process must see the same reopen.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: Any = None,
        registry: LexicalIndex | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.embedded = settings.chroma_mode == "embedded"
        self._owns_registry = registry is None
        self.client = client if client is not None else open_chroma_client(settings)
        self.registry = registry or LexicalIndex(settings.lexical_path)
        self.lock = WriterLock(settings.data_dir, timeout_s=settings.write_lock_timeout_s, notify=notify)
        self.epoch = 0  # increments at every reopen; each collection reopens when its epoch is behind
        self.seen = self.registry.generation()
        self.rw = _ReadWrite()
        self._mutex = threading.RLock()
        self._opened_at = time.monotonic()
        self._key: tuple | None = None  # set when shared
        self._users = 0

    def sync(self, *, force: bool = False, reader: bool = False) -> None:
        """Reopen the chroma client when another process has written since this one last looked.

        A writer always does (its in-memory vector index must hold every earlier write before it adds
        to it and writes it back); a ``reader`` at most every ``READER_REFRESH_S``.
        """
        if not self.embedded:
            return
        if not force:
            if self.registry.generation() == self.seen:
                return
            if reader and time.monotonic() - self._opened_at < READER_REFRESH_S:
                return
        with self._mutex, self.rw.exclusive():
            current = self.registry.generation()
            if not force and current == self.seen:
                return  # another thread reopened meanwhile
            self.client = open_chroma_client(self.settings, fresh=True)
            self.epoch += 1
            self.seen = current
            self._opened_at = time.monotonic()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer lock, with a client that reflects every earlier write."""
        with self.lock.held(), self._mutex:
            self.sync()
            try:
                yield
            finally:
                self.seen = self.registry.generation()  # our own writes need no reopen

    @classmethod
    def shared(cls, settings: Settings, *, notify: Callable[[str], None] | None = None) -> Backend:
        """This process's backend for ``settings``' data directory (made on first use); give it back
        with :meth:`close`."""
        key = (str(settings.data_dir.resolve()), settings.chroma_mode, settings.chroma_host, settings.chroma_port)
        with _SHARED_LOCK:
            backend = _SHARED.get(key)
            if backend is None:
                backend = cls(settings, notify=notify)
                backend._key = key
                _SHARED[key] = backend
            elif notify is not None:
                backend.lock.notify = notify
            backend._users += 1
            return backend

    def close(self) -> None:
        if self._key is not None:
            with _SHARED_LOCK:
                self._users -= 1
                if self._users > 0:
                    return
                _SHARED.pop(self._key, None)
        if self._owns_registry:
            self.registry.close()


# --------------------------------------------------------------------------------------------
# consistency check


@dataclass
class CheckReport:
    """What ``check`` found: every document's chunks in the registry, the lexical index and the vectors."""

    collection: str
    documents: int = 0
    chunks: int = 0  # lexical rows
    vectors: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)  # doc id -> active chunks without a vector
    miscounted: dict[str, tuple[int, int]] = field(default_factory=dict)  # doc id -> (registered, lexical rows)
    stale: list[str] = field(default_factory=list)  # vectors of a registered document, not of its active chunks
    orphans: list[str] = field(default_factory=list)  # vectors of no registered document
    fts_ok: bool = True
    repaired: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.miscounted or self.stale or self.orphans) and self.fts_ok


# --------------------------------------------------------------------------------------------
# ids


def _is_url(origin: str) -> bool:
    return "://" in origin


def same_origin(a: str, b: str) -> bool:
    """Whether two origins (paths or URLs) name the same source. An empty origin (a document built in
    code) matches any."""
    if not a or not b or a == b:
        return True
    if _is_url(a) or _is_url(b) or a.startswith("upload:") or b.startswith("upload:"):
        return False
    return os.path.realpath(a) == os.path.realpath(b)


def origin_suffix(origin: str) -> str:
    return hashlib.sha256(origin.encode()).hexdigest()[:6]


# --------------------------------------------------------------------------------------------


class CorpusStore:
    """One collection of the corpus: write, delete, list, check and hybrid search."""

    def __init__(
        self,
        settings: Settings,
        embedder: MiniLMEmbedder,
        *,
        collection: str | None = None,
        client: Any = None,
        lexical: LexicalIndex | None = None,
        backend: Backend | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.name = collection or settings.collection
        self._owns_backend = backend is None
        self._closed = False
        if backend is None:
            backend = (
                Backend(settings, client=client, registry=lexical, notify=notify)
                if client is not None or lexical is not None
                else Backend.shared(settings, notify=notify)
            )
        self.backend = backend
        self.lexical = self.backend.registry
        self._epoch = self.backend.epoch
        try:
            self.vectors = VectorIndex(self.backend.client, self.name, embedder)
        except BaseException:
            if self._owns_backend:
                self.backend.close()
            raise

    # chroma's collection object (benchmarks wrap it to time its calls)
    @property
    def _collection(self):
        return self.vectors.collection

    @_collection.setter
    def _collection(self, col) -> None:
        self.vectors.collection = col

    def close(self) -> None:
        """Idempotent: a store closed twice gives its backend back once."""
        if self._owns_backend and not self._closed:
            self._closed = True
            self.backend.close()

    def _current(self) -> None:
        """Reopen chroma if another process wrote (embedded mode), and point at the current client."""
        self.backend.sync(reader=True)
        if self._epoch != self.backend.epoch:
            self.vectors.reopen(self.backend.client)
            self._epoch = self.backend.epoch

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        self._current()
        with self.backend.rw.reading():
            if self._epoch != self.backend.epoch:  # reopened between the check and here
                self.vectors.reopen(self.backend.client)
                self._epoch = self.backend.epoch
            yield

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self.backend.writing():
            if self._epoch != self.backend.epoch:
                self.vectors.reopen(self.backend.client)
                self._epoch = self.backend.epoch
            yield

    # -- writing ------------------------------------------------------------------------------
    def plan(self, doc: Document) -> IngestOutcome | tuple[str, DocumentRow | None, list[str]]:
        """Before chunking and embedding: an outcome when there is nothing to write (unchanged, the
        same content under another id), else (the id to write it under, its current row, warnings)."""
        name = doc.origin or doc.id
        row = self.lexical.document(self.name, doc.id)
        doc_id, warnings = doc.id, []
        if row is not None and not same_origin(row.origin, doc.origin):
            if getattr(doc, "explicit_id", False):
                raise BadInput(
                    f"{name}: id '{doc.id}' already belongs to another document ({row.origin}); give this one "
                    f"another id, or delete that one first (analyst corpus delete {doc.id})"
                )
            doc_id = f"{doc.id}-{origin_suffix(doc.origin)}"
            row = self.lexical.document(self.name, doc_id)
            if row is not None and not same_origin(row.origin, doc.origin):  # a 24-bit hash collision
                raise BadInput(f"{name}: ids '{doc.id}' and '{doc_id}' both belong to other documents; give it an id")
            warnings.append(f"id '{doc.id}' belongs to another document; indexed as '{doc_id}'")
        content_hash = doc.content_hash
        if row is not None and row.content_hash == content_hash:
            return IngestOutcome("skipped", name, doc_id, reason="unchanged", warnings=doc.warnings + warnings)
        twin = self.lexical.by_hash(self.name, content_hash)
        if twin is not None and twin != doc_id:
            return IngestOutcome("skipped", name, doc_id, reason=f"same content as '{twin}'", warnings=doc.warnings + warnings)
        return doc_id, row, warnings

    def write(self, doc: Document, chunks: Sequence[Chunk], vectors: np.ndarray) -> IngestOutcome:
        """Index a chunked and embedded document (see the module's notes on atomicity and ids)."""
        name = doc.origin or doc.id
        if not chunks:
            raise BadInput(f"{name}: nothing to index after chunking")
        if len(vectors) != len(chunks):
            raise ValueError("one vector per chunk")
        with self._writing():
            planned = self.plan(doc)  # again, under the lock: another writer may have come first
            if isinstance(planned, IngestOutcome):
                return planned
            doc_id, current, warnings = planned
            version = doc.content_hash[:12]
            ids = [f"{doc_id}:{version}:{c.position:04d}" for c in chunks]
            base = {
                "doc_id": doc_id,
                "version": version,
                "title": doc.title,
                "date": doc.date.isoformat() if doc.date else "",
                "date_ord": date_ord(doc.date),
                "source": doc.source,
                "source_key": doc.source.lower(),
                "url": doc.url or "",
            }
            metadatas = []
            for c in chunks:
                m: dict[str, Any] = {**base, "p_start": c.paragraph_start, "p_end": c.paragraph_end, "position": c.position}
                if doc.tags:
                    m["tags"] = list(doc.tags)
                metadatas.append(m)
            # 1. new version's vectors: invisible until the registry points at them
            self.vectors.upsert(ids, vectors, [c.text for c in chunks], metadatas)
            # 2. one transaction switches registry + lexical rows to the new version
            self.lexical.activate(
                self.name,
                doc_id=doc_id,
                version=version,
                content_hash=doc.content_hash,
                title=doc.title,
                date=doc.date,
                source=doc.source,
                url=doc.url,
                tags=doc.tags,
                origin=doc.origin,
                chunks=[(i, c.text, c.paragraph_start, c.paragraph_end) for i, c in zip(ids, chunks, strict=True)],
            )
            # 3. the old version's vectors go (a crash here leaves them ignored, removed next time)
            if current is not None:
                self._delete_vectors(doc_id, keep_version=version)
                self.lexical.bump_generation()
        status: Literal["added", "updated"] = "updated" if current is not None else "added"
        return IngestOutcome(status, name, doc_id, chunks=len(chunks), warnings=doc.warnings + warnings)

    def ingest(self, doc: Document) -> IngestOutcome:
        """Chunk, embed and write one document (:func:`bot.ingest.index_document`)."""
        from bot.ingest import index_document

        return index_document(self, doc)

    def _delete_vectors(self, doc_id: str, keep_version: str | None = None) -> None:
        self.vectors.delete_document(doc_id, keep_version)

    def delete(self, doc_id: str) -> bool:
        """Remove a document everywhere. Returns False when there was no such document."""
        with self._writing():
            if not self.lexical.remove(self.name, doc_id):
                return False
            self._delete_vectors(doc_id)
            self.lexical.bump_generation()
        return True

    def gc(self) -> int:
        """Delete vectors whose document version is not the active one (left by a crash). Returns how many."""
        report = self.check(repair=True)
        return report.repaired.get("stale", 0) + report.repaired.get("orphans", 0)

    def check(self, *, repair: bool = False) -> CheckReport:
        """Compare every document's chunks across the registry, the lexical index and the vectors.

        With ``repair``: re-embed active chunks whose vector is missing (from the lexical index's
        text), delete stale and orphan vectors, and rebuild the full-text index if it is damaged.
        """
        ctx = self._writing() if repair else self._reading()
        with ctx:
            report = CheckReport(self.name)
            rows = {r.doc_id: r for r in self.lexical.documents_rows(self.name)}
            lexical = self.lexical.chunk_ids_by_doc(self.name)
            active = {cid for ids in lexical.values() for cid in ids}
            present: set[str] = set()
            for ids, metas in self.vectors.metadata_pages():
                for cid, m in zip(ids, metas, strict=True):
                    present.add(cid)
                    if cid in active:
                        continue
                    (report.stale if (m or {}).get("doc_id") in rows else report.orphans).append(cid)
            report.documents, report.chunks, report.vectors = len(rows), len(active), len(present)
            for doc_id, row in rows.items():
                got = lexical.get(doc_id, [])
                if len(got) != row.chunks:
                    report.miscounted[doc_id] = (row.chunks, len(got))
                missing = [cid for cid in got if cid not in present]
                if missing:
                    report.missing[doc_id] = missing
            for doc_id, ids in lexical.items():  # lexical rows of no registered document
                if doc_id not in rows:
                    report.miscounted[doc_id] = (0, len(ids))
            report.fts_ok = self.lexical.fts_consistent()
            if repair:
                self._repair(report)
        return report

    def _repair(self, report: CheckReport) -> None:
        if report.missing:
            n = 0
            for doc_id, chunk_ids in report.missing.items():
                meta = self.lexical.document_meta(self.name, doc_id)
                if meta is None:
                    continue
                rows = self.lexical.chunk_rows(self.name, chunk_ids)
                texts = [r[2] for r in rows]
                vecs = self.embedder.embed(texts)
                base = {
                    "doc_id": doc_id,
                    "version": meta["version"],
                    "title": meta["title"] or doc_id,
                    "date": meta["date"] or "",
                    "date_ord": date_ord(dt.date.fromisoformat(meta["date"]) if meta["date"] else None),
                    "source": meta["source"] or "",
                    "source_key": (meta["source"] or "").lower(),
                    "url": meta["url"] or "",
                }
                metas = []
                for cid, _doc, _text, p_start, p_end in rows:
                    m: dict[str, Any] = {
                        **base,
                        "p_start": int(p_start or 1),
                        "p_end": int(p_end or p_start or 1),
                        "position": int(cid.rsplit(":", 1)[-1]),
                    }
                    if meta["tags"]:
                        m["tags"] = list(meta["tags"])
                    metas.append(m)
                self.vectors.upsert([r[0] for r in rows], vecs, texts, metas)
                n += len(rows)
            report.repaired["missing"] = n
        if report.stale:
            self.vectors.delete_ids(report.stale)
            report.repaired["stale"] = len(report.stale)
        if report.orphans:
            self.vectors.delete_ids(report.orphans)
            report.repaired["orphans"] = len(report.orphans)
        if not report.fts_ok:
            self.lexical.rebuild_fts()
            report.repaired["fts"] = 1
        if report.repaired:
            self.lexical.bump_generation()

    # -- listing ------------------------------------------------------------------------------
    def documents(self) -> list[DocumentInfo]:
        return self.lexical.list(self.name)

    def count(self) -> int:
        return self.lexical.count_chunks(self.name)

    def vector_count(self) -> int:
        with self._reading():
            return self.vectors.count()

    def last_updated(self) -> str | None:
        docs = self.documents()
        return max((d.ingested_at for d in docs), default=None)

    # -- reading ------------------------------------------------------------------------------
    def _query(self, vec: np.ndarray, n: int, **kw: Any) -> list[tuple[str, float]]:
        return self.vectors.query(vec, n, **kw)

    def vector_candidates(self, vec: np.ndarray, limit: int, flt: SearchFilter = SearchFilter()) -> list[tuple[str, float]]:
        """The ``limit`` nearest active chunks that pass the filter (see :meth:`VectorIndex.candidates`)."""
        return self.vectors.candidates(vec, limit, flt, self.lexical, self.name)

    def vector_search(
        self, query: str | np.ndarray, limit: int, flt: SearchFilter = SearchFilter()
    ) -> list[tuple[str, float, dict, str, np.ndarray]]:
        """(chunk id, cosine similarity, metadata, text, vector), active versions only."""
        vec = self.embedder.embed([query])[0] if isinstance(query, str) else query
        with self._reading():
            hits = self.vector_candidates(vec, limit, flt)
            known = self._fetch([i for i, _ in hits])
        return [(i, sim, *known[i]) for i, sim in hits if i in known]

    def lexical_search(
        self, query: str, limit: int, flt: SearchFilter = SearchFilter(), *, informative: bool = False
    ) -> list[tuple[str, float]]:
        return self.lexical.search(self.name, query, limit, flt, informative=informative)

    def _fetch(self, ids: Sequence[str]) -> dict[str, tuple[dict, str, np.ndarray]]:
        return self.vectors.fetch(ids)

    def search(
        self,
        query: str,
        k: int | None = None,
        flt: SearchFilter = SearchFilter(),
        *,
        mode: Literal["hybrid", "vector", "lexical"] = "hybrid",
        query_vector: np.ndarray | None = None,
    ) -> list[Passage]:
        """The k best passages for a query: hybrid (vector and BM25 fused), near-duplicates collapsed.

        A search that fails in the vector store (another process changed it under a stale client)
        reopens the client and is tried once more.
        """
        k = k or self.settings.k
        vec = None
        if mode != "lexical":
            vec = query_vector if query_vector is not None else self.embedder.embed([query])[0]
        try:
            with self._reading():
                return self._search(query, vec, k, flt, mode)
        except StoreUnavailable:
            if not self.backend.embedded:
                raise
        self.backend.sync(force=True)
        with self._reading():
            return self._search(query, vec, k, flt, mode)

    def _search(
        self, query: str, vec: np.ndarray | None, k: int, flt: SearchFilter, mode: str
    ) -> list[Passage]:
        n_cand = max(self.settings.candidates, k * 3)
        vec_hits = self.vector_candidates(vec, n_cand, flt) if vec is not None else []
        lex_hits = self.lexical_search(query, n_cand, flt, informative=mode == "hybrid") if mode != "vector" else []
        if self.settings.fusion == "rrf":
            fused = fusion.rrf(vec_hits, lex_hits, k=self.settings.rrf_k)
        else:
            fused = fusion.score_fusion(vec_hits, lex_hits, vector_weight=self.settings.vector_weight)
        head = [f.id for f in fused[: k * 4]]
        known = self._fetch(head)  # text, metadata and vector of the head only: one round trip
        kept = fusion.collapse_near_duplicates(
            head, {c: v[2] for c, v in known.items()}, threshold=self.settings.dedup_similarity, k=k
        )
        by_id = {f.id: f for f in fused}
        return [self._passage(c, known[c][0], known[c][1], by_id[c]) for c in kept]

    def search_many(self, queries: Sequence[str], k: int | None = None, flt: SearchFilter = SearchFilter()) -> list[list[Passage]]:
        """``search`` for several queries, embedding them in one batch (the pipeline asks 6 at once)."""
        vectors = self.embedder.embed(list(queries))
        return [self.search(q, k, flt, query_vector=v) for q, v in zip(queries, vectors, strict=True)]

    @staticmethod
    def _passage(cid: str, m: dict, text: str, f: fusion.Fused) -> Passage:
        return Passage(
            id=cid,
            doc_id=m["doc_id"],
            title=m.get("title") or m["doc_id"],
            date=dt.date.fromisoformat(m["date"]) if m.get("date") else None,
            source=m.get("source") or "",
            url=m.get("url") or None,
            tags=list(m.get("tags") or []),
            paragraph_start=int(m.get("p_start", 1)),
            paragraph_end=int(m.get("p_end", 1)),
            text=text,
            score=round(f.score, 6),
            vector_rank=f.vector_rank,
            lexical_rank=f.lexical_rank,
        )
