"""Fusing the vector and lexical rankings, and collapsing near-duplicate passages.

Pure functions over ids, ranks, scores and vectors: no chromadb, no SQLite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fused:
    """One candidate after fusion: its fused score and its rank on each side (None: not found there)."""

    id: str
    score: float
    vector_rank: int | None = None
    lexical_rank: int | None = None


def rrf(
    vector: Sequence[tuple[str, float]],
    lexical: Sequence[tuple[str, float]],
    *,
    k: int = 60,
    vector_weight: float = 1.0,
    lexical_weight: float = 1.0,
) -> list[Fused]:
    """Weighted reciprocal rank fusion: score = sum over sides of weight / (k + rank), best first.

    Each input is a ranking, best first, of (id, side score); the side scores are not used.
    Ties keep the order in which ids were first seen (vector side first).
    """
    score: dict[str, float] = {}
    vrank: dict[str, int] = {}
    lrank: dict[str, int] = {}
    for rank, (cid, _s) in enumerate(vector, start=1):
        score[cid] = score.get(cid, 0.0) + vector_weight / (k + rank)
        vrank[cid] = rank
    for rank, (cid, _s) in enumerate(lexical, start=1):
        score[cid] = score.get(cid, 0.0) + lexical_weight / (k + rank)
        lrank[cid] = rank
    order = sorted(score, key=lambda c: -score[c])
    return [Fused(c, score[c], vrank.get(c), lrank.get(c)) for c in order]


def collapse_near_duplicates(
    order: Sequence[str], vectors: Mapping[str, np.ndarray], *, threshold: float, k: int
) -> list[str]:
    """The first ``k`` ids of ``order`` whose vector is less than ``threshold`` (cosine, unit vectors)
    similar to every id kept before it. Ids without a vector (deleted meanwhile) are skipped."""
    kept: list[str] = []
    kept_vecs: list[np.ndarray] = []
    for cid in order:
        v = vectors.get(cid)
        if v is None:
            continue
        if kept_vecs and float(np.max(np.stack(kept_vecs) @ v)) >= threshold:
            continue
        kept.append(cid)
        kept_vecs.append(v)
        if len(kept) == k:
            break
    return kept
