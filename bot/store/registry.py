"""The registry of documents and the lexical (BM25) index: one SQLite file, ``lexical.sqlite3``.

* ``documents``: one row per document and collection: its active version (the first 12 hex digits of
  its content hash), metadata and origin (the path or URL it came from).
* ``chunks``: the text of the active version's chunks (with their paragraph range), and ``chunks_fts``
  an FTS5 index over it (porter stemming) for BM25.
* ``meta``: the *generation*, a counter every writer increments in the transaction that changes the
  registry. A long-running reader compares it with the value it last saw to notice that another
  process wrote (see :mod:`bot.store.corpus`).

The file is in WAL mode with a 30 s busy timeout, so several processes may read it while one writes.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from bot.errors import StoreUnavailable
from bot.store.records import DocumentInfo, SearchFilter
from bot.store.terms import query_words

# Query tuning (see LexicalIndex.query_terms and LexicalIndex.search)
OVERFETCH = 4  # BM25 without a filter: top OVERFETCH * limit rows, checked against the registry
FILTERED_OVERFETCH = 32  # BM25 with a filter: fetched this many times over before the exact fallback
PRUNE_MIN_ROWS = 20_000  # below this many chunks every informative word is searched
PRUNE_DF = 0.05  # above it, words in more than this share of chunks are left out of the BM25 query
INFORMATIVE_DF = 0.2  # hybrid search: words in more than this share of chunks are not searched for
MIN_DF = 3  # ... unless they are in at most this many (a tiny corpus)
ROW_COUNT_TTL_S = 30.0


class DocumentRow(NamedTuple):
    """The registry's record of a document's active version (a tuple: ``row[2]`` is the content hash,
    as callers of the earlier ``(doc_id, version, content_hash)`` rows expect)."""

    doc_id: str
    version: str
    content_hash: str
    origin: str
    chunks: int


# Chunk ids are unique per collection (several collections -- one per Discord guild -- share this
# file and may hold the same document). Schema version 1 had them unique across the whole file;
# version 3 added the chunks' paragraph range (so that ``corpus check --repair`` can rebuild a lost
# vector's metadata from this file alone) and the ``meta`` table (the generation counter).
_SCHEMA_VERSION = 3
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
    p_start INTEGER, p_end INTEGER,
    UNIQUE (collection, chunk_id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', 0);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (collection, doc_id);
CREATE INDEX IF NOT EXISTS chunks_date ON chunks (collection, date_ord);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (collection, source_key);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text); END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END;
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
            self._add_paragraph_columns()
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

    def _add_paragraph_columns(self) -> None:
        """Schema 2 -> 3: the chunks' paragraph range (NULL for rows written before)."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(chunks)")}
        if {"p_start", "p_end"} <= cols:
            if self._db.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
                self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(chunks)")}  # another process may have done it
            for col in ("p_start", "p_end"):
                if col not in cols:
                    self._db.execute(f"ALTER TABLE chunks ADD COLUMN {col} INTEGER")
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            self._db.execute("COMMIT")
        except BaseException:
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
                self._db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._rows_cache = None

    def activate(
        self,
        collection: str,
        *,
        doc_id: str,
        version: str,
        content_hash: str,
        title: str,
        date: dt.date | None,
        source: str,
        url: str | None,
        tags: Sequence[str],
        origin: str,
        chunks: Sequence[tuple[str, str, int, int]],
    ) -> None:
        """One transaction: the document's lexical rows and registry row switch to ``version``.

        ``chunks`` are (chunk id, text, first paragraph, last paragraph).
        """
        tag_key = "|" + "|".join(tags) + "|" if tags else ""
        when = date.year * 10000 + date.month * 100 + date.day if date else 0
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self.transaction() as db:
            db.execute("DELETE FROM chunks WHERE collection=? AND doc_id=?", (collection, doc_id))
            db.executemany(
                "INSERT INTO chunks (collection, chunk_id, doc_id, date_ord, source_key, tags, text, p_start, p_end) "
                "VALUES (?,?,?,?,?,?,?,?,?)",
                [(collection, cid, doc_id, when, source.lower(), tag_key, text, a, b) for cid, text, a, b in chunks],
            )
            db.execute(
                "INSERT OR REPLACE INTO documents (collection, doc_id, version, content_hash, title, date, source, url, tags, "
                "origin, chunks, ingested_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    collection, doc_id, version, content_hash, title, date.isoformat() if date else None,
                    source, url, json.dumps(list(tags)), origin, len(chunks), now,
                ),
            )

    def remove(self, collection: str, doc_id: str) -> bool:
        """Delete a document's registry row and lexical rows; False when there was none."""
        with self.transaction() as db:
            gone = db.execute("DELETE FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id)).rowcount
            db.execute("DELETE FROM chunks WHERE collection=? AND doc_id=?", (collection, doc_id))
        return bool(gone)

    def generation(self) -> int:
        """The registry's write counter: it changes whenever any process commits a change."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self) -> int:
        """Increment the generation without another change (after a write to the vectors alone)."""
        with self.transaction():
            pass
        return self.generation()

    def document(self, collection: str, doc_id: str) -> DocumentRow | None:
        """The active version of a document, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT doc_id, version, content_hash, origin, chunks FROM documents WHERE collection=? AND doc_id=?",
                (collection, doc_id),
            ).fetchone()
        return DocumentRow(row[0], row[1], row[2], row[3] or "", row[4] or 0) if row else None

    def documents_rows(self, collection: str) -> list[DocumentRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT doc_id, version, content_hash, origin, chunks FROM documents WHERE collection=? ORDER BY doc_id",
                (collection,),
            ).fetchall()
        return [DocumentRow(r[0], r[1], r[2], r[3] or "", r[4] or 0) for r in rows]

    def chunk_ids_by_doc(self, collection: str) -> dict[str, list[str]]:
        """Every lexical row's chunk id, by document."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for doc_id, chunk_id in self._db.execute(
                "SELECT doc_id, chunk_id FROM chunks WHERE collection=? ORDER BY doc_id, chunk_id", (collection,)
            ):
                out.setdefault(doc_id, []).append(chunk_id)
        return out

    def chunk_rows(self, collection: str, chunk_ids: Sequence[str]) -> list[tuple[str, str, str, int | None, int | None]]:
        """(chunk id, doc id, text, first paragraph, last paragraph) of the given chunks."""
        out = []
        with self._lock:
            for start in range(0, len(chunk_ids), 500):
                part = list(chunk_ids[start : start + 500])
                out.extend(
                    self._db.execute(
                        "SELECT chunk_id, doc_id, text, p_start, p_end FROM chunks "
                        f"WHERE collection=? AND chunk_id IN ({','.join('?' * len(part))})",
                        (collection, *part),
                    ).fetchall()
                )
        return out

    def document_meta(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        """A document's registry row as a dict (title, date, source, url, tags, version, ...)."""
        with self._lock:
            cur = self._db.execute("SELECT * FROM documents WHERE collection=? AND doc_id=?", (collection, doc_id))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
        if row is None:
            return None
        meta = dict(zip(names, row, strict=True))
        meta["tags"] = json.loads(meta["tags"] or "[]")
        return meta

    def fts_consistent(self) -> bool:
        """FTS5's own check that the full-text index matches its content table."""
        with self._lock:
            try:
                self._db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)")
            except sqlite3.Error:
                return False
        return True

    def rebuild_fts(self) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")

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
    def _filter_sql(flt: SearchFilter, *, use_index: bool = True) -> tuple[str, builtins.list[Any]]:
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

    def allowed_ids(self, collection: str, flt: SearchFilter, cap: int) -> builtins.list[str] | None:
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

    def _doc_freq(self, terms: builtins.list[str]) -> dict[str, int]:
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

    def query_terms(self, query: str, *, informative: bool = False) -> builtins.list[str]:
        """The words of a query that the BM25 side searches for.

        Stop words go. In a large index (``PRUNE_MIN_ROWS`` chunks or more), words found in more than
        ``PRUNE_DF`` of all chunks go too (if none of the rest occurs, the rarest of them stays): they
        add little to BM25 (low IDF) but most of its cost, since every chunk containing one is scored.

        ``informative=True`` (the lexical side of a hybrid search) keeps only words that occur and are
        informative: in at most ``INFORMATIVE_DF`` of the chunks (``PRUNE_DF`` in a large index, and
        never fewer than ``MIN_DF`` chunks), with no fallback: a question made of common words gets no
        lexical side, rather than the 40 chunks that happen to repeat them.
        """
        terms = query_words(query)
        if not terms:
            return []
        n = self.total_rows()
        large = n >= PRUNE_MIN_ROWS
        if not informative and (len(terms) <= 2 or not large):
            return terms
        df = self._doc_freq(terms)
        limit = max((PRUNE_DF if large else INFORMATIVE_DF) * n, MIN_DF)
        keep = [t for t in terms if df[t] <= limit]
        if informative:
            return [t for t in keep if df[t]]
        if not any(df[t] for t in keep):  # nothing left that occurs: keep the rarest word that does
            occurring = [t for t in terms if df[t]]
            if occurring:
                rarest = min(occurring, key=lambda t: df[t])
                keep = [t for t in terms if t in keep or t == rarest]
        return keep

    def search(
        self, collection: str, query: str, limit: int, flt: SearchFilter, *, informative: bool = False
    ) -> builtins.list[tuple[str, float]]:
        """BM25 top ``limit`` (chunk id, score; higher is better) within one collection and filter
        (``informative``: see :meth:`query_terms`)."""
        try:
            terms = self.query_terms(query, informative=informative)
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


