"""Terrain and ETA over HTTP: ranking, layers, and every bad input's error."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from scipy import ndimage

from estran.domain.terrain import TerrainClass
from tests.auth import AUTH

CALAIS = (50.9513, 1.8587)
BEACH_MARCK = (50.9600, 1.9500)


@pytest.fixture
def terrain_server(start_terrain_server):
    return start_terrain_server(within_s=120)


def sea_point(opale, min_m: float, max_m: float) -> tuple[float, float]:
    """(lat, lon) of a sea cell between min_m and max_m from ground a patrol can reach."""
    g = opale.grid
    walkable = np.isfinite(opale.engine.pace["foot"])
    dist = ndimage.distance_transform_edt(~walkable) * g.cell_m
    rows, cols = np.nonzero((g.classes == TerrainClass.SEA) & (dist > min_m) & (dist < max_m))
    i = len(rows) // 2
    lon, lat = opale.projector.to_lonlat(*g.centre(int(rows[i]), int(cols[i])))
    return lat, lon


def add_unit(base: str, uid: str, kind: str, lat: float, lon: float, **extra) -> None:
    body = {
        "id": uid,
        "callsign": uid.upper(),
        "kind": kind,
        "agency_id": "FR-GN",
        "position": {"lat": lat, "lon": lon},
        **extra,
    }
    r = httpx.post(headers=AUTH, url=f"{base}/api/v1/units", json=body)
    assert r.status_code == 201, r.text


def test_eta_ranks_available_units_with_route_and_reason(terrain_server):
    base = terrain_server.http
    add_unit(base, "foot-1", "foot_patrol", 50.9570, 1.9420)
    add_unit(base, "buggy-1", "dune_buggy", 50.9513, 1.8587)
    add_unit(base, "drone-1", "drone", 50.9450, 1.9000)
    add_unit(base, "busy-1", "dune_buggy", 50.9580, 1.9450, status="tasked")
    add_unit(base, "boat-1", "boat", 50.9700, 1.9000)
    r = httpx.get(
        headers=AUTH,
        url=f"{base}/api/v1/eta",
        params={"lat": BEACH_MARCK[0], "lon": BEACH_MARCK[1]},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [u["unit_id"] for u in body["units"]]
    assert "busy-1" not in ids  # only available units by default
    assert set(ids) == {"foot-1", "buggy-1", "drone-1", "boat-1"}
    ranked = [u for u in body["units"] if u["reachable"]]
    assert [u["rank"] for u in ranked] == list(range(1, len(ranked) + 1))
    etas = [u["eta_s"] for u in ranked]
    assert etas == sorted(etas)
    boat = next(u for u in body["units"] if u["unit_id"] == "boat-1")
    assert not boat["reachable"]
    assert "boat" in boat["reason"]
    for unit in ranked:
        assert unit["reason"]
        route = unit["route"]
        assert route["type"] == "FeatureCollection"
        for leg in route["features"]:
            assert leg["properties"]["mode"] in ("walk", "drive", "fly")
            lon, lat = leg["geometry"]["coordinates"][0]
            assert 50.6 < lat < 51.2
            assert 1.4 < lon < 2.7
    # The buggy's route ends at the target.
    buggy = next(u for u in ranked if u["unit_id"] == "buggy-1")
    end = buggy["route"]["features"][-1]["geometry"]["coordinates"][-1]
    assert abs(end[0] - body["target"]["lon"]) < 1e-3
    assert abs(end[1] - body["target"]["lat"]) < 1e-3
    assert body["computed_ms"] > 0


def test_eta_can_include_tasked_units_and_filter_kinds(terrain_server):
    base = terrain_server.http
    add_unit(base, "busy-2", "four_by_four", 50.9513, 1.8587, status="tasked")
    add_unit(base, "foot-2", "foot_patrol", 50.9570, 1.9420)
    params: dict[str, str | float] = {
        "lat": BEACH_MARCK[0],
        "lon": BEACH_MARCK[1],
        "status": "any",
        "kinds": "four_by_four",
    }
    body = httpx.get(headers=AUTH, url=f"{base}/api/v1/eta", params=params).json()
    assert [u["unit_id"] for u in body["units"]] == ["busy-2"]
    assert body["units"][0]["status"] == "tasked"


def test_a_point_in_the_sea_near_the_shore_is_moved_to_the_nearest_reachable_ground(
    terrain_server, opale
):
    base = terrain_server.http
    add_unit(base, "foot-3", "foot_patrol", 50.9570, 1.9420)
    lat, lon = sea_point(opale, 100, 300)
    body = httpx.get(headers=AUTH, url=f"{base}/api/v1/eta", params={"lat": lat, "lon": lon}).json()
    target = body["target"]
    assert target["snapped_m"] > 0
    assert "est en mer" in target["note"]  # the French account reads French
    assert target["terrain"] != "sea"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"lat": 48.85, "lon": 2.35}, 422, "outside_area"),  # Paris
        ("far out to sea", 422, "unreachable_location"),
        ({"lat": 95, "lon": 1.9}, 422, "validation_error"),
        ({"lat": "north", "lon": 1.9}, 422, "validation_error"),
        ({"lon": 1.9}, 422, "validation_error"),
        ({"lat": 50.96, "lon": 1.95, "status": "sleeping"}, 422, "validation_error"),
        ({"lat": 50.96, "lon": 1.95, "kinds": "submarine"}, 422, "validation_error"),
    ],
)
def test_bad_eta_requests_get_a_clear_error(terrain_server, opale, params, status, code):
    if params == "far out to sea":
        lat, lon = sea_point(opale, 550, 800)
        params = {"lat": lat, "lon": lon}
    r = httpx.get(headers=AUTH, url=f"{terrain_server.http}/api/v1/eta", params=params)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code
    assert error["message"]


def test_terrain_layers_for_the_web_map(terrain_server):
    base = terrain_server.http
    area = httpx.get(headers=AUTH, url=f"{base}/api/v1/area").json()
    assert area["name"] == "Côte d'Opale"
    assert {c["class"] for c in area["legend"]} >= {"sea", "dry_sand", "woodland", "road", "cliff"}
    assert any(p["name"] == "Calais" for p in area["places"])
    layer = httpx.get(
        headers=AUTH,
        url=f"{base}/api/v1/terrain",
        params={"bbox": "1.60,50.86,1.70,50.92", "max_cells": 20000},
    ).json()
    assert layer["type"] == "FeatureCollection"
    classes = {f["properties"]["class"] for f in layer["features"]}
    assert {"sea", "urban"} <= classes
    assert layer["step_m"] >= 25
    at = httpx.get(
        headers=AUTH, url=f"{base}/api/v1/terrain/at", params={"lat": CALAIS[0], "lon": CALAIS[1]}
    ).json()
    assert at["class"] in ("urban", "road")
    assert at["speeds_kmh"]["foot"] > 0
    sites = httpx.get(headers=AUTH, url=f"{base}/api/v1/launch-sites").json()
    assert len(sites["features"]) >= 50
    site = sites["features"][0]
    assert site["geometry"]["type"] == "Point"
    assert {"cover", "road_m", "beach_width_m", "nearest_place"} <= set(site["properties"])
    bad = httpx.get(headers=AUTH, url=f"{base}/api/v1/terrain", params={"bbox": "1,2,3"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


def test_terrain_routes_say_not_ready_while_it_is_being_prepared(server):
    running = server(terrain="off")
    r = httpx.get(
        headers=AUTH, url=f"{running.http}/api/v1/eta", params={"lat": 50.96, "lon": 1.95}
    )
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "not_ready"
    health = httpx.get(headers=AUTH, url=f"{running.http}/api/v1/health").json()
    assert health["terrain"]["state"] == "off"
