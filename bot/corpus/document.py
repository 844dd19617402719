"""The document and chunk records that ingestion produces."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import urlsplit


def _short_hash(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def slugify(text: str, max_len: int = 48) -> str:
    """A readable id from a name, in any script: letters and digits (with their marks) lowercased,
    every other run of characters one ``-``. ``Отчёт о визите.md`` -> ``отчёт-о-визите-md``.

    A name with no letter or digit at all becomes ``doc-<hash of the name>``, so that two such names
    do not share an id.
    """
    out: list[str] = []
    for ch in unicodedata.normalize("NFKC", text).lower():
        if ch.isalnum() or (out and out[-1] != "-" and unicodedata.category(ch).startswith("M")):
            out.append(ch)
        elif out and out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")[:max_len].rstrip("-")
    return slug or f"doc-{_short_hash(text)}"


def url_id(url: str, max_len: int = 80) -> str:
    """A document id for a URL: the slug of its host and path, plus a short hash of the query string
    when there is one (``?id=1`` and ``?id=2`` are different pages) or when the slug was cut short."""
    parts = urlsplit(url)
    where = parts.netloc + parts.path
    slug = slugify(where, max_len)
    full = slugify(where, 10 * max_len)
    if parts.query or full != slug:
        slug = slugify(where, max_len - 9) + "-" + _short_hash(where + "?" + parts.query, 8)
    return slug


@dataclass
class Document:
    """A cleaned document: metadata plus its paragraphs in reading order."""

    id: str
    title: str
    paragraphs: list[str]
    date: dt.date | None = None
    source: str = ""
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    origin: str = ""  # the path or URL it came from
    warnings: list[str] = field(default_factory=list)
    explicit_id: bool = False  # the id was given (front matter, --id), not derived from the name

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is indexed changes (text or metadata)."""
        payload = json.dumps(
            {
                "title": self.title,
                "date": self.date.isoformat() if self.date else None,
                "source": self.source,
                "url": self.url,
                "tags": sorted(self.tags),
                "paragraphs": self.paragraphs,
            },
            ensure_ascii=False,
        )
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Chunk:
    id: str
    doc_id: str
    text: str
    paragraph_start: int
    paragraph_end: int
    position: int  # 0-based order within the document
