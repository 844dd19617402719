"""The index: chromadb for vectors, SQLite FTS5 for BM25, kept in step; hybrid search over both.

Layout
------
* chromadb (embedded ``PersistentClient`` by default, or a Chroma server through ``HttpClient``)
  holds one vector per chunk, with the chunk's metadata (document id and version, date, source,
  tags, paragraph range). The collection records the embedding model's identity; opening it with
  another model raises :class:`EmbeddingMismatch`.
* A SQLite file (``lexical.sqlite3`` in the data directory) holds the *registry* of documents (id,
  active version = content hash, metadata) and the chunks' text in an FTS5 table for BM25.

Atomic ingestion
----------------
A document's new chunks are written to chroma under a new version first (invisible: searches only
accept chunks whose version is the registry's active one), then one SQLite transaction swaps the
registry and the lexical rows to the new version, then the old version's vectors are deleted. A
crash at any point leaves either the old or the new version searchable, never half of one; stale
vectors left by a crash are ignored and removed by the next ingest of that document or ``gc()``.

Hybrid search
-------------
Vector top-N and BM25 top-N (same filters), fused by reciprocal rank fusion (score = sum of
1 / (rrf_k + rank)), then near-duplicate passages (cosine >= ``dedup_similarity``) collapsed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from bot.config import Settings
from bot.core.models import Passage
from bot.corpus.chunking import chunk_document
from bot.corpus.document import Document
from bot.embeddings import MiniLMEmbedder
from bot.errors import BadInput, EmbeddingMismatch, StoreUnavailable

_STOP = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "might", "more", "most", "no", "not", "of", "on", "or", "over", "russia", "russian", "moscow", "send", "sent", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "troops", "under", "up", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your"]
)
_WORD = re.compile(r"[\w][\w'\-]*", re.U)

# Query tuning (see LexicalIndex.query_terms, LexicalIndex.search and CorpusStore.vector_candidates)
OVERFETCH = 4  # unfiltered top-N is fetched OVERFETCH times over, then filtered; exact fallback if too few pass
FILTERED_OVERFETCH = 32  # BM25 with a filter: fetched this many times over before the exact fallback
MAX_VECTOR_SCAN = 2_000  # vector search with a filter: widest unfiltered look before searching by ids
ALLOWED_IDS_CAP = 20_000  # a filter passing at most this many chunks is searched among exactly those ids
PRUNE_MIN_ROWS = 20_000  # below this many chunks every query word is searched
PRUNE_DF = 0.05  # above it, words in more than this share of chunks are left out of the BM25 query
ROW_COUNT_TTL_S = 30.0


def date_ord(d: dt.date | None) -> int:
    return d.year * 10000 + d.month * 100 + d.day if d else 0


@dataclass(frozen=True)
class SearchFilter:
    """Which chunks a search may see. ``as_of`` hides everything published after it (and undated)."""

    as_of: dt.date | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.as_of or self.date_from or self.date_to or self.sources or self.tags)

    def date_bounds(self) -> tuple[int | None, int | None]:
        hi_dates = [d for d in (self.as_of, self.date_to) if d]
        hi = date_ord(min(hi_dates)) if hi_dates else None
        lo = date_ord(self.date_from) if self.date_from else (1 if hi is not None else None)
        return lo, hi


@dataclass
class IngestOutcome:
    status: Literal["added", "updated", "skipped", "failed"]
    name: str
    doc_id: str | None = None
    chunks: int = 0
    reason: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class DocumentInfo:
    id: str
    title: str
    date: dt.date | None
    source: str
    url: str | None
    chunks: int
    origin: str
    ingested_at: str


def open_chroma_client(settings: Settings):
    """The chroma client chosen by settings (embedded by default)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_mode == "http":
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, ssl=settings.chroma_ssl, settings=chroma_settings
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises many kinds here (ValueError, ConnectionError, ...)
        where = (
            f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_mode == "http"
            else f"the index at {settings.chroma_path}"
        )
        raise StoreUnavailable(f"Cannot open {where} ({type(exc).__name__}: {str(exc)[:160]}).") from exc


# Chunk ids are unique per collection (several collections -- one per Discord guild -- share this
# file and may hold the same document). Schema version 1 had them unique across the whole file.
_SCHEMA_VERSION = 2
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL, doc_id TEXT NOT NULL, version TEXT NOT NULL,
    content_hash TEXT NOT NULL, title TEXT, date TEXT, source TEXT, url TEXT, tags TEXT,
    origin TEXT, chunks INTEGER, ingested_at TEXT,
    PRIMARY KEY (collection, doc_id));
CREATE INDEX IF NOT EXISTS documents_hash ON documents (collection, content_hash);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL, date_ord INTEGER NOT NULL, source_key TEXT, tags TEXT, text TEXT NOT NULL,
    UNIQUE (collection, chunk_id));
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (collection, doc_id);
CREATE INDEX IF NOT EXISTS chunks_date ON chunks (collection, date_ord);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (collection, source_key);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text); END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END;
PRAGMA user_version = 2;
"""
# per connection: the FTS vocabulary (document frequency of each term) and a scratch table that
# tokenizes query words exactly as the index does (porter stemming), to look their frequency up
_TEMP_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, 'chunks_fts', 'row');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_tokens USING fts5(t, tokenize='porter unicode61');
CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_tokens_vocab USING fts5vocab(temp, 'query_tokens', 'instance');
"""


class LexicalIndex:
    """Registry of documents + FTS5 (BM25) over chunk text, in one SQLite file (WAL mode)."""

    def __init__(self, path: Path | str) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._migrate()
            self._db.executescript(_SCHEMA)
            self._db.executescript(_TEMP_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"Cannot open the lexical index at {path} ({exc}).") from exc
        self._lock = threading.RLock()
        self._rows_cache: tuple[float, int] | None = None

    def _migrate(self) -> None:
        """Bring a file written by an older version up to ``_SCHEMA_VERSION`` (rowids kept, FTS rebuilt)."""
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        row = self._db.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name='chunks'").fetchone()
        if row is None or version >= _SCHEMA_VERSION or "UNIQUE (collection, chunk_id)" in row[0]:
            return
        script = """
            BEGIN IMMEDIATE;
            DROP TRIGGER IF EXISTS chunks_ai;
            DROP TRIGGER IF EXISTS chunks_ad;
            ALTER TABLE chunks RENAME TO chunks_v1;
            CREATE TABLE chunks (
                rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, chunk_id TEXT NOT NULL,
                doc_id TEXT NOT NULL, date_ord INTEGER NOT NULL, source_key TEXT, tags TEXT, text TEXT NOT NULL,
                UNIQUE (collection, chunk_id));
            INSERT INTO chunks (rowid, collection, chunk_id, doc_id, date_ord, source_key, tags, text)
                SELECT rowid, collection, chunk_id, doc_id, date_ord, source_key, tags, text FROM chunks_v1;
            DROP TABLE chunks_v1;
            DROP INDEX IF EXISTS chunks_doc;
            INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild');
            COMMIT;
            """
        try:
            self._db.executescript(script)
        except sqlite3.Error:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._rows_cache = None

    def document(self, collection: str, doc_id: str) -> tuple[str, str, str] | None:
        """(doc_id, version, content_hash) of the active version, or None."""
        with self._lock:
            cur = self._db.execute(
                "SELECT doc_id, version, content_hash FROM documents WHERE collection=? AND doc_id=?",
                (collection, doc_id),
            )
            return cur.fetchone()

    def by_hash(self, collection: str, content_hash: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT doc_id FROM documents WHERE collection=? AND content_hash=?", (collection, content_hash)
            ).fetchone()
        return row[0] if row else None

    def active_versions(self, collection: str, doc_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(doc_ids))
        if not ids:
            return {}
        with self._lock:
            rows = self._db.execute(
                f"SELECT doc_id, version FROM documents WHERE collection=? AND doc_id IN ({','.join('?' * len(ids))})",
                (collection, *ids),
            ).fetchall()
        return dict(rows)

    def list(self, collection: str) -> list[DocumentInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, title, date, source, url, chunks, origin, ingested_at FROM documents "
                "WHERE collection=? ORDER BY date, title",
                (collection,),
            ).fetchall()
        return [
            DocumentInfo(r[0], r[1], dt.date.fromisoformat(r[2]) if r[2] else None, r[3] or "", r[4], r[5], r[6] or "", r[7])
            for r in rows
        ]

    def count_chunks(self, collection: str) -> int:
        with self._lock:
            return self._db.execute("SELECT count(*) FROM chunks WHERE collection=?", (collection,)).fetchone()[0]

    # -- search -------------------------------------------------------------------------------
    @staticmethod
    def _filter_sql(flt: SearchFilter, *, use_index: bool = True) -> tuple[str, list[Any]]:
        """SQL conditions on ``chunks`` for a filter, and their arguments.

        ``use_index=False`` writes the columns as ``+column`` so that SQLite does not pick the date
        index for a query that should look rows up by chunk id or rowid (a few dozen lookups, not a
        scan of every chunk in the date range).
        """
        p = "" if use_index else "+"
        sql: list[str] = []
        args: list[Any] = []
        lo, hi = flt.date_bounds()
        if lo is not None:
            sql.append(f"AND {p}date_ord >= ?")
            args.append(lo)
        if hi is not None:
            sql.append(f"AND {p}date_ord <= ?")
            args.append(hi)
        if flt.sources:
            sql.append(f"AND {p}source_key IN ({','.join('?' * len(flt.sources))})")
            args.extend(s.lower() for s in flt.sources)
        if flt.tags:
            sql.append("AND (" + " OR ".join("tags LIKE ?" for _ in flt.tags) + ")")
            args.extend(f"%|{t.lower()}|%" for t in flt.tags)
        return " ".join(sql), args

    def active_among(self, collection: str, chunk_ids: Sequence[str], flt: SearchFilter) -> set[str]:
        """Those of ``chunk_ids`` that belong to an active document version and pass the filter."""
        if not chunk_ids:
            return set()
        cond, args = self._filter_sql(flt, use_index=False)
        found: set[str] = set()
        with self._lock:
            for start in range(0, len(chunk_ids), 500):
                part = list(chunk_ids[start : start + 500])
                rows = self._db.execute(
                    f"SELECT chunk_id FROM chunks WHERE collection=? AND chunk_id IN ({','.join('?' * len(part))}) {cond}",
                    (collection, *part, *args),
                ).fetchall()
                found.update(r[0] for r in rows)
        return found

    def allowed_ids(self, collection: str, flt: SearchFilter, cap: int) -> list[str] | None:
        """Every active chunk id that passes the filter, or None when there are more than ``cap``."""
        cond, args = self._filter_sql(flt)
        with self._lock:
            rows = self._db.execute(
                f"SELECT chunk_id FROM chunks WHERE collection=? {cond} LIMIT ?", (collection, *args, cap + 1)
            ).fetchall()
        return None if len(rows) > cap else [r[0] for r in rows]

    def total_rows(self) -> int:
        """Chunks in the whole file (all collections), cached for a short while: it only tunes queries."""
        now = time.monotonic()
        if self._rows_cache is None or now - self._rows_cache[0] > ROW_COUNT_TTL_S:
            with self._lock:
                n = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            self._rows_cache = (now, n)
        return self._rows_cache[1]

    def _doc_freq(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each query term (its rarest stemmed token), from the FTS vocabulary."""
        with self._lock:
            db = self._db
            db.execute("DELETE FROM temp.query_tokens")
            db.executemany("INSERT INTO temp.query_tokens (rowid, t) VALUES (?, ?)", [(i + 1, t) for i, t in enumerate(terms)])
            tokens = db.execute("SELECT doc, term FROM temp.query_tokens_vocab").fetchall()
            uniq = sorted({tok for _, tok in tokens})
            df = dict(
                db.execute(
                    f"SELECT term, doc FROM temp.chunks_vocab WHERE term IN ({','.join('?' * len(uniq))})", uniq
                ).fetchall()
            ) if uniq else {}
        out = dict.fromkeys(terms, 0)
        for row, tok in tokens:
            t = terms[row - 1]
            out[t] = max(out[t], df.get(tok, 0))
        return out

    def query_terms(self, query: str) -> list[str]:
        """The words of a query that the BM25 side searches for.

        Stop words go. In a large index (``PRUNE_MIN_ROWS`` chunks or more), words found in more than
        ``PRUNE_DF`` of all chunks go too (if none of the rest occurs, the rarest of them stays): they
        add little to BM25 (low IDF) but most of its cost, since every chunk containing one is scored.
        """
        words = [t.lower() for t in _WORD.findall(query)]
        terms = list(dict.fromkeys([t for t in words if t not in _STOP and len(t) > 1] or [t for t in words if len(t) > 1]))
        if len(terms) <= 2:
            return terms
        n = self.total_rows()
        if n < PRUNE_MIN_ROWS:
            return terms
        df = self._doc_freq(terms)
        keep = [t for t in terms if df[t] <= PRUNE_DF * n]
        if not any(df[t] for t in keep):  # nothing left that occurs: keep the rarest word that does
            occurring = [t for t in terms if df[t]]
            if occurring:
                rarest = min(occurring, key=lambda t: df[t])
                keep = [t for t in terms if t in keep or t == rarest]
        return keep

    def search(self, collection: str, query: str, limit: int, flt: SearchFilter) -> list[tuple[str, float]]:
        """BM25 top ``limit`` (chunk id, score; higher is better) within one collection and filter."""
        try:
            terms = self.query_terms(query)
        except sqlite3.Error:
            return []
        if not terms:
            return []
        match = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
        cond, args = self._filter_sql(flt, use_index=False)
        # with a filter, fetch more: the cost is scoring every match, not the length of the top list
        over = limit * (OVERFETCH if flt.empty else FILTERED_OVERFETCH)
        with self._lock:
            try:
                # fast path: the best rows of the whole full-text index, checked afterwards (scoring
                # every match is the cost; joining every match to its row for the filter doubles it)
                rows = self._db.execute(
                    "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY 2 LIMIT ?",
                    (match, over),
                ).fetchall()
                if not rows:
                    return []
                # check the first OVERFETCH * limit rows; the rest only if too few of those pass
                hits: list[tuple[str, float]] = []
                step = limit * OVERFETCH
                for start in range(0, len(rows), step):
                    part = rows[start : start + step]
                    got = dict(
                        self._db.execute(
                            f"SELECT rowid, chunk_id FROM chunks WHERE rowid IN ({','.join('?' * len(part))}) "
                            f"AND +collection = ? {cond}",
                            (*(r[0] for r in part), collection, *args),
                        ).fetchall()
                    )
                    hits.extend((got[r], -float(score)) for r, score in part if r in got)
                    if len(hits) >= limit:
                        return hits[:limit]
                if len(rows) < over:
                    return hits
                # a narrow filter or another collection took most of them: filter inside the query
                rows = self._db.execute(
                    "SELECT c.chunk_id, bm25(chunks_fts) AS s FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
                    f"WHERE chunks_fts MATCH ? AND c.collection = ? {cond} "  # the filter's columns exist only in chunks
                    "ORDER BY s LIMIT ?",
                    (match, collection, *args, limit),
                ).fetchall()
            except sqlite3.OperationalError:
                return []
        return [(r[0], -float(r[1])) for r in rows]


class CorpusStore:
    """One collection of the corpus: ingest, delete, list and hybrid search."""

    def __init__(
        self,
        settings: Settings,
        embedder: MiniLMEmbedder,
        *,
        collection: str | None = None,
        client: Any = None,
        lexical: LexicalIndex | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.name = collection or settings.collection
        self._owns_lexical = lexical is None
        self._client = client if client is not None else open_chroma_client(settings)
        self.lexical = lexical or LexicalIndex(settings.lexical_path)
        self._collection = self._open_collection()

    # -- opening ------------------------------------------------------------------------------
    def _open_collection(self):
        meta = {"hnsw:space": "cosine", "embedding_model": self.embedder.model_id, "embedding_dim": 384}
        try:
            col = self._client.get_or_create_collection(self.name, metadata=meta, embedding_function=self.embedder)
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

    def close(self) -> None:
        if self._owns_lexical:
            self.lexical.close()

    # -- writing ------------------------------------------------------------------------------
    def ingest(self, doc: Document) -> IngestOutcome:
        name = doc.origin or doc.id
        content_hash = doc.content_hash
        current = self.lexical.document(self.name, doc.id)
        if current is not None and current[2] == content_hash:
            return IngestOutcome("skipped", name, doc.id, reason="unchanged", warnings=doc.warnings)
        twin = self.lexical.by_hash(self.name, content_hash)
        if twin is not None and twin != doc.id:
            return IngestOutcome("skipped", name, doc.id, reason=f"same content as '{twin}'", warnings=doc.warnings)
        chunks = chunk_document(
            doc,
            count_tokens=self.embedder.count_tokens,
            chunk_tokens=self.settings.chunk_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
        )
        if not chunks:
            raise BadInput(f"{name}: nothing to index after chunking")
        version = content_hash[:12]
        vectors = self.embedder.embed([c.text for c in chunks])
        base = {
            "doc_id": doc.id,
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
        try:
            # 1. new version's vectors: invisible until the registry points at them
            for start in range(0, len(chunks), 1000):
                sl = slice(start, start + 1000)
                self._collection.upsert(
                    ids=[c.id for c in chunks[sl]],
                    embeddings=vectors[sl],
                    documents=[c.text for c in chunks[sl]],
                    metadatas=metadatas[sl],
                )
        except Exception as exc:
            raise StoreUnavailable(f"The vector store refused the write ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        # 2. one transaction switches registry + lexical rows to the new version
        tags = "|" + "|".join(doc.tags) + "|" if doc.tags else ""
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.lexical.transaction() as db:
            db.execute("DELETE FROM chunks WHERE collection=? AND doc_id=?", (self.name, doc.id))
            db.executemany(
                "INSERT INTO chunks (collection, chunk_id, doc_id, date_ord, source_key, tags, text) VALUES (?,?,?,?,?,?,?)",
                [(self.name, c.id, doc.id, date_ord(doc.date), doc.source.lower(), tags, c.text) for c in chunks],
            )
            db.execute(
                "INSERT OR REPLACE INTO documents (collection, doc_id, version, content_hash, title, date, source, url, tags, "
                "origin, chunks, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    self.name, doc.id, version, content_hash, doc.title, doc.date.isoformat() if doc.date else None,
                    doc.source, doc.url, json.dumps(doc.tags), doc.origin, len(chunks), now,
                ),
            )
        # 3. the old version's vectors go (a crash here leaves them ignored, removed next time)
        if current is not None:
            self._delete_vectors(doc.id, keep_version=version)
        status: Literal["added", "updated"] = "updated" if current is not None else "added"
        return IngestOutcome(status, name, doc.id, chunks=len(chunks), warnings=doc.warnings)

    def _delete_vectors(self, doc_id: str, keep_version: str | None = None) -> None:
        where: dict[str, Any] = {"doc_id": doc_id}
        if keep_version is not None:
            where = {"$and": [{"doc_id": doc_id}, {"version": {"$ne": keep_version}}]}
        try:
            self._collection.delete(where=where)
        except Exception as exc:
            raise StoreUnavailable(f"The vector store refused the delete ({type(exc).__name__}).") from exc

    def delete(self, doc_id: str) -> bool:
        """Remove a document everywhere. Returns False when there was no such document."""
        if self.lexical.document(self.name, doc_id) is None:
            return False
        with self.lexical.transaction() as db:
            db.execute("DELETE FROM chunks WHERE collection=? AND doc_id=?", (self.name, doc_id))
            db.execute("DELETE FROM documents WHERE collection=? AND doc_id=?", (self.name, doc_id))
        self._delete_vectors(doc_id)
        return True

    def gc(self) -> int:
        """Delete vectors whose document version is not the active one (left by a crash). Returns how many."""
        got = self._collection.get(include=["metadatas"])
        active = self.lexical.active_versions(self.name, (m["doc_id"] for m in got["metadatas"]))
        stale = [i for i, m in zip(got["ids"], got["metadatas"], strict=True) if active.get(m["doc_id"]) != m["version"]]
        for start in range(0, len(stale), 1000):
            self._collection.delete(ids=stale[start : start + 1000])
        return len(stale)

    def documents(self) -> list[DocumentInfo]:
        return self.lexical.list(self.name)

    def count(self) -> int:
        return self.lexical.count_chunks(self.name)

    def vector_count(self) -> int:
        return self._collection.count()

    def last_updated(self) -> str | None:
        docs = self.documents()
        return max((d.ingested_at for d in docs), default=None)

    # -- reading ------------------------------------------------------------------------------
    def _where(self, flt: SearchFilter) -> dict[str, Any] | None:
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

    def _query(self, vec: np.ndarray, n: int, **kw: Any) -> list[tuple[str, float]]:
        """chroma's nearest ``n`` (chunk id, cosine similarity): ids and distances only, the cheap part."""
        try:
            res = self._collection.query(query_embeddings=[vec], n_results=n, include=["distances"], **kw)
        except Exception as exc:
            raise StoreUnavailable(f"The vector store failed the search ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        return [(i, 1.0 - float(d)) for i, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def vector_candidates(self, vec: np.ndarray, limit: int, flt: SearchFilter = SearchFilter()) -> list[tuple[str, float]]:
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
        hits = self._query(vec, n)
        ok = self.lexical.active_among(self.name, [i for i, _ in hits], flt)
        found = [h for h in hits if h[0] in ok]
        if len(found) >= limit or len(hits) < n:
            return found[:limit]
        if found:  # some pass: look wider, as far as the share that passed suggests (up to a bound)
            wider = int(1.5 * limit * n / len(found))
            if wider <= MAX_VECTOR_SCAN:
                hits = self._query(vec, wider)
                ok = self.lexical.active_among(self.name, [i for i, _ in hits], flt)
                found = [h for h in hits if h[0] in ok]
                if len(found) >= limit or len(hits) < wider:
                    return found[:limit]
        allowed = self.lexical.allowed_ids(self.name, flt, ALLOWED_IDS_CAP)
        if allowed is not None:
            return self._query(vec, limit, ids=allowed) if allowed else []
        hits = self._query(vec, n, where=self._where(flt))
        ok = self.lexical.active_among(self.name, [i for i, _ in hits], flt)
        return [h for h in hits if h[0] in ok][:limit]

    def vector_search(
        self, query: str | np.ndarray, limit: int, flt: SearchFilter = SearchFilter()
    ) -> list[tuple[str, float, dict, str, np.ndarray]]:
        """(chunk id, cosine similarity, metadata, text, vector), active versions only."""
        vec = self.embedder.embed([query])[0] if isinstance(query, str) else query
        hits = self.vector_candidates(vec, limit, flt)
        known = self._fetch([i for i, _ in hits])
        return [(i, sim, *known[i]) for i, sim in hits if i in known]

    def lexical_search(self, query: str, limit: int, flt: SearchFilter = SearchFilter()) -> list[tuple[str, float]]:
        return self.lexical.search(self.name, query, limit, flt)

    def _fetch(self, ids: Sequence[str]) -> dict[str, tuple[dict, str, np.ndarray]]:
        if not ids:
            return {}
        try:
            got = self._collection.get(ids=list(ids), include=["metadatas", "documents", "embeddings"])
        except Exception as exc:
            raise StoreUnavailable(f"The vector store failed the search ({type(exc).__name__}: {str(exc)[:160]}).") from exc
        return {
            i: (m, t, np.asarray(e, dtype=np.float32))
            for i, m, t, e in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True)
        }

    def search(
        self,
        query: str,
        k: int | None = None,
        flt: SearchFilter = SearchFilter(),
        *,
        mode: Literal["hybrid", "vector", "lexical"] = "hybrid",
        query_vector: np.ndarray | None = None,
    ) -> list[Passage]:
        """The k best passages for a query: hybrid (RRF of vector and BM25), near-duplicates collapsed."""
        k = k or self.settings.k
        n_cand = max(self.settings.candidates, k * 3)
        vec_hits: list[tuple[str, float]] = []
        if mode != "lexical":
            vec = query_vector if query_vector is not None else self.embedder.embed([query])[0]
            vec_hits = self.vector_candidates(vec, n_cand, flt)
        lex_hits = self.lexical_search(query, n_cand, flt) if mode != "vector" else []
        fused: dict[str, float] = {}
        vrank: dict[str, int] = {}
        lrank: dict[str, int] = {}
        for rank, (cid, _s) in enumerate(vec_hits, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.settings.rrf_k + rank)
            vrank[cid] = rank
        for rank, (cid, _s) in enumerate(lex_hits, start=1):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.settings.rrf_k + rank)
            lrank[cid] = rank
        order = sorted(fused, key=lambda c: -fused[c])
        head = order[: k * 4]
        known = self._fetch(head)  # text, metadata and vector of the head only: one round trip
        kept: list[str] = []
        kept_vecs: list[np.ndarray] = []
        for cid in head:
            if cid not in known:
                continue  # deleted between the searches and the fetch
            v = known[cid][2]
            if kept_vecs and float(np.max(np.stack(kept_vecs) @ v)) >= self.settings.dedup_similarity:
                continue
            kept.append(cid)
            kept_vecs.append(v)
            if len(kept) == k:
                break
        return [self._passage(cid, known[cid][0], known[cid][1], fused[cid], vrank.get(cid), lrank.get(cid)) for cid in kept]

    def search_many(self, queries: Sequence[str], k: int | None = None, flt: SearchFilter = SearchFilter()) -> list[list[Passage]]:
        """``search`` for several queries, embedding them in one batch (the pipeline asks 6 at once)."""
        vectors = self.embedder.embed(list(queries))
        return [self.search(q, k, flt, query_vector=v) for q, v in zip(queries, vectors, strict=True)]

    @staticmethod
    def _passage(cid: str, m: dict, text: str, score: float, vr: int | None, lr: int | None) -> Passage:
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
            score=round(score, 6),
            vector_rank=vr,
            lexical_rank=lr,
        )

