"""The simulator's memory of travel times (``Coast.eta``): the same answers as the engine,
and still every answer when the memory fills up and starts again."""

from __future__ import annotations

import math

import pytest

import estran.sim.night as night
from estran.domain.travel_types import Eta, Target, UnitAt
from estran.sim.night import Coast


class _Straight:
    """An engine that walks straight at 1 m/s, and counts what it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    def eta(self, target: Target, units: list[UnitAt]) -> list[Eta]:
        self.asked += len(units)
        return [Eta(u.unit_id, u.profile, True, math.hypot(u.x - target.x, u.y - target.y), (),
                    "", "straight") for u in units]  # fmt: skip


def _target(x: float, y: float) -> Target:
    return Target(0, 0, x, y, (x, y), 0.0, "dry_sand", None)


def test_answers_are_remembered_and_survive_the_memory_filling_up(monkeypatch):
    engine = _Straight()
    coast = Coast(engine, [], lambda lon, lat: (lon, lat))  # type: ignore[arg-type]
    units = [UnitAt(f"u{i}", "foot", 100.0 * i, 0.0) for i in range(4)]
    first = coast.eta(_target(0.0, 0.0), units)
    assert [e.eta_s for e in first] == pytest.approx([0.0, 100.0, 200.0, 300.0])
    asked = engine.asked
    assert coast.eta(_target(0.0, 0.0), units) == first  # remembered: the engine not asked
    assert engine.asked == asked
    # The memory is full: a new question clears it, and the units it knew are asked again
    # with the one it did not (a KeyError before: issue 21's hiding places filled it).
    monkeypatch.setattr(night, "_ETA_CACHE_MAX", 3)
    more = [*units[:2], UnitAt("new", "foot", 50.0, 0.0)]
    got = coast.eta(_target(0.0, 0.0), more)
    assert sorted(e.unit_id for e in got) == ["new", "u0", "u1"]
    assert [e.eta_s for e in got] == pytest.approx([0.0, 50.0, 100.0])
