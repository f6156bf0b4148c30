"""Rescue first: every life-at-sea incident opens a search-and-rescue case, at once; and the
watch over acknowledgements (rescue cases and tasks).

Whatever path the incident came by (REST, CoT, fusion, the demo), the case is opened for the
rescue centre (the incident's owner if it is one, CROSS Gris-Nez otherwise) with everything
known passed on: position, time, count, description, distress factors. Its phase follows
IAMSAR: people in the water or distress factors -> distress, a boat at sea -> alert. A case the
rescue centre has not acknowledged within ``ack_s`` escalates: one phase up, and the count of
escalations, every ``ack_s`` until it is acknowledged. Only an acknowledged case can be closed
(the record's lifecycle), so nothing suppresses it. A task sent to a unit and not acknowledged
within ``task_ack_s`` is escalated likewise (its ``escalations`` count, and a warning).
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Final

from estran.domain.events import CommandIn
from estran.domain.markings import Marking, Purpose
from estran.domain.timefmt import parse_stamp

if TYPE_CHECKING:
    from datetime import datetime

    from estran.domain.events import Event
    from estran.domain.picture import Picture

__all__ = ["LIFE_SAVING_DESCRIPTION", "RESCUE_MARKING", "RescueService"]

log = logging.getLogger(__name__)

RESCUE_MARKING: Final = Marking(
    releasable_to=["FR", "GB"], purpose=Purpose.SEARCH_AND_RESCUE, personal_data=False
)

LIFE_SAVING_DESCRIPTION: Final = {
    "persons_in_water": "persons in the water / personnes à l'eau",
    "boat_at_sea": "small boat at sea / embarcation en mer",
}
"""A derived case's description: the incident's type in both languages, never its summary."""

_NEXT_PHASE: Final = {"uncertainty": "alert", "alert": "distress", "distress": "distress"}
_DEFAULT_CENTRE: Final = "FR-CROSS-GN"


class RescueService:
    """The rescue watch, a critical reactor of the supervised runtime (``services/runtime``):
    opens a case for every life-at-sea incident (``react``; on start, ``on_start`` opens the
    ones missed while it was down), and escalates unacknowledged cases and tasks (``tick``).
    Pure decisions on the picture it is handed and the clock's reading it is given."""

    name = "rescue"
    actor = "system:rescue"
    source = "rescue"
    critical = True
    off_loop = False

    def __init__(
        self,
        picture: Picture,
        *,
        ack_s: float,
        task_ack_s: float = 300.0,
        check_every_s: float = 1.0,
    ) -> None:
        self.task_ack_s = task_ack_s
        self.picture = picture
        self.ack_s = ack_s
        self.tick_every_s = min(check_every_s, ack_s / 2, task_ack_s / 2)

    def case_for(self, incident_id: str, view: Picture | None = None) -> dict[str, Any] | None:
        for case in (view or self.picture).all("rescue_case"):
            if case["incident_id"] == incident_id:
                return case
        return None

    def open_command(self, incident_id: str, view: Picture | None = None) -> CommandIn | None:
        picture = view or self.picture
        inc = picture.get("incident", incident_id)
        if (
            inc is None
            or not inc.get("life_at_sea")
            or self.case_for(incident_id, view) is not None
        ):
            return None
        owner = picture.get("agency", inc["owner_agency_id"]) or {}
        centre = inc["owner_agency_id"] if owner.get("kind") == "rescue_centre" else _DEFAULT_CENTRE
        in_water = inc["type"] == "persons_in_water"
        data: dict[str, Any] = {
            "id": f"sar-{incident_id}"[:128],
            "incident_id": incident_id,
            "centre_agency_id": centre,
            "phase": "distress" if in_water else "alert",
            "position": {k: inc["position"][k] for k in ("lat", "lon", "error_m")
                         if k in inc["position"]},
            # Only what saving life needs crosses to the other rescue centre: never the
            # incident's own free text, which stays behind the incident's marking.
            "description": LIFE_SAVING_DESCRIPTION[inc["type"]],
            "distress_factors": ["persons_in_water"] if in_water else [],
        }  # fmt: skip
        if inc.get("count") is not None:
            data["count"] = inc["count"]
        # Life at sea first: both nations' rescue centres (CROSS Gris-Nez, MRCC Dover) see it.
        return CommandIn(type="rescue_case.created", data=data, marking=RESCUE_MARKING)

    # --- the reactor ----------------------------------------------------------------------

    def accepts(self, event: Event) -> bool:
        return event.kind == "incident"

    def react(self, event: Event, view: Picture, now: datetime) -> list[CommandIn]:
        command = self.open_command(event.entity_id, view)
        return [] if command is None else [command]

    def on_start(self, view: Picture, now: datetime) -> list[CommandIn]:
        """Cases for the life-at-sea incidents that have none (opened while the watch was
        down): one command each, so one refusal does not hold back the others."""
        out = []
        for inc in list(view.all("incident")):
            command = self.open_command(inc["id"], view)
            if command is not None:
                out.append(command)
        return out

    def tick(self, view: Picture, now: datetime) -> list[CommandIn]:
        """Escalations due at ``now``: a case not acknowledged within ``ack_s`` of its opening
        goes one phase up, and again every ``ack_s``; a task sent and not acknowledged within
        ``task_ack_s`` of its last change too. Decided from the records alone (their times and
        escalation counts), never from memory, so a watch restarted on another node escalates
        on time; each escalation's idempotency key (the record and the escalation's number)
        makes it happen once whichever node concludes it."""
        at = now.timestamp()
        commands = []
        for case in view.all("rescue_case"):
            if case["status"] != "open":
                continue
            done = int(case.get("escalations") or 0)
            if at < parse_stamp(case["created_at"]).timestamp() + (done + 1) * self.ack_s:
                continue
            phase = _NEXT_PHASE[case["phase"]]
            key = _escalation_key("case", case["id"], done + 1)
            commands.append(
                CommandIn(
                    type="rescue_case.updated",
                    entity_id=case["id"],
                    data={"phase": phase, "escalations": done + 1},
                    event_id=key,
                )
            )
            # People on watch learn of it: a line in the duty log, marked as the case is (so
            # both rescue centres read it), in both languages.
            minutes = (done + 1) * self.ack_s / 60
            commands.append(
                CommandIn(
                    type="log_entry.created",
                    data={
                        "log": "duty",
                        "incident_id": case["incident_id"],
                        "role": "rescue watch",
                        "position_held": "veille sauvetage / rescue watch",
                        "text": escalation_text(case, phase, minutes),
                    },
                    marking=RESCUE_MARKING,
                    event_id=f"{key}:log",
                )
            )
            log.warning(
                "rescue case %s not acknowledged by %s after %.0f s: escalated",
                case["id"],
                case["centre_agency_id"],
                (done + 1) * self.ack_s,
            )
        return commands + self._task_escalations(view, at)

    def _task_escalations(self, view: Picture, now: float) -> list[CommandIn]:
        """Tasks sent but not acknowledged within ``task_ack_s``: escalated, and logged."""
        out = []
        for task in view.all("task"):
            if task["status"] != "sent":
                continue
            if now < parse_stamp(task["updated_at"]).timestamp() + self.task_ack_s:
                continue
            done = int(task.get("escalations") or 0)
            out.append(
                CommandIn(
                    type="task.updated",
                    entity_id=task["id"],
                    data={"escalations": done + 1},
                    event_id=_escalation_key("task", task["id"], done + 1),
                )
            )
            log.warning("task %s to %s not acknowledged: escalated", task["id"], task["unit_id"])
        return out


_PHASE_FR: Final = {"uncertainty": "incertitude", "alert": "alerte", "distress": "détresse"}


def escalation_text(case: dict[str, Any], phase: str, minutes: float) -> str:
    """The duty log's line for an escalation, in French then English."""
    centre, cid = case["centre_agency_id"], case["id"]
    return (
        f"ESCALADE : cas SAR {cid} non acquitté par {centre} après {minutes:.0f} min, "
        f"phase {_PHASE_FR.get(phase, phase)} / ESCALATED: rescue case {cid} not acknowledged "
        f"by {centre} after {minutes:.0f} min, phase {phase}"
    )


def _escalation_key(kind: str, record_id: str, n: int) -> str:
    """The idempotency key of the ``n``-th escalation of a record (ids may be long)."""
    digest = hashlib.sha256(record_id.encode()).hexdigest()[:24]
    return f"rescue.{kind}.{digest}:{n}"
