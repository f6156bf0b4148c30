"""Builders of valid request bodies, so each test states only what it is about."""

from __future__ import annotations

import itertools
from typing import Any

_callsigns = itertools.count(1)


def unit(callsign: str | None = None, **extra: Any) -> dict[str, Any]:
    """A unit; each gets its own callsign unless one is given (callsigns are unique among an
    agency's active units)."""
    body: dict[str, Any] = {
        "callsign": callsign or f"ALPHA-{next(_callsigns)}",
        "kind": "dune_buggy",
        "agency_id": "FR-GN",
        "position": {"lat": 50.87, "lon": 1.58, "error_m": 5},
    }
    body.update(extra)
    return body


def sensor(name: str = "drone-1", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "kind": "drone_thermal", "agency_id": "UK-BF"}
    body.update(extra)
    return body


def detection(sensor_id: str, lat: float = 50.9, lon: float = 1.7, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sensor_id": sensor_id,
        "class": "group_of_people",
        "count": 12,
        "confidence": 0.8,
        "position": {"lat": lat, "lon": lon, "error_m": 25},
    }
    body.update(extra)
    return body


def incident(
    type_: str = "group_sighted", lat: float = 50.9, lon: float = 1.7, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": type_,
        "impact": "medium",
        "owner_agency_id": "FR-GN",
        "position": {"lat": lat, "lon": lon},
    }
    body.update(extra)
    return body


def sector(name: str = "Wissant", **extra: Any) -> dict[str, Any]:
    ring = [[1.65, 50.87], [1.70, 50.87], [1.70, 50.90], [1.65, 50.90], [1.65, 50.87]]
    body: dict[str, Any] = {
        "name": name,
        "impact": "high",
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    body.update(extra)
    return body
