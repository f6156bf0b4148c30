"""The terrain use cases: prepare in the background, rank units by ETA, serve map layers.

The preparation function is passed in (``bootstrap`` gives ``adapters.terrain_store``'s), so
the service holds no file or cache logic. Everything here returns plain JSON-ready dicts in
WGS 84; the engine works in the area's metres.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from PIL import Image

from estran.domain.errors import (
    NotReadyError,
    OutsideAreaError,
    UnreachableLocationError,
)
from estran.domain.terrain import CLASS_COLOURS, NIGHT_COLOURS, OUTSIDE, TerrainClass, paint
from estran.domain.travel import Eta, UnitAt

if TYPE_CHECKING:
    from estran.adapters.terrain_store import PreparedTerrain

__all__ = ["TerrainService"]

Prepare = Callable[[Callable[[str, float], None]], "PreparedTerrain"]
State = Literal["off", "idle", "loading", "ready", "failed"]


class TerrainService:
    def __init__(self, prepare: Prepare | None, mode: Literal["background", "lazy", "off"]) -> None:
        self._prepare = prepare
        self.mode = mode
        self.state: State = "off" if mode == "off" or prepare is None else "idle"
        self.stage = ""
        self.progress = 0.0
        self.error: str | None = None
        self._started_at: float | None = None
        self._ready_at: float | None = None
        self._terrain: PreparedTerrain | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._layer_cache: dict[tuple[Any, ...], dict[str, Any]] = {}

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin preparing in a background thread (``background`` mode)."""
        if self.mode == "background":
            self._kick()

    def _kick(self) -> None:
        with self._lock:
            if self.state != "idle" or self._prepare is None:
                return
            self.state = "loading"
            self._started_at = time.monotonic()
        threading.Thread(target=self._run, name="estran-terrain", daemon=True).start()

    def _run(self) -> None:
        assert self._prepare is not None  # noqa: S101 (checked by _kick)

        def report(stage: str, fraction: float) -> None:
            self.stage, self.progress = stage, fraction

        try:
            terrain = self._prepare(report)
        except Exception as exc:  # the server keeps running; /health and 503s say why
            self.error = f"{type(exc).__name__}: {exc}"
            self.state = "failed"
        else:
            self._terrain = terrain
            self._ready_at = time.monotonic()
            self.state = "ready"
            self.progress = 1.0
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until prepared (or failed); True when ready. For the CLI and tests."""
        if self.state == "idle":
            self._kick()
        self._done.wait(timeout)
        return self.state == "ready"

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "stage": self.stage, "progress": self.progress}
        if self._started_at is not None:
            end = self._ready_at or time.monotonic()
            out["elapsed_s"] = round(end - self._started_at, 2)
        if self.error:
            out["error"] = self.error
        if self._terrain is not None:
            t = self._terrain
            out.update(
                area=t.area.name,
                source=t.source,
                from_cache=t.from_cache,
                cells=t.grid.shape,
                cell_m=t.grid.cell_m,
                memory_mb=round(t.engine.nbytes / 2**20, 1),
            )
        return out

    def terrain(self) -> PreparedTerrain:
        if self._terrain is not None:
            return self._terrain
        if self.state == "idle":
            self._kick()
        if self.state in ("off", "failed"):
            why = "terrain is switched off" if self.state == "off" else f"failed: {self.error}"
            raise NotReadyError(f"terrain ({why})", progress=0.0, elapsed_s=0.0)
        elapsed = time.monotonic() - (self._started_at or time.monotonic())
        raise NotReadyError(
            f"terrain ({self.stage or 'starting'})", progress=self.progress, elapsed_s=elapsed
        )

    # --- ETA ranking ----------------------------------------------------------------------

    def rank(
        self,
        lat: float,
        lon: float,
        units: Iterable[dict[str, Any]],
        *,
        limit: int = 100,
        routes: bool = True,
    ) -> dict[str, Any]:
        """Units by ETA to (lat, lon), each with its route and the reason."""
        started = time.perf_counter()
        t = self.terrain()
        x, y = t.projector.to_xy(lon, lat)
        target = t.engine.resolve(x, y)
        if target == "outside":
            raise OutsideAreaError(lat, lon, t.area.name)
        if isinstance(target, str):
            raise UnreachableLocationError(lat, lon, target.split(":", 1)[1], t.engine.snap_m)
        by_id: dict[str, dict[str, Any]] = {}
        placed: list[tuple[dict[str, Any], str]] = []
        excluded: list[Eta] = []
        for unit in units:
            by_id[unit["id"]] = unit
            profile = t.engine.mobility.unit_kinds.get(unit["kind"])
            if profile is None:
                kind = unit["kind"].replace("_", " ")
                excluded.append(_no(unit, f"a {kind} is not ranked ashore"))
            elif not unit.get("position"):
                excluded.append(_no(unit, "position unknown"))
            else:
                placed.append((unit, profile))
        lons = np.array([u["position"]["lon"] for u, _ in placed], dtype=np.float64)
        lats = np.array([u["position"]["lat"] for u, _ in placed], dtype=np.float64)
        xs, ys = t.projector.many_to_xy(lons, lats)
        movers = [
            UnitAt(u["id"], profile, float(x), float(y))
            for (u, profile), x, y in zip(placed, xs.tolist(), ys.tolist(), strict=True)
        ]
        ranked = (t.engine.eta(target, movers) + excluded)[:limit]
        tlon, tlat = t.projector.to_lonlat(target.x, target.y)
        geo = self._routes(t, ranked) if routes else {}
        out_units = []
        for i, eta in enumerate(ranked):
            unit = by_id[eta.unit_id]
            entry: dict[str, Any] = {
                "rank": i + 1 if eta.reachable else None,
                "unit_id": eta.unit_id,
                "callsign": unit.get("callsign"),
                "kind": unit.get("kind"),
                "agency_id": unit.get("agency_id"),
                "status": unit.get("status"),
                "profile": eta.profile,
                "reachable": eta.reachable,
                "eta_s": None if eta.eta_s is None else round(eta.eta_s, 1),
                "reason": eta.reason,
                "method": eta.method,
            }
            if eta.unit_id in geo:
                entry["route"] = geo[eta.unit_id]
            out_units.append(entry)
        return {
            "target": {
                "lat": round(tlat, 6),
                "lon": round(tlon, 6),
                "requested": {"lat": lat, "lon": lon},
                "terrain": target.terrain,
                "snapped_m": round(target.snapped_m, 1),
                "note": target.note,
            },
            "units": out_units,
            "considered": len(movers) + len(excluded),
            "computed_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    @staticmethod
    def _routes(t: PreparedTerrain, ranked: list[Eta]) -> dict[str, dict[str, Any]]:
        """Each unit's route as a GeoJSON FeatureCollection, one LineString a leg.

        All points of all routes are reprojected in one call; coordinates stay numpy arrays,
        which the HTTP layer serialises natively (orjson).
        """
        legs = [(eta.unit_id, leg) for eta in ranked for leg in eta.legs]
        if not legs:
            return {}
        xy = np.concatenate([leg.points for _, leg in legs])
        lon, lat = t.projector.many_to_lonlat(xy[:, 0], xy[:, 1])
        coords = np.round(np.column_stack([lon, lat]), 6)
        out: dict[str, dict[str, Any]] = {}
        start = 0
        for unit_id, leg in legs:
            n = len(leg.points)
            feature = {
                "type": "Feature",
                "geometry": {
                    "type": "LineString",
                    "coordinates": coords[start : start + n],
                },
                "properties": {
                    "mode": leg.mode,
                    "seconds": round(leg.seconds, 1),
                    "length_m": round(leg.length_m, 1),
                    "resolution_m": leg.resolution_m,
                    "over": list(leg.classes),
                },
            }
            start += n
            out.setdefault(unit_id, {"type": "FeatureCollection", "features": []})
            out[unit_id]["features"].append(feature)
        return out

    def place(self, lat: float, lon: float) -> str:
        """What fusion's rules call a place: at_sea, near_launch_site, ashore, or anywhere."""
        t = self._terrain
        if t is None:
            return "anywhere"
        x, y = t.projector.to_xy(lon, lat)
        code = t.grid.class_at(x, y)
        if code == TerrainClass.SEA:
            return "at_sea"
        if code == OUTSIDE:
            return "anywhere"
        if t.sites:
            xy = self._site_xy(t)
            if float(np.min(np.hypot(xy[:, 0] - x, xy[:, 1] - y))) <= 500.0:
                return "near_launch_site"
        return "ashore"

    def _site_xy(self, t: PreparedTerrain) -> np.ndarray:
        cached = self._layer_cache.get(("sites",))
        if cached is None:
            cached = {"xy": np.array([[s.x, s.y] for s in t.sites])}
            self._layer_cache[("sites",)] = cached
        xy: np.ndarray = cached["xy"]
        return xy

    # --- layers ---------------------------------------------------------------------------

    def area(self) -> dict[str, Any]:
        t = self.terrain()
        minx, miny, maxx, maxy = t.grid.bounds
        corners = [t.projector.to_lonlat(x, y) for x, y in ((minx, miny), (maxx, maxy))]
        return {
            "name": t.area.name,
            "crs": t.grid.crs,
            "cell_m": t.grid.cell_m,
            "bbox": [corners[0][0], corners[0][1], corners[1][0], corners[1][1]],
            "source": t.source,
            "places": [p.model_dump() for p in t.area.places],
            "legend": [
                {"code": int(c), "class": c.label, "colour": CLASS_COLOURS[c]} for c in TerrainClass
            ],
            "classes": t.grid.class_counts(),
        }

    def at(self, lat: float, lon: float) -> dict[str, Any]:
        t = self.terrain()
        code = t.grid.class_at(*t.projector.to_xy(lon, lat))
        if code == OUTSIDE:
            raise OutsideAreaError(lat, lon, t.area.name)
        cls = TerrainClass(code)
        speeds = {name: p.speeds_kmh.get(cls.label) for name, p in t.engine.mobility.ground.items()}
        return {"lat": lat, "lon": lon, "class": cls.label, "speeds_kmh": speeds}

    def layer(
        self, bbox: tuple[float, float, float, float] | None, max_cells: int
    ) -> dict[str, Any]:
        """Terrain as GeoJSON polygons (one per patch of a class), within ``bbox``."""
        from rasterio.features import shapes
        from rasterio.transform import from_origin
        from shapely.geometry import shape

        t = self.terrain()
        g = t.grid
        rows, cols = g.shape
        r0, c0, r1, c1 = 0, 0, rows, cols
        if bbox is not None:
            (x0, y0), (x1, y1) = (
                t.projector.to_xy(bbox[0], bbox[1]),
                t.projector.to_xy(bbox[2], bbox[3]),
            )
            c0 = max(0, int((min(x0, x1) - g.left_x) // g.cell_m))
            c1 = min(cols, int((max(x0, x1) - g.left_x) // g.cell_m) + 1)
            r0 = max(0, int((g.top_y - max(y0, y1)) // g.cell_m))
            r1 = min(rows, int((g.top_y - min(y0, y1)) // g.cell_m) + 1)
        if r1 <= r0 or c1 <= c0:
            return {"type": "FeatureCollection", "features": [], "step_m": g.cell_m}
        step = max(1, int(np.ceil(np.sqrt((r1 - r0) * (c1 - c0) / max_cells))))
        key = (r0, c0, r1, c1, step)
        cached = self._layer_cache.get(key)
        if cached is not None:
            return cached
        data = np.ascontiguousarray(g.classes[r0:r1:step, c0:c1:step])
        transform = from_origin(
            g.left_x + c0 * g.cell_m, g.top_y - r0 * g.cell_m, g.cell_m * step, g.cell_m * step
        )
        features = []
        for geom, value in shapes(data, mask=data != OUTSIDE, transform=transform):
            poly = shape(geom).simplify(g.cell_m * step * 0.5)
            if poly.is_empty:
                continue
            ll = t.projector.geometry_to_lonlat(poly)
            cls = TerrainClass(int(value))
            features.append(
                {
                    "type": "Feature",
                    "geometry": _rounded(ll.__geo_interface__),
                    "properties": {"class": cls.label, "colour": CLASS_COLOURS[cls]},
                }
            )
        out = {"type": "FeatureCollection", "features": features, "step_m": g.cell_m * step}
        if len(self._layer_cache) > 64:
            self._layer_cache.clear()
        self._layer_cache[key] = out
        return out

    def basemap(self, theme: Literal["night", "day"], width: int) -> tuple[bytes, list[float]]:
        """The terrain as a PNG in Web Mercator (what web maps draw in), and its
        ``[west, south, east, north]`` bounds: the watch floor's offline base map."""
        key = ("basemap", theme, width)
        cached = self._layer_cache.get(key)
        if cached is not None:
            return cached["png"], cached["bounds"]
        t = self.terrain()
        g = t.grid
        west, south, east, north = self.area()["bbox"]
        r = 6_378_137.0
        x0, x1 = r * np.radians(west), r * np.radians(east)
        y0, y1 = (r * np.log(np.tan(np.pi / 4 + np.radians(v) / 2)) for v in (south, north))
        height = max(1, round(width * (y1 - y0) / (x1 - x0)))
        xs = x0 + (np.arange(width) + 0.5) * (x1 - x0) / width
        ys = y1 - (np.arange(height) + 0.5) * (y1 - y0) / height
        lons = np.degrees(xs / r)
        lats = np.degrees(2 * np.arctan(np.exp(ys / r)) - np.pi / 2)
        lon_grid, lat_grid = np.meshgrid(lons, lats)
        px, py = t.projector.many_to_xy(lon_grid.ravel(), lat_grid.ravel())
        rows_n, cols_n = g.shape
        cols = np.floor((px - g.left_x) / g.cell_m).astype(np.int64)
        rows = np.floor((g.top_y - py) / g.cell_m).astype(np.int64)
        inside = (rows >= 0) & (rows < rows_n) & (cols >= 0) & (cols < cols_n)
        codes = np.full(px.shape, OUTSIDE, np.uint8)
        codes[inside] = g.classes[rows[inside], cols[inside]]
        palette, coast = (NIGHT_COLOURS, "#5f8fb0") if theme == "night" else (CLASS_COLOURS, None)
        out = io.BytesIO()
        Image.fromarray(paint(codes.reshape(height, width), palette, coast), "RGBA").save(
            out, format="PNG", optimize=False, compress_level=6
        )
        png = out.getvalue()
        bounds = [west, south, east, north]
        self._layer_cache[key] = {"png": png, "bounds": bounds}
        return png, bounds

    def launch_sites(self) -> dict[str, Any]:
        t = self.terrain()
        features = []
        for site in t.sites:
            lon, lat = t.projector.to_lonlat(site.x, site.y)
            props = site.model_dump(exclude={"x", "y"})
            features.append(
                {
                    "type": "Feature",
                    "id": site.id,
                    "geometry": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]},
                    "properties": props,
                }
            )
        return {"type": "FeatureCollection", "features": features}


def _no(unit: dict[str, Any], reason: str) -> Eta:
    return Eta(unit["id"], "", False, None, (), reason, "none")


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
