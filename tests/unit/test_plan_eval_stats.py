"""The intervals the plan's judgement reports: paired differences and ratios over seasons
that shared their seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from estran.services.plan_eval import PolicyResult, paired, ratio


def _result(name: str, shares: list[float]) -> PolicyResult:
    return PolicyResult(name, shares=list(shares))


def test_a_constant_ratio_has_no_spread_and_the_ratio_of_means_is_reported():
    base = _result("uniform", [0.4, 0.5, 0.6, 0.3])
    plan = _result("planned", [0.6, 0.75, 0.9, 0.45])
    mid, low, high = ratio(plan, base)
    assert mid == pytest.approx(1.5)
    assert low == pytest.approx(1.5)
    assert high == pytest.approx(1.5)


def test_the_ratio_interval_is_students_t_on_log_ratios():
    rng = np.random.default_rng(7)
    base = rng.uniform(0.4, 0.6, 12)
    plan = base * np.exp(rng.normal(0.2, 0.05, 12))
    mid, low, high = ratio(_result("p", list(plan)), _result("u", list(base)))
    logs = np.log(plan / base)
    from scipy import stats

    half = stats.t.ppf(0.975, 11) * logs.std(ddof=1) / math.sqrt(12)
    assert low == pytest.approx(math.exp(logs.mean() - half))
    assert high == pytest.approx(math.exp(logs.mean() + half))
    assert mid == pytest.approx(plan.mean() / base.mean())
    assert low < math.exp(logs.mean()) < high


def test_seasons_with_nothing_intercepted_are_left_out_of_the_interval():
    base = _result("u", [0.0, 0.5, 0.4])
    plan = _result("p", [0.2, 0.6, 0.5])
    mid, low, high = ratio(plan, base)
    assert mid == pytest.approx(plan.mean / base.mean)
    assert low <= 1.2 <= high  # built from the two seasons that can be divided
    # Too few seasons to say anything: an interval that claims nothing.
    assert ratio(_result("p", [0.2]), _result("u", [0.1]))[1:] == (0.0, math.inf)
    assert ratio(_result("p", [0.2, 0.3]), _result("u", [0.0, 0.0]))[0] == math.inf


def test_the_paired_difference_uses_the_shared_seeds():
    base = _result("u", [0.40, 0.50, 0.60])
    plan = _result("p", [0.50, 0.61, 0.69])
    d, low, high = paired(plan, base)
    assert d == pytest.approx(0.1)
    assert low < 0.1 < high
    assert high - low < 0.1  # pairing removes the seasons' own spread (0.1 between them)
