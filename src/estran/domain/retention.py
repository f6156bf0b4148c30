"""Retention: which records are due for deletion now (pure; the ledger carries it out).

Each kind's legal rule, counted from when the record was observed (detections, tracks) or last
changed (everything else); a record's ``marking.retain_until`` may keep it longer, never
shorter. A record whose times cannot be read is kept and skipped, never stops the purge.
Reference data (agencies, units, sensors, sectors) is not subject to it, and nothing still open
is ever purged: an open incident, a live task or an unclosed rescue case stays whatever its age.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from estran.domain.timefmt import parse_stamp

if TYPE_CHECKING:
    from datetime import datetime

    from estran.domain.picture import Picture

__all__ = ["KEPT_KINDS", "RetentionRules", "due_for_purge"]

KEPT_KINDS: Final = frozenset({"agency", "unit", "sensor", "sector", "purge"})
_LIVE: Final = {
    "incident": frozenset({"open", "responding"}),
    "rescue_case": frozenset({"open", "acknowledged"}),
    "task": frozenset({"proposed", "sent", "acknowledged", "will_comply", "en_route", "on_scene"}),
    "track": frozenset(),
    "post": frozenset({"proposed", "accepted"}),
}


@dataclass(frozen=True)
class RetentionRules:
    detection_days: float
    log_days: float
    record_days: float

    def days_for(self, kind: str) -> float:
        if kind in ("detection", "track"):
            return self.detection_days
        if kind == "log_entry":
            return self.log_days
        return self.record_days

    def as_dict(self) -> dict[str, float]:
        return {
            "detection": self.detection_days,
            "track": self.detection_days,
            "log_entry": self.log_days,
            "other": self.record_days,
        }


def _due_at(kind: str, record: dict[str, Any], rules: RetentionRules) -> datetime:
    """The legal period of its kind, or later where its marking keeps it longer: a marking
    never makes a record go sooner (a rescue case, a life-at-sea incident, another user's log
    line least of all)."""
    start = record["observed_at"] if kind in ("detection", "track") else record["updated_at"]
    legal = parse_stamp(start) + timedelta(days=rules.days_for(kind))
    explicit = (record.get("marking") or {}).get("retain_until")
    return max(legal, parse_stamp(explicit)) if explicit else legal


def due_for_purge(picture: Picture, now: datetime, rules: RetentionRules) -> list[tuple[str, str]]:
    """(kind, id) of every record whose retention has run out, in a stable order."""
    due: list[tuple[str, str]] = []
    for kind, table in picture.records.items():
        if kind in KEPT_KINDS:
            continue
        live = _LIVE.get(kind, frozenset())
        for rid, record in table.items():
            if record.get("status") in live:
                continue
            try:
                due_at = _due_at(kind, record, rules)
            except (ValueError, KeyError, TypeError, OverflowError):
                # One unreadable record must not stop every later purge: it is kept (and
                # reported by ``unreadable``), the rest are purged.
                continue
            if due_at <= now:
                due.append((kind, rid))
    due.sort()
    return due
