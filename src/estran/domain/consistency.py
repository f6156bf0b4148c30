"""Rules that keep the picture coherent for the watch, whoever writes (pure):

- a task is never created for, or sent to a unit for, a closed incident (409): nobody is sent
  to something that is over;
- a callsign is unique among the active (not off-duty) units of an agency (409): two units
  answering to one callsign would be listed twice for dispatch, and a radio call would reach
  the wrong one.
"""

from __future__ import annotations

from typing import Any

from estran.domain.errors import ConflictError
from estran.domain.messages import msg

__all__ = ["DuplicateCallsignError", "IncidentClosedError", "check_consistency"]

Record = dict[str, Any]


class IncidentClosedError(ConflictError):
    code = "incident_closed"


class DuplicateCallsignError(ConflictError):
    code = "duplicate_callsign"


def _holders(view: Any, key: tuple[str, str]) -> set[str]:
    find = getattr(view, "callsign_holders", None)
    return set() if find is None else set(find(key))  # a minimal view (tests' fakes): none


def check_consistency(
    view: Any, kind: str, verb: str, entity_id: str, current: Record | None, data: Record
) -> None:
    """Raise a ``ConflictError`` where ``data`` would break a rule above."""
    if kind == "task":
        sending = verb == "created" or data.get("status") == "sent"
        incident_id = data.get("incident_id") or (current or {}).get("incident_id")
        incident = view.get("incident", incident_id) if incident_id else None
        if sending and incident is not None and incident.get("status") == "closed":
            raise IncidentClosedError(
                msg(
                    "incident {incident_id!r} is closed: no unit is tasked to it any more",
                    incident_id=incident_id,
                )
            )
    back_on_duty = (
        current is not None
        and current.get("status") == "off_duty"
        and data.get("status") not in (None, "off_duty")
    )
    if kind == "unit" and ("callsign" in data or back_on_duty):
        agency = data.get("agency_id") or (current or {}).get("agency_id")
        if (data.get("status") or (current or {}).get("status")) == "off_duty":
            return
        callsign = data.get("callsign") or (current or {}).get("callsign", "")
        key = (str(agency), str(callsign).strip().casefold())
        if _holders(view, key) - {entity_id}:
            raise DuplicateCallsignError(
                msg(
                    "callsign {callsign!r} is already used by an active unit of {agency}: "
                    "choose another, or stand the other unit down first",
                    callsign=callsign,
                    agency=agency,
                )
            )
