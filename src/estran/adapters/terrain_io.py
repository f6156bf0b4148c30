"""Terrain I/O: area folders, reprojection, GeoTIFF storage, and land-cover import.

The pure core works in the area's projected metres; this module is where WGS 84 meets
Lambert-93 (pyproj), where rasters are read and written (rasterio/GDAL) and where vector land
cover is read (pyogrio). Files are hostile input: sizes are capped, classes are mapped through
explicit tables, and anything unmapped keeps the class it had.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon, shape
from shapely.ops import unary_union

from estran.domain.area import AreaSpec
from estran.domain.errors import InvalidInputError, PayloadTooLargeError
from estran.domain.messages import msg
from estran.domain.terrain import OUTSIDE, Grid
from estran.domain.terrain import TerrainClass as T
from estran.domain.terrain_gen import AreaGeometry

__all__ = [
    "CORINE",
    "DEFAULT_AREA_DIR",
    "MAX_IMPORT_BYTES",
    "WORLDCOVER",
    "Mapping",
    "Projector",
    "apply_import",
    "area_geometry",
    "import_landcover",
    "load_area",
    "point_xy",
    "read_grid",
    "render_png",
    "write_grid",
]

DEFAULT_AREA_DIR: Final = Path(__file__).resolve().parent.parent / "data" / "areas" / "cote-opale"
MAX_IMPORT_BYTES: Final = 2 * 1024**3
"""Largest land-cover file ``estran terrain import`` reads."""

WORLDCOVER: Final[dict[int, T]] = {
    10: T.WOODLAND,  # tree cover
    20: T.SCRUB,  # shrubland
    30: T.DUNE_GRASS,  # grassland
    40: T.FARMLAND,  # cropland
    50: T.URBAN,  # built-up
    60: T.DRY_SAND,  # bare / sparse vegetation (beaches, dunes here)
    80: T.WATER,  # permanent water bodies (sea where it touches the open sea: see below)
    90: T.MARSH,  # herbaceous wetland
    95: T.MARSH,  # mangroves
    100: T.DUNE_GRASS,  # moss and lichen
}
"""ESA WorldCover 10 m legend -> Estran classes."""

CORINE: Final[dict[int, T]] = {
    **dict.fromkeys((111, 112, 121, 123, 124, 131, 132, 133, 141, 142), T.URBAN),
    122: T.ROAD,
    **dict.fromkeys((211, 212, 213, 221, 222, 223, 231, 241, 242, 243, 244), T.FARMLAND),
    **dict.fromkeys((311, 312, 313), T.WOODLAND),
    321: T.DUNE_GRASS,
    322: T.SCRUB,
    323: T.SCRUB,
    324: T.SCRUB,
    331: T.DRY_SAND,
    332: T.CLIFF,
    333: T.DUNE_GRASS,
    411: T.MARSH,
    412: T.MARSH,
    421: T.MARSH,
    422: T.MARSH,
    423: T.WET_SAND,
    511: T.WATER,
    512: T.WATER,
    521: T.WATER,
    522: T.SEA,
    523: T.SEA,
}
"""CORINE Land Cover level-3 codes -> Estran classes."""

# OSM tags, highest priority last (later features overwrite earlier ones).
_OSM_RULES: Final[list[tuple[str, tuple[str, ...], T]]] = [
    ("landuse", ("farmland", "meadow", "orchard", "grass", "farmyard"), T.FARMLAND),
    ("landuse", ("residential", "industrial", "commercial", "retail", "port"), T.URBAN),
    ("landuse", ("forest",), T.WOODLAND),
    ("natural", ("wood",), T.WOODLAND),
    ("natural", ("scrub", "heath"), T.SCRUB),
    ("natural", ("grassland",), T.DUNE_GRASS),
    ("natural", ("dune",), T.DUNE_GRASS),
    ("natural", ("sand", "beach"), T.DRY_SAND),
    ("natural", ("wetland",), T.MARSH),
    ("natural", ("water",), T.WATER),
    ("natural", ("cliff",), T.CLIFF),
    ("highway", ("track", "path", "footway", "bridleway", "cycleway"), T.TRACK),
    (
        "highway",
        (
            "motorway",
            "trunk",
            "primary",
            "secondary",
            "tertiary",
            "unclassified",
            "residential",
            "service",
            "road",
        ),
        T.ROAD,
    ),
]

Mapping = Literal["auto", "worldcover", "corine", "osm"]


class Projector:
    """WGS 84 longitude/latitude <-> the area's projected metres."""

    def __init__(self, crs: str) -> None:
        self.crs = crs
        self._fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        x, y = self._fwd.transform(lon, lat)
        return float(x), float(y)

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._inv.transform(x, y)
        return float(lon), float(lat)

    def many_to_xy(
        self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return _many(self._fwd, lons, lats)

    def many_to_lonlat(
        self, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return _many(self._inv, xs, ys)

    def geometry_to_xy(self, geom: Any) -> Any:
        return _reproject(geom, self._fwd)

    def geometry_to_lonlat(self, geom: Any) -> Any:
        return _reproject(geom, self._inv)


def _many(
    transformer: Transformer, a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Transform arrays; pyproj treats one-element arrays as scalars, so those go one by one."""
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0:
        return a.copy(), b.copy()
    if a.size == 1:
        x, y = transformer.transform(float(a[0]), float(b[0]))
        return np.array([x]), np.array([y])
    x, y = transformer.transform(a, b)
    return np.asarray(x), np.asarray(y)


def _reproject(geom: Any, transformer: Transformer) -> Any:
    def move(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, move)


@dataclass(frozen=True)
class LoadedArea:
    spec: AreaSpec
    coast: dict[str, Any]
    folder: Path


def load_area(folder: Path) -> LoadedArea:
    """Read ``area.toml`` and ``coast.geojson`` from an area folder."""
    toml_path, coast_path = folder / "area.toml", folder / "coast.geojson"
    for path in (toml_path, coast_path):
        if not path.is_file():
            raise InvalidInputError(
                msg("area folder {folder} lacks {name}", folder=folder, name=path.name)
            )
    raw = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    body = dict(raw.get("area", {}))
    body["places"] = raw.get("places", [])
    body["roads"] = raw.get("roads", [])
    spec = AreaSpec.model_validate(body)
    coast = json.loads(coast_path.read_text(encoding="utf-8"))
    return LoadedArea(spec, coast, folder)


def _geojson_geometry(doc: dict[str, Any]) -> Any:
    kind = doc.get("type")
    if kind == "FeatureCollection":
        return unary_union([shape(f["geometry"]) for f in doc["features"]])
    if kind == "Feature":
        return shape(doc["geometry"])
    return shape(doc)


def area_geometry(area: LoadedArea, projector: Projector) -> AreaGeometry:
    spec = area.spec
    land_ll = _geojson_geometry(area.coast)
    # The extent, densified so that its edges follow parallels and meridians once projected.
    n = 64
    s, nn, w, e = spec.south_lat, spec.north_lat, spec.west_lon, spec.east_lon
    ring = (
        [(w + (e - w) * i / n, s) for i in range(n)]
        + [(e, s + (nn - s) * i / n) for i in range(n)]
        + [(e - (e - w) * i / n, nn) for i in range(n)]
        + [(w, nn - (nn - s) * i / n) for i in range(n)]
    )
    extent = projector.geometry_to_xy(Polygon(ring))
    land = projector.geometry_to_xy(land_ll).buffer(0)
    places = [(p, *projector.to_xy(p.lon, p.lat)) for p in spec.places]
    roads = [projector.geometry_to_xy(LineString(r.line)) for r in spec.roads]
    polder_x = None
    if spec.polder_east_of_lon is not None:
        mid_lat = (spec.south_lat + spec.north_lat) / 2
        polder_x = projector.to_xy(spec.polder_east_of_lon, mid_lat)[0]
    return AreaGeometry(spec, land, extent, places, roads, polder_x)


# --- raster storage -------------------------------------------------------------------------


def write_grid(grid: Grid, path: Path) -> None:
    """Save a grid as a one-band, DEFLATE-compressed GeoTIFF (class codes, nodata 255)."""
    import rasterio
    from rasterio.transform import from_origin

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.tif")
    rows, cols = grid.shape
    with rasterio.open(
        tmp,
        "w",
        driver="GTiff",
        height=rows,
        width=cols,
        count=1,
        dtype="uint8",
        crs=grid.crs,
        transform=from_origin(grid.left_x, grid.top_y, grid.cell_m, grid.cell_m),
        nodata=OUTSIDE,
        compress="deflate",
        tiled=True,
    ) as dst:
        dst.write(grid.classes, 1)
    tmp.replace(path)


def read_grid(path: Path) -> Grid:
    import rasterio

    with rasterio.open(path) as src:
        if src.count < 1 or src.res[0] != src.res[1]:
            raise InvalidInputError(
                msg("{path}: a terrain raster has square cells and one band", path=path)
            )
        data = src.read(1).astype(np.uint8)
        t = src.transform
        return Grid(data, float(t.c), float(t.f), float(t.a), str(src.crs))


# --- import -------------------------------------------------------------------------------


_VECTOR_SUFFIXES: Final = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


def _guess_mapping(path: Path, values: set[int]) -> Mapping:
    if path.suffix.lower() in _VECTOR_SUFFIXES:
        return "osm"
    if values and values <= set(WORLDCOVER) | {0}:
        return "worldcover"
    if values and values <= set(CORINE) | {0, 48, 49, 50, 128, 255, 999}:
        return "corine"
    raise InvalidInputError(
        msg(
            "{name}: cannot tell the legend of values {values}; "
            "pass --mapping worldcover or corine",
            name=path.name,
            values=sorted(values)[:12],
        )
    )


def import_landcover(
    path: Path, grid: Grid, mapping: Mapping = "auto"
) -> tuple[npt.NDArray[np.uint8], dict[str, int]]:
    """Classes from a land-cover file on ``grid``'s cells (``OUTSIDE`` where it says nothing).

    Rasters (GeoTIFF: ESA WorldCover, CORINE) are resampled by nearest neighbour onto the
    grid; vectors (GeoJSON or GeoPackage of OSM features) are burnt in by tag priority.
    Returns the classes and a count of cells per class set from the file.
    """
    if not path.is_file():
        raise InvalidInputError(msg("no such file: {path}", path=path))
    size = path.stat().st_size
    if size > MAX_IMPORT_BYTES:
        raise PayloadTooLargeError(
            msg(
                "{name} is {size} bytes; the import limit is {MAX_IMPORT_BYTES}",
                name=path.name,
                size=size,
                MAX_IMPORT_BYTES=MAX_IMPORT_BYTES,
            ),
            limit=MAX_IMPORT_BYTES,
            actual=size,
        )
    if mapping == "osm" or (mapping == "auto" and path.suffix.lower() in _VECTOR_SUFFIXES):
        out = _import_vector(path, grid)
    else:
        out = _import_raster(path, grid, mapping)
    counts = np.bincount(out.ravel(), minlength=256)
    return out, {c.label: int(counts[c]) for c in T if counts[c]}


def _import_raster(path: Path, grid: Grid, mapping: Mapping) -> npt.NDArray[np.uint8]:
    import rasterio
    from rasterio.errors import RasterioError
    from rasterio.transform import from_origin
    from rasterio.warp import Resampling, reproject

    try:
        with rasterio.open(path) as src:
            if src.count < 1:
                raise InvalidInputError(msg("{name} has no band", name=path.name))
            source = np.full(grid.shape, 0, dtype=np.int32)
            reproject(
                source=rasterio.band(src, 1),
                destination=source,
                dst_transform=from_origin(grid.left_x, grid.top_y, grid.cell_m, grid.cell_m),
                dst_crs=grid.crs,
                dst_nodata=0,
                resampling=Resampling.nearest,
            )
    except RasterioError as exc:
        raise InvalidInputError(
            msg("{name} is not a readable raster: {exc}", name=path.name, exc=exc)
        ) from exc
    values = {int(v) for v in np.unique(source)} - {0}
    chosen = _guess_mapping(path, values) if mapping == "auto" else mapping
    table = np.full(max(1024, max(values, default=0) + 1), OUTSIDE, dtype=np.uint8)
    for code, cls in (WORLDCOVER if chosen == "worldcover" else CORINE).items():
        table[code] = cls
    out = table[np.clip(source, 0, len(table) - 1)]
    return out.astype(np.uint8)


def _import_vector(path: Path, grid: Grid) -> npt.NDArray[np.uint8]:
    import pyogrio
    from rasterio.features import rasterize
    from rasterio.transform import from_origin

    try:
        meta, _, geometry, field_data = pyogrio.raw.read(path, return_fids=False)
        fields = [str(f) for f in meta["fields"]]
    except Exception as exc:  # pyogrio raises its own tree and GDAL errors; all mean "bad file"
        raise InvalidInputError(
            msg("{name} is not a readable vector file: {exc}", name=path.name, exc=exc)
        ) from exc
    from shapely import from_wkb

    crs = meta.get("crs") or "EPSG:4326"
    geoms = from_wkb(geometry)
    to_grid = Transformer.from_crs(crs, grid.crs, always_xy=True)
    columns = {name: field_data[i] for i, name in enumerate(fields)}
    out = np.full(grid.shape, OUTSIDE, dtype=np.uint8)
    transform = from_origin(grid.left_x, grid.top_y, grid.cell_m, grid.cell_m)
    for key, values, cls in _OSM_RULES:
        col = columns.get(key)
        if col is None:
            continue
        picked = [
            _reproject(g, to_grid)
            for g, v in zip(geoms, col, strict=True)
            if g is not None and v is not None and str(v) in values
        ]
        if not picked:
            continue
        lines = cls in (T.ROAD, T.TRACK)
        burnt = rasterize(
            [(g, 1) for g in picked if not g.is_empty],
            out_shape=grid.shape,
            transform=transform,
            fill=0,
            all_touched=lines,
            dtype="uint8",
        ).astype(bool)
        out[burnt] = cls
    return out


def apply_import(grid: Grid, imported: npt.NDArray[np.uint8]) -> Grid:
    """The grid with every cell the import set, inside the area, replaced."""
    classes = grid.classes.copy()
    take = (imported != OUTSIDE) & (classes != OUTSIDE)
    # Water touching the sea is sea (WorldCover has one water class for both).
    sea_like = take & (imported == T.WATER) & (classes == T.SEA)
    classes[take] = imported[take]
    classes[sea_like] = T.SEA
    return grid.with_classes(classes)


def point_xy(projector: Projector, lon: float, lat: float) -> Point:
    return Point(*projector.to_xy(lon, lat))


def render_png(grid: Grid, path: Path, *, step: int = 1) -> Path:
    """A picture of the terrain classes (PNG with the legend colours), every ``step`` cells."""
    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    from estran.domain.terrain import CLASS_COLOURS

    data = grid.classes[::step, ::step]
    lut = np.full((256, 3), 255, dtype=np.uint8)
    for cls, colour in CLASS_COLOURS.items():
        lut[cls] = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    rgb = lut[data].transpose(2, 0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (
        warnings.catch_warnings(category=NotGeoreferencedWarning, action="ignore"),
        rasterio.open(
            path,
            "w",
            driver="PNG",
            height=data.shape[0],
            width=data.shape[1],
            count=3,
            dtype="uint8",
        ) as dst,
    ):
        dst.write(rgb)
    return path
