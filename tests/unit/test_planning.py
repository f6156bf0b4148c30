"""The security-game planner against games solved by hand and by brute force over the
defender's pure strategies, the equilibrium's defining properties, the SUQR commitment, and
the sampler reproducing the coverage it samples from."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from estran.domain.planning import (
    SUQR_WEIGHTS,
    Game,
    best_responses,
    drawn_coverage,
    presence,
    remember,
    sample,
    solve_sse,
    solve_sse_milp,
    solve_suqr,
    suqr_probabilities,
)


def two_sites() -> Game:
    # One patrol that can stand at either of two sites and always intercepts there.
    return Game(
        q=np.eye(2),
        post_type=np.array([0, 0]),
        counts=np.array([1]),
        att_covered=np.array([-1.0, -1.0]),
        att_uncovered=np.array([5.0, 3.0]),
        def_covered=np.array([0.0, 0.0]),
        def_uncovered=np.array([-5.0, -3.0]),
    )


def test_a_two_site_game_solved_by_hand():
    # The attacker is indifferent when 5 - 6 c1 = 3 - 4 c2 with c1 + c2 = 1: c1 = 0.6, c2 =
    # 0.4, both worth 1.4 to them. Of the two, the defender prefers site 2 attacked (-3 x 0.6
    # = -1.8 against -5 x 0.4 = -2.0), and the strong equilibrium breaks the tie their way.
    s = solve_sse(two_sites())
    assert s.x == pytest.approx([0.6, 0.4], abs=1e-6)
    assert s.target == 1
    assert s.attacker_utility == pytest.approx(1.4, abs=1e-6)
    assert s.defender_utility == pytest.approx(-1.8, abs=1e-6)


def random_game(rng: np.random.Generator) -> Game:
    """A small game whose posts cover disjoint sites (so the compact model is exact)."""
    sites = int(rng.integers(2, 5))
    posts = int(rng.integers(2, 5))
    types = int(rng.integers(1, 3))
    q = np.zeros((posts, sites))
    owner = rng.permutation(np.arange(sites) % posts)  # each site watched by one post
    for i, p in enumerate(owner):
        q[p, i] = rng.uniform(0.3, 1.0)
    post_type = rng.integers(0, types, posts)
    counts = np.array([int(rng.integers(0, 3)) for _ in range(types)])
    reward = rng.uniform(1, 10, sites)
    return Game(
        q=q,
        post_type=post_type.astype(np.intp),
        counts=counts.astype(np.intp),
        att_covered=-rng.uniform(0, 5, sites),
        att_uncovered=reward,
        def_covered=rng.uniform(0, 2, sites),
        def_uncovered=-rng.uniform(1, 10, sites),
    )


def brute_force_sse(game: Game) -> float:
    """The defender's equilibrium utility from the normal form: every pure deployment (which
    posts are manned, within the counts), then one LP per attacked site over mixtures of them
    (Conitzer and Sandholm 2006)."""
    pure = []
    for manned in itertools.product([0, 1], repeat=game.posts):
        x = np.array(manned, float)
        if all(x[game.post_type == r].sum() <= game.counts[r] for r in range(len(game.counts))):
            pure.append(game.coverage(x))
    cov = np.array(pure)  # (deployments, sites)
    ua = cov * game.att_covered + (1 - cov) * game.att_uncovered
    ud = cov * game.def_covered + (1 - cov) * game.def_uncovered
    best = -np.inf
    for t in range(game.sites):
        # max sum_s p_s ud[s, t]  s.t. sum_s p_s (ua[s, j] - ua[s, t]) <= 0 for all j
        res = linprog(
            -ud[:, t],
            A_ub=(ua - ua[:, [t]]).T,
            b_ub=np.zeros(game.sites),
            A_eq=np.ones((1, len(pure))),
            b_eq=[1.0],
            bounds=(0, None),
            method="highs",
        )
        if res.status == 0:
            best = max(best, -res.fun)
    return float(best)


@pytest.mark.parametrize("seed", range(40))
def test_the_equilibrium_matches_brute_force_over_pure_strategies(seed):
    game = random_game(np.random.default_rng(seed))
    s = solve_sse(game)
    assert s.defender_utility == pytest.approx(brute_force_sse(game), abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_what_the_solver_returns_is_an_equilibrium(seed):
    game = random_game(np.random.default_rng(100 + seed))
    s = solve_sse(game)
    c = game.coverage(s.x)
    # Feasible: caps and counts hold.
    assert np.all(s.x >= -1e-9)
    assert np.all(s.x <= 1 + 1e-9)
    for r, count in enumerate(game.counts):
        assert s.x[game.post_type == r].sum() <= count + 1e-6
    # No attacker response does better than the one it predicts, and the defender's utility
    # is what that response gives them.
    assert game.attacker(c).max() <= s.attacker_utility + 1e-6
    assert s.target in best_responses(game, c, tol=1e-6)
    assert s.defender_utility == pytest.approx(game.defender(c)[s.target], abs=1e-9)
    # The tie is broken for the defender: no other best response is worth more to them.
    tied = best_responses(game, c, tol=1e-6)
    assert s.defender_utility >= game.defender(c)[tied].max() - 1e-6


def test_suqr_commitment_is_feasible_and_no_worse_than_where_it_starts():
    rng = np.random.default_rng(7)
    sites, posts = 40, 60
    q = np.where(rng.random((posts, sites)) < 0.08, rng.uniform(0.2, 0.8, (posts, sites)), 0.0)
    v = rng.uniform(1, 10, sites)
    game = Game(q, (np.arange(posts) % 3).astype(np.intp), np.array([4, 3, 2]),
                -0.5 * v, v, np.zeros(sites), -v)  # fmt: skip
    sse = solve_sse(game)
    start_c = game.coverage(sse.x)
    start = suqr_probabilities(game, start_c, SUQR_WEIGHTS) @ game.defender(start_c)
    s = solve_suqr(game, start=sse.x)
    for r, count in enumerate(game.counts):
        assert s.x[game.post_type == r].sum() <= count + 1e-6
    assert np.all((s.x >= -1e-9) & (s.x <= 1 + 1e-9))
    assert s.defender_utility >= start - 1e-9
    assert s.attack_probabilities.sum() == pytest.approx(1.0)
    # Against a quantal adversary, leaving the richest site bare is never best.
    assert s.coverage[np.argmax(v)] > 0


def test_sampled_deployments_reproduce_the_coverage_probabilities():
    rng = np.random.default_rng(3)
    game = Game(
        q=rng.uniform(0, 0.08, (12, 6)),  # no site's posts add up past certainty
        post_type=(np.arange(12) % 3).astype(np.intp),
        counts=np.array([2, 1, 3]),
        att_covered=-np.ones(6),
        att_uncovered=np.arange(1.0, 7.0, dtype=np.float64),
        def_covered=np.zeros(6),
        def_uncovered=-np.arange(1.0, 7.0, dtype=np.float64),
    )
    x = np.array([0.5, 0.2, 0.9, 0.7, 0.3, 0.6, 0.8, 0.25, 0.75, 0.0, 0.25, 0.75])
    n = 20_000
    hits = np.zeros(12)
    cover = np.zeros(6)
    for _ in range(n):
        manned = sample(game, x, rng)
        for r, count in enumerate(game.counts):
            assert np.sum(game.post_type[manned] == r) <= count
        hits[manned] += 1
        cover += game.coverage(np.bincount(manned, minlength=12).astype(float))
    sigma = np.sqrt(x * (1 - x) / n) + 1e-9
    assert np.all(np.abs(hits / n - x) <= 4 * sigma + 1e-3)
    # Each type uses all its resources when the marginals add up to them.
    assert hits[game.post_type == 2].sum() / n == pytest.approx(x[game.post_type == 2].sum())
    # And the expected coverage is the coverage of the expected deployment where no site's
    # posts sum past certainty.
    assert cover / n == pytest.approx(game.coverage(x), abs=0.01)


def test_drawn_coverage_is_the_average_over_the_nights_a_plan_gives():
    # One drone, three orbits; its orbit sees site j with q[p, j]; the fixed sensors see 10 %.
    q = np.array([[0.9, 0.3, 0.0], [0.2, 0.9, 0.2], [0.0, 0.3, 0.9]])
    game = Game(
        q=q,
        post_type=np.zeros(3, dtype=np.intp),
        counts=np.array([1]),
        att_covered=-np.ones(3),
        att_uncovered=np.ones(3),
        def_covered=np.zeros(3),
        def_uncovered=-np.ones(3),
        base=np.full(3, 0.1),
    )
    x = np.array([0.5, 0.3, 0.2])
    # By hand: one orbit flown a night, orbit p with probability x[p].
    exact = 1 - 0.9 * (x @ (1 - q))
    rng = np.random.default_rng(11)
    drawn = drawn_coverage(game, x, rng, draws=20_000, spread=False)
    assert drawn == pytest.approx(exact, abs=0.01)
    # The optimiser's smooth model weighs each orbit's hazard by its share of nights: higher,
    # since an orbit is flown all night or not at all.
    assert np.all(game.coverage_independent(x) > drawn + 0.05)
    # A pure plan is the same either way.
    pure = np.array([0.0, 1.0, 0.0])
    assert drawn_coverage(game, pure, rng, draws=3) == pytest.approx(
        game.coverage_independent(pure)
    )
    with pytest.raises(ValueError, match="at least 1"):
        drawn_coverage(game, x, rng, draws=0)


def test_the_organisers_memory_saturates_decays_and_lowers_what_a_site_is_worth():
    sites = np.array([[0.0, 0.0], [1000.0, 0.0], [5000.0, 0.0]])
    seen = np.array([[100.0, 0.0], [900.0, 0.0], [950.0, 50.0]])
    # Within 2 km, half a chance of being caught per unit seen, at most certainty.
    p = presence(sites, seen, radius_m=2000.0, weight=0.5)
    assert p == pytest.approx([1.0, 1.0, 0.0])
    p = presence(sites, seen[:1], radius_m=2000.0, weight=0.5)
    assert p == pytest.approx([0.5, 0.5, 0.0])
    assert presence(sites, np.zeros((0, 2)), radius_m=2000.0, weight=0.5).sum() == 0
    # Older nights weigh 0.7 each: two nights seen, then three quiet ones.
    m = np.zeros(3)
    for tonight in ([1.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]):
        m = remember(m, np.array(tonight), 0.7)
    assert m[0] == pytest.approx((0.3 * 0.7 + 0.3) * 0.7**3)
    with pytest.raises(ValueError, match="decay"):
        remember(m, m, 1.5)


def test_bad_games_are_refused_with_a_clear_error():
    g = two_sites()
    with pytest.raises(ValueError, match="one type per post"):
        Game(g.q, np.array([0]), g.counts, g.att_covered, g.att_uncovered, g.def_covered,
             g.def_uncovered)  # fmt: skip
    with pytest.raises(ValueError, match="prefer being intercepted"):
        Game(g.q, g.post_type, g.counts, g.att_uncovered + 1, g.att_uncovered, g.def_covered,
             g.def_uncovered)  # fmt: skip
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Game(g.q * 2, g.post_type, g.counts, g.att_covered, g.att_uncovered, g.def_covered,
             g.def_uncovered)  # fmt: skip


@pytest.mark.parametrize("seed", range(12))
def test_the_fast_solver_agrees_with_the_milp_on_games_with_shared_posts(seed):
    from bench.bench_planning import coast_game

    rng = np.random.default_rng(seed)
    game = coast_game(int(rng.integers(20, 60)), rng, coast_km=float(rng.uniform(8, 40)))
    fast, milp = solve_sse(game), solve_sse_milp(game)
    assert fast.defender_utility == pytest.approx(milp.defender_utility, abs=1e-6)
    assert fast.attacker_utility == pytest.approx(milp.attacker_utility, abs=1e-5)
