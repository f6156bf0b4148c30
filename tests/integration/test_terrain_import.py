"""Real land cover and launch-site catalogues imported through the CLI, and bad files refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from estran.adapters.terrain_io import DEFAULT_AREA_DIR, read_grid
from estran.adapters.terrain_store import (
    imported_landcover_path,
    prepare_terrain,
)
from estran.cli.main import cli
from estran.config import Settings
from estran.domain.terrain import TerrainClass

# A box inland between Wissant and Escalles, inside the area.
BOX = (1.680, 50.875, 1.695, 50.885)  # west, south, east, north


def write_worldcover(path: Path, code: int) -> None:
    west, south, east, north = BOX
    res = 0.0001  # about 10 m, as WorldCover
    width, height = round((east - west) / res), round((north - south) / res)
    data = np.full((height, width), code, dtype=np.uint8)
    data[: height // 2, :] = 50  # the northern half is built-up
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=height,
        width=width,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(west, north, res, res),
        nodata=0,
    ) as dst:
        dst.write(data, 1)


def classes_in_box(grid, projector, box=BOX) -> dict[str, int]:
    west, south, east, north = box
    (x0, y0), (x1, y1) = projector.to_xy(west, south), projector.to_xy(east, north)
    r0, c0 = grid.cell_of(x0, y1)
    r1, c1 = grid.cell_of(x1, y0)
    window = grid.classes[r0 + 1 : r1, c0 + 1 : c1]
    values, counts = np.unique(window, return_counts=True)
    return {TerrainClass(int(v)).label: int(n) for v, n in zip(values, counts, strict=True)}


SMALL_AREA = """
[area]
name = "Wissant test coast"
crs = "EPSG:2154"
cell_m = 25
inland_m = 3000
offshore_m = 600
south_lat = 50.84
north_lat = 50.93
west_lon = 1.62
east_lon = 1.76
seed = 7

[[places]]
name = "Wissant"
lat = 50.8853
lon = 1.6614
urban_m = 550

[[roads]]
name = "D940"
line = [[1.6200, 50.8600], [1.6614, 50.8853], [1.6900, 50.9050], [1.7150, 50.9175]]
"""


@pytest.fixture
def area_dir(tmp_path: Path) -> Path:
    """Another coast configured the same way: a small stretch around Wissant."""
    folder = tmp_path / "area"
    folder.mkdir()
    (folder / "area.toml").write_text(SMALL_AREA, encoding="utf-8")
    shutil.copy(DEFAULT_AREA_DIR / "coast.geojson", folder / "coast.geojson")
    return folder


@pytest.fixture
def data_dir(tmp_path: Path, area_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ESTRAN_AREA_DIR", str(area_dir))
    return tmp_path / "data"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_a_worldcover_geotiff_replaces_the_synthetic_land_cover(tmp_path, data_dir):
    tif = tmp_path / "worldcover.tif"
    write_worldcover(tif, 10)  # tree cover
    code, out = run("terrain", "import", "--data", str(data_dir), str(tif))
    assert code == 0, out
    summary = json.loads(out[out.index("{") :])
    assert summary["cells_set"]["woodland"] > 0
    assert summary["cells_set"]["urban"] > 0
    settings = Settings(data_dir=data_dir)
    saved = read_grid(imported_landcover_path(settings))
    t = prepare_terrain(settings)
    assert np.array_equal(t.grid.classes, saved.classes)
    assert "imported" in t.source
    inside = classes_in_box(t.grid, t.projector)
    assert set(inside) == {"woodland", "urban"}
    # A buggy's route now goes round the imported wood.
    target = t.engine.resolve(*t.projector.to_xy(1.6875, 50.8775))
    assert not isinstance(target, str)
    assert t.grid.class_at(target.x, target.y) == TerrainClass.WOODLAND


def test_osm_features_in_geojson_are_burnt_in_by_tag(tmp_path, data_dir):
    west, south, east, north = BOX
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"natural": "scrub", "highway": None},
                "geometry": {
                    "type": "Polygon",
                    "coordinates": [
                        [[west, south], [east, south], [east, north], [west, north], [west, south]]
                    ],
                },
            },
            {
                "type": "Feature",
                "properties": {"natural": None, "highway": "track"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[west, (south + north) / 2], [east, (south + north) / 2]],
                },
            },
        ],
    }
    path = tmp_path / "osm.geojson"
    path.write_text(json.dumps(doc))
    code, out = run("terrain", "import", "--data", str(data_dir), str(path))
    assert code == 0, out
    t = prepare_terrain(Settings(data_dir=data_dir))
    inside = classes_in_box(t.grid, t.projector)
    assert set(inside) == {"scrub", "track"}
    assert inside["scrub"] > inside["track"] > 10


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fake.tif", b"this is not a raster", "not a readable raster"),
        ("fake.geojson", b"{not json", "not a readable vector file"),
    ],
)
def test_a_file_that_is_not_land_cover_is_refused_and_changes_nothing(
    tmp_path, data_dir, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content)
    code, out = run("terrain", "import", "--data", str(data_dir), str(path))
    assert code != 0
    assert message in out
    assert not (data_dir / "terrain" / "landcover.tif").exists()


def test_a_raster_with_an_unknown_legend_is_refused(tmp_path, data_dir):
    tif = tmp_path / "odd.tif"
    write_worldcover(tif, 77)
    code, out = run("terrain", "import", "--data", str(data_dir), str(tif))
    assert code != 0
    assert "legend" in out
    assert not (data_dir / "terrain" / "landcover.tif").exists()


def site(lon: float, lat: float, **props) -> dict:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
    }


def test_a_launch_site_catalogue_replaces_the_generated_one(tmp_path, data_dir):
    path = tmp_path / "sites.geojson"
    doc = {
        "type": "FeatureCollection",
        "features": [
            site(1.655, 50.887, id="WIS-1", name="Wissant dunes", cover=["dunes", "bunker"]),
            site(1.70, 50.91, id="ESC-1", name="Escalles beach"),
        ],
    }
    path.write_text(json.dumps(doc))
    code, out = run("terrain", "sites", "--data", str(data_dir), str(path))
    assert code == 0, out
    assert "2 launch sites" in out
    t = prepare_terrain(Settings(data_dir=data_dir))
    assert [s.id for s in t.sites] == ["WIS-1", "ESC-1"]
    assert t.sites[0].cover == ["dunes", "bunker"]


@pytest.mark.parametrize(
    "feature",
    [
        site(2.35, 48.85, id="PARIS"),  # outside the area
        site(1.86, 50.95, id="CALAIS"),  # on the coast, but outside this small area
        site(1.655, 50.887, id="bad id with spaces"),
        site(1.655, 50.887, id="X", beach_width_m=-5),
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}},
    ],
)
def test_a_bad_launch_site_is_refused_with_the_reason(tmp_path, data_dir, feature):
    path = tmp_path / "sites.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    code, out = run("terrain", "sites", "--data", str(data_dir), str(path))
    assert code != 0
    assert "feature 0" in out
    assert not (data_dir / "terrain" / "launch-sites.geojson").exists()


def test_terrain_render_draws_a_png(tmp_path, data_dir):
    out_png = tmp_path / "t.png"
    code, out = run("terrain", "render", "--data", str(data_dir), "-o", str(out_png), "--step", "8")
    assert code == 0, out
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
