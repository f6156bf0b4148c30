"""Beats and orbit sequences (issue 21, item 4): where a resource on a route is, when."""

from __future__ import annotations

import numpy as np
import pytest

from estran.domain.beats import Beat, route_watchers


def _beat() -> Beat:
    # 10 min at (0, 0), 20 min to (1000, 0), 10 min there, 40 min back: 80 min round
    return Beat(((0.0, 0.0), (1000.0, 0.0)), (1200.0, 2400.0), 600.0)


def test_a_beat_stands_at_each_stop_then_walks_to_the_next_and_back() -> None:
    beat = _beat()
    assert beat.cycle_s == 4800.0
    assert beat.at(0.0) == (0.0, 0.0, 0)
    assert beat.at(599.0) == (0.0, 0.0, 0)
    x, y, near = beat.at(600.0 + 300.0)  # a quarter of the way out
    assert (x, y, near) == (250.0, 0.0, 0)
    x, _, near = beat.at(600.0 + 900.0)  # three quarters of the way: nearer the far stop
    assert (x, near) == (750.0, 1)
    assert beat.at(1800.0 + 100.0) == (1000.0, 0.0, 1)
    x, _, near = beat.at(2400.0 + 1800.0)  # three quarters of the way back
    assert (x, near) == (250.0, 0)


def test_a_beat_goes_round_and_round() -> None:
    beat = _beat()
    for t in (0.0, 700.0, 2000.0, 3333.0):
        assert beat.at(t) == beat.at(t + 3 * beat.cycle_s)


def test_a_beats_samples_are_its_time_average() -> None:
    beat = _beat()
    xy, near = beat.samples(480)
    # 600 s of 4800 at each stop: an eighth of the samples stand at each
    assert np.sum(xy[:, 0] == 0.0) == 60
    assert np.sum(xy[:, 0] == 1000.0) == 60
    # the mean x: stops (0 and 1000) an eighth each, walking (mean 500) three quarters
    assert xy[:, 0].mean() == pytest.approx(500.0, abs=2.0)
    assert set(near.tolist()) == {0, 1}


def test_a_drone_sequence_has_no_legs() -> None:
    orbits = Beat(((0.0, 0.0), (5000.0, 0.0), (9000.0, 0.0)), (0.0, 0.0, 0.0), 2700.0)
    assert [orbits.at(k * 2700.0 + 10.0)[:2] for k in range(4)] == [
        (0.0, 0.0), (5000.0, 0.0), (9000.0, 0.0), (0.0, 0.0)]  # fmt: skip


@pytest.mark.parametrize(
    ("stops", "legs", "dwell"),
    [
        (((0.0, 0.0),), (0.0,), 10.0),  # one stop is a post
        (((0.0, 0.0), (1.0, 0.0)), (1.0,), 10.0),  # a leg short
        (((0.0, 0.0), (1.0, 0.0)), (1.0, -1.0), 10.0),
        (((0.0, 0.0), (1.0, 0.0)), (1.0, float("inf")), 10.0),
        (((0.0, 0.0), (1.0, 0.0)), (0.0, 0.0), 0.0),  # takes no time round
    ],
)
def test_a_beat_that_cannot_be_worked_is_refused(
    stops: tuple[tuple[float, float], ...], legs: tuple[float, ...], dwell: float
) -> None:
    with pytest.raises(ValueError, match="beat"):
        Beat(stops, legs, dwell)


def test_organisers_see_a_beat_at_each_of_its_stops() -> None:
    sites = np.array([[0.0, 0.0], [3000.0, 0.0], [10_000.0, 0.0]])
    # post 0 is a beat with stops by sites 0 and 1; post 1 a plain post by site 2
    stops = np.array([[100.0, 0.0], [2900.0, 0.0], [10_000.0, 100.0]])
    seen = route_watchers(sites, stops, np.array([0, 0, 1]), 2, 2000.0)
    assert seen.tolist() == [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    wide = route_watchers(sites, stops, np.array([0, 0, 1]), 2, 5000.0)
    assert wide[0].tolist() == [2.0, 2.0, 0.0]  # both stops within reach of sites 0 and 1
