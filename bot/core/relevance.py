"""Re-ranking retrieved passages toward the case at hand: about the subject, and recent.

Retrieval ranks passages by how well they match a query; a per-variable query ("... sanctions
Western reaction ...") matches other crises' documents as well as this one's. This module re-orders
what was retrieved, without retrieving anything:

* a passage that names the subject (any alias, in its title or text) is preferred;
* a passage dated within ``recent_days`` (about a year) before ``as_of`` is preferred over older
  ones, which are background; an undated passage counts as old;
* nothing is dropped: each passage keeps a weight from its retrieval rank, so a strong passage that
  is neither about the subject nor recent sinks a few places instead of vanishing, and when the
  caller asks for the top ``k`` the original first passage is always among them.

    weight = rank_weight * (about ? about_boost : 1) * age_factor
    rank_weight = 1 / (1 + rank / rank_scale)          rank 0 -> 1, rank 5 -> 0.5 (rank_scale 5)
    age_factor  = 1 within recent_days; then recent_days / age, never below old_floor

Pure: passages in, passages out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.models import Passage
from bot.core.subject import Subject


@dataclass(frozen=True)
class Weights:
    about_boost: float = 2.0  # a passage about the subject counts as much as one ~5 ranks higher
    recent_days: int = 365  # within this many days before as_of a passage is current
    old_floor: float = 0.3  # the least an old passage's weight is multiplied by
    undated: float = 0.5  # an undated passage's age factor
    rank_scale: float = 5.0  # how fast the retrieval rank's weight falls


DEFAULT_WEIGHTS = Weights()


def age_days(passage: Passage, as_of: dt.date | None = None) -> int | None:
    """Days from the passage's date to ``as_of`` (today when None); None when it is undated.
    Negative for a passage dated after ``as_of``."""
    if passage.date is None:
        return None
    return ((as_of or dt.date.today()) - passage.date).days


def is_about(passage: Passage, subject: Subject | None, *, strict: bool = False) -> bool:
    """Whether the passage's title or text names the subject (any of its aliases, demonyms or, for
    an area, its parts). Unless ``strict``, naming a place that the question named as containing the
    subject counts too (for "Georgia over South Ossetia", a passage about Georgia)."""
    if subject is None:
        return False
    return subject.mentioned_in(f"{passage.title}\n{passage.text}", strict=strict)


def age_factor(passage: Passage, as_of: dt.date | None, weights: Weights = DEFAULT_WEIGHTS) -> float:
    age = age_days(passage, as_of)
    if age is None:
        return weights.undated
    if age <= weights.recent_days:
        return 1.0
    return max(weights.old_floor, weights.recent_days / age)


def relevance_weight(
    passage: Passage, rank: int, subject: Subject | None, as_of: dt.date | None, weights: Weights = DEFAULT_WEIGHTS
) -> float:
    """The weight :func:`rerank` orders by (higher first); ``rank`` is 0 for the first retrieved."""
    w = 1.0 / (1.0 + rank / weights.rank_scale)
    if is_about(passage, subject):
        w *= weights.about_boost
    return w * age_factor(passage, as_of, weights)


def rerank(
    passages: Sequence[Passage],
    subject: Subject | None,
    as_of: dt.date | None,
    *,
    k: int | None = None,
    weights: Weights = DEFAULT_WEIGHTS,
) -> list[Passage]:
    """``passages`` (in retrieval order) re-ordered toward the subject and ``as_of``; the first ``k``
    when given, which always include the passage retrieval ranked first."""
    scored = [(relevance_weight(p, r, subject, as_of, weights), -r, p) for r, p in enumerate(passages)]
    ordered = [p for _, _, p in sorted(scored, key=lambda t: (t[0], t[1]), reverse=True)]
    if k is None or k >= len(ordered):
        return ordered
    top = ordered[: max(k, 0)]
    if k > 0 and passages and all(p.id != passages[0].id for p in top):
        top[-1] = passages[0]
    return top
