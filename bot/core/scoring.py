"""The overall likelihood: a small, documented, pure function of the five variable scores.

The framework is conjunctive: all five variables must be in place, and a trigger alone never
sufficed (Kyrgyzstan 2010, Armenia 2022). So the likelihood is a *product* of per-variable factors,
each at most 1, and can never exceed what the weakest variable allows:

    factor(s) = ((s + delta) / (4 + delta)) ** beta            for a score s in 0..4
    likelihood = 100 * product of factor(s_i) over the five variables, clipped to [1, 99]

* ``beta`` sets how hard a low score pulls the product down (larger = stricter);
* ``delta`` keeps a 0 from being an absolute veto (the evidence may be wrong);
* a variable marked "insufficient evidence" is not given an invented score: it contributes the
  factor of ``prior`` (the scale's midpoint by default, i.e. "unknown") and lowers confidence.

Because every factor is <= 1, likelihood <= 100 * factor(weakest score): the bound the framework
asks for. ``beta`` and ``delta`` are fitted by ``analyst eval --calibrate`` (leave-one-out Brier).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, Field

from bot.core.models import Confidence, VariableAssessment, Verdict

VERDICT_BANDS: tuple[tuple[int, Verdict], ...] = (
    (15, "very unlikely"),
    (40, "unlikely"),
    (60, "uncertain"),
    (85, "likely"),
    (101, "very likely"),
)


class ScoringParams(BaseModel):
    beta: float = Field(0.6, gt=0, le=5)
    delta: float = Field(0.5, ge=0, le=4)
    prior: float = Field(2.0, ge=0, le=4)


def factor(score: float, params: ScoringParams) -> float:
    return ((score + params.delta) / (4 + params.delta)) ** params.beta


def likelihood(scores: Sequence[int | None], params: ScoringParams = ScoringParams()) -> int:
    """Overall likelihood (1-99) from five scores; None means insufficient evidence."""
    product = math.prod(factor(params.prior if s is None else s, params) for s in scores)
    return int(min(99, max(1, round(100 * product))))


def verdict(likelihood_pct: int) -> Verdict:
    for upper, name in VERDICT_BANDS:
        if likelihood_pct < upper:
            return name
    return "very likely"


_LEVEL = {"low": 0, "medium": 1, "high": 2}


def overall_confidence(variables: Sequence[VariableAssessment]) -> Confidence:
    """Mean of the assessed variables' confidence, one step lower per missing variable."""
    assessed = [v for v in variables if v.assessed]
    missing = len(variables) - len(assessed)
    if not assessed:
        return "low"
    level = round(sum(_LEVEL[v.confidence] for v in assessed) / len(assessed)) - missing
    return ("low", "medium", "high")[max(0, min(2, level))]


def score_bar(score: int | None, width: int = 4) -> str:
    """"■■■□" for 3 of 4; "no evidence" (words, not "????", which read as broken text) for None."""
    if score is None:
        return "no evidence"
    return "■" * score + "□" * (width - score)
