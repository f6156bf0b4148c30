"""The terrain as map layers, in WGS 84 GeoJSON: the area and its legend, what is at a point,
the land-cover polygons within a box (cached, simplified to the zoom), the launch sites.

Pure: a prepared terrain in, JSON-ready dicts out; the web layer serves them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from estran.domain.errors import OutsideAreaError
from estran.domain.terrain import CLASS_COLOURS, OUTSIDE, TerrainClass

if TYPE_CHECKING:
    from estran.domain.prepared import PreparedTerrain

__all__ = ["MapLayers"]

_MAX_CACHED = 64


class MapLayers:
    """The layers, with the polygon layers cached by terrain and box (the map asks again on
    every pan)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def area(self, t: PreparedTerrain) -> dict[str, Any]:
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

    def at(self, t: PreparedTerrain, lat: float, lon: float) -> dict[str, Any]:
        code = t.grid.class_at(*t.projector.to_xy(lon, lat))
        if code == OUTSIDE:
            raise OutsideAreaError(lat, lon, t.area.name)
        cls = TerrainClass(code)
        speeds = {name: p.speeds_kmh.get(cls.label) for name, p in t.engine.mobility.ground.items()}
        return {"lat": lat, "lon": lon, "class": cls.label, "speeds_kmh": speeds}

    def layer(
        self, t: PreparedTerrain, bbox: tuple[float, float, float, float] | None, max_cells: int
    ) -> dict[str, Any]:
        """Terrain as GeoJSON polygons (one per patch of a class), within ``bbox``."""
        from rasterio.features import shapes
        from rasterio.transform import from_origin
        from shapely.geometry import shape

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
        key = (t.key, r0, c0, r1, c1, step)
        with self._lock:
            cached = self._cache.get(key)
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
        with self._lock:
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = out
        return out

    def launch_sites(self, t: PreparedTerrain) -> dict[str, Any]:
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


def _rounded(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(value: object) -> object:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}
