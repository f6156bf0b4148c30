"""An area of interest: its extent, projection, named places and roads, as data.

The Côte d'Opale ships as ``data/areas/cote-opale/area.toml`` with its coastline; another coast
is configured the same way (a folder with ``area.toml`` and ``coast.geojson``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["AreaSpec", "Place", "Road"]

Lat = Annotated[float, Field(ge=-90.0, le=90.0)]
Lon = Annotated[float, Field(ge=-180.0, le=180.0)]


class Place(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    lat: Lat
    lon: Lon
    urban_m: float = Field(default=0.0, ge=0.0, le=20_000.0, description="Built-up radius.")
    port: bool = Field(default=False, description="A harbour: built up to the water, no beach.")
    cliff_m: float = Field(default=0.0, ge=0.0, le=20_000.0, description="Cliffs within this.")


class Road(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    line: list[tuple[Lon, Lat]] = Field(min_length=2, description="(lon, lat) vertices.")


class AreaSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=128)
    crs: str = Field(description="Projected CRS of the terrain raster, e.g. EPSG:2154.")
    cell_m: float = Field(ge=5.0, le=100.0, description="Terrain cell size, metres.")
    inland_m: float = Field(default=8000.0, gt=0.0, le=50_000.0)
    offshore_m: float = Field(default=800.0, ge=0.0, le=20_000.0)
    south_lat: Lat
    north_lat: Lat
    west_lon: Lon
    east_lon: Lon
    seed: int = Field(default=0, ge=0, description="The synthetic terrain is a function of it.")
    polder_east_of_lon: Lon | None = Field(
        default=None, description="Low-lying polders (marsh, water) lie east of this longitude."
    )
    places: list[Place] = Field(default_factory=list)
    roads: list[Road] = Field(default_factory=list)

    @model_validator(mode="after")
    def _extent(self) -> AreaSpec:
        if not (self.south_lat < self.north_lat and self.west_lon < self.east_lon):
            raise ValueError("the area's extent is empty: south < north and west < east")
        return self


@dataclass(frozen=True, slots=True)
class OperatingArea:
    """Where positions are expected: the area of interest widened by ``margin_deg`` on every
    side (the Strait of Dover, the English coast, the Belgian border). A position beyond it
    (latitude and longitude swapped, a unit in Paris) is refused unless said deliberate."""

    name: str
    south: float
    west: float
    north: float
    east: float

    @classmethod
    def around(cls, spec: AreaSpec, margin_deg: float = 0.5) -> OperatingArea:
        return cls(spec.name, spec.south_lat - margin_deg, spec.west_lon - margin_deg,
                   spec.north_lat + margin_deg, spec.east_lon + margin_deg)  # fmt: skip

    def contains(self, lat: float, lon: float) -> bool:
        return self.south <= lat <= self.north and self.west <= lon <= self.east
