"""The coverage model's pieces against Monte Carlo and hand values; the game with fixed
sensors' base coverage; posts combined as independent chances; the spread sampler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estran.domain.coverage import Window, drone_hazard, patrol_hazard, shift_share, within_time
from estran.domain.planning import (
    Game,
    best_responses,
    sample,
    solve_sse,
    solve_sse_milp,
    solve_suqr,
    suqr_probabilities,
)


def test_the_window_quadrature_has_the_clipped_normal_mean():
    w = Window.of(50 * 60.0, 20 * 60.0, 15 * 60.0)
    rng = np.random.default_rng(1)
    mc = np.maximum(300.0, rng.normal(3000.0, 1200.0, 400_000)) + 900.0
    assert w.weights.sum() == pytest.approx(1.0)
    assert float(w.seconds @ w.weights) == pytest.approx(mc.mean(), rel=5e-3)


@pytest.mark.parametrize(
    ("hazard", "response"), [(1 / 600, 300.0), (1 / 1800, 1200.0), (1 / 60, 3000.0), (0.0, 0.0)]
)
def test_interception_in_time_matches_monte_carlo(hazard, response):
    # Detection at an exponential time, a response of fixed length, and the boat away at the
    # end of preparation plus launch: intercepted when detection + response comes first.
    w = Window.of(50 * 60.0, 20 * 60.0, 15 * 60.0)
    rng = np.random.default_rng(7)
    n = 300_000
    away = np.maximum(300.0, rng.normal(3000.0, 1200.0, n)) + 900.0
    seen = rng.exponential(1 / hazard, n) if hazard > 0 else np.full(n, np.inf)
    mc = float(np.mean(seen + response < away))
    assert float(within_time(np.array(hazard), response, w)) == pytest.approx(mc, abs=0.005)


def test_a_response_slower_than_any_launch_intercepts_nothing():
    w = Window.of(50 * 60.0, 20 * 60.0, 15 * 60.0)
    assert float(within_time(np.array(0.1), np.inf, w)) == 0.0
    assert float(within_time(np.array(0.1), 1e6, w)) == 0.0


def test_a_drone_sees_less_far_away_under_cover_and_nothing_past_its_radius():
    kw = {
        "p0": 0.08,
        "range_m": 3000.0,
        "radius_m": 4000.0,
        "scan_s": 60.0,
        "airborne": 35 / 45,
        "hides": 0.5,
        "weather": 1.0,
    }
    d = np.array([0.0, 1000.0, 3000.0, 3999.0, 4001.0])
    open_ground = drone_hazard(d, np.zeros(5), **kw)
    woods = drone_hazard(d, np.ones(5), **kw)
    assert np.all(np.diff(open_ground[:4]) < 0)
    assert np.all(woods[:4] < open_ground[:4])
    assert open_ground[4] == woods[4] == 0.0
    # At the orbit's centre: -ln(1 - 0.08) per scan, airborne 35 minutes in 45.
    assert open_ground[0] == pytest.approx(-np.log(0.92) / 60 * 35 / 45)


def test_a_patrol_finds_groups_only_within_its_roaming_radius():
    h = patrol_hazard(np.array([0.0, 1999.0, 2001.0]), roam_m=2000.0, p_minute=0.02, weather=1.0)
    assert h[0] == h[1] == pytest.approx(-np.log(0.98) / 60)
    assert h[2] == 0.0


@pytest.mark.parametrize(
    ("start", "end", "share"),
    [
        (20.0, 6.0, 1.0),
        (22.0, 2.0, 0.4),
        (20.0, 1.0, 0.5),
        (1.0, 6.0, 0.5),
        (8.0, 12.0, 0.0),
        (4.0, 21.0, 0.3),
    ],
)
def test_a_shift_covers_its_share_of_the_night(start, end, share):
    assert shift_share(start, end, 20.0, 10.0) == pytest.approx(share)


# --- the game with fixed sensors --------------------------------------------------------------


def based(base: list[float]) -> Game:
    # One patrol, two sites; fixed cameras already cover each site by ``base``.
    return Game(
        q=np.eye(2),
        post_type=np.array([0, 0]),
        counts=np.array([1]),
        att_covered=np.array([-1.0, -1.0]),
        att_uncovered=np.array([5.0, 3.0]),
        def_covered=np.array([0.0, 0.0]),
        def_uncovered=np.array([-5.0, -3.0]),
        base=np.array(base),
    )


def test_base_coverage_solved_by_hand():
    # Site 1 is already covered 0.5 by a camera: c1 = 0.5 + x1, c2 = x2, x1 + x2 = 1. The
    # attacker is indifferent when 5 - 6 c1 = 3 - 4 c2: 5 - 3 - 6 x1 = 3 - 4 + 4 x1, so
    # x1 = 0.3, c = (0.8, 0.7), both worth 0.2; the defender prefers site 2 (-0.9 against -1).
    s = solve_sse(based([0.5, 0.0]))
    assert s.x == pytest.approx([0.3, 0.7], abs=1e-6)
    assert s.coverage == pytest.approx([0.8, 0.7], abs=1e-6)
    assert s.target == 1
    assert s.attacker_utility == pytest.approx(0.2, abs=1e-6)
    assert s.defender_utility == pytest.approx(-0.9, abs=1e-6)
    m = solve_sse_milp(based([0.5, 0.0]))
    assert m.defender_utility == pytest.approx(s.defender_utility, abs=1e-6)


def test_posts_never_plan_a_site_past_certainty_with_its_base():
    s = solve_sse(based([0.9, 0.0]))
    assert s.coverage[0] <= 1.0 + 1e-9
    assert s.x[0] <= 0.1 + 1e-6


def test_a_base_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="base coverage"):
        based([1.5, 0.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_with_a_base_the_solver_still_returns_an_equilibrium(seed):
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 6)), int(rng.integers(2, 6))
    q = np.where(rng.random((m, n)) < 0.5, rng.uniform(0.2, 0.9, (m, n)), 0.0)
    value = rng.uniform(1, 10, n)
    g = Game(
        q=q,
        post_type=np.zeros(m, dtype=np.intp),
        counts=np.array([int(rng.integers(1, 3))]),
        att_covered=-value / 2,
        att_uncovered=value,
        def_covered=np.zeros(n),
        def_uncovered=-value,
        base=rng.uniform(0.0, 0.6, n),
    )
    s = solve_sse(g)
    c = g.coverage(s.x)
    assert np.all(c >= g.fixed - 1e-9)
    assert s.x.sum() <= g.counts[0] + 1e-6
    assert s.target in best_responses(g, c, tol=1e-6)
    assert s.defender_utility == pytest.approx(solve_sse_milp(g).defender_utility, abs=1e-5)


# --- independent posts ------------------------------------------------------------------------


def overlapping(rng: np.random.Generator) -> Game:
    n, m = 8, 12
    q = np.clip(rng.uniform(-0.3, 0.8, (m, n)), 0, 0.95)
    value = rng.uniform(0.2, 1.2, n)
    return Game(
        q=q,
        post_type=(np.arange(m) % 2).astype(np.intp),
        counts=np.array([2, 3]),
        att_covered=value - 2.0,
        att_uncovered=value,
        def_covered=np.ones(n),
        def_uncovered=np.zeros(n),
        base=rng.uniform(0, 0.2, n),
    )


def test_independent_coverage_is_below_the_additive_model_and_exact_for_pure_deployments():
    rng = np.random.default_rng(3)
    g = overlapping(rng)
    x = rng.uniform(0, 1, g.posts)
    assert np.all(g.coverage_independent(x) <= g.coverage(x) + 1e-12)
    manned = np.zeros(g.posts)
    manned[[0, 3, 4]] = 1.0
    exact = 1 - (1 - g.fixed) * np.prod(1 - g.q[[0, 3, 4]], axis=0)
    assert g.coverage_independent(manned) == pytest.approx(exact)


def test_the_independent_commitment_is_a_local_optimum_of_its_own_objective():
    rng = np.random.default_rng(5)
    g = overlapping(rng)
    w = (-6.0, 3.0, 0.0)

    def value(x: np.ndarray) -> float:
        c = g.coverage_independent(x)
        return float(suqr_probabilities(g, c, w) @ g.defender(c))

    s = solve_suqr(g, w, start=np.full(g.posts, 0.2), independent=True)
    assert s.x[g.post_type == 0].sum() <= 2 + 1e-9
    assert s.x[g.post_type == 1].sum() <= 3 + 1e-9
    assert value(s.x) >= value(np.full(g.posts, 0.2)) - 1e-12
    assert s.defender_utility == pytest.approx(value(s.x))
    # No small feasible move (shifting marginal between two posts of a type) does better.
    for _ in range(200):
        r = int(rng.integers(0, 2))
        a, b = rng.choice(np.flatnonzero(g.post_type == r), 2, replace=False)
        y = s.x.copy()
        eps = min(1e-3, y[a], 1 - y[b])
        y[a] -= eps
        y[b] += eps
        assert value(y) <= value(s.x) + 1e-6


# --- sampling spread along the coast ---------------------------------------------------------


def test_spread_sampling_keeps_the_marginals_and_never_bunches_a_type():
    rng = np.random.default_rng(11)
    m = 30
    g = Game(
        q=np.eye(m),
        post_type=np.zeros(m, dtype=np.intp),
        counts=np.array([5]),
        att_covered=np.zeros(m),
        att_uncovered=np.ones(m),
        def_covered=np.ones(m),
        def_uncovered=np.zeros(m),
    )
    x = rng.uniform(0.05, 0.3, m)
    x *= 5 / x.sum()  # five resources' worth of marginals, none above 1
    draws = 20_000
    counts = np.zeros(m)
    gaps = []
    for _ in range(draws):
        picked = sample(g, x, rng, spread=True)
        counts[picked] += 1
        assert len(picked) <= 5
        cum = np.concatenate([[0.0], np.cumsum(x)])
        # Between two manned posts lies about one resource's worth of marginal: never two.
        gaps.extend(np.diff(cum[picked]).tolist())
    se = np.sqrt(x * (1 - x) / draws)
    assert np.all(np.abs(counts / draws - x) <= 4 * se + 1e-9)
    assert max(gaps) < 2.0
