"""Typed Cursor-on-Target messages and the protocol's limits.

A ``CotEvent`` is what every CoT message is, whatever its encoding: the event's attributes,
its point, and its detail. The detail is kept twice: the handful of children TAK clients rely
on (contact, __group, takv, track, status, precisionlocation, remarks, link, uid) parsed into
fields, and the whole inner XML of ``<detail>`` verbatim, so that what a client sent reaches
the others unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CONTROL_TYPES",
    "MAX_DETAIL_BYTES",
    "MAX_EVENT_BYTES",
    "MAX_VARINT_BYTES",
    "MESH_MAGIC",
    "NO_VALUE",
    "PING_TYPE",
    "PONG_TYPE",
    "STREAM_MAGIC",
    "TAKP_OFFER",
    "TAKP_REQUEST",
    "TAKP_RESPONSE",
    "Contact",
    "CotEvent",
    "Group",
    "Link",
    "Point",
    "TakVersion",
    "Track",
]

MAX_EVENT_BYTES: Final = 64 * 1024
"""Largest CoT event accepted, XML or protobuf (a setting can lower or raise it)."""
MAX_DETAIL_BYTES: Final = 48 * 1024
MAX_VARINT_BYTES: Final = 10
STREAM_MAGIC: Final = 0xBF
MESH_MAGIC: Final = b"\xbf\x01\xbf"
NO_VALUE: Final = 9_999_999.0
"""CoT's "unknown" for hae, ce and le."""

PING_TYPE: Final = "t-x-c-t"
PONG_TYPE: Final = "t-x-c-t-r"
TAKP_OFFER: Final = "t-x-takp-v"
TAKP_REQUEST: Final = "t-x-takp-q"
TAKP_RESPONSE: Final = "t-x-takp-r"
CONTROL_TYPES: Final = frozenset({PING_TYPE, PONG_TYPE, TAKP_OFFER, TAKP_REQUEST, TAKP_RESPONSE})


@dataclass(frozen=True, slots=True)
class Point:
    lat: float
    lon: float
    hae: float = NO_VALUE
    ce: float = NO_VALUE
    le: float = NO_VALUE


@dataclass(frozen=True, slots=True)
class Contact:
    callsign: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    name: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class TakVersion:
    device: str | None = None
    platform: str | None = None
    os: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True)
class Track:
    speed: float | None = None
    course: float | None = None


@dataclass(frozen=True, slots=True)
class Link:
    uid: str | None = None
    type: str | None = None
    relation: str | None = None


@dataclass(frozen=True, slots=True)
class CotEvent:
    """One CoT event. Times are the ISO 8601 strings CoT carries (UTC, ``Z``)."""

    uid: str
    type: str
    time: str
    start: str
    stale: str
    point: Point
    how: str = "h-g-i-g-o"
    version: str = "2.0"
    access: str | None = None
    qos: str | None = None
    opex: str | None = None
    detail_xml: str = ""
    """The inner XML of ``<detail>``, exactly as received (or as built)."""
    contact: Contact | None = None
    group: Group | None = None
    takv: TakVersion | None = None
    track: Track | None = None
    battery: int | None = None
    geopointsrc: str | None = None
    altsrc: str | None = None
    remarks: str | None = None
    links: tuple[Link, ...] = field(default=())
    droid: str | None = None
    """``<uid Droid="..."/>``: the device's name for itself."""

    @property
    def is_control(self) -> bool:
        return self.type in CONTROL_TYPES

    @property
    def affiliation(self) -> str | None:
        """For atoms (``a-f-...``): f friend, h hostile, u unknown, n neutral, ..."""
        parts = self.type.split("-")
        return parts[1] if len(parts) > 1 and parts[0] == "a" else None
