"""How a plan is judged (issue 21): intervals for proportions that stay in [0, 1] with few
seasons, and the oracle gap closure with its interval.

**A proportion's interval over seasons.** Attempts within a season are not independent (the
same weather, the same organisers' memory), so the pooled binomial count overstates what the
seasons know; Student's t over season shares, the old interval, ignores that a proportion lies
in [0, 1] and gave -78 % to 160 % with two short seasons. ``season_interval`` is the
**Jeffreys interval with a design effect** (Kish): the pooled proportion ``p = X / N``; the
design effect ``deff = max(1, s^2 / (p (1 - p) / m))``, where ``s^2`` is the variance of the
season shares and ``m`` the mean attempts per season (1 when seasons vary no more than
binomial counts would); then the Beta(``p n + 1/2``, ``(1 - p) n + 1/2``) quantiles with the
effective count ``n = N / deff``. It lies inside [0, 1] by construction, is the pooled Wilson
and Jeffreys interval when seasons agree, widens when they disagree, and is defined for one
season. Brown, Cai and DasGupta (2001) recommend Jeffreys' interval for small counts; the
design effect is the survey-sampling correction for clustered binomial data.

**Oracle gap closure.** ``GC = (P_plan - P_best) / (P_oracle - P_best)``: the share of the gap
between the best baseline and a clairvoyant reference that the plan closes. Its interval is
**Fieller's** for a ratio of two means estimated on the same seasons (the paired differences
``plan - best`` and ``oracle - best`` per season, their variances and covariance, Student's t
with ``k - 1`` degrees of freedom): exact for normal means, honest with few seasons, and
unbounded (reported as such) when the oracle's advantage over the best baseline is not itself
clear of zero.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["GapClosure", "gap_closure", "resources_to_match", "season_interval"]


def season_interval(
    hits: list[int] | np.ndarray, trials: list[int] | np.ndarray, level: float = 0.95
) -> tuple[float, float]:
    """The ``level`` interval of the proportion ``sum(hits) / sum(trials)`` over seasons
    (Jeffreys with the seasons' design effect; see the module's text). Always in [0, 1]."""
    x = np.asarray(hits, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    total = float(n.sum())
    if total <= 0:
        return (0.0, 1.0)
    p = float(x.sum()) / total
    deff = 1.0
    used = n > 0
    if used.sum() >= 2 and 0.0 < p < 1.0:
        shares = x[used] / n[used]
        m = total / used.sum()
        deff = max(1.0, float(np.var(shares, ddof=1)) / (p * (1.0 - p) / m))
    eff = total / deff
    a, b = p * eff + 0.5, (1.0 - p) * eff + 0.5
    tail = (1.0 - level) / 2
    low = 0.0 if p == 0.0 else float(stats.beta.ppf(tail, a, b))
    high = 1.0 if p == 1.0 else float(stats.beta.ppf(1.0 - tail, a, b))
    return (low, high)


@dataclass(frozen=True)
class GapClosure:
    """The plan's share of the gap from the best baseline to the oracle, and Fieller's
    interval (``None`` for an end the seasons do not bound)."""

    value: float
    low: float | None
    high: float | None
    best: str
    plan_minus_best: float
    oracle_minus_best: float
    seasons: int

    def as_dict(self) -> dict[str, object]:
        return {
            "gap_closure": self.value,
            "gap_closure_ci95": [self.low, self.high],
            "best_baseline": self.best,
            "plan_minus_best": self.plan_minus_best,
            "oracle_minus_best": self.oracle_minus_best,
            "seasons": self.seasons,
            "method": "Fieller's interval for a ratio of paired means (Student's t)",
        }


def gap_closure(
    plan: list[float],
    best: list[float],
    oracle: list[float],
    *,
    best_name: str = "best baseline",
    level: float = 0.95,
) -> GapClosure:
    """GC from per-season proportions that shared their seeds (common random numbers)."""
    d1 = np.asarray(plan, dtype=np.float64) - np.asarray(best, dtype=np.float64)
    d2 = np.asarray(oracle, dtype=np.float64) - np.asarray(best, dtype=np.float64)
    k = len(d1)
    a, b = float(d1.mean()), float(d2.mean())
    value = a / b if b != 0 else math.nan
    if k < 2:
        return GapClosure(value, None, None, best_name, a, b, k)
    v11 = float(np.var(d1, ddof=1)) / k
    v22 = float(np.var(d2, ddof=1)) / k
    v12 = float(np.cov(d1, d2, ddof=1)[0, 1]) / k
    t = float(stats.t.ppf(0.5 + level / 2, k - 1))
    # Fieller: the r with (a - r b)^2 <= t^2 (v11 - 2 r v12 + r^2 v22).
    qa = b * b - t * t * v22
    qb = -2.0 * (a * b - t * t * v12)
    qc = a * a - t * t * v11
    disc = qb * qb - 4.0 * qa * qc
    if qa <= 0 or disc < 0:  # the denominator is not clear of zero: no bounded interval
        return GapClosure(value, None, None, best_name, a, b, k)
    root = math.sqrt(disc)
    low, high = sorted(((-qb - root) / (2 * qa), (-qb + root) / (2 * qa)))
    return GapClosure(value, low, high, best_name, a, b, k)


def resources_to_match(curve: list[tuple[int, float]], target: float) -> float | None:
    """The resources a baseline needs to reach ``target``, from its proportions measured at
    increasing resources (``curve``: (resources, proportion)): linear between the last point
    below the target and the first at or above it; None when no point reaches it."""
    points = sorted(curve)
    for (n0, p0), (n1, p1) in itertools.pairwise(points):
        if p0 < target <= p1:
            return n0 + (n1 - n0) * (target - p0) / (p1 - p0)
    if points and points[0][1] >= target:
        return float(points[0][0])
    return None
