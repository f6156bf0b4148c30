"""One supervised runtime for Estran's background work: reactors and loops that cannot die
silently.

A **reactor** turns committed events (and the passing of time) into commands: fusion, the
rescue watch, recommendations. The runtime listens to the hub once (events arrive as objects,
never re-decoded), queues each reactor the events it accepts, and runs it:

- ``react(event, view, now) -> commands`` for each event, in seq order, and ``tick(view, now)``
  every ``tick_every_s``; ``now`` is the ``Clock`` port's reading, so their rules are tested
  with a fake clock;
- *on the event loop* against the live picture (the loop is the picture's only writer, so a
  reader there never races it), or, for slow work (``off_loop``: route computations), in a
  thread against ``snapshot()``: an immutable copy taken on the loop. No thread ever reads the
  live picture;
- what it returns is submitted through the ledger as the system principal, in order.

When a reactor raises (anything, not only ``EstranError``), or the ledger cannot store what
it concluded, the runtime logs it, marks it down, waits (0.1 s, doubling to ``max_backoff_s``),
and restarts it from the **last event it handled**, read back from the event store: nothing is
skipped, and nothing already handled is handled again. An event that crashes a reactor
``poison_after`` times running is skipped, loudly, and counted. Plain loops (the TAK gateway's
ingest and egress, the retention schedule) are ``supervise``-d the same way.

**Once per centre.** Reactors and loops added with ``once=True`` (all the reactors, retention,
the demo) run only while this node holds the ``Leadership`` port (a PostgreSQL session
advisory lock when several nodes share the log; always held by a node alone). A standby node
contends every ``lead_every_s``; the holder checks its hold as often and stops its
once-per-centre work the moment the hold is in doubt. Each reactor's last handled seq is saved
in the event store (``save_cursor``, every ``lead_every_s`` and on stopping): the next leader,
or this node after a restart, resumes from there, catching up from the log. The commands a
reactor concludes from an event carry an idempotency key made of the reactor, the event's seq
and the command's place (``<reactor>:<seq>:<i>``), so what a dead leader concluded and the new
leader concludes again is stored once: nothing done twice, nothing skipped.

``status()`` is each one's record (alive, restarts, last seq handled, backlog and lag in
seconds, the last error) for ``/api/v1/health``, ``/readyz`` and the watch floor, which shows
a red banner when a *critical* reactor (the rescue watch) is down or lags, because then a
person in the water may not raise a case.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from estran.domain.errors import EstranError, StorageError
from estran.services.background import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from estran.domain.events import CommandIn, Event
    from estran.domain.picture import Picture
    from estran.ports import Clock, EventStore, Leadership
    from estran.services.hub import Hub
    from estran.services.ledger import Ledger

__all__ = ["InjectedFaultError", "Reactor", "Record", "Runtime"]

log = logging.getLogger(__name__)


_LEADERLESS: Final = "no node leads the once-per-centre work"


class InjectedFaultError(RuntimeError):
    """A fault injected on purpose (``Runtime.inject_fault``): chaos tests of supervision."""


class Reactor(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def actor(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def critical(self) -> bool:
        """Life depends on it (the rescue watch): down or lagging shows on every watch
        floor."""
        ...

    @property
    def off_loop(self) -> bool:
        """Run in a thread on a snapshot (slow work), not on the loop against the live
        picture."""
        ...

    @property
    def tick_every_s(self) -> float | None: ...

    def accepts(self, event: Event) -> bool: ...

    def react(self, event: Event, view: Picture, now: datetime) -> list[CommandIn]: ...

    def tick(self, view: Picture, now: datetime) -> list[CommandIn]: ...

    def on_start(self, view: Picture, now: datetime) -> list[CommandIn]:
        """What to do on (re)start: the rescue watch opens the cases missed while down."""
        ...


@dataclass
class Record:
    """One supervised piece of work, as health and the watch floor report it."""

    name: str
    kind: str
    critical: bool = False
    once: bool = False
    """Once per centre: runs only on the leading node."""
    standby: bool = False
    """Once-per-centre work waiting on a node that does not lead (not a fault)."""
    alive: bool = False
    restarts: int = 0
    last_seq: int = 0
    handled: int = 0
    skipped: int = 0
    backlog: int = 0
    lag_s: float = 0.0
    last_error: str | None = None
    last_error_at: float | None = None

    def crashed(self, exc: BaseException) -> None:
        self.alive = False
        self.restarts += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:500]
        self.last_error_at = time.time()

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "critical": self.critical,
            "alive": self.alive,
            "standby": self.standby,
            "restarts": self.restarts,
            "last_seq": self.last_seq,
            "handled": self.handled,
            "skipped": self.skipped,
            "backlog": self.backlog,
            "lag_s": round(self.lag_s, 3),
            "last_error": self.last_error,
        }


@dataclass(eq=False)
class _Slot:
    reactor: Reactor
    record: Record
    queue: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    current: int | None = None
    failures: dict[int, int] = field(default_factory=dict)
    faults: int = 0
    task: asyncio.Task[None] | None = None
    saved: int = 0
    """The last seq saved as this reactor's cursor."""


@dataclass(eq=False)
class _Loop:
    run: Callable[[], Awaitable[None]]
    record: Record
    faults: int = 0
    task: asyncio.Task[None] | None = None


class Runtime:
    def __init__(
        self,
        ledger: Ledger,
        picture: Picture,
        hub: Hub,
        store: EventStore,
        clock: Clock,
        *,
        max_backoff_s: float = 5.0,
        poison_after: int = 3,
        max_lag_s: float = 5.0,
        leadership: Leadership | None = None,
        lead_every_s: float = 0.5,
    ) -> None:
        self.ledger = ledger
        self.leadership = leadership
        self.lead_every_s = lead_every_s
        self.leading = False
        self.lead_changes = 0
        self.leading_since: float | None = None
        self.holder: str | None = None
        self._leaderless_since: float | None = None
        self._lead_task: asyncio.Task[None] | None = None
        self.picture = picture
        self.hub = hub
        self.store = store
        self.clock = clock
        self.max_backoff_s = max_backoff_s
        self.poison_after = poison_after
        self.max_lag_s = max_lag_s
        self._slots: dict[str, _Slot] = {}
        self._loops: dict[str, _Loop] = {}
        self._snapshot: Picture | None = None
        self._started = False

    # --- composition ----------------------------------------------------------------------

    def add(self, reactor: Reactor, *, once: bool = True) -> None:
        """Run ``reactor``; ``once``: once per centre, on the leading node only."""
        record = Record(reactor.name, "reactor", critical=reactor.critical, once=once)
        self._slots[reactor.name] = _Slot(reactor, record)

    def supervise(
        self,
        name: str,
        run: Callable[[], Awaitable[None]],
        *,
        critical: bool = False,
        once: bool = False,
    ) -> None:
        """Run ``run()`` for ever: restarted with back-off whenever it ends or raises;
        ``once``: once per centre, on the leading node only (cancelled when it steps down)."""
        self._loops[name] = _Loop(run, Record(name, "loop", critical=critical, once=once))

    def reactor(self, name: str) -> Reactor | None:
        slot = self._slots.get(name)
        return None if slot is None else slot.reactor

    # --- snapshots ------------------------------------------------------------------------

    def snapshot(self) -> Picture:
        """An immutable copy of the picture at its current seq (one per seq, shared): what
        code off the event loop reads. Call it on the loop."""
        snap = self._snapshot
        if snap is None or snap.seq != self.picture.seq or snap.as_of != self.picture.as_of:
            snap = self._snapshot = self.picture.copy()
        return snap

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        self.hub.listen(self._on_events)
        for slot in self._slots.values():
            slot.record.standby = slot.record.once
            if not slot.record.once:
                await self._start_slot(slot)
        for loop in self._loops.values():
            loop.record.standby = loop.record.once
            if not loop.record.once:
                self._start_loop(loop)
        if any(r.once for r in self._records()):
            # A node alone (or the first up) leads from its first moment, as before there
            # was a choice: nothing committed after the start is left to a later lead.
            if self.leadership is None or await asyncio.to_thread(self.leadership.try_acquire):
                await self._take_lead()
            if self.leadership is not None:
                self._lead_task = asyncio.create_task(self._lead(), name="leadership")
        self._started = True

    async def stop(self) -> None:
        self.hub.unlisten(self._on_events)
        await cancel_and_wait(
            [self._lead_task]
            + [s.task for s in self._slots.values()]
            + [lp.task for lp in self._loops.values()]
        )
        for slot in self._slots.values():
            slot.record.alive = False
        for loop in self._loops.values():
            loop.record.alive = False
        try:
            await self._save_cursors()
        except Exception as exc:
            log.warning("the reactors' cursors could not be saved at stop: %s", exc)
        if self.leadership is not None:  # a standby's connection is closed too
            await asyncio.to_thread(self.leadership.release)
        self.leading = False

    async def _start_slot(self, slot: _Slot) -> None:
        """Resume ``slot`` from its saved cursor (else the picture's head): events after it,
        up to the picture's head, are read back from the log; later ones come from the hub."""
        rec = slot.record
        # From here on the hub queues it what is applied after ``head``: cleared and read
        # together, with no await between, so an event committed while the cursor is read
        # is queued, not lost (it was, once: a new leader skipped what came meanwhile).
        slot.queue.clear()
        head = self.picture.seq
        saved = await asyncio.to_thread(self.store.cursor, rec.name)
        if saved is None:  # its first run in this centre: from here, and said so at once
            await asyncio.to_thread(self.store.save_cursor, rec.name, head)
        rec.last_seq = slot.saved = head if saved is None else saved
        rec.standby = False
        await self._catch_up(slot, up_to=head)
        slot.task = asyncio.create_task(self._worker(slot), name=f"reactor-{rec.name}")

    def _start_loop(self, loop: _Loop) -> None:
        loop.record.standby = False
        loop.task = asyncio.create_task(self._run_loop(loop), name=f"loop-{loop.record.name}")

    async def _take_lead(self) -> None:
        self.lead_changes += 1
        self.holder = None if self.leadership is None else self.leadership.node
        # Not standby any more: until each has started it is reported as not running.
        for rec in self._records():
            if rec.once:
                rec.standby, rec.alive = False, False
        for slot in self._slots.values():
            if slot.record.once:
                await self._start_slot(slot)
        for loop in self._loops.values():
            if loop.record.once:
                self._start_loop(loop)
        self.leading, self.leading_since = True, time.time()

    async def _step_down(self) -> None:
        self.leading, self.leading_since = False, None
        once_slots = [s for s in self._slots.values() if s.record.once]
        once_loops = [lp for lp in self._loops.values() if lp.record.once]
        await cancel_and_wait([s.task for s in once_slots] + [lp.task for lp in once_loops])
        for rec in [s.record for s in once_slots] + [lp.record for lp in once_loops]:
            rec.alive, rec.standby = False, True
        for slot in once_slots:
            slot.task = None
            slot.queue.clear()
        for loop in once_loops:
            loop.task = None

    async def _lead(self) -> None:
        """Contend for leadership (standby) or check it (leader), every ``lead_every_s``;
        the leader saves the reactors' cursors as often."""
        assert self.leadership is not None  # noqa: S101 (started only with one)
        ship = self.leadership
        while True:
            try:
                if self.leading:
                    if await asyncio.to_thread(ship.check):
                        await self._save_cursors()
                    else:
                        log.error("node %s no longer leads: its once-per-centre work stops",
                                  ship.node)  # fmt: skip
                        await self._step_down()
                elif await asyncio.to_thread(ship.try_acquire):
                    log.warning("node %s leads: the once-per-centre work runs here", ship.node)
                    self._leaderless_since = None
                    await self._take_lead()
                else:
                    self.holder = await asyncio.to_thread(ship.holder)
                    if self.holder in (None, ship.node):  # nobody, or this node's past self
                        self._leaderless_since = self._leaderless_since or time.monotonic()
                    else:
                        self._leaderless_since = None
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leadership check failed; again")
            await asyncio.sleep(self.lead_every_s)

    async def _save_cursors(self) -> None:
        """Save each running reactor's position where it moved. A reactor with nothing queued
        and nothing in hand has handled the picture's head: every event applied was offered
        to it on the loop, the ones it does not accept trivially handled."""
        moved: list[tuple[_Slot, int]] = []
        for slot in self._slots.values():
            if slot.task is None or slot.record.standby:
                continue
            if not slot.queue and slot.current is None and slot.record.alive:
                slot.record.last_seq = max(slot.record.last_seq, self.picture.seq)
            if slot.record.last_seq > slot.saved:
                moved.append((slot, slot.record.last_seq))

        def write() -> None:
            for slot, seq in moved:
                self.store.save_cursor(slot.record.name, seq)
                slot.saved = seq

        if moved:
            await asyncio.to_thread(write)

    def leader_status(self) -> dict[str, Any]:
        """This node's part in the once-per-centre work, for health."""
        return {
            "node": None if self.leadership is None else self.leadership.node,
            "leading": self.leading,
            "holder": self.holder,
            "since": self.leading_since,
            "changes": self.lead_changes,
        }

    def inject_fault(self, name: str, times: int = 1) -> None:
        """Make the named reactor or loop raise ``InjectedFaultError`` ``times`` times (chaos
        tests, and an operator's drill: the watch floor must show it)."""
        if name in self._slots:
            self._slots[name].faults += times
            self._slots[name].wake.set()
        elif name in self._loops:
            self._loops[name].faults += times
        else:
            raise KeyError(name)

    # --- reporting ------------------------------------------------------------------------

    def status(self) -> dict[str, dict[str, Any]]:
        now = self.clock.now().timestamp()
        out = {}
        for slot in self._slots.values():
            rec = slot.record
            rec.backlog = len(slot.queue)
            oldest = next((e for e in slot.queue if e.seq > rec.last_seq), None)
            rec.lag_s = max(0.0, now - _epoch(oldest.received_at)) if oldest is not None else 0.0
            out[rec.name] = rec.as_dict()
        for loop in self._loops.values():
            out[loop.record.name] = loop.record.as_dict()
        return out

    def problems(self) -> list[str]:
        """Why the runtime is not healthy (empty: healthy)."""
        if not self._started:
            return []
        out: list[str] = []
        if self._leaderless_since is not None:
            out.append(
                f"rescue cannot run: {_LEADERLESS} (for "
                f"{time.monotonic() - self._leaderless_since:.0f} s)"
            )
        for name, rec in self.status().items():
            if rec["standby"]:
                continue
            if not rec["alive"]:
                out.append(f"{name} is down ({rec['last_error'] or 'not running'})")
            elif rec["lag_s"] > self.max_lag_s:
                out.append(f"{name} lags by {rec['lag_s']:.0f} s ({rec['backlog']} events)")
        return out

    def critical_problems(self, *, this_node: bool = False) -> list[str]:
        """The problems of life-critical work (the watch floor's red banner). ``this_node``:
        only this node's own (``/readyz``): that no node leads is the centre's problem, and a
        load balancer taking every node out for it would make it worse."""
        critical = {r.name for r in self._records() if r.critical}
        out = [p for p in self.problems() if p.split(" ", 1)[0] in critical]
        return [p for p in out if _LEADERLESS not in p] if this_node else out

    def _records(self) -> list[Record]:
        return [s.record for s in self._slots.values()] + [lp.record for lp in self._loops.values()]

    # --- the work -------------------------------------------------------------------------

    def _on_events(self, events: Sequence[Event]) -> None:
        for slot in self._slots.values():
            if slot.record.standby:
                continue
            accepts = slot.reactor.accepts
            added = False
            for event in events:
                if accepts(event):
                    slot.queue.append(event)
                    added = True
            if added:
                slot.wake.set()

    async def _worker(self, slot: _Slot) -> None:
        rec = slot.record
        backoff = 0.1
        while True:
            try:
                rec.alive = True
                await self._serve(slot)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                rec.crashed(exc)
                log.error(
                    "reactor %s crashed at event %s (restart %d in %.1f s): %s",
                    rec.name, slot.current, rec.restarts, backoff, rec.last_error,
                    exc_info=not isinstance(exc, InjectedFaultError),
                )  # fmt: skip
                if slot.current is not None:
                    n = slot.failures[slot.current] = slot.failures.get(slot.current, 0) + 1
                    if n >= self.poison_after:
                        log.error(
                            "reactor %s skips event %d after %d failures", rec.name,
                            slot.current, n,
                        )  # fmt: skip
                        rec.skipped += 1
                        rec.last_seq = max(rec.last_seq, slot.current)
                        slot.failures.pop(slot.current, None)
                slot.current = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                try:
                    await self._catch_up(slot)
                except Exception as again:  # the store is down too: try again later
                    log.error("reactor %s cannot catch up yet: %s", rec.name, again)
            else:
                return

    async def _catch_up(self, slot: _Slot, *, up_to: int | None = None) -> None:
        """Refill the queue from the store after the last event handled: what arrived while
        the reactor was down (or was dropped with it) is handled, in order, once. Only up to
        the picture's head: a later event (another node's, not followed yet) comes from the
        hub once applied, so a reactor never reads a picture without its event."""
        after = slot.record.last_seq
        accepts = slot.reactor.accepts
        head = self.picture.seq if up_to is None else up_to

        def read() -> list[Event]:
            return [e for e in self.store.read(after) if e.seq <= head and accepts(e)]

        missed = await asyncio.to_thread(read)
        top = missed[-1].seq if missed else after
        slot.queue = deque([*missed, *(e for e in slot.queue if e.seq > top)])
        slot.wake.set()

    async def _serve(self, slot: _Slot) -> None:
        reactor, rec = slot.reactor, slot.record
        commands = reactor.on_start(self.picture, self.clock.now())
        if commands:
            await self._submit(reactor, commands)
        tick = reactor.tick_every_s
        next_tick = time.monotonic() + tick if tick else None
        while True:
            if slot.faults > 0:
                slot.faults -= 1
                slot.current = None  # a drill is no event's fault: nothing is skipped for it
                raise InjectedFaultError(f"fault injected into {rec.name}")
            if not slot.queue:
                slot.wake.clear()
                timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(slot.wake.wait(), timeout)
            if next_tick is not None and time.monotonic() >= next_tick:
                now = self.clock.now()
                view = self.snapshot() if reactor.off_loop else self.picture
                commands = (
                    await asyncio.to_thread(reactor.tick, view, now)
                    if reactor.off_loop
                    else reactor.tick(view, now)
                )
                if commands:
                    await self._submit(reactor, commands)
                next_tick = time.monotonic() + (tick or 0.0)
            if reactor.off_loop:
                await self._serve_batch(slot)
                continue
            while slot.queue and slot.faults == 0:
                event = slot.queue[0]
                if event.seq <= rec.last_seq:
                    slot.queue.popleft()
                    continue
                slot.current = event.seq
                commands = _keyed(reactor.name, event.seq,
                                  reactor.react(event, self.picture, self.clock.now()))  # fmt: skip
                if commands:
                    await self._submit(reactor, commands)
                slot.queue.popleft()
                rec.last_seq, slot.current = event.seq, None
                rec.handled += 1
                slot.failures.pop(event.seq, None)
                if next_tick is not None and time.monotonic() >= next_tick:
                    break

    async def _serve_batch(self, slot: _Slot) -> None:
        """Off the loop: what is queued, the latest event per record only (a burst of moves
        of one incident is one recomputation), against one snapshot, in one thread call."""
        reactor, rec = slot.reactor, slot.record
        batch = [e for e in slot.queue if e.seq > rec.last_seq]
        if not batch:
            slot.queue.clear()
            return
        latest: dict[tuple[str, str], Event] = {}
        for event in batch:
            latest.pop((event.kind, event.entity_id), None)
            latest[(event.kind, event.entity_id)] = event
        view, now = self.snapshot(), self.clock.now()
        slot.current = batch[0].seq

        def run() -> list[CommandIn]:
            out: list[CommandIn] = []
            for event in latest.values():
                out.extend(_keyed(reactor.name, event.seq, reactor.react(event, view, now)))
            return out

        commands = await asyncio.to_thread(run)
        if commands:
            await self._submit(reactor, commands, each=True)
        top = batch[-1].seq
        while slot.queue and slot.queue[0].seq <= top:
            slot.queue.popleft()
        rec.last_seq, slot.current = top, None
        rec.handled += len(batch)

    async def _submit(
        self, reactor: Reactor, commands: list[CommandIn], *, each: bool = False
    ) -> None:
        """Through the ledger as the system. A refusal (the picture moved on) is logged and
        the reactor carries on; a storage failure is a crash: restarted, it tries again."""
        groups = [[c] for c in commands] if each else [commands]
        for group in groups:
            try:
                await self.ledger.submit(group, actor=reactor.actor, source=reactor.source)
            except StorageError:
                raise
            except EstranError as exc:
                log.warning("%s: %s refused: %s", reactor.name, [c.type for c in group], exc)

    async def _run_loop(self, loop: _Loop) -> None:
        rec = loop.record
        backoff = 0.1
        while True:
            started = time.monotonic()
            try:
                rec.alive = True
                if loop.faults > 0:
                    loop.faults -= 1
                    raise InjectedFaultError(f"fault injected into {rec.name}")
                await loop.run()
                raise RuntimeError(f"{rec.name} ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                rec.crashed(exc)
                log.error("%s crashed (restart %d): %s", rec.name, rec.restarts, rec.last_error,
                          exc_info=not isinstance(exc, InjectedFaultError))  # fmt: skip
            if time.monotonic() - started > 30:
                backoff = 0.1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_s)


def _keyed(name: str, seq: int, commands: list[CommandIn]) -> list[CommandIn]:
    """``commands`` concluded from the event at ``seq``, each with an idempotency key made of
    the reactor, the seq and its place (one it set itself is kept): concluded again by the
    next leader, they are stored once."""
    return [
        c if c.event_id is not None else c.model_copy(update={"event_id": f"{name}:{seq}:{i}"})
        for i, c in enumerate(commands)
    ]


def _epoch(stamp: str) -> float:
    from estran.domain.timefmt import parse_stamp

    return parse_stamp(stamp).timestamp()
