"""Planar and spherical helpers with no coordinate system attached to objects.

Positions are WGS 84 degrees; the terrain engine reprojects in its own I/O module.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BBox", "ErrorEllipse", "Position", "parse_bbox"]


class Position(BaseModel):
    """A point with its horizontal uncertainty (CEP50-like radius, metres)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lat: float = Field(ge=-90.0, le=90.0, description="Latitude, WGS 84 degrees.")
    lon: float = Field(ge=-180.0, le=180.0, description="Longitude, WGS 84 degrees.")
    error_m: float = Field(default=10.0, ge=0.0, le=100_000.0, description="Horizontal error, m.")


class ErrorEllipse(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    semi_major_m: float = Field(ge=0.0, le=100_000.0)
    semi_minor_m: float = Field(ge=0.0, le=100_000.0)
    orientation_deg: float = Field(ge=0.0, lt=180.0, description="Major axis, from north.")


@dataclass(frozen=True, slots=True)
class BBox:
    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    def contains(self, lon: float, lat: float) -> bool:
        return self.min_lon <= lon <= self.max_lon and self.min_lat <= lat <= self.max_lat

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.min_lon, self.min_lat, self.max_lon, self.max_lat)


def parse_bbox(text: str) -> BBox:
    """``min_lon,min_lat,max_lon,max_lat`` in degrees, as in GeoJSON and OGC APIs."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox is min_lon,min_lat,max_lon,max_lat")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError as exc:
        raise ValueError("bbox values must be numbers") from exc
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError("bbox out of range or min greater than max")
    return BBox(min_lon, min_lat, max_lon, max_lat)
