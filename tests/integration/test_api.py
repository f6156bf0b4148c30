from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests import factories
from tests.conftest import in_process


@pytest.fixture
def api(make_settings):
    with in_process(make_settings(max_body_bytes=64 * 1024, max_batch_events=50)) as client:
        yield client


def seq(api: httpx.Client) -> int:
    return api.get("/api/v1/health").json()["seq"]


def test_health_reports_the_store_and_the_seeded_agencies(api):
    body = api.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["store"] == "sqlite"
    ids = [a["id"] for a in api.get("/api/v1/agencies").json()["items"]]
    assert {"FR-GN", "UK-BF", "FR-CROSS-GN"} <= set(ids)


def test_a_unit_is_created_read_updated_and_its_history_kept(api):
    created = api.post("/api/v1/units", json=factories.unit(id="alpha"))
    assert created.status_code == 201
    assert created.headers["location"] == "/api/v1/units/alpha"
    assert created.json()["kind"] == "dune_buggy"
    moved = api.patch(
        "/api/v1/units/alpha", json={"status": "en_route", "position": {"lat": 50.91, "lon": 1.68}}
    )
    assert moved.status_code == 200
    got = api.get("/api/v1/units/alpha").json()
    assert got["status"] == "en_route"
    assert got["position"]["lat"] == 50.91
    history = api.get("/api/v1/units/alpha/history").json()["events"]
    assert [e["type"] for e in history] == ["unit.created", "unit.updated"]


def test_every_kind_can_be_created_and_fetched(api):
    sensor = api.post("/api/v1/sensors", json=factories.sensor()).json()
    unit = api.post("/api/v1/units", json=factories.unit()).json()
    det = api.post("/api/v1/detections", json=factories.detection(sensor["id"])).json()
    trk = api.post(
        "/api/v1/tracks",
        json={
            "class": "group_of_people",
            "count": 12,
            "position": {"lat": 50.9, "lon": 1.7},
            "detection_ids": [det["id"]],
        },
    ).json()
    sec = api.post("/api/v1/sectors", json=factories.sector()).json()
    inc = api.post(
        "/api/v1/incidents",
        json=factories.incident(
            sector_id=sec["id"], detection_ids=[det["id"]], track_ids=[trk["id"]]
        ),
    ).json()
    task = api.post("/api/v1/tasks", json={"incident_id": inc["id"], "unit_id": unit["id"]})
    assert task.status_code == 201, task.text
    for plural, record in [
        ("sensors", sensor),
        ("units", unit),
        ("detections", det),
        ("tracks", trk),
        ("sectors", sec),
        ("incidents", inc),
        ("tasks", task.json()),
    ]:
        got = api.get(f"/api/v1/{plural}/{record['id']}")
        assert got.status_code == 200, plural
        assert got.json()["marking"]["classification"] == "OFFICIAL"


def test_lists_filter_by_bbox_type_status_and_time(api):
    api.post("/api/v1/units", json=factories.unit(id="near"))
    api.post(
        "/api/v1/units",
        json=factories.unit(id="far", kind="foot_patrol", position={"lat": 51.05, "lon": 2.4}),
    )
    api.patch("/api/v1/units/far", json={"status": "off_duty"})
    ids = lambda **p: [u["id"] for u in api.get("/api/v1/units", params=p).json()["items"]]  # noqa: E731
    assert ids(bbox="1.5,50.8,1.7,50.95") == ["near"]
    assert ids(type="foot_patrol") == ["far"]
    assert ids(status="off_duty") == ["far"]
    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert ids(since=future) == []
    page = api.get("/api/v1/units", params={"limit": 1}).json()
    assert page["total"] == 2
    assert len(page["items"]) == 1


def test_map_layers_are_geojson_feature_collections(api):
    api.post("/api/v1/units", json=factories.unit(id="u"))
    api.post("/api/v1/sectors", json=factories.sector(id="s"))
    units = api.get("/api/v1/layers/units").json()
    assert units["type"] == "FeatureCollection"
    assert units["features"][0]["geometry"] == {"type": "Point", "coordinates": [1.58, 50.87]}
    sectors = api.get("/api/v1/layers/sectors").json()
    assert sectors["features"][0]["geometry"]["type"] == "Polygon"


def test_the_picture_at_a_past_time_is_served(api):
    api.post("/api/v1/units", json=factories.unit(id="u"))
    between = datetime.now(UTC).isoformat()
    api.patch("/api/v1/units/u", json={"status": "on_scene"})
    then = api.get("/api/v1/picture", params={"at": between, "kinds": "units"}).json()
    now = api.get("/api/v1/picture", params={"kinds": "units"}).json()
    assert then["records"]["units"][0]["status"] == "available"
    assert now["records"]["units"][0]["status"] == "on_scene"
    assert then["seq"] < now["seq"]
    assert set(then["records"]) == {"units"}


def test_a_batch_of_events_is_accepted_in_order(api):
    before = seq(api)
    batch = [
        {"type": "unit.created", "data": factories.unit(f"U{i}", id=f"u{i}")} for i in range(20)
    ]
    reply = api.post("/api/v1/events", json=batch)
    assert reply.status_code == 201
    assert [e["seq"] for e in reply.json()["events"]] == list(range(before + 1, before + 21))
    log = api.get("/api/v1/events", params={"after": before}).json()
    assert [e["entity_id"] for e in log["events"]] == [f"u{i}" for i in range(20)]
    assert log["next_after"] == before + 20


def test_an_idempotency_key_makes_a_retry_safe(api):
    headers = {"Idempotency-Key": "create-alpha-0001"}
    first = api.post("/api/v1/units", json=factories.unit(id="alpha"), headers=headers)
    again = api.post("/api/v1/units", json=factories.unit(id="alpha"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["version"] == again.json()["version"]


def test_the_openapi_document_describes_every_route_and_body(api):
    spec = api.get("/openapi.json").json()
    for path in (
        "/api/v1/units",
        "/api/v1/units/{entity_id}",
        "/api/v1/events",
        "/api/v1/picture",
        "/api/v1/layers/incidents",
        "/api/v1/health",
    ):
        assert path in spec["paths"], path
    assert "UnitCreate" in spec["components"]["schemas"]
    assert "Position" in spec["components"]["schemas"]


def test_a_position_far_outside_the_area_is_refused_unless_the_header_says_deliberate(api):
    paris = factories.unit("PARIS-1", id="paris-1", position={"lat": 48.8566, "lon": 2.3522})
    r = api.post("/api/v1/units", json=paris)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "outside_area"
    assert '"out_of_area": "deliberate"' in r.json()["error"]["message"]
    assert "refusé comme erreur probable" in r.json()["error"]["message"]  # a French account
    r = api.post("/api/v1/units", json=paris, headers={"X-Out-Of-Area": "deliberate"})
    assert r.status_code == 201, r.text
    swapped = factories.unit("SWAP-1", id="swap-1", position={"lat": 1.85, "lon": 50.95})
    r = api.post("/api/v1/events", json=[{"type": "unit.created", "data": swapped}])
    assert r.status_code == 422
    assert "(latitude et longitude inversées ?)" in r.json()["error"]["message"]
    r = api.post("/api/v1/events", json=[{"type": "unit.created", "data": swapped}],
                 headers={"Accept-Language": "en"})  # fmt: skip
    assert "(latitude and longitude swapped?)" in r.json()["error"]["message"]
