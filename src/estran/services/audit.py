"""The audit trail: who did or tried what, when, on which record, and why.

Logins (and failed ones), views of sensitive records, changes, releases, exports, deletions
by the retention purge and every refusal of the policy are written here, append-only and
hash-chained (``adapters/security_store.py``). ``verify`` walks the chain and names the first
row that was edited, deleted or moved, and a tail that was cut off.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from estran.domain.audit import AuditRow, Verification, verify_chain
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from estran.domain.policy import Decision
    from estran.ports import SecurityStore

__all__ = ["AuditTrail", "verify"]


class AuditTrail:
    def __init__(self, store: SecurityStore, now: Callable[[], datetime]) -> None:
        self.store = store
        self.now = now
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="estran-audit")
        self._pending: list[tuple[list[AuditRow], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.written = 0

    def row(
        self,
        actor: str,
        action: str,
        *,
        target: str | None = None,
        allowed: bool = True,
        rule: str = "granted",
        reason: str = "",
        justification: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditRow:
        return AuditRow(
            seq=0,
            at=stamp(self.now()),
            actor=actor,
            action=action,
            target=target,
            allowed=allowed,
            rule=rule,
            reason=reason,
            justification=justification,
            details=details or {},
        )

    def write(self, rows: list[AuditRow]) -> list[AuditRow]:
        """Blocking append (the CLI, and tests)."""
        stored = self.store.append_audit(rows)
        self.written += len(stored)
        return stored

    async def record(self, *rows: AuditRow) -> None:
        """Append ``rows`` durably before returning. Rows from concurrent requests share one
        transaction (group commit, as the ledger does): one fsync for many requests."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((list(rows), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            rows = [r for group, _ in batch for r in group]
            try:
                await loop.run_in_executor(self._writer, self.write, rows)
            except Exception as exc:  # every waiter learns the write failed
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for _, fut in batch:
                if not fut.done():
                    fut.set_result(None)

    async def decision(
        self,
        decision: Decision,
        *,
        justification: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.record(
            self.row(
                decision.principal,
                decision.action,
                target=decision.target,
                allowed=decision.allowed,
                rule=decision.rule,
                reason=decision.reason,
                justification=justification,
                details=details,
            )
        )

    def close(self) -> None:
        self._writer.shutdown(wait=True)


def verify(store: SecurityStore, anchor: tuple[int, str] | None = None) -> Verification:
    """Walk the stored chain from the start (``domain/audit.py``), against the head kept
    outside the database (the store's anchor file, or one given: a handover's ``audit_head``)."""
    return verify_chain(store.read_audit(), store.audit_head(), anchor or store.read_anchor())
