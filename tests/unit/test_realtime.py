"""The pacer runs a kernel against a clock it is given (a fake one here: no sleeping)."""

from __future__ import annotations

import functools

import pytest

from estran.sim.kernel import Environment
from estran.sim.realtime import Pacer


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_events_are_processed_when_their_simulated_time_falls_due_at_the_speed_given():
    env, clock = Environment(), FakeClock()
    seen: list[float] = []
    for t in (60.0, 120.0, 600.0):
        env.at(t, functools.partial(seen.append, t))
    pacer = Pacer(env, speed=60.0, clock=clock)  # a simulated minute a real second
    assert pacer.step_due() == 0
    assert pacer.due_in() == pytest.approx(1.0)
    clock.t += 1.0
    assert pacer.step_due() == 1
    clock.t += 1.5
    assert pacer.step_due() == 1
    assert seen == [60.0, 120.0]
    assert pacer.due_in() == pytest.approx(7.5)
    clock.t += 100.0
    assert pacer.step_due(until=500.0) == 0  # not past the night's end
    assert pacer.step_due() == 1
    assert pacer.due_in() == float("inf")


def test_a_pacer_picks_up_where_the_kernel_stands_and_refuses_a_stopped_clock():
    env, clock = Environment(start=3600.0), FakeClock()
    env.at(3660.0, lambda: None)
    pacer = Pacer(env, speed=3600.0, clock=clock)
    assert pacer.due_in() == pytest.approx(60.0 / 3600.0)
    with pytest.raises(ValueError, match="positive"):
        Pacer(env, speed=0.0, clock=clock)
