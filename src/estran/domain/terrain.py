"""The terrain raster: land-cover classes on a regular metric grid.

Pure: a ``Grid`` is a ``uint8`` array of ``TerrainClass`` codes with the position of its
upper-left corner and its cell size, in the area's projected metres (Lambert-93 for the
Côte d'Opale). Cells outside the area hold ``OUTSIDE``. Reprojection to and from WGS 84 lives
in ``adapters/terrain_io.py``; here everything is planar metres, rows growing southwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "BEYOND_COLOURS",
    "BEYOND_LAND",
    "CLASS_COLOURS",
    "NIGHT_COLOURS",
    "OUTSIDE",
    "Grid",
    "TerrainClass",
    "class_by_name",
    "fill_beyond",
    "paint",
]

OUTSIDE: Final = 255
"""Code of cells outside the area of interest (nodata)."""


class TerrainClass(IntEnum):
    """Land-cover classes, as stored in the raster (one byte a cell)."""

    SEA = 0
    WET_SAND = 1
    DRY_SAND = 2
    DUNE_GRASS = 3
    SCRUB = 4
    WOODLAND = 5
    FARMLAND = 6
    URBAN = 7
    ROAD = 8
    TRACK = 9
    WATER = 10
    MARSH = 11
    CLIFF = 12

    @property
    def label(self) -> str:
        return self.name.lower()


CLASS_COLOURS: Final[dict[TerrainClass, str]] = {
    TerrainClass.SEA: "#1f4e79",
    TerrainClass.WET_SAND: "#c9b98a",
    TerrainClass.DRY_SAND: "#f1e2a8",
    TerrainClass.DUNE_GRASS: "#b7c97a",
    TerrainClass.SCRUB: "#6f8f3a",
    TerrainClass.WOODLAND: "#2e6b2e",
    TerrainClass.FARMLAND: "#e4eec2",
    TerrainClass.URBAN: "#9a8f8f",
    TerrainClass.ROAD: "#d0312d",
    TerrainClass.TRACK: "#a0522d",
    TerrainClass.WATER: "#4a90d9",
    TerrainClass.MARSH: "#7fb3a6",
    TerrainClass.CLIFF: "#5a4a3a",
}
"""Map colours for each class (legend of the terrain layer)."""

NIGHT_COLOURS: Final[dict[TerrainClass, str]] = {
    TerrainClass.SEA: "#07131f",
    TerrainClass.WET_SAND: "#3b3627",
    TerrainClass.DRY_SAND: "#4b4431",
    TerrainClass.DUNE_GRASS: "#2e3a22",
    TerrainClass.SCRUB: "#223319",
    TerrainClass.WOODLAND: "#112415",
    TerrainClass.FARMLAND: "#262b21",
    TerrainClass.URBAN: "#3c3b44",
    TerrainClass.ROAD: "#8a6a4a",
    TerrainClass.TRACK: "#5c4a36",
    TerrainClass.WATER: "#0f2c45",
    TerrainClass.MARSH: "#1b302f",
    TerrainClass.CLIFF: "#4a3d31",
}
"""The night base map: dark, low-contrast land, roads and tracks still legible, a darker sea."""


BEYOND_LAND: Final = 254
"""A base-map pixel outside the terrain that lies inland of it (``fill_beyond``)."""
BEYOND_COLOURS: Final = {"night": "#1d221e", "day": "#e6e1d3"}
"""Land beyond the terrain: one plain land colour, so the coast never reads as an island."""


def fill_beyond(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """``codes`` with every ``OUTSIDE`` pixel given the side of the coast it lies on: the sea
    where the nearest pixel of the terrain is sea, ``BEYOND_LAND`` where it is land (the
    strip's inland edge continues as land to the map's edge)."""
    outside = codes == OUTSIDE
    if not outside.any() or outside.all():
        return codes
    nearest = ndimage.distance_transform_edt(outside, return_distances=False, return_indices=True)
    side = codes[nearest[0], nearest[1]]
    out = codes.copy()
    out[outside & (side == TerrainClass.SEA)] = TerrainClass.SEA
    out[outside & (side != TerrainClass.SEA)] = BEYOND_LAND
    return out


def paint(
    codes: npt.NDArray[np.uint8],
    palette: dict[TerrainClass, str],
    coast: str | None = None,
    beyond: str | None = None,
) -> npt.NDArray[np.uint8]:
    """An RGBA image of class ``codes`` in ``palette``: outside the area transparent, land
    beyond it (``BEYOND_LAND``) in ``beyond`` when given, and the coastline (sea pixels
    touching land) in ``coast`` when given."""
    lut = np.zeros((256, 4), np.uint8)
    for cls, colour in palette.items():
        lut[int(cls)] = (*_rgb(colour), 255)
    if beyond is not None:
        lut[BEYOND_LAND] = (*_rgb(beyond), 255)
    rgba = lut[codes]
    if coast is not None:
        sea = codes == TerrainClass.SEA
        land = (codes != TerrainClass.SEA) & (codes != OUTSIDE)
        near = np.zeros_like(land)
        near[1:, :] |= land[:-1, :]
        near[:-1, :] |= land[1:, :]
        near[:, 1:] |= land[:, :-1]
        near[:, :-1] |= land[:, 1:]
        rgba[sea & near] = (*_rgb(coast), 255)
    return rgba


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def class_by_name(name: str) -> TerrainClass:
    try:
        return TerrainClass[name.upper()]
    except KeyError:
        raise ValueError(
            f"unknown terrain class {name!r}; one of {[c.label for c in TerrainClass]}"
        ) from None


@dataclass(frozen=True, eq=False)
class Grid:
    """A north-up raster: ``classes[row, col]``, row 0 at ``top_y``, col 0 at ``left_x``."""

    classes: npt.NDArray[np.uint8]
    left_x: float
    top_y: float
    cell_m: float
    crs: str

    def __post_init__(self) -> None:
        if self.classes.ndim != 2 or self.classes.dtype != np.uint8:
            raise ValueError("a terrain grid is a 2-D uint8 array")
        if self.cell_m <= 0:
            raise ValueError("cell size must be positive")

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.classes.shape
        return int(rows), int(cols)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(min_x, min_y, max_x, max_y)`` in the grid's metres."""
        rows, cols = self.shape
        return (
            self.left_x,
            self.top_y - rows * self.cell_m,
            self.left_x + cols * self.cell_m,
            self.top_y,
        )

    def cell_of(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, col) holding point (x, y), or None when it is off the grid."""
        col = int(np.floor((x - self.left_x) / self.cell_m))
        row = int(np.floor((self.top_y - y) / self.cell_m))
        rows, cols = self.shape
        if 0 <= row < rows and 0 <= col < cols:
            return row, col
        return None

    def centre(self, row: int, col: int) -> tuple[float, float]:
        return (
            self.left_x + (col + 0.5) * self.cell_m,
            self.top_y - (row + 0.5) * self.cell_m,
        )

    def centres(
        self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        xs = self.left_x + (cols.astype(np.float64) + 0.5) * self.cell_m
        ys = self.top_y - (rows.astype(np.float64) + 0.5) * self.cell_m
        return xs, ys

    def class_at(self, x: float, y: float) -> int:
        """The class code at (x, y); ``OUTSIDE`` off the grid."""
        cell = self.cell_of(x, y)
        return OUTSIDE if cell is None else int(self.classes[cell])

    def in_area(self) -> npt.NDArray[np.bool_]:
        inside: npt.NDArray[np.bool_] = self.classes != OUTSIDE
        return inside

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.classes.ravel(), minlength=256)
        return {c.label: int(counts[c]) for c in TerrainClass}

    def with_classes(self, classes: npt.NDArray[np.uint8]) -> Grid:
        if classes.shape != self.classes.shape:
            raise ValueError("replacement classes must have the grid's shape")
        return Grid(classes, self.left_x, self.top_y, self.cell_m, self.crs)
