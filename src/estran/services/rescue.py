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

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

import orjson

from estran.domain.events import CommandIn
from estran.domain.markings import Marking, Purpose
from estran.services.background import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable

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
    def __init__(
        self,
        ledger: Any,
        picture: Picture,
        hub: Any,
        *,
        ack_s: float,
        now_s: Callable[[], float],
        task_ack_s: float = 300.0,
        check_every_s: float = 1.0,
    ) -> None:
        self.task_ack_s = task_ack_s
        self.ledger = ledger
        self.picture = picture
        self.hub = hub
        self.ack_s = ack_s
        self.now_s = now_s
        self.check_every_s = min(check_every_s, ack_s / 2, task_ack_s / 2)
        self._last_alarm: dict[str, float] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._open_loop(), name="estran-rescue"),
            asyncio.create_task(self._escalate_loop(), name="estran-rescue-escalation"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    def case_for(self, incident_id: str) -> dict[str, Any] | None:
        for case in self.picture.records["rescue_case"].values():
            if case["incident_id"] == incident_id:
                return case
        return None

    def open_command(self, incident_id: str) -> CommandIn | None:
        inc = self.picture.get("incident", incident_id)
        if inc is None or not inc.get("life_at_sea") or self.case_for(incident_id) is not None:
            return None
        owner = self.picture.get("agency", inc["owner_agency_id"]) or {}
        centre = inc["owner_agency_id"] if owner.get("kind") == "rescue_centre" else _DEFAULT_CENTRE
        in_water = inc["type"] == "persons_in_water"
        data: dict[str, Any] = {
            "id": f"sar-{incident_id}"[:128],
            "incident_id": incident_id,
            "centre_agency_id": centre,
            "phase": "distress" if in_water else "alert",
            "position": {
                k: inc["position"][k] for k in ("lat", "lon", "error_m") if k in inc["position"]
            },
            # Only what saving life needs crosses to the other rescue centre: never the
            # incident's own free text, which stays behind the incident's marking.
            "description": LIFE_SAVING_DESCRIPTION[inc["type"]],
            "distress_factors": ["persons_in_water"] if in_water else [],
        }
        if inc.get("count") is not None:
            data["count"] = inc["count"]
        # Life at sea first: both nations' rescue centres (CROSS Gris-Nez, MRCC Dover) see it.
        return CommandIn(type="rescue_case.created", data=data, marking=RESCUE_MARKING)

    async def _submit(self, commands: list[CommandIn]) -> None:
        try:
            await self.ledger.submit(commands, actor="system:rescue", source="rescue")
        except Exception as exc:  # logged loudly; the next incident event retries
            log.error("rescue: %s refused: %s", [c.type for c in commands], exc)

    async def _open_loop(self) -> None:
        sub = self.hub.subscribe(
            1_000_000, 1024 * 1024 * 1024, accepts=lambda e: e.kind == "incident"
        )
        try:
            for inc in list(self.picture.records["incident"].values()):  # cases missed while down
                command = self.open_command(inc["id"])
                if command is not None:
                    await self._submit([command])
            while True:
                for _, frame in await sub.take():
                    command = self.open_command(orjson.loads(frame)["entity_id"])
                    if command is not None:
                        await self._submit([command])
        finally:
            self.hub.unsubscribe(sub)

    async def _escalate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.check_every_s)
            now = self.now_s()
            commands = []
            for case in self.picture.records["rescue_case"].values():
                if case["status"] != "open":
                    continue
                since = self._last_alarm.setdefault(case["id"], now)
                if now - since < self.ack_s:
                    continue
                self._last_alarm[case["id"]] = now
                commands.append(
                    CommandIn(
                        type="rescue_case.updated",
                        entity_id=case["id"],
                        data={
                            "phase": _NEXT_PHASE[case["phase"]],
                            "escalations": int(case.get("escalations") or 0) + 1,
                        },
                    )
                )
                log.warning(
                    "rescue case %s not acknowledged by %s after %.0f s: escalated",
                    case["id"],
                    case["centre_agency_id"],
                    self.ack_s,
                )
            commands += self._task_escalations(now)
            if commands:
                await self._submit(commands)

    def _task_escalations(self, now: float) -> list[CommandIn]:
        """Tasks sent but not acknowledged within ``task_ack_s``: escalated, and logged."""
        out = []
        for task in self.picture.records["task"].values():
            if task["status"] != "sent":
                continue
            key = f"task:{task['id']}"
            since = self._last_alarm.setdefault(key, now)
            if now - since < self.task_ack_s:
                continue
            self._last_alarm[key] = now
            out.append(
                CommandIn(
                    type="task.updated",
                    entity_id=task["id"],
                    data={"escalations": int(task.get("escalations") or 0) + 1},
                )
            )
            log.warning("task %s to %s not acknowledged: escalated", task["id"], task["unit_id"])
        return out
