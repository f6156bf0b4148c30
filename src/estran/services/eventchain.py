"""Checkpoints of the event log's hash chain, kept in the audit trail (``domain/eventchain.py``).

``EventChain.checkpoint`` extends the chain from the last checkpoint with the events written
since (reading the store, so events written by any node are covered) and audits
``(through_seq, events_hash)``; the retention service calls it on every run (hourly) and
straight after a purge, and the server on shutdown. ``verify_events`` recomputes the chain
from the store and checks every checkpoint since the latest purge.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from estran.domain.eventchain import GENESIS, chain

if TYPE_CHECKING:
    from collections.abc import Iterable

    from estran.domain.audit import AuditRow
    from estran.ports import EventStore
    from estran.services.audit import AuditTrail

__all__ = ["ChainVerification", "EventChain", "verify_events"]

CHECKPOINT = "checkpoint"


class EventChain:
    def __init__(self, store: EventStore, audit: AuditTrail) -> None:
        self.store = store
        self.audit = audit
        self.head: tuple[int, str] = (0, GENESIS)
        self._lock = asyncio.Lock()

    def _extend(self, restart: bool) -> tuple[int, str]:
        start = (0, GENESIS) if restart else self.head
        return chain(self.store.read(start[0]), start)

    async def checkpoint(self, *, after_purge: bool = False, actor: str = "system:events") -> None:
        """Pin the chain's head in the audit trail (nothing new: nothing written)."""
        async with self._lock:
            before = self.head
            head = await asyncio.to_thread(self._extend, after_purge)
            if head == before and not after_purge:
                return
            self.head = head
            await self.audit.record(
                self.audit.row(
                    actor,
                    CHECKPOINT,
                    target="events",
                    details={"through_seq": head[0], "events_hash": head[1],
                             "after_purge": after_purge},
                )
            )  # fmt: skip


@dataclass
class ChainVerification:
    events: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_events(store: EventStore, audit_rows: Iterable[AuditRow]) -> ChainVerification:
    """Recompute the chain and check each checkpoint since the latest purge."""
    checkpoints: list[dict[str, Any]] = []
    for row in audit_rows:
        if row.action == CHECKPOINT and row.target == "events":
            if row.details.get("after_purge"):
                checkpoints = []
            checkpoints.append(row.details)
    result = ChainVerification(checkpoints=len(checkpoints))
    wanted = {int(c["through_seq"]): str(c["events_hash"]) for c in checkpoints}
    head = (0, GENESIS)
    at: dict[int, str] = {0: GENESIS}
    for event in store.read(0):
        head = chain([event], head)
        result.events += 1
        if event.seq in wanted:
            at[event.seq] = head[1]
    for seq, digest in sorted(wanted.items()):
        found = at.get(seq)
        if found is None:
            result.problems.append(
                f"the checkpoint through event {seq} names an event that is gone "
                "(events deleted or renumbered)"
            )
        elif found != digest:
            result.problems.append(
                f"events up to {seq} differ from the checkpoint the audit trail holds "
                "(an event was edited, deleted, inserted or reordered)"
            )
    return result
