"""Plain records shared by the two sides of the index: filters, ingest outcomes, document listings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal


def date_ord(d: dt.date | None) -> int:
    """A date as the integer YYYYMMDD (0 for undated): what both sides filter on."""
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
