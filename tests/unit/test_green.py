"""Planning over nights against the organisers' memory (``domain/green.py``): greedy placement,
the organisers' response to what they see, and the defender's estimate of their memory."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from estran.domain.green import (
    Learner,
    MemoryTracker,
    Organisers,
    fit_choice,
    place_against,
    place_foreseen,
    place_greedy,
    watchers,
)
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


def synthetic_nights(
    w: np.ndarray, nights: int, rng: np.random.Generator, sites: int = 30
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Groups found on ``nights`` nights by organisers with weights ``w`` (cover, road,
    aversion), with memories and detection chances that change from night to night."""
    features = np.column_stack([rng.uniform(0, 1.3, sites), rng.uniform(0, 1, sites)])
    memories = rng.uniform(0, 1, (nights, sites)) * (rng.random((nights, sites)) < 0.3)
    # We find groups less often in cover: ignoring that would make cover look unloved.
    detect = np.clip(0.9 - 0.55 * features[:, 0] + rng.uniform(-0.1, 0.1, (nights, sites)),
                     0.05, 1.0)  # fmt: skip
    z = features @ w[:2] - w[2] * memories
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    found = np.zeros((nights, sites))
    for n in range(nights):
        sites_tried = rng.choice(sites, size=rng.poisson(6), p=p[n])
        for i in sites_tried:
            found[n, i] += rng.random() < detect[n, i]
    return features, memories, found, detect


def test_the_fit_recovers_the_organisers_weights_and_knows_its_uncertainty():
    rng = np.random.default_rng(3)
    truth = np.array([4.0, 1.0, 6.0])
    features, memories, found, detect = synthetic_nights(truth, 600, rng)
    w, cov, _ = fit_choice(features, memories, found, detect, np.zeros(3), 10.0)
    sd = np.sqrt(np.diag(cov))
    assert np.all(np.abs(w - truth) < 3 * sd + 0.05), (w, sd)
    assert np.all(sd < 0.6)
    # Fewer nights: a wider interval, and the prior pulls a weakly known weight to itself.
    few = fit_choice(features[:], memories[:40], found[:40], detect[:40], np.zeros(3), 10.0)
    assert np.all(np.sqrt(np.diag(few[1])) > sd)
    tight = fit_choice(features, memories[:40], found[:40], detect[:40], np.zeros(3), 0.01)
    assert np.allclose(tight[0], 0.0, atol=0.01)
    with pytest.raises(ValueError, match="nights, sites"):
        fit_choice(features, memories[:3], found, detect, np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="sd > 0"):
        fit_choice(features, memories, found, detect, np.zeros(3), 0.0)


def test_the_learner_finds_how_far_they_watch_and_how_long_they_remember():
    """Organisers who watch 4 km and forget fast (memory 0.3), seen through the defender's
    nights: units standing at random sites, groups found where they went."""
    rng = np.random.default_rng(5)
    site_xy = np.column_stack([np.arange(40) * 700.0, np.zeros(40)])
    features = np.column_stack([rng.uniform(0, 1.3, 40), rng.uniform(0, 1, 40)])
    truth = Organisers(features @ np.array([1.0, 0.5]), 3.0, 2.0, 0.3, 4000.0, 0.5)
    prior = Organisers(features @ np.array([1.0, 0.5]), 3.0, 2.0, 0.7, 2000.0, 0.5)
    learner = Learner(prior, features, site_xy)
    seen = np.zeros(40)
    for _ in range(150):
        stood = site_xy[rng.choice(40, size=6, replace=False)] + [0.0, 300.0]
        p = truth.probabilities(seen)
        found = np.bincount(rng.choice(40, size=rng.poisson(8), p=p), minlength=40).astype(
            np.float64
        )
        learner.night(stood, found, np.full(40, 1.0), 8 * p)
        tonight = np.minimum(1.0, 0.5 * watchers(site_xy, stood, 4000.0).sum(axis=0))
        share = np.divide(found, np.maximum(found, 8 * p))
        seen = 0.3 * seen + 0.7 * np.clip(tonight + np.where(found > 0, share, 0.0), 0, 1)
    fit = learner.fit()
    assert (fit.memory, fit.watch_radius_m, fit.tonight) == (0.3, 4000.0, 0.0)
    assert fit.found == learner.found > 500
    assert fit.weights[2] == pytest.approx(3.0 * 2.0, abs=3 * fit.sd[2] + 0.1)
    assert np.allclose(learner.organisers(fit).probabilities(learner.seen(fit)),
                       truth.probabilities(seen), atol=0.05)  # fmt: skip
    assert fit.samples(8, rng).shape == (8, 3)


@pytest.mark.parametrize("share", [1.0, 0.5])
def test_the_learner_finds_how_much_of_tonight_they_see(share: float):
    """Organisers who see ``share`` of tonight's deployment before they choose (the rest is
    their memory): the learner, told by its prior that they see none, finds the share, and
    its organisers then predict where they go facing tonight's posts."""
    rng = np.random.default_rng(7)
    site_xy = np.column_stack([np.arange(40) * 700.0, np.zeros(40)])
    features = np.column_stack([rng.uniform(0, 1.3, 40), rng.uniform(0, 1, 40)])
    truth = Organisers(features @ np.array([1.0, 0.5]), 3.0, 2.0, 0.3, 2000.0, 0.5, share)
    prior = Organisers(features @ np.array([1.0, 0.5]), 3.0, 2.0, 0.7, 2000.0, 0.5)
    learner = Learner(prior, features, site_xy)
    seen = np.zeros(40)
    for _ in range(150):
        stood = site_xy[rng.choice(40, size=6, replace=False)] + [0.0, 300.0]
        tonight = np.minimum(1.0, 0.5 * watchers(site_xy, stood, 2000.0).sum(axis=0))
        p = truth.probabilities((1.0 - share) * seen + share * tonight)
        found = np.bincount(rng.choice(40, size=rng.poisson(8), p=p), minlength=40).astype(
            np.float64
        )
        learner.night(stood, found, np.full(40, 1.0), 8 * p)
        ratio = np.divide(found, np.maximum(found, 8 * p))
        seen = 0.3 * seen + 0.7 * np.clip(tonight + np.where(found > 0, ratio, 0.0), 0, 1)
    fit = learner.fit()
    assert (fit.watch_radius_m, fit.tonight) == (2000.0, share)
    if share < 1.0:  # what they remember matters only if they do not see all of tonight
        assert fit.memory == 0.3
    org = learner.organisers(fit)
    assert org.tonight == share
    tonight = np.minimum(1.0, 0.5 * watchers(site_xy, site_xy[[3, 17, 30]], 2000.0).sum(axis=0))
    facing = (1.0 - share) * learner.seen(fit) + share * tonight
    assert np.allclose(org.probabilities(facing),
                       truth.probabilities((1.0 - share) * seen + share * tonight),
                       atol=0.05)  # fmt: skip


def test_the_foreseeing_oracle_places_against_where_they_go_once_they_see_it():
    """Organisers who see tonight's posts move away from what they see: the clairvoyant
    reference told how they answer places where the attempt *will* be. Post 0 covers beach A
    well but is seen there (they go to B, uncovered); post 1 covers A less, is seen at B
    (they keep to A): naive greedy at A catches nothing, the foreseeing placement half."""
    g = game(np.array([[0.9, 0.0], [0.5, 0.5]]), np.array([0, 0]), [1])
    sees = np.array([[1.0, 0.0], [0.0, 1.0]])

    def answer(present: np.ndarray) -> np.ndarray:  # one attempt, to the beach not seen
        return np.where(present[:, :1] > 0, 1, 0).astype(np.intp)

    naive = place_greedy(g, np.array([1.0, 0.0]))
    foreseen = place_foreseen(g, sees, answer)
    assert naive.tolist() == [0]
    assert foreseen.tolist() == [1]
    went = answer(sees[foreseen])[0]
    assert caught(g, foreseen, np.bincount(went, minlength=2).astype(float)) == pytest.approx(0.5)
    assert caught(g, naive, np.bincount(answer(sees[naive])[0], minlength=2) * 1.0) == 0.0


def test_the_foreseeing_oracle_finds_what_myopic_greedy_cannot_see():
    """Greedy is myopic against organisers who see: a post that only drives them off is
    worth nothing alone. They go to A unless they see a unit there, then B, then C. Post 0
    watches A and catches nothing, post 1 watches B and covers C fully, post 2 (unseen)
    covers A at 0.4. Greedy takes post 2 first and ends at 0.4; posts 0 and 1 together drive
    them to C and catch all: the reference keeps the better of greedy and what it is told of
    (``also``), then moves one resource at a time while that gains, and finds them."""
    from estran.domain.green import _greedy_foreseen

    g = game(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.4, 0.0, 0.0]]),
             np.array([0, 0, 0]), [2])  # fmt: skip
    sees = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])

    def answer(present: np.ndarray) -> np.ndarray:  # one attempt: the first site not watched
        return np.where(present[:, :1] == 0, 0, np.where(present[:, 1:2] == 0, 1, 2))

    def catch(posts: np.ndarray) -> float:
        went = answer(sees[posts].sum(axis=0)[None])[0]
        return caught(g, posts, np.bincount(went, minlength=3) * 1.0)

    greedy = _greedy_foreseen(g, sees, answer)
    assert greedy[0] == 2
    assert catch(greedy) == pytest.approx(0.4)
    assert sorted(place_foreseen(g, sees, answer).tolist()) == [0, 1]
    worse = np.array([0, 2], dtype=np.intp)  # they go to B: nothing caught
    told = place_foreseen(g, sees, answer, also=(worse,))
    assert catch(told) == pytest.approx(1.0)
