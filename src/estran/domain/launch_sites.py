"""Candidate launch sites: points along the beaches where a boat could be put in the water.

Generated for an area from its terrain: every ``spacing_m`` along the shore where there is a
beach (not a harbour, a cliff or a town front), with what a planner weighs: the cover nearby
(woods, scrub, dunes, old bunkers) that hides a group waiting to launch, the distance to the
nearest road and track (how a boat arrives, and how a patrol does), the beach's width (how far
a heavy boat must be carried), and the nearest named place. A user with better knowledge
imports their own catalogue as GeoJSON (``LaunchSite`` validates each feature).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from estran.domain.terrain import Grid
from estran.domain.terrain import TerrainClass as T

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

__all__ = ["LaunchSite", "generate_sites"]

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class LaunchSite(BaseModel):
    """One candidate site; position in WGS 84 once served, metres while generated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    name: str = Field(min_length=1, max_length=128)
    x: float = Field(description="Area metres (or longitude once served).")
    y: float = Field(description="Area metres (or latitude once served).")
    cover: list[str] = Field(default_factory=list, description="woodland, scrub, dunes, bunker")
    woodland_fraction: Fraction = 0.0
    scrub_fraction: Fraction = 0.0
    dune_fraction: Fraction = 0.0
    bunker_m: float | None = Field(default=None, ge=0.0, description="Nearest bunker, metres.")
    road_m: float = Field(ge=0.0, description="Distance to the nearest road, metres.")
    track_m: float = Field(ge=0.0, description="Distance to the nearest track, metres.")
    beach_width_m: float = Field(ge=0.0, le=5000.0)
    nearest_place: str | None = None
    place_m: float | None = Field(default=None, ge=0.0)


def generate_sites(
    grid: Grid,
    coastline: BaseGeometry,
    bunkers: list[tuple[float, float]],
    places: list[tuple[str, float, float]],
    *,
    spacing_m: float = 700.0,
    cover_radius_m: float = 400.0,
) -> list[LaunchSite]:
    cls = grid.classes
    cell = grid.cell_m
    road_d = ndimage.distance_transform_edt(cls != T.ROAD) * cell
    track_d = ndimage.distance_transform_edt(cls != T.TRACK) * cell
    beachy = (cls == T.WET_SAND) | (cls == T.DRY_SAND)
    rad = int(cover_radius_m // cell)
    yy, xx = np.mgrid[-rad : rad + 1, -rad : rad + 1]
    disc = (yy**2 + xx**2) <= rad**2
    beach_rad = int(150 // cell)
    by, bx = np.mgrid[-beach_rad : beach_rad + 1, -beach_rad : beach_rad + 1]
    beach_disc = (by**2 + bx**2) <= beach_rad**2
    sites: list[LaunchSite] = []
    if coastline.is_empty:
        return sites
    n = int(coastline.length // spacing_m)
    for i in range(n):
        p = coastline.interpolate((i + 0.5) * spacing_m)
        cell_rc = grid.cell_of(p.x, p.y)
        if cell_rc is None:
            continue
        r, c = cell_rc
        r0, r1, c0, c1 = r - rad, r + rad + 1, c - rad, c + rad + 1
        if r0 < 0 or c0 < 0 or r1 > cls.shape[0] or c1 > cls.shape[1]:
            continue
        near = cls[r - beach_rad : r + beach_rad + 1, c - beach_rad : c + beach_rad + 1][beach_disc]
        around = cls[r0:r1, c0:c1][disc]
        beach_cells = int(np.isin(near, (T.WET_SAND, T.DRY_SAND)).sum())
        blocked = int(np.isin(near, (T.URBAN, T.CLIFF)).sum())
        if beach_cells < 0.12 * near.size or blocked > 0.25 * near.size:
            continue
        land = around[(around != T.SEA) & (around != T.WET_SAND) & (around != 255)]
        total = max(1, land.size)
        wood = float((land == T.WOODLAND).sum()) / total
        scrub = float((land == T.SCRUB).sum()) / total
        dune = float(np.isin(land, (T.DUNE_GRASS, T.DRY_SAND)).sum()) / total
        bunker_m = min(
            (float(np.hypot(p.x - bx_, p.y - by_)) for bx_, by_ in bunkers), default=None
        )
        cover = [
            name
            for name, frac in (("woodland", wood), ("scrub", scrub), ("dunes", dune))
            if frac >= 0.08
        ]
        if bunker_m is not None and bunker_m <= 300:
            cover.append("bunker")
        width = (
            float(
                beachy[r - beach_rad : r + beach_rad + 1, c - beach_rad : c + beach_rad + 1][
                    beach_disc
                ].sum()
            )
            * cell
            * cell
            / (2 * beach_rad * cell)
        )
        place, place_m = None, None
        if places:
            name, px, py = min(places, key=lambda q: (q[1] - p.x) ** 2 + (q[2] - p.y) ** 2)
            place, place_m = name, float(np.hypot(px - p.x, py - p.y))
        sites.append(
            LaunchSite(
                id=f"LS-{len(sites) + 1:03d}",
                name=f"Beach {len(sites) + 1:03d}" + (f" near {place}" if place else ""),
                x=p.x,
                y=p.y,
                cover=cover,
                woodland_fraction=round(wood, 3),
                scrub_fraction=round(scrub, 3),
                dune_fraction=round(dune, 3),
                bunker_m=None if bunker_m is None else round(bunker_m, 1),
                road_m=round(float(road_d[r, c]), 1),
                track_m=round(float(track_d[r, c]), 1),
                beach_width_m=round(min(width, 5000.0), 1),
                nearest_place=place,
                place_m=None if place_m is None else round(place_m, 1),
            )
        )
    return sites
