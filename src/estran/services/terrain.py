"""The terrain use cases: prepare in the background, rank units by ETA, say what a place is.

The preparation function is passed in (the ``TerrainSource`` port: ``bootstrap`` gives
``adapters.terrain_store``'s), so the service holds no file or cache logic. The map's GeoJSON
layers are ``terrain_layers.py``; the base map's PNG is drawn by ``adapters/basemap.py``.
Everything here returns plain JSON-ready dicts in WGS 84; the engine works in the area's
metres.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from estran.domain.errors import (
    NotReadyError,
    OutsideAreaError,
    UnreachableLocationError,
)
from estran.domain.messages import N_, msg
from estran.domain.terrain import OUTSIDE, TerrainClass
from estran.domain.travel import Eta, UnitAt
from estran.services.terrain_layers import MapLayers

if TYPE_CHECKING:
    from collections.abc import Iterable

    from estran.domain.prepared import PreparedTerrain
    from estran.ports import TerrainSource

__all__ = ["TerrainService"]

State = Literal["off", "idle", "loading", "ready", "failed"]


class TerrainService:
    def __init__(
        self, prepare: TerrainSource | None, mode: Literal["background", "lazy", "off"]
    ) -> None:
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
        self._layers = MapLayers()
        self._site_cache: np.ndarray | None = None

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
            what = (
                msg("terrain (terrain is switched off)")
                if self.state == "off"
                else msg("terrain (failed: {error})", error=self.error)
            )
            raise NotReadyError(what, progress=0.0, elapsed_s=0.0)
        elapsed = time.monotonic() - (self._started_at or time.monotonic())
        raise NotReadyError(
            msg("terrain ({stage})", stage=self.stage or N_("starting")),
            progress=self.progress,
            elapsed_s=elapsed,
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
                excluded.append(_no(unit, msg("a {kind} is not ranked ashore", kind=kind)))
            elif not unit.get("position"):
                excluded.append(_no(unit, msg("position unknown")))
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
        if self._site_cache is None:
            self._site_cache = np.array([[s.x, s.y] for s in t.sites])
        return self._site_cache

    # --- layers (``terrain_layers.py``: GeoJSON for the map) -------------------------------

    def area(self) -> dict[str, Any]:
        return self._layers.area(self.terrain())

    def at(self, lat: float, lon: float) -> dict[str, Any]:
        return self._layers.at(self.terrain(), lat, lon)

    def layer(
        self, bbox: tuple[float, float, float, float] | None, max_cells: int
    ) -> dict[str, Any]:
        return self._layers.layer(self.terrain(), bbox, max_cells)

    def launch_sites(self) -> dict[str, Any]:
        return self._layers.launch_sites(self.terrain())


def _no(unit: dict[str, Any], reason: str) -> Eta:
    return Eta(unit["id"], "", False, None, (), reason, "none")
