"""A night's story through the API, and the figures it comes out as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def night(server):
    running = server()
    base = running.http
    post = lambda path, body: httpx.post(f"{base}/api/v1/{path}", json=body)  # noqa: E731
    patch = lambda path, body: httpx.patch(f"{base}/api/v1/{path}", json=body)  # noqa: E731
    unit = {
        "id": "bug-1",
        "callsign": "BUGGY-1",
        "kind": "dune_buggy",
        "agency_id": "FR-GN",
        "position": {"lat": 50.95, "lon": 1.9},
        "observed_at": at(-30),
    }
    assert post("units", unit).status_code == 201
    pos = {"lat": 50.96, "lon": 1.95}
    incidents = [
        ("inc-a", "boat_being_prepared", 0.0),
        ("inc-b", "launch_attempt", 60.0),
        ("inc-c", "persons_in_water", 90.0),
        ("inc-d", "group_sighted", 100.0),
    ]
    for iid, kind, minute in incidents:
        owner = "FR-CROSS-GN" if kind == "persons_in_water" else "FR-GN"
        body = {
            "id": iid,
            "type": kind,
            "owner_agency_id": owner,
            "position": pos,
            "observed_at": at(minute),
        }
        assert post("incidents", body).status_code == 201
    assert (
        post(
            "tasks", {"id": "t-a", "incident_id": "inc-a", "unit_id": "bug-1", "observed_at": at(1)}
        ).status_code
        == 201
    )
    for minute, status in (
        (1.5, "sent"),
        (2, "acknowledged"),
        (2.5, "will_comply"),
        (3, "en_route"),
        (9, "on_scene"),
        (30, "done"),
    ):
        r = patch("tasks/t-a", {"status": status, "observed_at": at(minute)})
        assert r.status_code == 200, r.text
    unit_steps: list[tuple[float, str]] = [
        (1, "tasked"),
        (3, "en_route"),
        (9, "on_scene"),
        (30, "available"),
    ]
    for minute, status in unit_steps:
        assert (
            patch("units/bug-1", {"status": status, "observed_at": at(minute)}).status_code == 200
        )
    closes: list[tuple[str, dict[str, object]]] = [
        ("inc-a", {"outcome": "intercepted_before_launch", "people_count": 40}),
        ("inc-b", {"outcome": "boat_launched"}),
        ("inc-d", {"outcome": "nothing_found"}),
    ]
    for iid, outcome in closes:
        r = patch(f"incidents/{iid}", {**outcome, "status": "closed", "observed_at": at(120)})
        assert r.status_code == 200, r.text
    return base


def test_the_figures_count_the_night_as_documented(night):
    stats = httpx.get(f"{night}/api/v1/stats").json()
    assert stats["attempts_detected"] == 2  # the preparation and the launch attempt
    assert stats["attempts_intercepted"] == 1
    assert stats["proportion_intercepted"] == 0.5
    low, high = stats["proportion_ci95"]
    assert 0 < low < 0.5 < high < 1
    assert stats["launches"] == 1
    assert stats["rescue_referrals"] == 1
    assert stats["people_intercepted"] == 40
    assert stats["response_minutes_median"] == pytest.approx(9.0)
    assert stats["units"]["tasked_hours"] == pytest.approx(29 / 60, abs=1e-3)
    by_day = httpx.get(f"{night}/api/v1/stats", params={"by": "day"}).json()
    assert sum(g["attempts_detected"] for g in by_day["groups"].values()) == 2
    later = httpx.get(f"{night}/api/v1/stats", params={"since": at(50)}).json()
    assert later["attempts_detected"] == 1
    assert later["attempts_intercepted"] == 0


def test_a_task_keeps_who_and_when_of_every_step(night):
    task = httpx.get(f"{night}/api/v1/tasks/t-a").json()
    steps = [s["status"] for s in task["status_log"]]
    assert steps == [
        "proposed",
        "sent",
        "acknowledged",
        "will_comply",
        "en_route",
        "on_scene",
        "done",
    ]
    assert all(s["by"] and s["at"] for s in task["status_log"])


def test_an_outcome_for_a_closed_incident_is_refused_and_changes_nothing(night):
    r = httpx.patch(f"{night}/api/v1/incidents/inc-b", json={"outcome": "launch_prevented"})
    assert r.status_code == 409
    assert "closed" in r.json()["error"]["message"]
    assert httpx.get(f"{night}/api/v1/incidents/inc-b").json()["outcome"] == "boat_launched"
    bad = httpx.patch(f"{night}/api/v1/incidents/inc-c", json={"outcome": "sunk"})
    assert bad.status_code == 422


def test_an_out_of_order_lifecycle_step_is_refused(night):
    r = httpx.post(
        f"{night}/api/v1/tasks", json={"id": "t-x", "incident_id": "inc-c", "unit_id": "bug-1"}
    )
    assert r.status_code == 201
    skip = httpx.patch(f"{night}/api/v1/tasks/t-x", json={"status": "on_scene"})
    assert skip.status_code == 409
    assert skip.json()["error"]["code"] == "invalid_transition"
    bad_window = httpx.get(f"{night}/api/v1/stats", params={"since": at(10), "until": at(5)})
    assert bad_window.status_code == 422
