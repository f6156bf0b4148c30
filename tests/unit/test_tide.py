"""Tide windows (issue 21, item 3): boats go out around high water, later each night."""

from __future__ import annotations

import pytest

from estran.sim.night import tide_windows
from estran.sim.scenario import TideSpec

H = 3600.0
DARK = 10 * H  # 20:00 to 06:00


def flat(windows: list[tuple[float, float]]) -> list[float]:
    return [t for window in windows for t in window]


def test_no_tide_leaves_the_whole_dark() -> None:
    assert tide_windows(TideSpec(), 3, 20.0, DARK) == [(0.0, DARK)]


def test_launches_fall_within_two_hours_of_high_water_in_the_dark() -> None:
    tide = TideSpec(high_water_h=22.0)
    # high water at 22:00: from dusk (20:00, clipped) to midnight; the next is after dawn
    assert tide_windows(tide, 0, 20.0, DARK) == [(0.0, 4 * H)]


def test_high_water_comes_fifty_minutes_later_each_night() -> None:
    tide = TideSpec(high_water_h=22.0)
    ((low, high),) = tide_windows(tide, 1, 20.0, DARK)
    assert (low, high) == pytest.approx((50 * 60, 4 * H + 50 * 60))
    # ten nights on, 8 h 20 min later: high water at 04:20, its window cut at dawn
    assert flat(tide_windows(tide, 10, 20.0, DARK)) == pytest.approx([8 * H + 20 * 60, DARK])


def test_two_high_waters_in_one_long_night() -> None:
    tide = TideSpec(high_water_h=19.0)  # an hour before dusk, and again 12 h 25 min later
    windows = tide_windows(tide, 0, 20.0, 14 * H)
    assert flat(windows) == pytest.approx([0.0, 1 * H, 9.42 * H, 13.42 * H])


def test_a_high_water_before_dusk_still_reaches_into_the_dark() -> None:
    tide = TideSpec(high_water_h=19.5, window_h=1.0)
    assert flat(tide_windows(tide, 0, 20.0, DARK)) == pytest.approx([0.0, 0.5 * H])
