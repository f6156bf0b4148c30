"""The shipped Côte d'Opale: real coastline, places where they are, plausible terrain."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from estran.adapters.terrain_io import DEFAULT_AREA_DIR, area_geometry, load_area
from estran.domain.terrain import OUTSIDE, TerrainClass
from estran.domain.terrain_gen import generate
from estran.domain.travel import UnitAt


def cls_near(opale, lat: float, lon: float, radius_m: float) -> set[str]:
    x, y = opale.projector.to_xy(lon, lat)
    g = opale.grid
    cell = g.cell_of(x, y)
    assert cell is not None, (lat, lon)
    r, c = cell
    k = int(radius_m // g.cell_m)
    window = g.classes[max(0, r - k) : r + k + 1, max(0, c - k) : c + k + 1]
    return {TerrainClass(int(v)).label for v in np.unique(window) if v != OUTSIDE}


def test_every_named_place_is_at_its_real_position_on_the_terrain(opale):
    names = {p.name for p in opale.area.places}
    for wanted in (
        "Boulogne-sur-Mer",
        "Wimereux",
        "Ambleteuse",
        "Audresselles",
        "Cap Gris-Nez",
        "Wissant",
        "Cap Blanc-Nez",
        "Sangatte",
        "Calais",
        "Marck",
        "Oye-Plage",
        "Gravelines",
        "Grand-Fort-Philippe",
        "Dunkirk",
        "Bray-Dunes",
    ):
        assert wanted in names
    for place in opale.area.places:
        x, y = opale.projector.to_xy(place.lon, place.lat)
        assert opale.grid.class_at(x, y) != OUTSIDE, place.name
        if place.urban_m >= 400:
            assert "urban" in cls_near(opale, place.lat, place.lon, 300), place.name
        if place.cliff_m:
            assert "cliff" in cls_near(opale, place.lat, place.lon, 1500), place.name


def test_the_area_runs_from_boulogne_to_the_belgian_border_and_8_km_inland(opale):
    g = opale.grid
    min_x, min_y, max_x, max_y = g.bounds
    (w, s), (e, n) = (
        opale.projector.to_lonlat(min_x, min_y),
        opale.projector.to_lonlat(max_x, max_y),
    )
    assert w <= 1.55
    assert s <= 50.72
    assert e >= 2.54
    assert n >= 51.09
    # 8 km inland of Calais is inside the area; 12 km inland is not.
    calais = opale.projector.to_xy(1.8587, 50.9513)
    assert g.class_at(calais[0], calais[1] - 6000) != OUTSIDE
    assert g.class_at(calais[0], calais[1] - 12_000) == OUTSIDE


@pytest.mark.parametrize(("lon", "lat"), [(2.0, 51.0), (2.3, 51.06)])
def test_the_coast_has_a_beach_between_the_sea_and_the_dunes(opale, lon, lat):
    # Walk south from the sea off Oye-Plage and Dunkirk: sea, wet sand, dry sand, dunes.
    x, y = opale.projector.to_xy(lon, lat)
    g = opale.grid
    seen: list[int] = []
    for step in range(0, 3000, 25):
        code = g.class_at(x, y - step)
        if code != OUTSIDE and (not seen or seen[-1] != code):
            seen.append(code)
    labels = [TerrainClass(c).label for c in seen]
    assert labels[0] == "sea"
    assert "wet_sand" in labels
    assert labels.index("wet_sand") < labels.index("dry_sand")
    assert {"dune_grass", "scrub", "woodland", "track"} & set(labels)


def test_every_terrain_class_appears_in_the_default_area(opale):
    counts = opale.grid.class_counts()
    assert all(counts[c.label] > 0 for c in TerrainClass), counts


def test_the_synthetic_terrain_is_the_same_every_time():
    area = load_area(DEFAULT_AREA_DIR)
    from estran.adapters.terrain_io import Projector

    projector = Projector(area.spec.crs)
    first = generate(area_geometry(area, projector)).grid.classes
    second = generate(area_geometry(area, projector)).grid.classes
    assert np.array_equal(first, second)
    other = area.spec.model_copy(update={"seed": area.spec.seed + 1})
    moved = generate(area_geometry(type(area)(other, area.coast, area.folder), projector))
    assert not np.array_equal(first, moved.grid.classes)


def test_launch_sites_lie_on_beaches_along_the_whole_coast(opale):
    sites = opale.sites
    assert len(sites) >= 50
    assert len({s.id for s in sites}) == len(sites)
    for site in sites:
        assert opale.coastline.distance(_pt(site)) < 100
        assert site.beach_width_m > 0
        assert site.road_m >= 0
    lons = sorted(opale.projector.to_lonlat(s.x, s.y)[0] for s in sites)
    assert lons[0] < 1.7
    assert lons[-1] > 2.4
    assert any("woodland" in s.cover or "scrub" in s.cover for s in sites)
    assert any("bunker" in s.cover for s in sites)


def _pt(site):
    from shapely.geometry import Point

    return Point(site.x, site.y)


def test_on_the_real_terrain_vehicles_only_drive_where_they_can(opale):
    rng = np.random.default_rng(11)
    engine = opale.engine
    g = opale.grid
    land = np.argwhere(np.isfinite(engine.pace["foot"]))
    drivable: dict[str, set[int]] = {
        name: {TerrainClass[c.upper()] for c in engine.mobility.ground[name].speeds_kmh}
        for name in ("buggy", "four_by_four")
    }
    checked = 0
    for _ in range(12):
        r, c = land[rng.integers(len(land))]
        target = engine.resolve(*g.centre(int(r), int(c)))
        assert not isinstance(target, str)
        units = []
        for i in range(10):
            ur, uc = land[rng.integers(len(land))]
            units.append(
                UnitAt(f"u{i}", ("buggy", "four_by_four")[i % 2], *g.centre(int(ur), int(uc)))
            )
        for eta in engine.eta(target, units):
            # A fix just off drivable ground is moved onto it first: that charged first leg
            # is the one allowed to start where the vehicle cannot drive.
            moved = "position moved" in eta.reason
            for leg in eta.legs[1:] if moved else eta.legs:
                if leg.mode != "drive":
                    continue
                pts = leg.points
                for (x0, y0), (x1, y1) in itertools.pairwise(pts):
                    n = max(1, int(math.dist((x0, y0), (x1, y1)) / 5))
                    for k in range(n + 1):
                        x, y = x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n
                        assert g.class_at(x, y) in drivable[eta.profile], (eta.unit_id, x, y)
                checked += 1
    assert checked > 20


@pytest.mark.parametrize(("lat", "lon"), [(50.9600, 1.9500), (50.8850, 1.6650), (51.0600, 2.4500)])
def test_units_along_the_coast_get_ranked_routes_to_a_beach(opale, lat, lon):
    engine = opale.engine
    target = engine.resolve(*opale.projector.to_xy(lon, lat))
    assert not isinstance(target, str)
    units = [
        UnitAt("foot-near", "foot", *opale.projector.to_xy(lon + 0.01, lat - 0.005)),
        UnitAt("buggy-near", "buggy", *opale.projector.to_xy(lon + 0.02, lat - 0.01)),
        UnitAt("4x4-calais", "four_by_four", *opale.projector.to_xy(1.8587, 50.9513)),
        UnitAt("drone", "drone", *opale.projector.to_xy(lon + 0.05, lat - 0.02)),
    ]
    ranked = engine.eta(target, units)
    assert all(e.reachable for e in ranked), [e.reason for e in ranked]
    etas = [e.eta_s for e in ranked]
    assert etas == sorted(etas)
    for eta in ranked:
        assert eta.legs
        assert eta.reason
