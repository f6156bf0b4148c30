"""The offline base map: the terrain drawn as a PNG in Web Mercator (what web maps draw in),
with Pillow; the watch floor lays it under everything else. Cached by terrain, theme and
width (drawing one takes about half a second)."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Literal

import numpy as np
from PIL import Image

from estran.domain.terrain import (
    BEYOND_COLOURS,
    CLASS_COLOURS,
    NIGHT_COLOURS,
    OUTSIDE,
    fill_beyond,
    paint,
)

if TYPE_CHECKING:
    from estran.domain.prepared import PreparedTerrain

__all__ = ["BasemapRenderer"]


class BasemapRenderer:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], tuple[bytes, list[float]]] = {}
        self._lock = threading.Lock()

    def render(
        self, t: PreparedTerrain, theme: Literal["night", "day"], width: int
    ) -> tuple[bytes, list[float]]:
        """The PNG and its ``[west, south, east, north]`` bounds."""
        key = (t.key, theme, width)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        g = t.grid
        minx, miny, maxx, maxy = g.bounds
        (west, south), (east, north) = (t.projector.to_lonlat(x, y)
                                        for x, y in ((minx, miny), (maxx, maxy)))  # fmt: skip
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
        # Beyond the terrain: the sea where it is sea, plain land inland (never the sea's
        # colour, which made the coast read as an island).
        drawn = paint(fill_beyond(codes.reshape(height, width)), palette, coast,
                      BEYOND_COLOURS[theme])  # fmt: skip
        Image.fromarray(drawn, "RGBA").save(out, format="PNG", optimize=False, compress_level=6)
        result = (out.getvalue(), [west, south, east, north])
        with self._lock:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = result
        return result
