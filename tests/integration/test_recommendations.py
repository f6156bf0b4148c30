"""Unit recommendation: the run card filled by real ETA, with why; never a task by itself."""

from __future__ import annotations

import time

import httpx
import pytest

from estran.bootstrap import load_runcards
from estran.domain.errors import InvalidInputError
from estran.domain.runcards import match_card
from tests.auth import AUTH

MARCK_BEACH = (50.9600, 1.9500)


@pytest.fixture
def dispatch(start_terrain_server):
    base = start_terrain_server().http
    units = [
        ("buggy-near", "dune_buggy", 50.9520, 1.9300),
        ("buggy-far", "dune_buggy", 51.0300, 2.3700),
        ("foot-near", "foot_patrol", 50.9570, 1.9420),
        ("4x4-calais", "four_by_four", 50.9513, 1.8587),
    ]
    for uid, kind, lat, lon in units:
        body = {
            "id": uid,
            "callsign": uid.upper(),
            "kind": kind,
            "agency_id": "FR-GN",
            "position": {"lat": lat, "lon": lon},
        }
        assert httpx.post(headers=AUTH, url=f"{base}/api/v1/units", json=body).status_code == 201
    return base


def test_the_best_buggy_is_proposed_with_its_reason_and_nothing_is_tasked(dispatch):
    base = dispatch
    inc = {
        "id": "inc-r",
        "type": "boat_being_prepared",
        "owner_agency_id": "FR-GN",
        "position": {"lat": MARCK_BEACH[0], "lon": MARCK_BEACH[1]},
    }
    assert httpx.post(headers=AUTH, url=f"{base}/api/v1/incidents", json=inc).status_code == 201
    url = f"{base}/api/v1/incidents/inc-r/recommendations"
    body = httpx.get(headers={**AUTH, "Accept-Language": "en"}, url=url).json()
    assert body["run_card"] is not None
    kinds = [p["kind"] for p in body["proposed"]]
    assert "dune_buggy" in kinds
    buggy = next(p for p in body["proposed"] if p["kind"] == "dune_buggy")
    assert buggy["unit_id"] == "buggy-near"
    assert "run card" in buggy["why"]
    assert "min" in buggy["why"]
    assert buggy["route"]["features"]
    assert [u["unit_id"] for u in body["ranked"]][:1] != []
    # Estran never tasks by itself.
    assert httpx.get(headers=AUTH, url=f"{base}/api/v1/tasks").json()["total"] == 0
    assert "never tasks" in body["note"]
    # The same reasons in French: asked for, or the (French) account's language by default.
    for headers in ({**AUTH, "Accept-Language": "fr"}, AUTH):
        fr = httpx.get(headers=headers, url=url).json()
        why = next(p for p in fr["proposed"] if p["kind"] == "dune_buggy")["why"]
        assert why.startswith("la fiche réflexe"), why
        assert "buggy des dunes : roule" in why, why
        assert " km en " in why, why
        assert "n'engage jamais" in fr["note"]


def test_a_busy_unit_is_not_proposed_and_an_unfilled_need_is_said(dispatch):
    base = dispatch
    for uid in ("buggy-near", "buggy-far"):
        r = httpx.patch(headers=AUTH, url=f"{base}/api/v1/units/{uid}", json={"status": "tasked"})
        assert r.status_code == 200
    inc = {
        "id": "inc-s",
        "type": "group_sighted",
        "owner_agency_id": "FR-GN",
        "position": {"lat": MARCK_BEACH[0], "lon": MARCK_BEACH[1]},
    }
    assert httpx.post(headers=AUTH, url=f"{base}/api/v1/incidents", json=inc).status_code == 201
    body = httpx.get(headers=AUTH, url=f"{base}/api/v1/incidents/inc-s/recommendations").json()
    assert all(p["unit_id"] not in ("buggy-near", "buggy-far") for p in body["proposed"])
    assert any(u["kind"] == "dune_buggy" for u in body["unfilled"])


def test_recommendations_for_an_unknown_incident_are_a_404(dispatch):
    r = httpx.get(headers=AUTH, url=f"{dispatch}/api/v1/incidents/nope/recommendations")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_the_shipped_run_cards_put_life_at_sea_first_and_follow_the_hour(tmp_path):
    cards = load_runcards(None)
    sea = match_card(cards, {"type": "persons_in_water"}, 3)
    assert sea is not None
    assert "life at sea" in sea.name
    night = match_card(cards, {"type": "boat_being_prepared"}, 23)
    day = match_card(cards, {"type": "boat_being_prepared"}, 13)
    assert night is not None
    assert day is not None
    assert night.send == ["dune_buggy", "foot_patrol"]
    assert day.name != night.name
    bad = tmp_path / "cards.toml"
    bad.write_text('[[cards]]\nname = "x"\nincident_types = ["picnic"]\nsend = ["dune_buggy"]\n')
    with pytest.raises(InvalidInputError, match="picnic"):
        load_runcards(bad)


def test_an_opened_incident_gets_its_recommendation_on_the_stream(dispatch):
    base = dispatch
    inc = {
        "id": "inc-live",
        "type": "boat_being_prepared",
        "owner_agency_id": "FR-GN",
        "position": {"lat": MARCK_BEACH[0], "lon": MARCK_BEACH[1]},
    }
    assert httpx.post(headers=AUTH, url=f"{base}/api/v1/incidents", json=inc).status_code == 201
    deadline = time.monotonic() + 10
    rec = None
    while time.monotonic() < deadline:
        r = httpx.get(headers=AUTH, url=f"{base}/api/v1/recommendations/rec-inc-live")
        if r.status_code == 200:
            rec = r.json()
            break
        time.sleep(0.05)
    assert rec is not None
    assert rec["incident_id"] == "inc-live"
    assert "dune_buggy" in [p["kind"] for p in rec["proposed"]]
    assert rec["proposed"][0]["why"]
    assert (
        httpx.get(headers=AUTH, url=f"{base}/api/v1/tasks").json()["total"] == 0
    )  # proposed, never tasked


def test_a_unit_already_tasked_is_not_proposed_again_but_life_at_sea_may_take_it(dispatch):
    base = dispatch

    def post(path, body):
        r = httpx.post(headers=AUTH, url=f"{base}/api/v1/{path}", json=body)
        assert r.status_code == 201, r.text
        return r.json()

    spot = {"lat": MARCK_BEACH[0], "lon": MARCK_BEACH[1]}
    first = post(
        "incidents", {"type": "group_sighted", "owner_agency_id": "FR-GN", "position": spot}
    )
    post("tasks", {"incident_id": first["id"], "unit_id": "buggy-near"})
    second = post(
        "incidents", {"type": "launch_attempt", "owner_agency_id": "FR-GN", "position": spot}
    )
    url = f"{base}/api/v1/incidents/{second['id']}/recommendations"
    body = httpx.get(headers=AUTH, url=url).json()
    offered = {u["unit_id"] for u in [*body["proposed"], *body["ranked"]]}
    assert "buggy-near" not in offered  # it holds a task: the ledger would refuse a second
    assert "foot-near" in offered
    # Life at sea first: a unit on an ordinary task may still be sent to a rescue.
    sea = post(
        "incidents",
        {"type": "persons_in_water", "owner_agency_id": "FR-GN", "position": spot},
    )
    url = f"{base}/api/v1/incidents/{sea['id']}/recommendations"
    body = httpx.get(headers=AUTH, url=url).json()
    assert "buggy-near" in {u["unit_id"] for u in body["ranked"]}
