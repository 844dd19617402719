"""The document and chunk records that ingestion produces."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field


def slugify(text: str, max_len: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "doc"


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
