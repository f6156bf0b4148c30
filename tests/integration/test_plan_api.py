"""Tonight's plan published to the picture: posts proposed to the commander, accepted only as
tasking (own agency), never to a unit held by a rescue, hidden from who may not see them."""

from __future__ import annotations

import httpx
import pytest

from estran.domain.markings import Classification
from estran.domain.policy import Role
from estran.services.tak import picture_to_cot
from tests.auth import seed_liaison, seed_user

UNITS = [  # on the coast between Wissant and Calais
    ("gn-foot-1", "foot_patrol", "FR-GN", 50.885, 1.665),
    ("gn-foot-2", "foot_patrol", "FR-GN", 50.944, 1.765),
    ("gn-buggy-1", "dune_buggy", "FR-GN", 50.880, 1.668),
    ("gn-buggy-2", "dune_buggy", "FR-GN", 50.958, 1.950),
    ("gn-drone-1", "drone", "FR-GN", 50.940, 1.760),
    ("paf-4x4-1", "four_by_four", "FR-PAF", 50.950, 1.860),
    ("gn-buggy-sar", "dune_buggy", "FR-GN", 50.990, 2.040),
]


@pytest.fixture
def centre(start_terrain_server, terrain_cache):
    running = start_terrain_server()
    running.liaison = seed_liaison(running.settings)
    api = httpx.Client(base_url=running.http, headers=running.headers, timeout=120)
    for uid, kind, agency, lat, lon in UNITS:
        body = {
            "id": uid,
            "callsign": uid.upper(),
            "kind": kind,
            "agency_id": agency,
            "position": {"lat": lat, "lon": lon},
        }
        assert api.post("/api/v1/units", json=body).status_code == 201
    # A boat in distress, and a buggy tasked to it: life at sea holds that unit.
    sar = {
        "id": "inc-sar",
        "type": "boat_at_sea",
        "impact": "very_high",
        "owner_agency_id": "FR-CROSS-GN",
        "position": {"lat": 51.0, "lon": 2.03},
    }
    assert api.post("/api/v1/incidents", json=sar).status_code == 201
    task = {"id": "task-sar", "incident_id": "inc-sar", "unit_id": "gn-buggy-sar"}
    assert api.post("/api/v1/tasks", json=task).status_code == 201
    assert api.patch("/api/v1/tasks/task-sar", json={"status": "sent"}).status_code == 200
    running.api = api
    yield running
    api.close()


def test_a_commander_publishes_tonight_s_plan_as_proposed_posts(centre):
    api = centre.api
    # As curl -d sends it: JSON with a form content type (read as JSON, like every write).
    r = api.post("/api/v1/plans", content=b'{"seed": 7}',
                 headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert r.status_code == 201, r.text
    plan = r.json()
    posted = {p["unit_id"]: p for p in plan["posts"] if p.get("post") is not None}
    assert "gn-buggy-sar" not in {p["unit_id"] for p in plan["posts"]}  # held by the rescue
    assert set(posted) <= {u[0] for u in UNITS} - {"gn-buggy-sar"}
    assert len(posted) >= 4
    records = api.get("/api/v1/posts", params={"limit": 100}).json()["items"]
    assert {p["unit_id"] for p in records} == set(posted)
    for rec in records:
        assert rec["status"] == "proposed"
        assert rec["plan_id"] == plan["plan_id"]
        assert rec["why"]
        assert 50.6 < rec["position"]["lat"] < 51.2
        where = {"lat": rec["position"]["lat"], "lon": rec["position"]["lon"]}
        at = api.get("/api/v1/terrain/at", params=where)
        assert at.status_code == 200, at.text
        assert at.json()["class"] != "sea", rec  # posts stand on land
    assert plan["model_proportion"] > 0
    # The figure to quote is the average over nights drawn from the plan, below the model's.
    assert 0 < plan["drawn_proportion"] < plan["model_proportion"]
    latest = api.get("/api/v1/plans/latest").json()
    assert latest["plan_id"] == plan["plan_id"]
    assert len(latest["sites"]) > 50
    assert all(0 <= s["coverage"] <= 1 for s in latest["sites"])
    # Nothing was tasked by publishing: the rescue task is still the only task.
    assert [t["id"] for t in api.get("/api/v1/tasks").json()["items"]] == ["task-sar"]


def test_accepting_a_post_is_tasking_own_agency_only_and_liaison_cannot(centre):
    api, liz, base = centre.api, centre.liaison, centre.http
    plan = api.post("/api/v1/plans", json={"seed": 3}).json()
    ids = {p["unit_id"]: p["id"] for p in plan["posts"] if p.get("id")}
    ours = next(i for u, i in ids.items() if u.startswith("gn-"))
    # The liaison desk may not publish a plan, nor see or accept the French posts.
    assert httpx.post(f"{base}/api/v1/plans", json={}, headers=liz).status_code == 403
    hidden = httpx.get(f"{base}/api/v1/plans/latest", headers=liz)
    assert hidden.status_code == 404
    # Said, not hidden (issue 20): the liaison knows a plan exists and is not released to GB.
    assert hidden.json()["error"]["details"] == [{"kind": "plan", "id": "latest",
                                                  "released": False}]  # fmt: skip
    assert "not released to you" in hidden.json()["error"]["message"]
    forged = httpx.patch(f"{base}/api/v1/posts/{ours}", json={"status": "accepted"}, headers=liz)
    assert forged.status_code in (403, 404)
    assert api.get(f"/api/v1/posts/{ours}").json()["status"] == "proposed"
    # The gendarmerie commander accepts a gendarmerie unit's post ...
    assert api.patch(f"/api/v1/posts/{ours}", json={"status": "accepted"}).status_code == 200
    # ... which goes out to the unit's TAK screen as a marker with its why.
    post = api.get(f"/api/v1/posts/{ours}").json()
    unit = api.get(f"/api/v1/units/{post['unit_id']}").json()
    records = {("post", post["id"]): post, ("unit", unit["id"]): unit}

    class Seen:
        def get(self, kind: str, rid: str) -> dict | None:
            return records.get((kind, rid))

    ev = picture_to_cot("post", ours, Seen(), 1_700_000_000_000)  # type: ignore[arg-type]
    assert ev is not None
    assert ev.point.lat == pytest.approx(post["position"]["lat"])
    assert f"POST {unit['callsign']}" in ev.detail_xml
    assert "best placed" in ev.detail_xml
    # ... but not a border police unit's: command of a unit stays with its agency.
    if "paf-4x4-1" in ids:
        r = api.patch(f"/api/v1/posts/{ids['paf-4x4-1']}", json={"status": "accepted"})
        assert r.status_code == 403
        assert r.json()["error"]["details"][0]["rule"] == "own_agency"
    # A post cannot go back to proposed once accepted.
    r = api.patch(f"/api/v1/posts/{ours}", json={"status": "proposed"})
    assert r.status_code in (409, 422)


def test_a_new_plan_withdraws_the_last_one_s_open_proposals(centre):
    api = centre.api
    first = api.post("/api/v1/plans", json={"seed": 1}).json()
    accepted = next(p["id"] for p in first["posts"] if p.get("id"))
    assert api.patch(f"/api/v1/posts/{accepted}", json={"status": "accepted"}).status_code == 200
    second = api.post("/api/v1/plans", json={"seed": 2})
    assert second.status_code == 201, second.text
    second = second.json()
    assert second["plan_id"] != first["plan_id"]
    status = {
        p["id"]: p["status"]
        for p in api.get("/api/v1/posts", params={"limit": 100}).json()["items"]
    }
    for p in first["posts"]:
        if p.get("id") and p["id"] != accepted:
            assert status[p["id"]] == "withdrawn"
    assert status[accepted] == "accepted"
    assert all(status[p["id"]] == "proposed" for p in second["posts"] if p.get("id"))


@pytest.mark.parametrize(
    "body", [{"method": "perfect"}, {"seed": -1}, {"seed": "x"}, {"units": ["gn-foot-1"]}]
)
def test_a_bad_plan_request_is_refused_and_publishes_nothing(centre, body):
    r = centre.api.post("/api/v1/plans", json=body)
    assert r.status_code == 422
    assert centre.api.get("/api/v1/posts").json()["total"] == 0


def test_the_coverage_model_is_prepared_before_anyone_asks_for_a_plan(centre):
    """Every node prepares the coverage model (the costly part of a plan) as soon as its
    terrain is ready, supervised like its other loops, so tonight's first plan is as quick
    as the later ones (the figures: ``bench/bench_planning.py``, ``docs/planning.md``)."""
    from tests.polling import get_until

    health = get_until(f"{centre.http}/api/v1/health",
                       lambda h: h["plans"]["coverage_model"] == "ready", 120.0)  # fmt: skip
    assert health["plans"]["prepared_in_s"] >= 0
    assert health["reactors"]["coverage-model"]["alive"]
    assert health["reactors"]["coverage-model"]["restarts"] == 0


def test_the_plan_learns_the_organisers_from_the_groups_found_on_past_nights(centre):
    """Nothing found yet: the plan says it assumes the scenario's organisers. Groups found on
    past nights, mostly at the sites the scenario thinks least of: the next plan is made
    against what it learnt from them, and says so with each weight's uncertainty."""
    from datetime import UTC, datetime, timedelta

    api = centre.api
    first = api.post("/api/v1/plans", json={"seed": 5}).json()
    org = first["organisers"]
    assert (org["learnt"], org["found"], org["nights"]) == (False, 0, 30)
    assert org["weights"]["cover"]["learnt"] is None
    assert org["weights"]["aversion"]["assumed"] > 0
    sites = sorted(first["sites"], key=lambda s: s["value"])[:3]
    noon = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    for k in range(30):  # one group a night on the last 30 nights, at 23:00
        night = noon - timedelta(days=k + 1) + timedelta(hours=11)
        site = sites[k % 3]
        body = {"id": f"inc-found-{k}", "type": "group_sighted", "owner_agency_id": "FR-GN",
                "position": {"lat": site["lat"], "lon": site["lon"]},
                "observed_at": night.isoformat()}  # fmt: skip
        if k % 2:  # half of them above an OFFICIAL operator's clearance
            body["marking"] = {"classification": "DIFFUSION RESTREINTE"}
        assert api.post("/api/v1/incidents", json=body).status_code == 201, body
    # Need-to-know holds in the plan too: an operator cleared to OFFICIAL plans from the 15
    # sightings they may see (too few to learn from), never from the ones they may not.
    operator = seed_user(
        centre.settings, "olivia", role=Role.OPERATOR, clearance=Classification.OFFICIAL,
        token="est_operator-olivia",  # noqa: S106 (a test account)
    )  # fmt: skip
    cleared = api.post("/api/v1/plans", json={"seed": 5}, headers=operator)
    assert cleared.status_code == 201, cleared.text
    told = cleared.json()["organisers"]
    assert told["learnt"] is False
    assert told["found"] in (14, 15)  # the first may fall on tonight (before noon, UTC)
    plan = api.post("/api/v1/plans", json={"seed": 5}).json()
    org = plan["organisers"]
    assert org["learnt"] is True
    assert org["found"] >= 29  # a group found after midnight UTC may fall on tonight
    for name in ("cover", "road", "aversion"):
        assert org["weights"][name]["sd"] > 0
    assert org["memory"]["learnt"] in (0.3, 0.5, 0.7, 0.9)
    assert org["tonight"]["assumed"] == 0.0
    # Planned against the organisers it learnt (no post of ours stood yet: without them it
    # would be the static plan), and expecting them where they went.
    assert "memory" not in first["solver"]
    assert "memory" in plan["solver"]
    before = {s["id"]: s["attack_probability"] for s in first["sites"]}
    after = {s["id"]: s["attack_probability"] for s in plan["sites"]}
    assert sum(after[s["id"]] for s in sites) > sum(before[s["id"]] for s in sites)
