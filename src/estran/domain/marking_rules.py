"""What no marking change may do, whoever asks (pure).

A change of marking is a release: the policy decides *who* may make it (``domain/policy.py``);
these rules decide *what* no release may do, even by the originator:

- remove the originating nation from ``releasable_to`` (the originator would lose its own
  record);
- narrow a rescue case or a life-at-sea incident below both rescue centres' nations, or take a
  rescue case out of the search-and-rescue purpose (life at sea first: a closed case stays
  readable by CROSS Gris-Nez and MRCC Dover for its whole period);
- set ``retain_until`` earlier than the record's legal retention period, or earlier than it
  already was on a life-at-sea record, or beyond ``LATEST`` (a marking may keep a record
  longer, never make it go sooner).

The caller adds the last rule that needs the policy: the principal making the change must
still see the record afterwards, so no release leaves a record visible to nobody.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from estran.domain.errors import ValidationFailedError
from estran.domain.timefmt import LATEST, parse_stamp, stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.domain.markings import Marking

__all__ = ["RESCUE_NATIONS", "check_marking_change", "is_life_at_sea_record"]

RESCUE_NATIONS: Final = frozenset({"FR", "GB"})
"""The nations of the two rescue centres (CROSS Gris-Nez, MRCC Dover)."""

_HOST: Final = "FR"


def is_life_at_sea_record(kind: str, record: dict[str, Any]) -> bool:
    return kind == "rescue_case" or (kind == "incident" and bool(record.get("life_at_sea")))


def _refuse(message: str, field: str) -> ValidationFailedError:
    return ValidationFailedError(
        message, details=[{"loc": ["marking", field], "msg": message, "type": "marking_rule"}]
    )


def check_marking_change(
    kind: str,
    current: dict[str, Any],
    new: Marking,
    received_at: datetime,
    retention_days: Callable[[str], float] | None,
) -> None:
    """Raise ``ValidationFailedError`` (422) when ``new`` breaks a rule above."""
    old = current.get("marking") or {}
    origin = old.get("originator_nation") or _HOST
    if origin not in new.releasable_to:
        raise _refuse(
            f"a marking change may not remove the originating nation {origin}", "releasable_to"
        )
    life = is_life_at_sea_record(kind, current)
    if life:
        missing = sorted(RESCUE_NATIONS - set(new.releasable_to))
        if missing:
            raise _refuse(
                f"a life-at-sea record stays releasable to both rescue centres' nations "
                f"({', '.join(sorted(RESCUE_NATIONS))}); {', '.join(missing)} may not be removed",
                "releasable_to",
            )
        if kind == "rescue_case" and new.purpose != "search_and_rescue":
            raise _refuse("a rescue case is held for search and rescue, always", "purpose")
    until = new.retain_until
    if until is None:
        return
    if until >= LATEST:
        raise _refuse(f"retain_until must be before {stamp(LATEST)}", "retain_until")
    if retention_days is not None:
        legal = received_at + timedelta(days=retention_days(kind))
        if until < legal:
            raise _refuse(
                f"retain_until {stamp(until)} is before the legal retention of a {kind} "
                f"({stamp(legal)}): a marking may keep a record longer, never shorter",
                "retain_until",
            )
    before = old.get("retain_until")
    if life and before is not None and until < parse_stamp(before):
        raise _refuse("a life-at-sea record's retention may not be shortened", "retain_until")
