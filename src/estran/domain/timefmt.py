"""Timestamps as Estran stores them: UTC, ISO 8601, microseconds, a trailing ``Z``.

That one fixed-width form sorts as text in the same order as in time, so time windows are
string comparisons in the projection and in SQL alike. Pure: the wall clock is a port.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

__all__ = ["EARLIEST", "LATEST", "Stamp", "from_epoch_us", "parse_stamp", "stamp", "to_epoch_us"]

Stamp = NewType("Stamp", str)
"""A timestamp in the canonical form ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
"""No input may carry a time before this: Estran observed nothing then (a year-999 time once
broke every later purge)."""
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""No stored time (a retention date included) lies beyond this."""


def stamp(moment: datetime) -> Stamp:
    """Canonical text of an aware datetime; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamp must carry a time zone (e.g. 2026-11-24T22:00:00Z)")
    utc = moment.astimezone(UTC)
    # The year zero-padded to four digits: strftime's %Y writes year 999 as "999", which
    # neither sorts nor parses back.
    return Stamp(f"{utc.year:04d}" + utc.strftime("-%m-%dT%H:%M:%S.%fZ"))


def parse_stamp(text: str) -> datetime:
    """Parse ISO 8601 text with a zone into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.astimezone(UTC)


def to_epoch_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(micros: int) -> datetime:
    from datetime import timedelta

    return _EPOCH + timedelta(microseconds=micros)
