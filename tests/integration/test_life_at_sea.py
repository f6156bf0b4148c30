"""Life at sea first: no command, on any path, suppresses or pre-empts a rescue."""

from __future__ import annotations

import httpx
import pytest

from estran.domain.policy import Role
from tests.auth import AUTH, seed_user
from tests.polling import get_until


@pytest.fixture
def base(server) -> str:
    running = server()
    http = running.http
    for body in (
        {
            "id": "sar-1",
            "type": "persons_in_water",
            "impact": "very_high",
            "owner_agency_id": "FR-CROSS-GN",
            "position": {"lat": 50.97, "lon": 1.80},
        },
        {
            "id": "int-1",
            "type": "boat_being_prepared",
            "owner_agency_id": "FR-GN",
            "position": {"lat": 50.96, "lon": 1.95},
        },
        {
            "id": "int-2",
            "type": "group_sighted",
            "owner_agency_id": "FR-GN",
            "position": {"lat": 50.99, "lon": 2.04},
        },
    ):
        assert (
            httpx.post(headers=AUTH, url=f"{http}/api/v1/incidents", json=body).status_code == 201
        )
    for uid in ("boat-1", "buggy-1"):
        unit = {
            "id": uid,
            "callsign": uid.upper(),
            "kind": "dune_buggy",
            "agency_id": "FR-GN",
            "position": {"lat": 50.95, "lon": 1.9},
        }
        assert httpx.post(headers=AUTH, url=f"{http}/api/v1/units", json=unit).status_code == 201
    return http


def task(base: str, tid: str, incident: str, unit: str) -> httpx.Response:
    body = {"id": tid, "incident_id": incident, "unit_id": unit}
    return httpx.post(headers=AUTH, url=f"{base}/api/v1/tasks", json=body)


def test_a_rescue_case_cannot_be_retyped_away(base):
    r = httpx.patch(
        headers=AUTH, url=f"{base}/api/v1/incidents/sar-1", json={"type": "group_sighted"}
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "life_at_sea_first"
    assert (
        httpx.get(headers=AUTH, url=f"{base}/api/v1/incidents/sar-1").json()["type"]
        == "persons_in_water"
    )
    # Between life-at-sea types is fine (people in the water from a boat at sea).
    r = httpx.patch(
        headers=AUTH, url=f"{base}/api/v1/incidents/sar-1", json={"type": "boat_at_sea"}
    )
    assert r.status_code == 200


def test_no_interception_task_takes_a_unit_away_from_a_rescue(base):
    assert task(base, "t-sar", "sar-1", "boat-1").status_code == 201
    r = task(base, "t-int", "int-1", "boat-1")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "life_at_sea_first"
    assert httpx.get(headers=AUTH, url=f"{base}/api/v1/tasks/t-int").status_code == 404


def test_a_rescue_may_take_a_unit_busy_with_an_interception_but_not_the_reverse(base):
    assert task(base, "t-a", "int-1", "buggy-1").status_code == 201
    second = task(base, "t-b", "int-2", "buggy-1")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    assert task(base, "t-rescue", "sar-1", "buggy-1").status_code == 201


def test_a_finished_task_frees_the_unit(base):
    assert task(base, "t-1", "int-1", "buggy-1").status_code == 201
    r = httpx.patch(headers=AUTH, url=f"{base}/api/v1/tasks/t-1", json={"status": "cancelled"})
    assert r.status_code == 200
    assert task(base, "t-2", "int-2", "buggy-1").status_code == 201


def test_two_tasks_for_one_unit_in_one_batch_are_refused_whole(base):
    batch = [
        {
            "type": "task.created",
            "data": {"id": "b-1", "incident_id": "int-1", "unit_id": "buggy-1"},
        },
        {
            "type": "task.created",
            "data": {"id": "b-2", "incident_id": "int-2", "unit_id": "buggy-1"},
        },
    ]
    r = httpx.post(headers=AUTH, url=f"{base}/api/v1/events", json=batch)
    assert r.status_code == 409
    assert httpx.get(headers=AUTH, url=f"{base}/api/v1/tasks/b-1").status_code == 404


wait = get_until


def test_a_life_at_sea_incident_opens_a_rescue_case_at_once(base):
    case = wait(f"{base}/api/v1/rescue_cases/sar-sar-1", lambda c: True)
    assert case["incident_id"] == "sar-1"
    assert case["centre_agency_id"] == "FR-CROSS-GN"
    assert case["phase"] == "distress"  # people in the water
    assert case["status"] == "open"
    assert case["position"]["lat"] == pytest.approx(50.97)
    assert "persons_in_water" in case["distress_factors"]
    # An interception incident opens none.
    cases = httpx.get(headers=AUTH, url=f"{base}/api/v1/rescue_cases").json()
    assert [c["incident_id"] for c in cases["items"]] == ["sar-1"]


def test_a_rescue_case_cannot_be_closed_before_the_centre_acknowledges_it(server):
    running = server()
    base = running.http
    cross = seed_user(
        running.settings, "cross", role=Role.RESCUE_LIAISON, agency_id="FR-CROSS-GN",
        token="est_cross-token",  # noqa: S106 (a test account)
    )  # fmt: skip
    sar = {
        "id": "sar-1",
        "type": "persons_in_water",
        "owner_agency_id": "FR-CROSS-GN",
        "position": {"lat": 50.97, "lon": 1.80},
    }
    assert httpx.post(headers=AUTH, url=f"{base}/api/v1/incidents", json=sar).status_code == 201
    wait(f"{base}/api/v1/rescue_cases/sar-sar-1", lambda c: True)
    url = f"{base}/api/v1/rescue_cases/sar-sar-1"
    # The French commander is not the rescue centre: neither acknowledging nor closing.
    for status in ("acknowledged", "closed"):
        r = httpx.patch(headers=AUTH, url=url, json={"status": status})
        assert r.status_code == 403
        assert r.json()["error"]["details"][0]["rule"] == "rescue_centre"
    r = httpx.patch(headers=cross, url=url, json={"status": "closed"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "invalid_transition"
    ok = httpx.patch(headers=cross, url=url, json={"status": "acknowledged"})
    assert ok.status_code == 200
    done = httpx.patch(headers=cross, url=url, json={"status": "closed"})
    assert done.status_code == 200


def test_an_unacknowledged_rescue_case_escalates_until_acknowledged(server):
    running = server(rescue_ack_s=0.4)
    b = running.http
    body = {
        "id": "boat-9",
        "type": "boat_at_sea",
        "impact": "high",
        "owner_agency_id": "FR-GN",
        "position": {"lat": 51.0, "lon": 1.9},
        "count": 48,
        "summary": "overcrowded dinghy",
    }
    assert httpx.post(headers=AUTH, url=f"{b}/api/v1/incidents", json=body).status_code == 201
    case = wait(f"{b}/api/v1/rescue_cases/sar-boat-9", lambda c: True)
    assert case["phase"] == "alert"
    assert case["count"] == 48
    # Only what saves life crosses to the other centre: never the incident's own text.
    assert "overcrowded dinghy" not in str(case)
    escalated = wait(f"{b}/api/v1/rescue_cases/sar-boat-9", lambda c: c["escalations"] >= 1)
    assert escalated["phase"] == "distress"
    cross = seed_user(
        running.settings, "cross", role=Role.RESCUE_LIAISON, agency_id="FR-CROSS-GN",
        token="est_cross-token",  # noqa: S106 (a test account)
    )  # fmt: skip
    # The escalation is in the duty log, which the rescue centre reads too.
    lines = wait(f"{b}/api/v1/log_entries?type=duty", lambda page: any(
        "sar-boat-9" in e["text"] for e in page["items"]), headers=cross)["items"]  # fmt: skip
    line = next(e for e in lines if "sar-boat-9" in e["text"])
    assert "ESCALATED" in line["text"]
    assert line["incident_id"] == "boat-9"
    assert "overcrowded dinghy" not in line["text"]
    r = httpx.patch(
        headers=cross, url=f"{b}/api/v1/rescue_cases/sar-boat-9", json={"status": "acknowledged"}
    )
    assert r.status_code == 200, r.text
    count = httpx.get(headers=AUTH, url=f"{b}/api/v1/rescue_cases/sar-boat-9").json()["escalations"]
    import time

    time.sleep(1.2)
    assert (
        httpx.get(headers=AUTH, url=f"{b}/api/v1/rescue_cases/sar-boat-9").json()["escalations"]
        == count
    )


def test_a_rescue_watch_drill_shows_in_health_and_no_case_is_lost_or_doubled(server):
    """The reactor crash test: a fault injected into the rescue watch (an administrator's
    drill) takes it down for a few seconds; health and /readyz say so; an incident of people
    in the water raised meanwhile gets exactly one case once the watch is back."""
    running = server()
    b = running.http
    admin = seed_user(running.settings, "ada", role=Role.ADMIN, token="est_admin-token")  # noqa: S106
    r = httpx.post(f"{b}/api/v1/runtime/rescue/drill", params={"times": 5},
                   headers={**admin, "X-Justification": "monthly drill"})  # fmt: skip
    assert r.status_code == 200, r.text
    down = wait(f"{b}/api/v1/health", lambda h: not h["rescue_watch"]["ok"])
    assert down["status"] == "degraded"
    assert any("rescue is down" in p for p in down["problems"])
    assert httpx.get(f"{b}/api/v1/readyz").status_code == 503
    body = {"id": "pw-drill", "type": "persons_in_water", "owner_agency_id": "FR-CROSS-GN",
            "position": {"lat": 50.97, "lon": 1.80}, "count": 3}  # fmt: skip
    assert httpx.post(headers=AUTH, url=f"{b}/api/v1/incidents", json=body).status_code == 201
    wait(f"{b}/api/v1/rescue_cases/sar-pw-drill", lambda c: True, within_s=15)
    up = wait(f"{b}/api/v1/health", lambda h: h["rescue_watch"]["ok"], within_s=10)
    assert up["reactors"]["rescue"]["restarts"] == 5
    assert up["reactors"]["rescue"]["skipped"] == 0
    assert httpx.get(f"{b}/api/v1/readyz").status_code == 200
    cases = httpx.get(headers=AUTH, url=f"{b}/api/v1/rescue_cases").json()["items"]
    assert [c["incident_id"] for c in cases].count("pw-drill") == 1
