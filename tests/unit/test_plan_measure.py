"""The planning measure's statistics (issue 21): proportion intervals inside [0, 1] that cover
at their level, and the oracle gap closure's Fieller interval."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estran.services.plan_measure import gap_closure, season_interval


@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 60)).map(lambda t: (min(t), max(t))),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=300, deadline=None)
def test_a_proportions_interval_always_lies_in_0_1_and_holds_the_estimate(seasons):
    hits = [h for h, _ in seasons]
    trials = [n for _, n in seasons]
    low, high = season_interval(hits, trials)
    assert 0.0 <= low <= high <= 1.0
    if sum(trials):
        p = sum(hits) / sum(trials)
        assert low <= p + 1e-12
        assert p - 1e-12 <= high


def test_two_short_seasons_give_a_meaningful_interval():
    # What `--nights 8 --replications 2` produced: Student's t gave -78 % to 160 %.
    low, high = season_interval([3, 9], [10, 12])
    assert 0.0 < low < 0.55 < high < 1.0


def _coverage(k: int, m: int, spread: float, runs: int = 2000) -> float:
    """How often the interval holds the true mean proportion: ``k`` seasons of about ``m``
    attempts whose own proportion varies around 0.4 (overdispersion ``spread``)."""
    rng = np.random.default_rng(7)
    held = 0
    for _ in range(runs):
        p_season = np.clip(rng.normal(0.4, spread, size=k), 0.01, 0.99)
        n = rng.poisson(m, size=k)
        x = rng.binomial(n, p_season)
        low, high = season_interval(x, n)
        true = float(np.clip(rng.normal(0.4, spread, size=200_000), 0.01, 0.99).mean())
        held += low <= true <= high
    return held / runs


def test_the_interval_covers_at_about_its_level_when_seasons_vary_more_than_binomially():
    assert _coverage(k=20, m=120, spread=0.05, runs=600) >= 0.91
    assert _coverage(k=20, m=120, spread=0.0, runs=600) >= 0.92


def test_the_pooled_binomial_interval_would_not_cover_overdispersed_seasons():
    # Why the design effect: without it (seasons treated as one binomial count) the same
    # seasons are covered far less often than 95 %.
    from estran.services.simulate import wilson

    rng = np.random.default_rng(3)
    held = 0
    for _ in range(600):
        p_season = np.clip(rng.normal(0.4, 0.05, size=20), 0.01, 0.99)
        n = rng.poisson(120, size=20)
        x = rng.binomial(n, p_season)
        low, high = wilson(int(x.sum()), int(n.sum()))
        held += low <= 0.4 <= high
    assert held / 600 < 0.85


def test_gap_closure_and_its_fieller_interval():
    rng = np.random.default_rng(1)
    best = 0.55 + 0.02 * rng.standard_normal(20)
    plan = best + 0.10 + 0.01 * rng.standard_normal(20)
    oracle = best + 0.30 + 0.01 * rng.standard_normal(20)
    gc = gap_closure(list(plan), list(best), list(oracle), best_name="best fixed")
    assert abs(gc.value - 1 / 3) < 0.03
    assert gc.low is not None
    assert gc.high is not None
    assert gc.low < gc.value < gc.high
    assert gc.high - gc.low < 0.1
    assert gc.as_dict()["best_baseline"] == "best fixed"


def test_gap_closure_has_no_bounded_interval_when_the_oracle_is_not_clearly_better():
    rng = np.random.default_rng(2)
    best = 0.5 + 0.05 * rng.standard_normal(5)
    oracle = best + 0.01 * rng.standard_normal(5)
    plan = best + 0.01 * rng.standard_normal(5)
    gc = gap_closure(list(plan), list(best), list(oracle))
    assert (gc.low, gc.high) == (None, None)


def test_the_resources_a_baseline_needs_are_read_where_its_curve_crosses_the_plan():
    from estran.services.plan_measure import resources_to_match

    curve = [(21, 0.60), (26, 0.66), (32, 0.72), (42, 0.80)]
    assert resources_to_match(curve, 0.69) == pytest.approx(29.0)  # halfway from 26 to 32
    assert resources_to_match(curve, 0.80) == pytest.approx(42.0)
    assert resources_to_match(curve, 0.55) == pytest.approx(21.0)  # already there
    assert resources_to_match(curve, 0.81) is None  # never reached: said, not guessed
    assert resources_to_match(list(reversed(curve)), 0.69) == pytest.approx(29.0)


def test_the_report_plays_each_baseline_with_more_resources_until_it_matches_the_plan():
    from types import SimpleNamespace

    from estran.cli.plan import _match_resources

    by = {"plan": SimpleNamespace(mean=0.75), "uniform": SimpleNamespace(mean=0.55),
          "best fixed": SimpleNamespace(mean=0.70)}  # fmt: skip
    grows = {"uniform": 0.10, "best fixed": 0.08}  # per added factor of the resources
    played: list[tuple[str, float]] = []

    def play(name: str, factor: float) -> float:
        played.append((name, factor))
        return by[name].mean + grows[name] * (factor - 1.0)

    entry, lines = _match_resources(by, "plan", 20, play, lambda f: round(20 * f))
    # uniform: 0.575 at x1.25, 0.60 at 1.5, 0.65 at 2, 0.70 at 2.5, 0.75 at 3 -> 60
    assert entry["uniform"]["needs"] == pytest.approx(60.0)
    assert entry["uniform"]["times"] == pytest.approx(3.0)
    # best fixed: 0.72 at x1.25, 0.74 at 1.5, 0.78 at 2 -> 30 + 10 * (0.01 / 0.04)
    assert entry["best fixed"]["needs"] == pytest.approx(32.5)
    assert [f for n, f in played if n == "best fixed"] == [1.25, 1.5, 2.0]  # stops once there
    assert "| **uniform needs** | **60** (3.00 times) | |" in lines
    by["uniform"] = SimpleNamespace(mean=0.30)
    entry, lines = _match_resources(by, "plan", 20, play, lambda f: round(20 * f))
    assert entry["uniform"]["needs"] is None
    assert "| **uniform needs** | more than 60 | |" in lines
