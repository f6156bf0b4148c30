"""A prepared terrain: what the terrain source hands the services (the raster, the travel
engine, the launch sites, the coastline and the area's projection).

The type lives in the domain so that services can take it without knowing where it came from
(``adapters/terrain_store.py`` generates or loads it; tests may build one by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from shapely.geometry.base import BaseGeometry

    from estran.domain.area import AreaSpec
    from estran.domain.launch_sites import LaunchSite
    from estran.domain.terrain import Grid
    from estran.domain.travel import TravelEngine

__all__ = ["PreparedTerrain", "Projector"]


class Projector(Protocol):
    """WGS 84 longitude/latitude <-> the area's projected metres (the port; pyproj behind it
    in ``adapters/terrain_io.py``)."""

    @property
    def crs(self) -> str: ...

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]: ...

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]: ...

    def many_to_xy(
        self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

    def many_to_lonlat(
        self, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...

    def geometry_to_xy(self, geom: Any) -> Any: ...

    def geometry_to_lonlat(self, geom: Any) -> Any: ...


@dataclass(frozen=True, eq=False)
class PreparedTerrain:
    area: AreaSpec
    grid: Grid
    engine: TravelEngine
    projector: Projector
    sites: list[LaunchSite]  # metres
    bunkers: list[tuple[float, float]]
    coastline: BaseGeometry
    source: str
    key: str
    prepared_s: float
    from_cache: bool
