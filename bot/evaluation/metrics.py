"""The evaluation's figures as small pure functions (no I/O, no store, no model).

Conventions
-----------
* A prediction is the bot's overall likelihood as a probability ``p`` in [0, 1].
* Binary outcome: ``intervened`` and ``limited`` count as 1 (troops were sent, even if only a
  limited force), ``not_intervened`` as 0.
* A variable score maps to the case file's three calls: 0-1 unfavourable, 2 mixed, 3-4 favourable;
  "insufficient evidence" maps to nothing and never agrees (it is counted on its own).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bot.core.models import VARIABLES
from bot.core.scoring import VERDICT_BANDS, ScoringParams, likelihood, verdict

Outcome = Literal["intervened", "limited", "not_intervened"]
Call = Literal["favourable", "mixed", "unfavourable"]
OUTCOMES: tuple[Outcome, ...] = ("intervened", "limited", "not_intervened")
VERDICTS: tuple[str, ...] = tuple(name for _, name in VERDICT_BANDS)


def outcome_value(outcome: Outcome) -> int:
    """1 when Russian forces went in (fully or limited), 0 when they did not."""
    return 0 if outcome == "not_intervened" else 1


def score_to_call(score: int | None) -> Call | None:
    """0-1 -> unfavourable, 2 -> mixed, 3-4 -> favourable; None (insufficient evidence) -> None."""
    if score is None:
        return None
    if not 0 <= score <= 4:
        raise ValueError(f"score must be 0-4, got {score}")
    return "unfavourable" if score <= 1 else "mixed" if score == 2 else "favourable"


def brier(probs: Sequence[float], outcomes: Sequence[int]) -> float:
    """Mean squared error between predicted probabilities and 0/1 outcomes (0 best, 0.25 = always 50 %)."""
    if len(probs) != len(outcomes):
        raise ValueError("probs and outcomes differ in length")
    if not probs:
        return math.nan
    return sum((p - y) ** 2 for p, y in zip(probs, outcomes, strict=True)) / len(probs)


def accuracy(probs: Sequence[float], outcomes: Sequence[int], threshold: float = 0.5) -> float:
    """Share of cases where ``p >= threshold`` matches the outcome."""
    if not probs:
        return math.nan
    return sum((p >= threshold) == bool(y) for p, y in zip(probs, outcomes, strict=True)) / len(probs)


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's (linear) percentile, ``q`` in 0..100; NaN for no values (a report shows "n/a")."""
    return float(np.percentile(values, q)) if len(values) else math.nan


# --- the three-way view --------------------------------------------------------------------------

def outcome_by_verdict(likelihoods_pct: Sequence[int], outcomes: Sequence[Outcome]) -> dict[str, dict[str, int]]:
    """A 3 x 5 table: real outcome (rows, ``limited`` its own class) by the verdict the bot showed."""
    table: dict[str, dict[str, int]] = {o: dict.fromkeys(VERDICTS, 0) for o in OUTCOMES}
    for pct, o in zip(likelihoods_pct, outcomes, strict=True):
        table[o][verdict(pct)] += 1
    return table


def mean_likelihood_by_outcome(likelihoods_pct: Sequence[int], outcomes: Sequence[Outcome]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for o in OUTCOMES:
        xs = [p for p, oo in zip(likelihoods_pct, outcomes, strict=True) if oo == o]
        out[o] = sum(xs) / len(xs) if xs else None
    return out


def brier_limited_half(probs: Sequence[float], outcomes: Sequence[Outcome]) -> float:
    """Brier with ``limited`` scored 0.5 instead of 1: how much the binary coding of limited cases matters."""
    ys = [0.5 if o == "limited" else outcome_value(o) for o in outcomes]
    return brier(probs, ys)  # type: ignore[arg-type]


def auc(probs: Sequence[float], outcomes: Sequence[int]) -> float:
    """Area under the ROC curve: the chance that a random intervention case got a higher
    probability than a random non-intervention case (ties count half; 0.5 = no ranking skill)."""
    pos = [p for p, y in zip(probs, outcomes, strict=True) if y]
    neg = [p for p, y in zip(probs, outcomes, strict=True) if not y]
    if not pos or not neg:
        return math.nan
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def best_constant_brier(outcomes: Sequence[float]) -> float:
    """The Brier score of the best constant forecast in hindsight (the cases' own base rate):
    the reference a likelihood must beat to carry any information. Always-50 % scores 0.25."""
    if not outcomes:
        return math.nan
    rate = sum(outcomes) / len(outcomes)
    return sum((rate - y) ** 2 for y in outcomes) / len(outcomes)


# --- per-variable agreement ------------------------------------------------------------------------

@dataclass
class VariableAgreement:
    variable: str
    cases: int = 0
    agree: int = 0
    disagree: int = 0
    insufficient: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # expected -> predicted call (or "insufficient")

    @property
    def rate(self) -> float:
        """Agreements over all cases with an expected call (insufficient evidence counts as no agreement)."""
        return self.agree / self.cases if self.cases else math.nan

    @property
    def rate_when_assessed(self) -> float:
        assessed = self.agree + self.disagree
        return self.agree / assessed if assessed else math.nan


def agreement(
    rows: Iterable[tuple[dict[str, Call], dict[str, int | None]]],
) -> dict[str, VariableAgreement]:
    """Per variable, from (expected calls, predicted scores) pairs, one pair per case."""
    out: dict[str, VariableAgreement] = {v: VariableAgreement(v) for v in VARIABLES}
    for expected, scores in rows:
        for v in VARIABLES:
            exp = expected.get(v)
            if exp is None:
                continue
            a = out[v]
            a.cases += 1
            got = score_to_call(scores.get(v))
            a.confusion.setdefault(exp, {})
            key = got or "insufficient"
            a.confusion[exp][key] = a.confusion[exp].get(key, 0) + 1
            if got is None:
                a.insufficient += 1
            elif got == exp:
                a.agree += 1
            else:
                a.disagree += 1
    return out


# --- reliability --------------------------------------------------------------------------------

def reliability_bins(probs: Sequence[float], outcomes: Sequence[int], n_bins: int = 5) -> list[dict[str, float | int]]:
    """Equal-width bins of predicted probability: count, mean prediction and observed frequency."""
    bins: list[dict[str, float | int]] = []
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        idx = [i for i, p in enumerate(probs) if (lo <= p < hi) or (b == n_bins - 1 and p == 1.0)]
        bins.append(
            {
                "lo": lo,
                "hi": hi,
                "count": len(idx),
                "mean_predicted": sum(probs[i] for i in idx) / len(idx) if idx else math.nan,
                "observed": sum(outcomes[i] for i in idx) / len(idx) if idx else math.nan,
            }
        )
    return bins


def base_rate_loo_brier(outcomes: Sequence[float]) -> float:
    """Brier of the no-skill reference: each case predicted by the base rate of the *other* cases.
    A fitted function that does not beat it has learnt nothing the outcome counts did not already say."""
    n = len(outcomes)
    if n < 2:
        return math.nan
    total = sum(outcomes)
    return sum((y - (total - y) / (n - 1)) ** 2 for y in outcomes) / n


# --- calibration of the likelihood function --------------------------------------------------------

Scores = Sequence[int | None]  # five variable scores, None = insufficient evidence

DEFAULT_GRID: dict[str, Sequence[float]] = {
    "beta": (0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0),
    "delta": (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
    "prior": (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0),
}


def predict(scores: Scores, params: ScoringParams) -> float:
    """The probability the bot would show for these scores (the real, rounded, clipped function)."""
    return likelihood(list(scores), params) / 100


def brier_for(params: ScoringParams, cases: Sequence[tuple[Scores, int]]) -> float:
    return brier([predict(s, params) for s, _ in cases], [y for _, y in cases])


def prior_identifiable(cases: Sequence[tuple[Scores, int]], min_cases: int = 2) -> bool:
    """The prior only changes predictions of cases with an insufficient-evidence variable; fit it only
    when at least ``min_cases`` such cases exist, otherwise any value fits equally and it stays put."""
    return sum(any(s is None for s in scores) for scores, _ in cases) >= min_cases


def param_grid(grid: dict[str, Sequence[float]], fit_prior: bool, base: ScoringParams) -> list[ScoringParams]:
    priors = grid["prior"] if fit_prior else (base.prior,)
    return [
        ScoringParams(beta=b, delta=d, prior=p) for b, d, p in itertools.product(grid["beta"], grid["delta"], priors)
    ]


def _distance(p: ScoringParams, base: ScoringParams) -> float:
    """Tie-break: among equally good parameter sets keep the one nearest the current ones."""
    return abs(math.log(p.beta / base.beta)) + abs(p.delta - base.delta) / 4 + abs(p.prior - base.prior) / 4


def fit(
    cases: Sequence[tuple[Scores, int]],
    candidates: Sequence[ScoringParams],
    base: ScoringParams,
) -> tuple[ScoringParams, float]:
    """Grid search: the candidate with the lowest Brier on ``cases`` (ties -> nearest ``base``)."""
    best: tuple[float, float, ScoringParams] | None = None
    for p in candidates:
        key = (round(brier_for(p, cases), 12), _distance(p, base), p)
        if best is None or key[:2] < best[:2]:
            best = key
    assert best is not None, "empty grid"
    return best[2], best[0]


@dataclass
class CalibrationResult:
    params: ScoringParams  # fitted on all cases
    in_sample_brier: float
    loo_brier: float  # each case predicted by parameters fitted on the others: the honest figure
    loo_predictions: list[float]
    loo_params: list[ScoringParams]
    base_brier: float  # the parameters in use before calibration, on all cases
    base_rate_loo_brier: float  # the no-skill reference for loo_brier
    fit_prior: bool
    grid: dict[str, list[float]]
    n_cases: int


def calibrate(
    cases: Sequence[tuple[Scores, int]],
    *,
    base: ScoringParams | None = None,
    grid: dict[str, Sequence[float]] | None = None,
    fit_prior: bool | None = None,
) -> CalibrationResult:
    """Fit beta and delta (and prior when identifiable) by grid search; leave-one-out for the honest Brier."""
    if len(cases) < 2:
        raise ValueError("calibration needs at least two cases")
    base = base or ScoringParams()
    grid_: dict[str, Sequence[float]] = grid or DEFAULT_GRID
    fp = prior_identifiable(cases) if fit_prior is None else fit_prior
    candidates = param_grid(grid_, fp, base)
    params, in_sample = fit(cases, candidates, base)
    loo_pred: list[float] = []
    loo_params: list[ScoringParams] = []
    for i in range(len(cases)):
        rest = [c for j, c in enumerate(cases) if j != i]
        fp_i = prior_identifiable(rest) if fit_prior is None else fit_prior
        p_i, _ = fit(rest, param_grid(grid_, fp_i, base), base)
        loo_params.append(p_i)
        loo_pred.append(predict(cases[i][0], p_i))
    return CalibrationResult(
        params=params,
        in_sample_brier=in_sample,
        loo_brier=brier(loo_pred, [y for _, y in cases]),
        loo_predictions=loo_pred,
        loo_params=loo_params,
        base_brier=brier_for(base, cases),
        base_rate_loo_brier=base_rate_loo_brier([y for _, y in cases]),
        fit_prior=fp,
        grid={k: list(v if k != "prior" or fp else (base.prior,)) for k, v in grid_.items()},
        n_cases=len(cases),
    )
