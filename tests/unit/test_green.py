"""Planning over nights against the organisers' memory (``domain/green.py``): greedy placement,
the organisers' response to what they see, and the defender's estimate of their memory."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from estran.domain.green import MemoryTracker, Organisers, place_against, place_greedy, watchers
from estran.domain.planning import Game


def game(q: np.ndarray, post_type: np.ndarray, counts: list[int], base: float = 0.0) -> Game:
    n = q.shape[1]
    return Game(
        q=q, post_type=post_type, counts=np.array(counts, dtype=np.intp),
        att_covered=np.zeros(n), att_uncovered=np.ones(n), def_covered=np.ones(n),
        def_uncovered=np.zeros(n), base=np.full(n, base),
    )  # fmt: skip


def caught(g: Game, posts: np.ndarray, want: np.ndarray) -> float:
    return float(want @ (1.0 - (1.0 - g.fixed) * np.prod(1.0 - g.q[posts], axis=0)))


def organisers(n: int, **kw: float) -> Organisers:
    args = {"rationality": 3.0, "coverage_weight": 2.0, "memory": 0.7, "watch_radius_m": 2000.0,
            "presence_weight": 0.5} | kw  # fmt: skip
    return Organisers(value=np.zeros(n), **args)


def test_greedy_placement_is_within_1_minus_1_over_e_of_the_best_and_uses_the_resources():
    rng = np.random.default_rng(7)
    for _ in range(30):
        posts, sites = 7, 5
        q = rng.uniform(0, 0.8, (posts, sites)) * (rng.random((posts, sites)) < 0.6)
        post_type = rng.integers(0, 2, posts)
        counts = [min(2, int((post_type == 0).sum())), min(1, int((post_type == 1).sum()))]
        g = game(q, post_type, counts, base=0.1)
        want = rng.uniform(0, 3, sites)
        chosen = place_greedy(g, want)
        assert [int((post_type[chosen] == r).sum()) for r in range(2)] == counts
        assert len(set(chosen.tolist())) == len(chosen)
        best = max(
            caught(g, np.array(a + b, dtype=np.intp), want)
            for a in itertools.combinations(np.flatnonzero(post_type == 0).tolist(), counts[0])
            for b in itertools.combinations(np.flatnonzero(post_type == 1).tolist(), counts[1])
        )
        floor = caught(g, np.zeros(0, dtype=np.intp), want)
        assert caught(g, chosen, want) - floor >= (1 - 1 / np.e) * (best - floor) - 1e-12


def test_greedy_goes_where_the_attempts_are_and_refuses_bad_weights():
    q = np.array([[0.9, 0.0, 0.0], [0.0, 0.9, 0.0], [0.0, 0.0, 0.9]])
    g = game(q, np.zeros(3, dtype=np.intp), [1])
    assert place_greedy(g, np.array([0.1, 0.2, 0.7])).tolist() == [2]
    assert place_greedy(g, np.array([0.0, 5.0, 0.0])).tolist() == [1]
    with pytest.raises(ValueError, match="non-negative"):
        place_greedy(g, np.array([-1.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="one non-negative weight per site"):
        place_greedy(g, np.ones(2))


def test_organisers_avoid_what_they_remember_and_the_model_refuses_nonsense():
    org = organisers(3)
    p = org.probabilities(np.array([1.0, 0.0, 0.0]))
    assert p.sum() == pytest.approx(1.0)
    assert p[0] < p[1] == pytest.approx(p[2])
    assert p[0] / p[1] == pytest.approx(np.exp(-3.0 * 2.0))
    batch = org.probabilities(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]))
    assert batch.shape == (2, 3)
    assert np.allclose(batch.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="memory"):
        organisers(3, memory=1.5)
    with pytest.raises(ValueError, match=">= 0"):
        organisers(3, rationality=-1.0)


def test_when_they_see_tonight_a_post_in_sight_drives_them_away_and_the_plan_knows_it():
    # Two sites; post 0 stands in sight of site 0 and covers it well; post 1 covers site 0
    # less well from out of sight. Blind organisers go to site 0 (it is worth more to them).
    site_xy = np.array([[0.0, 0.0], [10_000.0, 0.0]])
    post_xy = np.array([[500.0, 0.0], [3_000.0, 0.0]])
    sees = watchers(site_xy, post_xy, 2000.0)
    assert sees.tolist() == [[True, False], [False, False]]
    g = game(np.array([[0.9, 0.0], [0.6, 0.0]]), np.zeros(2, dtype=np.intp), [1])
    blind = Organisers(np.array([1.0, 0.0]), 3.0, 2.0, 0.7, 2000.0, 1.0, tonight=0.0)
    assert place_against(g, blind, np.zeros(2), sees).tolist() == [0]  # the better post
    sighted = Organisers(np.array([1.0, 0.0]), 3.0, 2.0, 0.7, 2000.0, 1.0, tonight=1.0)
    # Seen, post 0 would send them to site 1, where nothing covers: the unseen post pays.
    assert place_against(g, sighted, np.zeros(2), sees).tolist() == [1]


def test_the_tracker_remembers_where_we_stood_and_what_we_found_as_they_do():
    site_xy = np.array([[0.0, 0.0], [5_000.0, 0.0], [10_000.0, 0.0]])
    org = organisers(3)
    tracker = MemoryTracker(org, site_xy)
    assert np.allclose(tracker.predict(), 1 / 3)
    # One unit stood 1 km from site 0; two groups found at site 2, where we expected 0.5.
    tracker.update(np.array([[1_000.0, 0.0]]), np.array([0.0, 0.0, 2.0]), np.full(3, 0.5))
    assert tracker.seen == pytest.approx([0.3 * 0.5, 0.0, 0.3 * 1.0])
    # Found one where 4 were expected: a quarter of them found.
    tracker.update(np.zeros((0, 2)), np.array([0.0, 1.0, 0.0]), np.full(3, 4.0))
    assert tracker.seen == pytest.approx([0.7 * 0.15, 0.3 * 0.25, 0.7 * 0.3])
    # They go where they remember least of us.
    assert np.argsort(-tracker.predict()).tolist() == [1, 0, 2]
