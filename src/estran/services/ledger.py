"""The ledger: the one path by which anything enters the picture.

Requests queue up; one writer task takes everything waiting (group commit), decides each
request against the picture plus what is already staged in the group (all-or-nothing per
request), appends the accepted events in one durable transaction on the writer thread, then
applies them to the picture and publishes them, in seq order, before any caller is answered.
Deciding and applying in one task means no locks and no lost updates.

Several nodes may share one log (PostgreSQL). Each node's ledger **follows** the others: woken
by the store's commit notifications (``watch``: LISTEN/NOTIFY) or a periodic poll, it reads
the log by seq after its picture's head (the truth: a missed notification is never a lost
event) and applies and publishes what others wrote, in the one global order, so streams,
reactors and TAK egress on every node see every write. A group is appended only *after* the
head it was decided against (``append(..., after=picture.seq)``); if another node committed
first the store refuses (``BehindError``) and the ledger catches up and decides the group
again: one decision per record across nodes, idempotency keys found wherever they were
first written, and no gaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from estran.domain.audit import AuditRow
from estran.domain.commands import Context, decide
from estran.domain.errors import BehindError, ConflictError, EstranError, StorageError
from estran.domain.messages import msg
from estran.domain.picture import Picture, Staged
from estran.domain.policy import SYSTEM, Policy, Principal, Role
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from estran.domain.area import OperatingArea
    from estran.domain.events import CommandIn, Event
    from estran.domain.markings import Marking
    from estran.ports import Clock, EventStore
    from estran.services.hub import Hub

__all__ = ["Ledger"]

log = logging.getLogger(__name__)

MAX_GROUP_EVENTS: Final = 5000
MAX_REDECIDE: Final = 50
"""How many times a group is decided again when other nodes keep committing first."""
FOLLOW_PAGE: Final = 5000


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

    def undecided(self) -> None:
        """Forget a decision (the group is decided again against a newer picture)."""
        self.results, self.new, self.new_commands, self.before = [], [], [], []


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
        follow_poll_s: float = 0.0,
        area: OperatingArea | None = None,
    ) -> None:
        self.retention_days = retention_days
        self.area = area
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
        self.follow_poll_s = follow_poll_s
        self.followed = 0
        """Events other nodes wrote, applied here."""
        self.redecided = 0
        self._heard_head = 0
        self._follow_due = asyncio.Event()
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="estran-follow")
        self._unwatch: Callable[[], None] | None = None
        self._follower: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="estran-ledger")
        watch = getattr(self.store, "watch", None)
        if watch is not None:
            loop = asyncio.get_running_loop()
            self._unwatch = watch(lambda seq: loop.call_soon_threadsafe(self._heard, seq))
        if watch is not None or self.follow_poll_s > 0:
            self._follower = asyncio.create_task(self._follow(), name="estran-follow")
        if self.follow_poll_s > 0:
            self._poller = asyncio.create_task(self._poll(), name="estran-follow-poll")

    async def stop(self) -> None:
        self._closing = True
        if self._unwatch is not None:
            self._unwatch()
        for task in (self._poller, self._follower):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._wake.set()
        if self._task is not None:
            await self._task
        self._writer.shutdown(wait=True)
        self._reader.shutdown(wait=False, cancel_futures=True)

    def _heard(self, seq: int) -> None:
        """A commit somewhere (0: maybe several, unknown: read and see)."""
        if seq == 0 or seq > self.picture.seq:
            self._heard_head = max(self._heard_head, seq)
            self._follow_due.set()

    async def _follow(self) -> None:
        """Catch up whenever told of commits, on a reader thread of its own: a store that
        cannot be read never holds the writer (writes go on, and fail on their own)."""
        while True:
            await self._follow_due.wait()
            self._follow_due.clear()
            try:
                await self._catch_up()
            except Exception as exc:
                self.failing = f"following the log: {type(exc).__name__}: {exc}"[:300]
                log.warning("catching up with the log failed: %s", exc)
                await asyncio.sleep(1.0)
                self._follow_due.set()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.follow_poll_s)
            self._heard(0)

    def _read_page(self, after: int) -> list[Event]:
        return list(self.store.read(after, limit=FOLLOW_PAGE))

    async def _catch_up(self) -> None:
        """Apply and publish what other nodes committed after the picture's head. Reads run
        on the reader thread; what this node applied meanwhile (its own commits, or another
        catch-up's) is skipped, the log being one total order."""
        loop = asyncio.get_running_loop()
        while True:
            after = self.picture.seq
            page = await loop.run_in_executor(self._reader, self._read_page, after)
            purged = {
                e.seq: await loop.run_in_executor(self._reader, self.store.purged_keys, e.seq)
                for e in page
                if e.kind == "purge"
            }
            self.followed += self._apply_committed(page, purged)
            if len(page) < FOLLOW_PAGE:
                return

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
            raise StorageError(msg("the server is shutting down; nothing was written"))
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
            raise StorageError(msg("the server is shutting down; nothing was purged"))
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
        self._apply_committed([stored], {stored.seq: req.purge})
        req.future.set_result([stored])

    def _apply_committed(
        self, events: list[Event], purged: dict[int, list[tuple[str, str]]] | None = None
    ) -> int:
        """Apply and publish committed ``events`` the picture does not hold yet (dropping the
        records a purge among them removed), in seq order; how many. The follower and this
        node's own commits both come here: whichever reads a commit first applies it, the
        other skips it, the log being one total order."""
        unseen = [e for e in events if e.seq > self.picture.seq]
        for event in unseen:
            for kind, entity_id in (purged or {}).get(event.seq, ()):
                self.picture.remove(kind, entity_id)
            self.picture.apply(event)
        if unseen:
            self.hub.publish(unseen)
        return len(unseen)

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
            self.area,
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
        """Decide the group against the picture and append it after the picture's head; when
        another node committed first, catch up and decide again (``MAX_REDECIDE`` times)."""
        loop = asyncio.get_running_loop()
        for attempt in range(MAX_REDECIDE):
            if self._heard_head > self.picture.seq:
                await self._catch_up()
            accepted = await self._decide(group)
            fresh = [e for req in accepted for e in req.new]
            stored: list[Event] = []
            if fresh:
                audit = _audit_builder(accepted, stamp(self.clock.now()))
                after = self.picture.seq
                try:
                    stored = await loop.run_in_executor(
                        self._writer,
                        functools.partial(self.store.append, fresh, audit, after=after),
                    )
                except BehindError as exc:
                    self._heard_head = max(self._heard_head, exc.head)
                    self.redecided += 1
                    for req in accepted:
                        req.undecided()
                    group = accepted
                    # Two nodes that keep colliding take turns: a short random pause, growing.
                    await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 10)))  # noqa: S311
                    continue
                self.commits += 1
                self.failing = None
                # The follower may have read this commit back from the log already (it reads
                # on its own thread): what it applied and published is not done twice.
                self._apply_committed(stored)
            self._answer(accepted, stored)
            return
        raise StorageError(msg("other nodes kept writing first; nothing was written, try again"))

    async def _decide(self, group: list[_Request]) -> list[_Request]:
        """Each request decided against the picture plus the group's earlier requests; the
        refused ones are answered here, the accepted returned with their new events."""
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
                            raise ConflictError(
                                msg(
                                    "event_id {event_id!r} is already in use", event_id=cmd.event_id
                                )
                            )
                        req.results.append(original)
                        continue
                    if cmd.event_id is not None:
                        if cmd.event_id in seen:
                            raise ConflictError(
                                msg(
                                    "event_id {event_id!r} is being written by another request",
                                    event_id=cmd.event_id,
                                )
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
        return accepted

    @staticmethod
    def _answer(accepted: list[_Request], stored: list[Event]) -> None:
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
