"""Ingestion: load, clean, chunk and embed documents, and hand them to the store.

:func:`index_document` is one document (chunking and embedding happen here, not in the store);
:func:`ingest_items` a batch of paths and URLs, each item on its own, so one bad file gets a
one-line reason and the rest of the batch goes on."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from bot.config import Settings
from bot.corpus.chunking import chunk_document
from bot.corpus.document import Document, url_id
from bot.corpus.fetch import fetch
from bot.corpus.loaders import iter_paths, load_bytes, load_file
from bot.errors import BadInput, UserError
from bot.store import CorpusStore, IngestOutcome

log = logging.getLogger(__name__)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(item: str) -> bool:
    """A link (any ``scheme://``; the fetcher refuses every scheme but http and https with a reason)."""
    return bool(_SCHEME.match(item))


def load_url(url: str, settings: Settings, meta: dict | None = None) -> Document:
    got = fetch(
        url,
        timeout_s=settings.fetch_timeout_s,
        max_bytes=settings.fetch_max_bytes,
        allow_private=settings.fetch_allow_private,
    )
    ctype = got.content_type.lower()
    head = got.content[:512].lstrip().lower()
    if "pdf" in ctype or got.content.startswith(b"%PDF"):
        suffix = ".pdf"
    elif "html" in ctype or head.startswith((b"<!doctype html", b"<html")):
        suffix = ".html"
    elif ctype.startswith("text/") or not ctype:
        suffix = ".txt"
    else:
        raise BadInput(f"{url}: unsupported content type {ctype.split(';')[0]}")
    doc_id = url_id(got.url)
    doc = load_bytes(doc_id + suffix, got.content, max_bytes=settings.fetch_max_bytes, meta=meta)
    doc.explicit_id = bool((meta or {}).get("id")) or doc.explicit_id
    doc.id = str((meta or {}).get("id") or (doc.id if doc.explicit_id else doc_id))
    doc.url = doc.url or got.url
    doc.origin = url
    return doc


def index_document(store: CorpusStore, doc: Document) -> IngestOutcome:
    """Chunk and embed one document and write it to the store (skipped early when unchanged)."""
    planned = store.plan(doc)
    if isinstance(planned, IngestOutcome):
        return planned
    chunks = chunk_document(
        doc,
        count_tokens=store.embedder.count_tokens,
        chunk_tokens=store.settings.chunk_tokens,
        overlap_tokens=store.settings.chunk_overlap_tokens,
    )
    if not chunks:
        raise BadInput(f"{doc.origin or doc.id}: nothing to index after chunking")
    vectors = store.embedder.embed([c.text for c in chunks])
    return store.write(doc, chunks, vectors)


def expand(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    for item in items:
        if is_url(item):
            out.append(item)
        else:
            p = Path(item)
            out.extend(str(f) for f in iter_paths([p])) if p.is_dir() else out.append(item)
    return out


def ingest_items(
    store: CorpusStore,
    items: Iterable[str],
    settings: Settings,
    *,
    meta: dict | None = None,
    progress: Callable[[int, int, IngestOutcome], None] | None = None,
) -> list[IngestOutcome]:
    """Index every file (folders recursively) and URL in ``items``; never raises for one bad item."""
    expanded = expand(items)
    outcomes: list[IngestOutcome] = []
    for i, item in enumerate(expanded, start=1):
        name = item if is_url(item) else Path(item).name
        try:
            doc = load_url(item, settings, meta) if is_url(item) else load_file(Path(item), max_bytes=settings.max_file_bytes, meta=meta)
            outcome = index_document(store, doc)
            outcome.name = name
        except UserError as exc:
            outcome = IngestOutcome("failed", name, reason=exc.message)
        except Exception as exc:  # a bug or outage on one item must not lose the batch
            log.exception("ingest of %s failed", item)
            outcome = IngestOutcome("failed", name, reason=f"internal error ({type(exc).__name__}); see the log")
        outcomes.append(outcome)
        if progress:
            progress(i, len(expanded), outcome)
    return outcomes


def summarise(outcomes: list[IngestOutcome]) -> dict[str, int]:
    counts = {"added": 0, "updated": 0, "skipped": 0, "failed": 0}
    for o in outcomes:
        counts[o.status] += 1
    return counts
