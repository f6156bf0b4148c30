"""Recommendations on the stream: each new or moved open incident gets its proposed units.

When an incident opens (from fusion, CoT, REST) or moves, the run card is filled again by real
ETA and written as the incident's ``recommendation`` record (``rec-<incident>``), so every
console sees it on the stream. It proposes; it never tasks.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson

from estran.domain.errors import EstranError
from estran.domain.events import CommandIn
from estran.services.background import cancel_and_wait
from estran.services.dispatch import recommend

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from estran.domain.picture import Picture
    from estran.domain.runcards import RunCard
    from estran.services.terrain import TerrainService

__all__ = ["RecommendationService"]

log = logging.getLogger(__name__)


class RecommendationService:
    def __init__(
        self,
        ledger: Any,
        picture: Picture,
        hub: Any,
        terrain: TerrainService,
        cards: list[RunCard],
        now: Callable[[], datetime],
    ) -> None:
        self.ledger = ledger
        self.picture = picture
        self.hub = hub
        self.terrain = terrain
        self.cards = cards
        self.now = now
        self._task: asyncio.Task[None] | None = None
        self.written = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="estran-recommend")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    def command_for(self, incident_id: str) -> CommandIn | None:
        inc = self.picture.get("incident", incident_id)
        if inc is None or inc["status"] == "closed":
            return None
        try:
            result = recommend(self.terrain, self.picture, self.cards, incident_id, self.now())
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
        if self.picture.get("recommendation", rec_id) is None:
            return CommandIn(
                type="recommendation.created",
                data={"id": rec_id, "incident_id": incident_id, **data},
            )
        return CommandIn(type="recommendation.updated", entity_id=rec_id, data=data)

    async def _loop(self) -> None:
        sub = self.hub.subscribe(
            100_000,
            512 * 1024 * 1024,
            accepts=lambda e: (
                e.kind == "incident" and (e.verb == "created" or "position" in e.data)
            ),
        )
        try:
            while True:
                frames = await sub.take()
                # Several changes to one incident in a burst: one recommendation, the latest.
                ids = list(dict.fromkeys(orjson.loads(f)["entity_id"] for _, f in frames))
                for incident_id in ids:
                    command = await asyncio.to_thread(self.command_for, incident_id)
                    if command is None:
                        continue
                    try:
                        await self.ledger.submit([command], actor="system:dispatch", source="eta")
                        self.written += 1
                    except EstranError as exc:
                        log.warning("recommendation for %s refused: %s", incident_id, exc)
        finally:
            self.hub.unsubscribe(sub)
