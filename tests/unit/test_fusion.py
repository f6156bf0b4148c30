"""Fusion: many reports of one group make one track and one incident; rules are data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from estran.domain.fusion import IncidentRule, LocalPlane, Tracker, default_rules

PLANE = LocalPlane(50.95, 1.85)


def tracker(**kw) -> Tracker:
    ids = itertools.count(1)
    return Tracker(PLANE, new_id=lambda: f"trk-{next(ids)}", **kw)


def at(x: float, y: float) -> tuple[float, float]:
    return PLANE.to_latlon(x, y)


def test_two_drones_and_a_patrol_reporting_one_group_make_one_track():
    t = tracker(place_of=lambda lat, lon: "near_launch_site")
    first = t.add("d1", "group_of_people", *at(0, 0), 30.0, now_s=0.0, count=25)
    second = t.add("d2", "group_of_people", *at(25, -10), 40.0, now_s=40.0, count=30)
    third = t.add("d3", "group_of_people", *at(10, 15), 15.0, now_s=90.0)
    assert first.new_track
    assert not second.new_track
    assert not third.new_track
    assert first.track is second.track is third.track
    assert third.track.detections == ["d1", "d2", "d3"]
    assert third.track.count == 30
    assert first.incident is not None
    assert first.incident.incident_type == "boat_being_prepared"  # 25 people near a beach
    assert len(t.tracks) == 1


def test_groups_far_apart_or_of_another_class_are_separate_tracks():
    t = tracker()
    a = t.add("d1", "group_of_people", *at(0, 0), 30.0, now_s=0.0)
    b = t.add("d2", "group_of_people", *at(3000, 0), 30.0, now_s=10.0)
    c = t.add("d3", "boat", *at(5, 5), 30.0, now_s=20.0)
    assert a.track is not b.track
    assert c.track is not a.track
    assert len(t.tracks) == 3


def test_a_moving_group_is_followed_and_its_uncertainty_shrinks():
    t = tracker()
    rng = np.random.default_rng(1)
    speed = 1.2  # m/s east
    upd = None
    for k in range(20):
        x, y = speed * 30 * k + rng.normal(0, 10), rng.normal(0, 10)
        upd = t.add(f"d{k}", "group_of_people", *at(x, y), 10.0, now_s=30.0 * k)
    assert upd is not None
    assert len(t.tracks) == 1
    track = upd.track
    assert track.speed_mps == pytest.approx(speed, abs=0.3)
    assert 60 < track.heading_deg < 120
    major, minor, _ = track.ellipse()
    assert major < 10.0
    assert minor <= major


def test_tracks_go_stale_then_close():
    t = tracker(stale_s=600, close_s=3600)
    t.add("d1", "group_of_people", *at(0, 0), 20.0, now_s=0.0)
    assert t.age(300.0) == []
    (stale,) = t.age(700.0)
    assert stale.status == "stale"
    (closed,) = t.age(4000.0)
    assert closed.status == "closed"
    assert t.tracks == {}


def test_two_tracks_that_converge_are_merged_into_the_older():
    t = tracker()
    a = t.add("d1", "group_of_people", *at(0, 0), 60.0, now_s=0.0)
    b = t.add("d2", "group_of_people", *at(280, 0), 60.0, now_s=0.0)
    assert a.track is not b.track  # 280 m apart with 60 m errors: outside each other's gate
    # A report between them joins the first, which then sits inside the other's gate.
    c = t.add("d3", "group_of_people", *at(140, 0), 60.0, now_s=1.0)
    assert c.track.id == "trk-1"
    assert c.merged == ("trk-2",)
    assert sorted(c.track.detections) == ["d1", "d2", "d3"]
    assert list(t.tracks) == ["trk-1"]


def test_rules_put_life_at_sea_first_and_are_data():
    t = tracker(place_of=lambda lat, lon: "at_sea")
    boat = t.add("d1", "boat", *at(0, 0), 50.0, now_s=0.0)
    assert boat.incident is not None
    assert boat.incident.incident_type == "boat_at_sea"
    assert boat.incident.impact == "very_high"
    custom = [
        IncidentRule(
            when_class="vehicle", incident_type="group_sighted", impact="low", confidence=0.3
        )
    ]
    t2 = tracker(rules=custom)
    assert t2.add("v", "vehicle", *at(0, 0), 10.0, now_s=0.0).incident is not None
    assert t2.add("g", "group_of_people", *at(900, 0), 10.0, now_s=0.0).incident is None
    assert [r.incident_type for r in default_rules()][:2] == ["boat_at_sea", "persons_in_water"]


def test_a_track_keeps_its_incident():
    t = tracker(place_of=lambda lat, lon: "near_launch_site")
    first = t.add("d1", "group_of_people", *at(0, 0), 20.0, now_s=0.0, count=40)
    assert first.incident is not None
    first.track.incident_id = "inc-1"
    again = t.add("d2", "group_of_people", *at(5, 5), 20.0, now_s=30.0)
    assert again.incident is None
    assert again.track.incident_id == "inc-1"


def test_the_local_plane_round_trips():
    lat, lon = PLANE.to_latlon(*PLANE.to_xy(51.0, 2.1))
    assert (lat, lon) == pytest.approx((51.0, 2.1), abs=1e-9)
    x, _ = PLANE.to_xy(50.95, 1.85 + 0.01)
    assert x == pytest.approx(111_320 * math.cos(math.radians(50.95)) * 0.01)


def test_a_scene_is_graded_by_its_people_and_a_boat_and_never_downgraded():
    from estran.domain.fusion import scene_assessment

    assert scene_assessment("group_sighted", "low", None, 3, boat=False) == ("group_sighted", "low")
    assert scene_assessment("group_sighted", "low", None, 6, boat=False)[1] == "medium"
    assert scene_assessment("group_sighted", "medium", None, 20, boat=False)[1] == "high"
    assert scene_assessment("group_sighted", "low", None, 45, boat=False)[1] == "very_high"
    # A boat among people ashore is a boat being prepared, and grave.
    assert scene_assessment("group_sighted", "medium", None, 8, boat=True) == (
        "boat_being_prepared", "high")  # fmt: skip
    # Never lowered, and life at sea keeps its type.
    assert scene_assessment("boat_being_prepared", "very_high", None, 2, boat=False) == (
        "boat_being_prepared", "very_high")  # fmt: skip
    assert scene_assessment("persons_in_water", "very_high", None, 30, boat=True)[0] == (
        "persons_in_water")  # fmt: skip
