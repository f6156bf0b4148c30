"""Fusion in the running server: reports over REST become one incident per group."""

from __future__ import annotations

import httpx
import pytest

from tests.auth import AUTH
from tests.polling import get_until

WISSANT_DUNES = (50.8905, 1.6680)


def wait_for(url: str, check, within_s: float = 10.0):
    return get_until(url, check, within_s)


@pytest.fixture
def fused(start_terrain_server):
    running = start_terrain_server(fusion=True)
    base = running.http
    for sensor, kind in (
        ("uas-1", "drone_thermal"),
        ("uas-2", "drone_thermal"),
        ("patrol-7", "patrol_report"),
    ):
        r = httpx.post(
            headers=AUTH,
            url=f"{base}/api/v1/sensors",
            json={"id": sensor, "name": sensor, "kind": kind, "agency_id": "FR-GN"},
        )
        assert r.status_code == 201, r.text
    return running


def detect(base: str, det_id: str, sensor: str, lat: float, lon: float, **extra) -> None:
    body = {
        "id": det_id,
        "sensor_id": sensor,
        "class": "group_of_people",
        "position": {"lat": lat, "lon": lon, "error_m": 30.0},
        "confidence": 0.7,
        **extra,
    }
    r = httpx.post(headers=AUTH, url=f"{base}/api/v1/detections", json=body)
    assert r.status_code == 201, r.text


def test_two_drones_and_a_foot_patrol_seeing_one_group_make_one_incident(fused):
    base = fused.http
    lat, lon = WISSANT_DUNES
    detect(base, "d-1", "uas-1", lat, lon, count=30)
    detect(base, "d-2", "uas-2", lat + 0.0002, lon + 0.0002, count=35)
    detect(base, "d-3", "patrol-7", lat - 0.0001, lon + 0.0001)
    body = wait_for(
        f"{base}/api/v1/incidents",
        lambda b: b["total"] == 1 and len(b["items"][0]["detection_ids"]) == 3,
    )
    (incident,) = body["items"]
    assert sorted(incident["detection_ids"]) == ["d-1", "d-2", "d-3"]
    assert incident["count"] == 35
    assert len(incident["track_ids"]) == 1
    track = httpx.get(headers=AUTH, url=f"{base}/api/v1/tracks/{incident['track_ids'][0]}").json()
    assert sorted(track["detection_ids"]) == ["d-1", "d-2", "d-3"]
    assert track["ellipse"]["semi_major_m"] > 0
    for det in ("d-1", "d-2", "d-3"):
        assert (
            httpx.get(headers=AUTH, url=f"{base}/api/v1/detections/{det}").json()["track_id"]
            == track["id"]
        )
    # A group 4 km away is another incident.
    detect(base, "d-4", "uas-1", lat + 0.02, lon + 0.05)
    wait_for(f"{base}/api/v1/incidents", lambda b: b["total"] == 2)


def test_a_boat_seen_at_sea_opens_a_rescue_case_for_cross(fused, opale):
    import numpy as np

    from estran.domain.terrain import TerrainClass

    g = opale.grid
    rows, cols = np.nonzero(g.classes == TerrainClass.SEA)
    lon, lat = opale.projector.to_lonlat(
        *g.centre(int(rows[len(rows) // 3]), int(cols[len(cols) // 3]))
    )
    body = {
        "id": "boat-1",
        "sensor_id": "uas-1",
        "class": "boat",
        "position": {"lat": lat, "lon": lon, "error_m": 50.0},
        "count": 50,
    }
    assert (
        httpx.post(headers=AUTH, url=f"{fused.http}/api/v1/detections", json=body).status_code
        == 201
    )
    found = wait_for(f"{fused.http}/api/v1/incidents", lambda b: b["total"] >= 1)
    case = found["items"][0]
    assert case["type"] == "boat_at_sea"
    assert case["life_at_sea"] is True
    assert case["owner_agency_id"] == "FR-CROSS-GN"
    assert case["impact"] == "very_high"
