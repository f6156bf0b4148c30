"""What the organisers saw of us: accepted posts grouped by night, for re-planning."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from estran.services.plan_service import (
    deployments_by_night,
    found_by_night,
    night_of,
    points_by_night,
)


def posts_by_night(posts: list[dict], now: datetime, to_xy: Any) -> list[np.ndarray]:
    return points_by_night(deployments_by_night(posts, lambda _: None, now, to_xy))


def _post(plan_stamp: str, status: str = "accepted", lon: float = 1.0, lat: float = 2.0) -> dict:
    return {
        "id": f"post-{plan_stamp}-x",
        "plan_id": f"plan-{plan_stamp}-abc123",
        "status": status,
        "position": {"lon": lon, "lat": lat},
    }


def test_a_night_runs_from_noon_to_noon():
    assert night_of(datetime(2026, 11, 25, 21, 0, tzinfo=UTC)) == date(2026, 11, 25)
    assert night_of(datetime(2026, 11, 26, 4, 0, tzinfo=UTC)) == date(2026, 11, 25)
    assert night_of(datetime(2026, 11, 26, 12, 0, tzinfo=UTC)) == date(2026, 11, 26)


def test_accepted_posts_of_the_last_nights_are_what_the_organisers_saw():
    now = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)  # tonight: the evening of the 25th
    posts = [
        _post("20261124T213000", lon=1.0),  # last night
        _post("20261125T030000", lon=2.0),  # also last night, after midnight
        _post("20261122T200000", lon=3.0),  # three nights ago
        _post("20261124T213000", status="declined", lon=9.0),  # never stood there
        _post("20261124T213000", status="proposed", lon=9.0),
        _post("20261125T200000", lon=9.0),  # tonight's own: not yet seen
        _post("20261110T200000", lon=9.0),  # older than a week
        {"plan_id": "plan-garbage", "status": "accepted", "position": {"lon": 9, "lat": 9}},
        {"plan_id": "plan-20261124T213000-x", "status": "accepted"},  # no position
    ]
    nights = posts_by_night(posts, now, lambda lon, lat: (lon * 1000, lat * 1000))
    assert len(nights) == 7  # oldest first, the last one is last night
    assert sorted(nights[-1][:, 0].tolist()) == [1000.0, 2000.0]
    assert nights[-3][:, 0].tolist() == [3000.0]
    assert all(len(n) == 0 for k, n in enumerate(nights) if k not in (4, 6))
    assert not any(9000.0 in n[:, 0] for n in nights if len(n))
    assert all(n.shape[1] == 2 for n in nights)
    assert posts_by_night([], now, lambda lon, lat: (lon, lat))[0].shape == (0, 2)
    assert np.isfinite(np.concatenate(nights)).all()


def test_each_night_s_deployment_keeps_what_stood_there():
    now = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    posts = [
        {**_post("20261124T213000", lon=1.0), "unit_id": "buggy-1"},
        {**_post("20261124T213000", lon=2.0), "unit_id": "lost-unit"},  # unknown: on foot
        {**_post("20261120T213000", lon=3.0), "unit_id": "drone-1"},
    ]
    kinds = {"buggy-1": "buggy_patrol", "drone-1": "drone_thermal"}
    nights = deployments_by_night(posts, kinds.get, now, lambda lon, lat: (lon, lat), 30)
    assert len(nights) == 30
    assert sorted(nights[-1]) == [("buggy_patrol", 1.0, 2.0), ("foot_patrol", 2.0, 2.0)]
    assert nights[-5] == [("drone_thermal", 3.0, 2.0)]
    assert sum(len(n) for n in nights) == 3


def test_groups_found_are_counted_at_the_nearest_launch_site_on_their_night():
    now = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    site_xy = np.array([[0.0, 0.0], [5000.0, 0.0]])

    def incident(kind: str, at: str, x: float) -> dict:
        return {"type": kind, "observed_at": at, "position": {"lon": x, "lat": 0.0}}

    incidents = [
        incident("group_sighted", "2026-11-24T23:00:00Z", 300.0),  # last night, site 0
        incident("launch_attempt", "2026-11-25T02:00:00Z", 4500.0),  # last night, site 1
        incident("group_sighted", "2026-11-20T23:00:00Z", 4900.0),  # five nights ago, site 1
        incident("group_sighted", "2026-11-24T23:00:00Z", 2600.0),  # 2.6 km from both: not
        incident("group_sighted", "2026-11-25T21:00:00Z", 0.0),  # tonight: not yet learnt from
        incident("group_sighted", "2026-09-01T21:00:00Z", 0.0),  # older than the 30 nights
        incident("person_in_water", "2026-11-24T23:00:00Z", 0.0),  # not an attempt found
        {"type": "group_sighted", "observed_at": "garbage", "position": {"lon": 0, "lat": 0}},
        {"type": "group_sighted", "observed_at": "2026-11-24T23:00:00Z"},  # no position
    ]
    found = found_by_night(incidents, now, lambda lon, lat: (lon, lat), site_xy, 30)
    assert found.shape == (30, 2)
    assert found[-1].tolist() == [1.0, 1.0]
    assert found[-5].tolist() == [0.0, 1.0]
    assert found.sum() == 3
