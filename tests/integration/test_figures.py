"""A night's story through the API, and the figures it comes out as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.auth import AUTH

T0 = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def night(server):
    running = server()
    base = running.http
    post = lambda path, body: httpx.post(headers=AUTH, url=f"{base}/api/v1/{path}", json=body)  # noqa: E731
    patch = lambda path, body: httpx.patch(headers=AUTH, url=f"{base}/api/v1/{path}", json=body)  # noqa: E731
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
    stats = httpx.get(headers=AUTH, url=f"{night}/api/v1/stats").json()
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
    by_day = httpx.get(headers=AUTH, url=f"{night}/api/v1/stats", params={"by": "day"}).json()
    assert sum(g["attempts_detected"] for g in by_day["groups"].values()) == 2
    later = httpx.get(headers=AUTH, url=f"{night}/api/v1/stats", params={"since": at(50)}).json()
    assert later["attempts_detected"] == 1
    assert later["attempts_intercepted"] == 0


def test_a_task_keeps_who_and_when_of_every_step(night):
    task = httpx.get(headers=AUTH, url=f"{night}/api/v1/tasks/t-a").json()
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
    r = httpx.patch(
        headers=AUTH, url=f"{night}/api/v1/incidents/inc-b", json={"outcome": "launch_prevented"}
    )
    assert r.status_code == 409
    assert "est clos" in r.json()["error"]["message"]  # the French account reads French
    assert (
        httpx.get(headers=AUTH, url=f"{night}/api/v1/incidents/inc-b").json()["outcome"]
        == "boat_launched"
    )
    bad = httpx.patch(headers=AUTH, url=f"{night}/api/v1/incidents/inc-c", json={"outcome": "sunk"})
    assert bad.status_code == 422


def test_an_out_of_order_lifecycle_step_is_refused(night):
    r = httpx.post(
        headers=AUTH,
        url=f"{night}/api/v1/tasks",
        json={"id": "t-x", "incident_id": "inc-c", "unit_id": "bug-1"},
    )
    assert r.status_code == 201
    skip = httpx.patch(headers=AUTH, url=f"{night}/api/v1/tasks/t-x", json={"status": "on_scene"})
    assert skip.status_code == 409
    assert skip.json()["error"]["code"] == "invalid_transition"
    bad_window = httpx.get(
        headers=AUTH, url=f"{night}/api/v1/stats", params={"since": at(10), "until": at(5)}
    )
    assert bad_window.status_code == 422


def test_log_entries_are_kept_and_the_handover_report_puts_rescue_first(night):
    entry = {
        "log": "incident",
        "incident_id": "inc-a",
        "role": "operator",
        "position_held": "operator desk 2",
        "text": "buggy reports 40 people, calm",
        "observed_at": at(10),
    }
    r = httpx.post(headers=AUTH, url=f"{night}/api/v1/log_entries", json=entry)
    assert r.status_code == 201
    saved = r.json()
    assert saved["observed_at"] != saved["created_at"]  # event time and entry time differ
    duty = {"log": "duty", "role": "duty officer", "text": "shift starts, 16 units on duty"}
    assert httpx.post(headers=AUTH, url=f"{night}/api/v1/log_entries", json=duty).status_code == 201
    edit = httpx.patch(
        headers=AUTH, url=f"{night}/api/v1/log_entries/{saved['id']}", json={"text": "changed"}
    )
    assert edit.status_code == 422  # a log line is never edited; a correction is a new line
    report = httpx.get(
        headers=AUTH, url=f"{night}/api/v1/handover", params={"since": at(-60)}
    ).json()
    assert report["open_incidents"][0]["life_at_sea"] is True
    assert len(report["log_entries"]) == 2
    assert "Log entries: 2" in report["text"]
    assert report["figures"]["attempts_intercepted"] == 1
    missing = httpx.get(headers=AUTH, url=f"{night}/api/v1/handover")
    assert missing.status_code == 422


def test_a_task_left_unacknowledged_escalates(server):
    running = server(task_ack_s=0.3)
    b = running.http
    unit = {"id": "u1", "callsign": "U1", "kind": "foot_patrol", "agency_id": "FR-GN"}
    inc = {
        "id": "i1",
        "type": "group_sighted",
        "owner_agency_id": "FR-GN",
        "position": {"lat": 50.9, "lon": 1.7},
    }
    assert httpx.post(headers=AUTH, url=f"{b}/api/v1/units", json=unit).status_code == 201
    assert httpx.post(headers=AUTH, url=f"{b}/api/v1/incidents", json=inc).status_code == 201
    assert (
        httpx.post(
            headers=AUTH,
            url=f"{b}/api/v1/tasks",
            json={"id": "t1", "incident_id": "i1", "unit_id": "u1"},
        ).status_code
        == 201
    )
    assert (
        httpx.patch(headers=AUTH, url=f"{b}/api/v1/tasks/t1", json={"status": "sent"}).status_code
        == 200
    )
    import time

    deadline = time.monotonic() + 5
    task = {}
    while time.monotonic() < deadline:
        task = httpx.get(headers=AUTH, url=f"{b}/api/v1/tasks/t1").json()
        if task.get("escalations"):
            break
        time.sleep(0.05)
    assert task.get("escalations", 0) >= 1
