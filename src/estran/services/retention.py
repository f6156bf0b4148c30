"""The retention purge, on a schedule in the server and on demand (``estran purge``).

Each run finds what is due (``domain/retention.py``), deletes it through the ledger in one
transaction with a ``purge`` record of the counts, and writes the deletion to the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from estran.domain.events import CommandIn
from estran.domain.retention import RetentionRules, due_for_purge

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.domain.picture import Picture
    from estran.ports import ChipStore, Clock
    from estran.services.audit import AuditTrail
    from estran.services.eventchain import EventChain
    from estran.services.ledger import Ledger

__all__ = ["RetentionService", "rules_from"]

log = logging.getLogger(__name__)


def rules_from(settings: Settings) -> RetentionRules:
    return RetentionRules(
        detection_days=settings.retention_detection_days,
        log_days=settings.retention_log_days,
        record_days=settings.retention_record_days,
    )


class RetentionService:
    def __init__(
        self,
        ledger: Ledger,
        picture: Picture,
        audit: AuditTrail,
        clock: Clock,
        rules: RetentionRules,
        interval_s: float,
        *,
        chips: ChipStore | None = None,
        chain: EventChain | None = None,
    ) -> None:
        self.ledger = ledger
        self.picture = picture
        self.audit = audit
        self.clock = clock
        self.rules = rules
        self.interval_s = interval_s
        self.runs = 0
        self.chips = chips  # thermal thumbnails, kept for the imagery period
        self.chain = chain  # the event log's checkpoints, on every run

    async def run_once(
        self, *, actor: str = "system:retention", justification: str | None = None
    ) -> dict[str, Any]:
        """Purge what is due now; returns the counts by kind (nothing due: no purge record)."""
        due = due_for_purge(self.picture, self.clock.now(), self.rules)
        self.runs += 1
        chips = self.chips.purge(self.clock.now()) if self.chips is not None else 0
        if chips:
            await self.audit.record(
                self.audit.row(
                    actor, "purge", target="chips",
                    justification=justification or "imagery retention (scheduled)",
                    details={"chips": chips},
                )
            )  # fmt: skip
        if not due:
            if self.chain is not None:
                await self.chain.checkpoint()
            return {"removed": {}, "purge_id": None, "chips": chips}
        counts = dict(Counter(kind for kind, _ in due))
        command = CommandIn(
            type="purge.created",
            data={"removed": counts, "rules_days": self.rules.as_dict()},
        )
        (event,) = await self.ledger.purge(due, command, actor=actor)
        await self.audit.record(
            self.audit.row(
                actor,
                "purge",
                target=f"purge/{event.entity_id}",
                justification=justification or "retention limits (scheduled)",
                details={"removed": counts, "records": len(due), "seq": event.seq},
            )
        )
        if self.chain is not None:
            await self.chain.checkpoint(after_purge=True)
        log.info("retention purge removed %d records: %s", len(due), counts)
        return {"removed": counts, "purge_id": event.entity_id, "chips": chips}

    async def run_forever(self) -> None:
        """The schedule (the supervised runtime runs it): a run every ``interval_s``; a failed
        run is logged and retried at the next interval; it never ends by itself."""
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("the scheduled retention purge failed")
            await asyncio.sleep(self.interval_s)
