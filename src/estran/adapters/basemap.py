"""The offline base map: the terrain drawn as PNG in Web Mercator (what web maps draw in),
with Pillow; the watch floor lays it under everything else.

- ``render``: the whole area in one image (the overview, with the land and sea beyond the
  terrain strip), cached by terrain, theme and width (about half a second to draw).
- ``tile``: one 256-pixel XYZ tile at the zoom the user looks at, each pixel read from the
  terrain grid (nearest cell), so the map stays sharp however far it is zoomed; transparent
  beyond the strip (the overview shows through). Tiles are kept in a bounded LRU cache by
  terrain, theme, zoom and position.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
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
    import numpy.typing as npt

    from estran.domain.prepared import PreparedTerrain

__all__ = ["TILE_PX", "BasemapRenderer", "tile_bounds"]

TILE_PX = 256
_R = 6_378_137.0  # the Web Mercator sphere
_TILE_CACHE = 4096  # tiles kept (a few KB each)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The ``(west, south, east, north)`` of XYZ tile ``z/x/y``, in degrees."""
    n = 2**z
    west, east = x / n * 360 - 180, (x + 1) / n * 360 - 180
    north = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
    south = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1) / n))))
    return west, south, east, north


def _mercator(
    west: float, south: float, east: float, north: float
) -> tuple[float, float, float, float]:
    """The box in Web Mercator metres: ``(x0, y0, x1, y1)``."""
    x0, x1 = _R * math.radians(west), _R * math.radians(east)
    y0, y1 = (_R * math.log(math.tan(math.pi / 4 + math.radians(v) / 2)) for v in (south, north))
    return x0, y0, x1, y1


def _sample(
    t: PreparedTerrain, west: float, south: float, east: float, north: float, w: int, h: int
) -> npt.NDArray[np.uint8]:
    """The terrain class under the centre of each pixel of a ``w`` x ``h`` Web Mercator image
    of the box (``OUTSIDE`` beyond the grid)."""
    g = t.grid
    x0, y0, x1, y1 = _mercator(west, south, east, north)
    xs = x0 + (np.arange(w) + 0.5) * (x1 - x0) / w
    ys = y1 - (np.arange(h) + 0.5) * (y1 - y0) / h
    lons = np.degrees(xs / _R)
    lats = np.degrees(2 * np.arctan(np.exp(ys / _R)) - np.pi / 2)
    lon_grid, lat_grid = np.meshgrid(lons, lats)
    px, py = t.projector.many_to_xy(lon_grid.ravel(), lat_grid.ravel())
    rows_n, cols_n = g.shape
    cols = np.floor((px - g.left_x) / g.cell_m).astype(np.int64)
    rows = np.floor((g.top_y - py) / g.cell_m).astype(np.int64)
    inside = (rows >= 0) & (rows < rows_n) & (cols >= 0) & (cols < cols_n)
    codes = np.full(px.shape, OUTSIDE, np.uint8)
    codes[inside] = g.classes[rows[inside], cols[inside]]
    return codes.reshape(h, w)


def _png(rgba: npt.NDArray[np.uint8]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(out, format="PNG", optimize=False, compress_level=6)
    return out.getvalue()


class BasemapRenderer:
    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int], tuple[bytes, list[float]]] = {}
        self._tiles: OrderedDict[tuple[str, str, int, int, int], bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.tiles_drawn = 0

    def tile(
        self, t: PreparedTerrain, theme: Literal["night", "day"], z: int, x: int, y: int
    ) -> bytes:
        """XYZ tile ``z/x/y`` of the terrain (256 px, PNG), drawn at that zoom's resolution."""
        key = (t.key, theme, z, x, y)
        with self._lock:
            cached = self._tiles.get(key)
            if cached is not None:
                self._tiles.move_to_end(key)
                return cached
        codes = _sample(t, *tile_bounds(z, x, y), TILE_PX, TILE_PX)
        palette, coast = (NIGHT_COLOURS, "#5f8fb0") if theme == "night" else (CLASS_COLOURS, None)
        png = _png(paint(codes, palette, coast))
        with self._lock:
            self.tiles_drawn += 1
            self._tiles[key] = png
            while len(self._tiles) > _TILE_CACHE:
                self._tiles.popitem(last=False)
        return png

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
        x0, y0, x1, y1 = _mercator(west, south, east, north)
        height = max(1, round(width * (y1 - y0) / (x1 - x0)))
        codes = _sample(t, west, south, east, north, width, height)
        palette, coast = (NIGHT_COLOURS, "#5f8fb0") if theme == "night" else (CLASS_COLOURS, None)
        # Beyond the terrain: the sea where it is sea, plain land inland (never the sea's
        # colour, which made the coast read as an island).
        drawn = paint(fill_beyond(codes), palette, coast, BEYOND_COLOURS[theme])
        result = (_png(drawn), [west, south, east, north])
        with self._lock:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = result
        return result
