"""The default terrain: generated deterministically, and plausibly, from a real coastline.

Synthetic, and documented as such (``docs/terrain.md``): the coastline is real (GSHHG), the
land cover behind it is drawn from smooth seeded noise by the rules a visitor to the Côte
d'Opale would recognise: a foreshore of wet sand at low tide, a band of dry sand, a dune belt in
marram grass with blow-outs, sea-buckthorn scrub and pine woods behind, farmland inland, towns
at their real places, harbours built to the water, cliffs at the capes, the real main roads,
tracks down to the beaches and along the back of the dunes, marshes in the polders. The same
seed and coastline give the same raster, cell for cell.

Everything is in the area's projected metres; the adapter projects the inputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from rasterio.features import rasterize
from rasterio.transform import from_origin
from scipy import ndimage
from shapely.geometry import LineString, Point
from shapely.ops import nearest_points, unary_union

from estran.domain.terrain import OUTSIDE, Grid
from estran.domain.terrain import TerrainClass as T

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from estran.domain.area import AreaSpec, Place

__all__ = ["AreaGeometry", "Generated", "generate"]

F32 = npt.NDArray[np.float32]
Mask = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AreaGeometry:
    """The area's inputs in projected metres."""

    spec: AreaSpec
    land: BaseGeometry
    extent: BaseGeometry
    places: list[tuple[Place, float, float]]
    roads: list[LineString]
    polder_x: float | None = None


@dataclass(frozen=True)
class Generated:
    grid: Grid
    coastline: BaseGeometry  # the shore inside the area, metres
    bunkers: list[tuple[float, float]] = field(default_factory=list)
    beach_access: list[LineString] = field(default_factory=list)


def _noise(shape: tuple[int, int], scale_cells: float, rng: np.random.Generator) -> F32:
    """Smooth noise, mean 0 and standard deviation about 1, features ~``scale_cells`` wide."""
    k = max(1, int(scale_cells // 4))
    small = (shape[0] // k + 2, shape[1] // k + 2)
    white = rng.standard_normal(small).astype(np.float32)
    smooth = ndimage.gaussian_filter(white, sigma=max(0.5, scale_cells / (4 * k)), mode="wrap")
    big = ndimage.zoom(smooth, k, order=1)[: shape[0], : shape[1]]
    if big.shape != shape:
        big = np.pad(big, ((0, shape[0] - big.shape[0]), (0, shape[1] - big.shape[1])), "edge")
    std = float(big.std()) or 1.0
    out: F32 = ((big - big.mean()) / std).astype(np.float32)
    return out


def generate(geom: AreaGeometry) -> Generated:
    spec = geom.spec
    cell = spec.cell_m
    minx, miny, maxx, maxy = geom.extent.bounds
    left = math.floor(minx / cell) * cell
    top = math.ceil(maxy / cell) * cell
    cols = math.ceil((maxx - left) / cell)
    rows = math.ceil((top - miny) / cell)
    shape = (rows, cols)
    transform = from_origin(left, top, cell, cell)
    rng = np.random.default_rng(spec.seed)

    def burn(shapes: list[BaseGeometry], all_touched: bool = False) -> Mask:
        if not shapes:
            return np.zeros(shape, dtype=bool)
        out: Mask = rasterize(
            [(s, 1) for s in shapes if not s.is_empty],
            out_shape=shape,
            transform=transform,
            fill=0,
            all_touched=all_touched,
            dtype="uint8",
        ).astype(bool)
        return out

    land = burn([geom.land])
    in_extent = burn([geom.extent])
    d_inland = ndimage.distance_transform_edt(land).astype(np.float32) * cell
    d_offshore = ndimage.distance_transform_edt(~land).astype(np.float32) * cell
    area = in_extent & (
        (land & (d_inland <= spec.inland_m)) | (~land & (d_offshore <= spec.offshore_m))
    )

    rr, cc = np.mgrid[0:rows, 0:cols]
    xs = (left + (cc + 0.5) * cell).astype(np.float32)
    ys = (top - (rr + 0.5) * cell).astype(np.float32)
    del rr, cc

    n_belt = _noise(shape, 4000 / cell, rng)  # along-coast variation of the dune belt
    n_beach = _noise(shape, 2500 / cell, rng)
    n_fore = _noise(shape, 3000 / cell, rng)
    n_blow = _noise(shape, 120 / cell, rng)
    n_scrub = _noise(shape, 250 / cell, rng)
    n_wood = _noise(shape, 600 / cell, rng)
    _noise(shape, 900 / cell, rng)
    n_marsh = _noise(shape, 1200 / cell, rng)
    n_edge = _noise(shape, 400 / cell, rng)
    n_track = _noise(shape, 1500 / cell, rng)

    dune_w = np.clip(420 + 220 * n_belt, 120, 950)
    beach_w = np.clip(55 + 25 * n_beach, 20, 120)
    fore_w = np.clip(260 + 110 * n_fore, 60, max(60.0, spec.offshore_m - cell))

    cliff_zone = np.zeros(shape, dtype=bool)
    port_zone = np.zeros(shape, dtype=bool)
    urban = np.zeros(shape, dtype=bool)
    for place, px, py in geom.places:
        d = np.hypot(xs - px, ys - py)
        if place.cliff_m > 0:
            cliff_zone |= d <= place.cliff_m
        if place.urban_m > 0:
            urban |= d <= place.urban_m * (1 + 0.2 * n_edge)
            if place.port:
                port_zone |= d <= place.urban_m * 0.8
    classes = np.full(shape, OUTSIDE, dtype=np.uint8)
    sea = area & ~land
    classes[sea] = T.SEA
    foreshore = sea & (d_offshore <= np.where(cliff_zone, 60.0, fore_w)) & ~port_zone
    classes[foreshore] = T.WET_SAND

    ashore = area & land
    classes[ashore] = T.FARMLAND
    inland_rear = ashore & (d_inland > dune_w)
    classes[inland_rear & (n_wood > 1.15)] = T.WOODLAND
    classes[inland_rear & (n_scrub > 1.5) & (n_wood <= 1.15)] = T.SCRUB
    # Marsh and open water: rare on the chalk west, common in the polders to the east.
    lowland = np.zeros(shape, dtype=np.float32)
    if geom.polder_x is not None:
        lowland = np.clip((xs - geom.polder_x) / 8000.0, 0.0, 1.0)
    polder = inland_rear & (n_marsh > 2.2 - 0.8 * lowland)
    classes[polder] = T.MARSH
    classes[polder & (n_marsh > 2.6 - 0.7 * lowland)] = T.WATER

    belt = ashore & (d_inland <= dune_w) & ~cliff_zone
    classes[belt] = T.DUNE_GRASS
    classes[belt & (n_blow > 1.0) & (d_inland < 0.6 * dune_w)] = T.DRY_SAND
    rear = belt & (d_inland > 0.4 * dune_w)
    classes[rear & (n_scrub > 0.15)] = T.SCRUB
    classes[rear & (d_inland > 0.55 * dune_w) & (n_wood > 0.7)] = T.WOODLAND
    classes[belt & (d_inland <= beach_w)] = T.DRY_SAND

    cliff_top = ashore & cliff_zone
    classes[cliff_top & (d_inland <= 300)] = T.DUNE_GRASS
    classes[cliff_top & (d_inland <= 75)] = T.CLIFF

    classes[ashore & urban] = T.URBAN
    classes[area & port_zone & (land | (d_offshore <= 2 * cell))] = T.URBAN

    del xs, ys
    # Tracks: along the back of the dunes, and from the road network down to the beach.
    back = ashore & (np.abs(d_inland - (dune_w + 40)) < 0.75 * cell) & (n_track > -0.4)
    classes[back & ~urban & (classes != T.CLIFF)] = T.TRACK

    coast = _coastline(geom)
    roads = unary_union(geom.roads) if geom.roads else None
    access: list[LineString] = []
    bunkers: list[tuple[float, float]] = []
    if roads is not None and not coast.is_empty:
        length = coast.length
        for i in range(int(length // 1400)):
            p = coast.interpolate((i + 0.5) * 1400)
            cr = _cell(p.x, p.y, left, top, cell, shape)
            if cr is None or cliff_zone[cr] or port_zone[cr] or urban[cr]:
                continue
            q = nearest_points(roads, p)[0]
            if p.distance(q) > 4000:
                continue
            access.append(LineString([q, p]))
            if rng.random() < 0.45:
                inland = _towards(p, q, 60 + 90 * rng.random())
                bunkers.append((inland.x, inland.y))
    track = burn(list(access), all_touched=True) & ashore & ~urban
    classes[track & (d_inland > beach_w * 0.5)] = T.TRACK
    road = burn(list(geom.roads), all_touched=True) & ashore
    classes[road & (classes != T.CLIFF)] = T.ROAD

    grid = Grid(classes, left, top, cell, spec.crs)
    return Generated(grid, coast, bunkers, access)


def _cell(
    x: float, y: float, left: float, top: float, cell: float, shape: tuple[int, int]
) -> tuple[int, int] | None:
    r, c = int((top - y) // cell), int((x - left) // cell)
    return (r, c) if 0 <= r < shape[0] and 0 <= c < shape[1] else None


def _towards(p: Point, q: Point, metres: float) -> Point:
    d = p.distance(q) or 1.0
    t = min(1.0, metres / d)
    return Point(p.x + (q.x - p.x) * t, p.y + (q.y - p.y) * t)


def _coastline(geom: AreaGeometry) -> BaseGeometry:
    """The shore inside the area: the land's boundary clipped to the extent."""
    boundary = geom.land.boundary.intersection(geom.extent)
    return boundary if not boundary.is_empty else LineString()
