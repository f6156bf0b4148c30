"""The ledger: the one path by which anything enters the picture.

Requests queue up; one writer task takes everything waiting (group commit), decides each
request against the picture plus what is already staged in the group (all-or-nothing per
request), appends the accepted events in one durable transaction on the writer thread, then
applies them to the picture and publishes them, in seq order, before any caller is answered.
Deciding and applying in one task means no locks and no lost updates.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from estran.domain.audit import AuditRow
from estran.domain.commands import Context, decide
from estran.domain.errors import ConflictError, EstranError, StorageError
from estran.domain.picture import Picture, Staged
from estran.domain.policy import SYSTEM, Policy, Principal, Role
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from estran.domain.events import CommandIn, Event
    from estran.domain.markings import Marking
    from estran.ports import Clock, EventStore
    from estran.services.hub import Hub

__all__ = ["Ledger"]

log = logging.getLogger(__name__)

MAX_GROUP_EVENTS: Final = 5000


@dataclass
class _Request:
    commands: Sequence[CommandIn]
    actor: str
    source: str
    principal: Principal
    future: asyncio.Future[list[Event]]
    results: list[Event | None] = field(default_factory=list)
    new: list[Event] = field(default_factory=list)
    purge: list[tuple[str, str]] | None = None
    new_commands: list[CommandIn] = field(default_factory=list)
    before: list[dict[str, Any] | None] = field(default_factory=list)
    """The marking of each new event's record before it (a release is a change of it)."""


class Ledger:
    def __init__(
        self,
        store: EventStore,
        picture: Picture,
        hub: Hub,
        clock: Clock,
        *,
        default_marking: Marking,
        max_future_skew_s: float,
        new_id: Callable[[], str],
        policy: Policy | None = None,
        retention_days: Callable[[str], float] | None = None,
    ) -> None:
        self.retention_days = retention_days
        self.store = store
        self.picture = picture
        self.hub = hub
        self.clock = clock
        self.default_marking = default_marking
        self.max_future_skew_s = max_future_skew_s
        self.new_id = new_id
        self.policy = policy
        self._pending: deque[_Request] = deque()
        self._wake = asyncio.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="estran-writer")
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.commits = 0
        self.failing: str | None = None
        """Why the last write failed, until one succeeds again (health reports it)."""

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="estran-ledger")

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._writer.shutdown(wait=True)

    async def submit(
        self,
        commands: Sequence[CommandIn],
        *,
        actor: str,
        source: str,
        principal: Principal = SYSTEM,
    ) -> list[Event]:
        """Record ``commands`` atomically; returns their events once durable and applied.

        ``principal`` is who asks: the policy decides each command for them (Estran's own
        services are the system principal)."""
        if self._closing:
            raise StorageError("the server is shutting down; nothing was written")
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(commands, actor, source, principal, future))
        self._wake.set()
        return await future

    async def purge(
        self, keys: Sequence[tuple[str, str]], record: CommandIn, *, actor: str
    ) -> list[Event]:
        """Delete the records ``keys`` and log ``record`` (a ``purge.created`` saying what went),
        in one transaction, between two groups: nothing is decided against a record mid-purge.
        """
        if self._closing:
            raise StorageError("the server is shutting down; nothing was purged")
        future: asyncio.Future[list[Event]] = asyncio.get_running_loop().create_future()
        self._pending.append(
            _Request([record], actor, "retention", SYSTEM, future, purge=list(keys))
        )
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._pending[0].purge is not None:
                req = self._pending.popleft()
                try:
                    await self._commit_purge(req)
                except Exception as exc:
                    log.exception("the retention purge failed")
                    err = exc if isinstance(exc, EstranError) else StorageError(str(exc))
                    if not req.future.done():
                        req.future.set_exception(err)
                continue
            group = self._take_group()
            try:
                await self._commit_group(group)
            except Exception as exc:  # the writer must survive anything a group does
                self.failing = f"{type(exc).__name__}: {exc}"[:300]
                log.exception("commit of a group failed")
                err = exc if isinstance(exc, EstranError) else StorageError(str(exc))
                for req in group:
                    if not req.future.done():
                        req.future.set_exception(err)

    async def _commit_purge(self, req: _Request) -> None:
        assert req.purge is not None  # noqa: S101 (a purge request)
        event = decide(self.picture, req.commands[0], self._context(self.clock.now(), req))
        loop = asyncio.get_running_loop()
        stored = await loop.run_in_executor(self._writer, self.store.purge, req.purge, event)
        for kind, entity_id in req.purge:
            self.picture.remove(kind, entity_id)
        self.picture.apply(stored)
        self.hub.publish([stored])
        req.future.set_result([stored])

    def _context(self, received_at: datetime, req: _Request) -> Context:
        """What ``decide`` needs for one request: one clock reading shared by a group."""
        return Context(
            received_at,
            req.actor,
            req.source,
            self.default_marking,
            self.max_future_skew_s,
            self.new_id,
            req.principal,
            self.policy,
            self.retention_days,
        )

    def _take_group(self) -> list[_Request]:
        group = [self._pending.popleft()]
        size = len(group[0].commands)
        while (
            self._pending
            and self._pending[0].purge is None
            and size + len(self._pending[0].commands) <= MAX_GROUP_EVENTS
        ):
            req = self._pending.popleft()
            size += len(req.commands)
            group.append(req)
        return group

    async def _commit_group(self, group: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        keys = [c.event_id for req in group for c in req.commands if c.event_id]
        existing = await loop.run_in_executor(self._writer, self.store.find, keys) if keys else {}
        received_at = self.clock.now()
        staged_group = Staged(self.picture)
        accepted: list[_Request] = []
        seen: set[str] = set()
        for req in group:
            req_ctx = self._context(received_at, req)
            staged = Staged(staged_group)
            try:
                for cmd in req.commands:
                    if cmd.event_id is not None and cmd.event_id in existing:
                        # A retry returns the original, only to whoever made it: another
                        # principal's key is refused as in use, never shown.
                        original = existing[cmd.event_id]
                        if original.actor != req.actor:
                            raise ConflictError(f"event_id {cmd.event_id!r} is already in use")
                        req.results.append(original)
                        continue
                    if cmd.event_id is not None:
                        if cmd.event_id in seen:
                            raise ConflictError(
                                f"event_id {cmd.event_id!r} is being written by another request"
                            )
                        seen.add(cmd.event_id)
                    event = decide(staged, cmd, req_ctx)
                    prior = staged.get(event.kind, event.entity_id)
                    staged.stage(event)
                    req.new.append(event)
                    req.new_commands.append(cmd)
                    req.before.append(None if prior is None else prior.get("marking"))
                    req.results.append(None)
            except EstranError as exc:
                req.future.set_exception(exc)
                continue
            staged.merge_into(staged_group)
            accepted.append(req)
        fresh = [e for req in accepted for e in req.new]
        stored: list[Event] = []
        if fresh:
            audit = _audit_builder(accepted, stamp(received_at))
            stored = await loop.run_in_executor(self._writer, self.store.append, fresh, audit)
            self.commits += 1
            self.failing = None
            for event in stored:
                self.picture.apply(event)
            self.hub.publish(stored)
        position = 0
        for req in accepted:
            answer: list[Event] = []
            for result in req.results:
                if result is None:
                    answer.append(stored[position])
                    position += 1
                else:
                    answer.append(result)
            if not req.future.done():
                req.future.set_result(answer)


_MAX_IDS: Final = 50


def _audit_builder(accepted: list[_Request], at: str) -> Callable[[list[Event]], list[AuditRow]]:
    """The audit rows of a group, made once the events have their seqs, inside the store's
    transaction: every change a principal (not Estran itself) made, one row per request, and a
    release row for each marking it changed, with its justification. So a change is audited,
    or not committed: there is no acknowledged change without its row."""

    def build(stored: list[Event]) -> list[AuditRow]:
        rows: list[AuditRow] = []
        position = 0
        for req in accepted:
            mine = stored[position : position + len(req.new)]
            position += len(req.new)
            who = req.principal
            if not mine or who.role == Role.SYSTEM:
                continue
            details: dict[str, Any] = {
                "seqs": [e.seq for e in mine[:_MAX_IDS]],
                "first_seq": mine[0].seq,
                "last_seq": mine[-1].seq,  # a request's events are contiguous in the log
                "count": len(mine),
                "types": sorted({e.type for e in mine}),
                "source": req.source,
            }
            if req.actor != who.id:
                details["via"] = req.actor
            target = f"{mine[0].kind}/{mine[0].entity_id}" if len(mine) == 1 else None
            rows.append(_row(at, who.id, "change", target, None, details))
            for cmd, before, event in zip(req.new_commands, req.before, mine, strict=True):
                if cmd.verb != "updated" or cmd.marking is None or before == event.marking:
                    continue
                rows.append(
                    _row(
                        at, who.id, "release", f"{event.kind}/{event.entity_id}",
                        cmd.justification, {"marking": event.marking, "seq": event.seq},
                    )
                )  # fmt: skip
        return rows

    return build


def _row(
    at: str,
    actor: str,
    action: str,
    target: str | None,
    justification: str | None,
    details: dict[str, Any],
) -> AuditRow:
    return AuditRow(
        seq=0, at=at, actor=actor, action=action, target=target, allowed=True, rule="granted",
        reason="", justification=justification, details=details,
    )  # fmt: skip
