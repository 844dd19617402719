"""Which words of a query the BM25 side searches for (pure: no SQLite, no chroma)."""

from __future__ import annotations

import re

STOP_WORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "may", "might", "more", "most", "no", "not", "of", "on", "or", "over", "russia", "russian", "moscow", "send", "sent", "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "to", "troops", "under", "up", "was", "we", "were", "what", "when", "where", "which", "who", "whom", "why", "will", "with", "would", "you", "your"]
)  # fmt: skip
WORD = re.compile(r"[\w][\w'\-]*", re.U)


def query_words(query: str) -> list[str]:
    """The query's words, lowercased, in order, once each: stop words and one-letter words left out
    (when nothing else is left, the stop words are kept)."""
    words = [t.lower() for t in WORD.findall(query)]
    kept = [t for t in words if t not in STOP_WORDS and len(t) > 1] or [t for t in words if len(t) > 1]
    return list(dict.fromkeys(kept))
