"""Recommendations on the stream: each new or moved open incident gets its proposed units.

When an incident opens (from fusion, CoT, REST) or moves, the run card is filled again by real
ETA and written as the incident's ``recommendation`` record (``rec-<incident>``), so every
console sees it on the stream. It proposes; it never tasks.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from estran.domain.errors import EstranError
from estran.domain.events import CommandIn
from estran.services.dispatch import recommend

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from estran.domain.events import Event
    from estran.domain.picture import Picture
    from estran.domain.runcards import RunCard
    from estran.services.terrain import TerrainService

__all__ = ["RecommendationService"]

log = logging.getLogger(__name__)


class RecommendationService:
    """Recommendations as a reactor of the supervised runtime: *off the event loop*, in a
    thread, against an immutable snapshot of the picture (route computations take tens of
    milliseconds; the live picture is never read from a thread). A burst of changes to one
    incident is one recomputation, the latest."""

    name = "recommend"
    actor = "system:dispatch"
    source = "eta"
    critical = False
    off_loop = True
    tick_every_s: float | None = None

    def __init__(
        self,
        picture: Picture,
        terrain: TerrainService,
        cards: list[RunCard],
        now: Callable[[], datetime],
    ) -> None:
        self.picture = picture
        self.terrain = terrain
        self.cards = cards
        self.now = now
        self.written = 0

    def accepts(self, event: Event) -> bool:
        return event.kind == "incident" and (event.verb == "created" or "position" in event.data)

    def react(self, event: Event, view: Picture, now: datetime) -> list[CommandIn]:
        command = self.command_for(event.entity_id, view, now)
        return [] if command is None else [command]

    def on_start(self, view: Picture, now: datetime) -> list[CommandIn]:
        return []

    def tick(self, view: Picture, now: datetime) -> list[CommandIn]:
        return []

    def command_for(
        self, incident_id: str, view: Picture | None = None, now: datetime | None = None
    ) -> CommandIn | None:
        picture = view if view is not None else self.picture
        inc = picture.get("incident", incident_id)
        if inc is None or inc["status"] == "closed":
            return None
        try:
            result = recommend(self.terrain, picture, self.cards, incident_id, now or self.now())
        except EstranError as exc:  # terrain not ready, or a place no unit can reach
            log.info("no recommendation for %s: %s", incident_id, exc.message)
            return None
        data: dict[str, Any] = {
            "run_card": result["run_card"],
            "proposed": [
                {
                    "unit_id": p["unit_id"],
                    "kind": p["kind"],
                    "eta_s": p["eta_s"],
                    "why": p["why"][:2000],
                }
                for p in result["proposed"]
            ],
            "unfilled": [u["kind"] for u in result["unfilled"]],
        }
        rec_id = f"rec-{incident_id}"[:128]
        if picture.get("recommendation", rec_id) is None:
            return CommandIn(
                type="recommendation.created",
                data={"id": rec_id, "incident_id": incident_id, **data},
            )
        return CommandIn(type="recommendation.updated", entity_id=rec_id, data=data)
