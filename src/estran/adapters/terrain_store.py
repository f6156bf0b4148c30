"""Preparing the terrain: generate or load the raster, precompute travel graphs, cache both.

``prepare_terrain(settings)`` is what ``bootstrap`` hands the terrain service. Preparing the
Côte d'Opale takes about 25 s here (raster 4 s, coarse travel graphs 20 s), so the result is
cached on disk, keyed by a hash of every input (area, coastline, mobility, imported land
cover, engine version): a restart loads it in about a second. Within one process, prepared
terrains are also kept by key, so several servers in one test process share one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from shapely import from_wkt

from estran.adapters.terrain_io import (
    DEFAULT_AREA_DIR,
    Mapping,
    Projector,
    apply_import,
    area_geometry,
    import_landcover,
    load_area,
    read_grid,
    write_grid,
)
from estran.domain.costgraph import CoarseLevel, Graph
from estran.domain.errors import InvalidInputError
from estran.domain.launch_sites import LaunchSite, generate_sites
from estran.domain.messages import msg
from estran.domain.mobility import Mobility, parse_mobility
from estran.domain.prepared import PreparedTerrain
from estran.domain.terrain import Grid
from estran.domain.terrain_gen import generate
from estran.domain.travel import TravelEngine

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.domain.area import AreaSpec

__all__ = [
    "CACHE_VERSION",
    "DEFAULT_MOBILITY",
    "PreparedTerrain",
    "import_landcover_file",
    "import_sites_file",
    "imported_landcover_path",
    "imported_sites_path",
    "load_mobility",
    "prepare_terrain",
    "read_sites_geojson",
]

log = logging.getLogger(__name__)

CACHE_VERSION: Final = "terrain-4"
DEFAULT_MOBILITY: Final = Path(__file__).resolve().parent.parent / "data" / "mobility.toml"
COARSE_FACTOR: Final = 8
MAX_SITES_BYTES: Final = 8 * 1024 * 1024

Progress = Callable[[str, float], None]

_memo: dict[str, PreparedTerrain] = {}
_memo_lock = threading.Lock()


def load_mobility(path: Path | None) -> Mobility:
    path = path or DEFAULT_MOBILITY
    try:
        return parse_mobility(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValueError) as exc:
        raise InvalidInputError(msg("mobility profiles {path}: {exc}", path=path, exc=exc)) from exc


def imported_landcover_path(settings: Settings) -> Path:
    return settings.data_dir / "terrain" / "landcover.tif"


def imported_sites_path(settings: Settings) -> Path:
    return settings.data_dir / "terrain" / "launch-sites.geojson"


def _key(settings: Settings, area_dir: Path, mobility_path: Path) -> str:
    h = hashlib.sha256(CACHE_VERSION.encode())
    for path in (
        area_dir / "area.toml",
        area_dir / "coast.geojson",
        mobility_path,
        imported_landcover_path(settings),
    ):
        h.update(path.name.encode())
        h.update(path.read_bytes() if path.is_file() else b"-")
    h.update(f"{COARSE_FACTOR}:{settings.eta_window_m}:{settings.eta_max_s}".encode())
    return h.hexdigest()[:24]


def read_sites_geojson(path: Path, projector: Projector, grid: Grid) -> list[LaunchSite]:
    """Launch sites from a GeoJSON FeatureCollection of points (WGS 84), validated."""
    if path.stat().st_size > MAX_SITES_BYTES:
        raise InvalidInputError(
            msg(
                "{name} is larger than {MAX_SITES_BYTES} bytes",
                name=path.name,
                MAX_SITES_BYTES=MAX_SITES_BYTES,
            )
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        features = doc["features"]
        if doc.get("type") != "FeatureCollection" or not isinstance(features, list):
            raise TypeError("not a FeatureCollection")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(
            msg("{name}: not a GeoJSON FeatureCollection ({exc})", name=path.name, exc=exc)
        ) from exc
    sites: list[LaunchSite] = []
    for i, feature in enumerate(features):
        try:
            geometry = feature["geometry"]
            if geometry["type"] != "Point":
                raise TypeError("launch sites are Points")
            lon, lat = (float(v) for v in geometry["coordinates"][:2])
            x, y = projector.to_xy(lon, lat)
            if grid.class_at(x, y) == 255:
                raise ValueError(f"({lat}, {lon}) is outside the area")
            props = dict(feature.get("properties") or {})
            props.setdefault("id", f"LS-{i + 1:03d}")
            props.setdefault("name", props["id"])
            props.setdefault("road_m", 0.0)
            props.setdefault("track_m", 0.0)
            props.setdefault("beach_width_m", 0.0)
            sites.append(LaunchSite.model_validate({**props, "x": x, "y": y}))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                msg("{name}: feature {i}: {exc}", name=path.name, i=i, exc=exc)
            ) from exc
    return sites


def _save(path: Path, prepared: PreparedTerrain) -> None:
    arrays: dict[str, Any] = {"classes": prepared.grid.classes}
    for name, level in prepared.engine.coarse.items():
        arrays[f"{name}.rep_row"] = level.rep_row
        arrays[f"{name}.rep_col"] = level.rep_col
        arrays[f"{name}.indptr"] = level.graph.indptr
        arrays[f"{name}.indices"] = level.graph.indices
        arrays[f"{name}.data"] = level.graph.data
        arrays[f"{name}.to_rep"] = level.to_rep
        arrays[f"{name}.path_keys"] = level.path_keys
        arrays[f"{name}.path_starts"] = level.path_starts
        arrays[f"{name}.path_cells"] = level.path_cells
    meta = {
        "left_x": prepared.grid.left_x,
        "top_y": prepared.grid.top_y,
        "cell_m": prepared.grid.cell_m,
        "crs": prepared.grid.crs,
        "bunkers": prepared.bunkers,
        "coastline": prepared.coastline.wkt,
        "sites": [s.model_dump() for s in prepared.sites],
        "source": prepared.source,
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _load(
    path: Path, settings: Settings, mobility: Mobility, spec: AreaSpec
) -> tuple[Grid, TravelEngine, dict[str, Any]]:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        grid = Grid(z["classes"], meta["left_x"], meta["top_y"], meta["cell_m"], meta["crs"])
        levels = {}
        for name in mobility.ground:
            graph = Graph(
                int(z[f"{name}.rep_row"].size),
                z[f"{name}.indptr"],
                z[f"{name}.indices"],
                z[f"{name}.data"],
            )
            hc, wc = z[f"{name}.rep_row"].shape
            levels[name] = CoarseLevel(
                COARSE_FACTOR,
                (int(hc), int(wc)),
                z[f"{name}.rep_row"],
                z[f"{name}.rep_col"],
                graph,
                z[f"{name}.to_rep"],
                z[f"{name}.path_keys"],
                z[f"{name}.path_starts"],
                z[f"{name}.path_cells"],
            )
    engine = TravelEngine(
        grid,
        mobility,
        factor=COARSE_FACTOR,
        window_cells=int(settings.eta_window_m // spec.cell_m),
        max_eta_s=settings.eta_max_s,
        coarse=levels,
    )
    return grid, engine, meta


def prepare_terrain(settings: Settings, progress: Progress | None = None) -> PreparedTerrain:
    """The area's terrain and travel engine, from the cache when its inputs are unchanged."""
    started = time.perf_counter()
    area_dir = settings.area_dir or DEFAULT_AREA_DIR
    mobility_path = settings.mobility_file or DEFAULT_MOBILITY
    area = load_area(area_dir)
    mobility = load_mobility(mobility_path)
    key = _key(settings, area_dir, mobility_path)
    with _memo_lock:
        if key in _memo:
            return _memo[key]
    cache_dir = settings.terrain_cache_dir or settings.data_dir / "terrain-cache"
    cache = cache_dir / f"{key}.npz"
    projector = Projector(area.spec.crs)

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    from_cache = False
    meta: dict[str, Any]
    if cache.is_file():
        report("loading cached terrain", 0.5)
        try:
            grid, engine, meta = _load(cache, settings, mobility, area.spec)
            from_cache = True
        except (OSError, KeyError, ValueError) as exc:
            log.warning("terrain cache %s unreadable (%s); preparing afresh", cache, exc)
    if not from_cache:
        report("generating terrain", 0.02)
        generated = generate(area_geometry(area, projector))
        grid = generated.grid
        source = "synthetic (generated from the GSHHG coastline; see docs/terrain.md)"
        landcover = imported_landcover_path(settings)
        if landcover.is_file():
            imported = read_grid(landcover)
            if imported.shape != grid.shape:
                raise InvalidInputError(
                    msg(
                        "{landcover} does not match the area's grid; re-import", landcover=landcover
                    )
                )
            grid = imported
            source = f"imported land cover ({landcover.name}) over the synthetic default"
        places = [(p.name, *projector.to_xy(p.lon, p.lat)) for p in area.spec.places]
        report("finding launch sites", 0.1)
        sites = generate_sites(grid, generated.coastline, generated.bunkers, places)

        def engine_progress(stage: str, fraction: float) -> None:
            report(stage, 0.15 + 0.85 * fraction)

        engine = TravelEngine(
            grid,
            mobility,
            factor=COARSE_FACTOR,
            window_cells=int(settings.eta_window_m // area.spec.cell_m),
            max_eta_s=settings.eta_max_s,
            progress=engine_progress,
        )
        meta = {
            "bunkers": generated.bunkers,
            "coastline": generated.coastline.wkt,
            "sites": [s.model_dump() for s in sites],
            "source": source,
        }
    sites = [LaunchSite.model_validate(s) for s in meta["sites"]]
    sites_file = imported_sites_path(settings)
    if sites_file.is_file():
        sites = read_sites_geojson(sites_file, projector, grid)
    prepared = PreparedTerrain(
        area=area.spec,
        grid=grid,
        engine=engine,
        projector=projector,
        sites=sites,
        bunkers=[(float(x), float(y)) for x, y in meta["bunkers"]],
        coastline=from_wkt(meta["coastline"]),
        source=str(meta["source"]),
        key=key,
        prepared_s=time.perf_counter() - started,
        from_cache=from_cache,
    )
    if not from_cache:
        try:
            _save(cache, prepared)
        except OSError as exc:
            log.warning("could not cache the terrain in %s: %s", cache, exc)
    with _memo_lock:
        _memo[key] = prepared
    report("ready", 1.0)
    return prepared


def import_landcover_file(
    settings: Settings, path: Path, mapping: Mapping = "auto", progress: Progress | None = None
) -> dict[str, Any]:
    """Map a land-cover file onto the area's grid and keep it in the data directory.

    Cells the file says nothing about keep the synthetic class. The terrain cache is keyed by
    the result, so the next start prepares travel graphs over the new terrain.
    """
    area_dir = settings.area_dir or DEFAULT_AREA_DIR
    area = load_area(area_dir)
    projector = Projector(area.spec.crs)
    if progress is not None:
        progress(msg("generating the default grid"), 0.1)
    base = generate(area_geometry(area, projector)).grid
    previous = imported_landcover_path(settings)
    if previous.is_file():
        base = read_grid(previous)
    if progress is not None:
        progress(msg("reading {name}", name=path.name), 0.4)
    classes, counts = import_landcover(path, base, mapping)
    merged = apply_import(base, classes)
    changed = int((merged.classes != base.classes).sum())
    write_grid(merged, previous)
    if progress is not None:
        progress(msg("written"), 1.0)
    return {
        "file": str(path),
        "cells_set": counts,
        "cells_changed": changed,
        "saved": str(previous),
    }


def import_sites_file(settings: Settings, path: Path) -> int:
    """Validate a launch-site GeoJSON against the area and keep it in the data directory."""
    area_dir = settings.area_dir or DEFAULT_AREA_DIR
    area = load_area(area_dir)
    projector = Projector(area.spec.crs)
    grid = generate(area_geometry(area, projector)).grid
    sites = read_sites_geojson(path, projector, grid)
    target = imported_sites_path(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(path.read_bytes())
    return len(sites)
