"""The watch floor's server side: the page and its files served by ``estran serve`` itself,
with a strict CSP and nothing from outside; the shipped libraries are the locked ones; the
offline base map; the hourly figures the charts draw."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from estran.app.web.ui import STATIC_DIR
from estran.domain.terrain import (
    BEYOND_COLOURS,
    BEYOND_LAND,
    NIGHT_COLOURS,
    TerrainClass,
    fill_beyond,
    paint,
)
from tests.auth import AUTH

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mapped(start_terrain_server):
    return start_terrain_server().http


def test_the_page_and_its_files_are_served_with_a_strict_policy(server):
    base = server().http
    page = httpx.get(f"{base}/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    # Every script and stylesheet the page names is ours and is served.
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("/static/"), ref
        assert httpx.get(f"{base}{ref}").status_code == 200, ref
    # Nothing in the shipped code reaches outside: no CDN, no tile server, no fonts.
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".js", ".css", ".html"} and "vendor" not in path.parts:
            assert not re.search(r"https?://", path.read_text()), path
    # The page needs no sign-in; the data behind it does.
    assert httpx.get(f"{base}/api/v1/units").status_code == 401


def test_the_shipped_libraries_are_the_ones_locked_from_the_npm_registry():
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
    shipped = json.loads((STATIC_DIR / "vendor" / "versions.json").read_text())
    wanted = json.loads((ROOT / "web" / "package.json").read_text())["dependencies"]
    assert set(shipped) == set(wanted)
    for name, version in wanted.items():
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version == shipped[name]["version"]
        assert locked["integrity"] == shipped[name]["integrity"]
    leaflet = (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").read_text()
    assert f"Leaflet {wanted['leaflet']}" in leaflet[:200]


def test_the_base_map_is_the_terrain_in_web_mercator_and_needs_sign_in(mapped):
    base = mapped
    assert httpx.get(f"{base}/api/v1/basemap.png").status_code == 401
    r = httpx.get(f"{base}/api/v1/basemap.png", params={"width": 1024}, headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"
    area = httpx.get(f"{base}/api/v1/area", headers=AUTH).json()
    west, south, east, north = (float(v) for v in r.headers["x-bounds"].split(","))
    assert [west, south, east, north] == pytest.approx(area["bbox"], abs=1e-6)
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert img.shape[1] == 1024
    # Mercator stretches north-south: the image is taller than a plain lat/lon one would be.
    plain = 1024 * (north - south) / (east - west)
    assert img.shape[0] > plain * 1.5

    def pixel(lat: float, lon: float) -> tuple[int, ...]:
        r_earth = 6_378_137.0
        merc = lambda v: r_earth * np.log(np.tan(np.pi / 4 + np.radians(v) / 2))  # noqa: E731
        x = (lon - west) / (east - west) * img.shape[1]
        y = (merc(north) - merc(lat)) / (merc(north) - merc(south)) * img.shape[0]
        return tuple(int(c) for c in img[int(y), int(x)])

    def colour(cls: TerrainClass) -> tuple[int, ...]:
        return tuple(int(c) for c in paint(np.array([[cls]], np.uint8), NIGHT_COLOURS)[0, 0])

    # Each place is where the terrain service says it is, in its class's night colour.
    for lat, lon in [(50.965, 1.82), (50.93, 1.90), (50.9513, 1.8587)]:
        cls = httpx.get(f"{base}/api/v1/terrain/at", params={"lat": lat, "lon": lon}, headers=AUTH)
        want = colour(TerrainClass[cls.json()["class"].upper()])
        assert pixel(lat, lon) == want, (lat, lon, cls.json()["class"])
    # Beyond the terrain strip: inland is land (never the sea's colour, which made the coast
    # an island), offshore is sea, and nothing in the area is left transparent.
    sea = colour(TerrainClass.SEA)
    beyond = tuple(int(c) for c in paint(np.array([[BEYOND_LAND]], np.uint8), NIGHT_COLOURS,
                                         beyond=BEYOND_COLOURS["night"])[0, 0])  # fmt: skip
    assert beyond != sea
    far = {"lat": south + 0.01, "lon": east - 0.02}  # inland, beyond the strip
    inland = httpx.get(f"{base}/api/v1/terrain/at", params=far, headers=AUTH)
    assert inland.json()["error"]["code"] == "outside_area", inland.text  # beyond the terrain
    assert pixel(south + 0.01, east - 0.02) == beyond
    assert pixel(north - 0.005, west + 0.02) == sea  # the open sea off Cap Gris-Nez
    assert (img[:, :, 3] == 255).all()
    day = httpx.get(f"{base}/api/v1/basemap.png", params={"width": 1024, "theme": "day"},
                    headers=AUTH)  # fmt: skip
    assert day.content != r.content
    assert (
        httpx.get(f"{base}/api/v1/basemap.png", params={"width": 99999}, headers=AUTH).json()[
            "error"
        ]["code"]
        == "validation_error"
    )


def test_zoomed_in_the_base_map_is_tiles_drawn_from_the_terrain_at_that_zoom(mapped):
    """Issue 20: the overview image blurred after two zoom steps. XYZ tiles are drawn from the
    terrain grid at the zoom asked for: at zoom 16 a pixel is about 1.5 m (the overview's is
    30 m), and each pixel is the class of the terrain under it."""
    import math

    from estran.adapters.basemap import tile_bounds

    base = mapped
    lat, lon = 50.9600, 1.9500  # Marck beach, inside the strip
    z = 16
    n = 2**z
    fx = (lon + 180) / 360 * n
    fy = (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n
    x, y = int(fx), int(fy)
    url = f"{base}/api/v1/basemap/night/{z}/{x}/{y}.png"
    assert httpx.get(url).status_code == 401
    r = httpx.get(url, headers=AUTH)
    assert r.status_code == 200, r.text
    img = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGBA"))
    assert img.shape == (256, 256, 4)
    west, _, east, _ = tile_bounds(z, x, y)
    metres_per_px = (east - west) / 256 * 111_320 * math.cos(math.radians(lat))
    assert metres_per_px < 2.0
    at = httpx.get(f"{base}/api/v1/terrain/at", params={"lat": lat, "lon": lon}, headers=AUTH)
    cls = TerrainClass[at.json()["class"].upper()]
    px = img[int((fy - y) * 256), int((fx - x) * 256)]
    expected = paint(np.array([[cls]], np.uint8), NIGHT_COLOURS)[0, 0]
    coast = paint(np.array([[0]], np.uint8), NIGHT_COLOURS, coast="#5f8fb0")[0, 0]
    assert tuple(px) in (tuple(expected), tuple(coast)), (px, cls)
    assert len({tuple(p) for p in img.reshape(-1, 4)}) >= 2  # a beach: sand and sea at least
    again = httpx.get(url, headers=AUTH)
    assert again.content == r.content  # the same tile from the cache
    day = httpx.get(f"{base}/api/v1/basemap/day/{z}/{x}/{y}.png", headers=AUTH)
    assert day.content != r.content
    # Far from the strip (the Alps): clear, so the overview shows through.
    far = httpx.get(f"{base}/api/v1/basemap/night/12/2120/1450.png", headers=AUTH)
    assert (np.asarray(Image.open(io.BytesIO(far.content)).convert("RGBA"))[:, :, 3] == 0).all()
    for bad in ("night/7/0/0", "night/12/4096/0", "dusk/12/0/0"):
        assert httpx.get(f"{base}/api/v1/basemap/{bad}.png", headers=AUTH).status_code == 422


def test_beyond_the_terrain_is_sea_offshore_and_land_inland():
    codes = np.array([[255, 0, 0, 255], [255, 0, 2, 255], [255, 6, 6, 255], [255, 255, 255, 255]],
                     np.uint8)  # fmt: skip
    filled = fill_beyond(codes)
    assert (filled != 255).all()
    assert filled[0, 0] == TerrainClass.SEA  # next to the sea
    assert filled[3, 3] == BEYOND_LAND  # next to farmland
    assert filled[2, 0] == BEYOND_LAND
    assert (fill_beyond(np.full((2, 2), 255, np.uint8)) == 255).all()  # nothing to go by


def test_paint_draws_classes_outside_transparent_and_the_coast_line():
    codes = np.array([[0, 0, 2], [0, 0, 2], [255, 255, 255]], np.uint8)
    rgba = paint(codes, NIGHT_COLOURS, coast="#ffffff")
    assert tuple(rgba[2, 0]) == (0, 0, 0, 0)  # outside the area
    assert tuple(rgba[0, 1]) == (255, 255, 255, 255)  # sea touching sand: the coastline
    assert tuple(rgba[0, 0]) == (7, 19, 31, 255)  # open sea
    assert tuple(rgba[0, 2]) == (0x4B, 0x44, 0x31, 255)  # dry sand


def test_figures_group_by_hour_for_the_charts(server):
    base = server().http
    for _ in range(3):
        body = {
            "type": "launch_attempt",
            "owner_agency_id": "FR-GN",
            "position": {"lat": 50.96, "lon": 1.95},
        }
        assert httpx.post(f"{base}/api/v1/incidents", json=body, headers=AUTH).status_code == 201
    stats = httpx.get(f"{base}/api/v1/stats", params={"by": "hour"}, headers=AUTH).json()
    assert stats["by"] == "hour"
    (key, group), *_ = stats["groups"].items()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d", key)
    assert sum(g["attempts_detected"] for g in stats["groups"].values()) == 3
    assert group["attempts_detected"] >= 1
