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


def score_fusion(
    vector: Sequence[tuple[str, float]],
    lexical: Sequence[tuple[str, float]],
    *,
    vector_weight: float = 0.55,
) -> list[Fused]:
    """Convex combination of the two sides' normalised scores, best first.

    The vector side's cosine similarities are min-max normalised over its candidates (the best 1, the
    last 0; a single candidate 1); BM25 scores are divided by the best one. Score =
    ``vector_weight * vector + (1 - vector_weight) * lexical``, 0 for a side that did not find it.

    Unlike reciprocal rank fusion this keeps the size of the gaps: a passage that only the lexical
    side found, with a BM25 score far below its best, cannot outrank the vector side's first hit
    by being found twice at low ranks, while an exact rare-name match (the lexical side's best) still
    enters near the top. Ties keep the vector side's order.
    """
    score: dict[str, float] = {}
    vrank: dict[str, int] = {}
    lrank: dict[str, int] = {}
    if vector:
        sims = [s for _, s in vector]
        lo, hi = min(sims), max(sims)
        for rank, (cid, sim) in enumerate(vector, start=1):
            score[cid] = vector_weight * ((sim - lo) / (hi - lo) if hi > lo else 1.0)
            vrank[cid] = rank
    if lexical:
        top = max(s for _, s in lexical)
        for rank, (cid, s) in enumerate(lexical, start=1):
            score[cid] = score.get(cid, 0.0) + (1 - vector_weight) * (s / top if top > 0 else 1.0)
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
