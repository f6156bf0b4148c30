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
from typing import TYPE_CHECKING, Any, Protocol

from estran.domain.errors import EstranError, StorageError
from estran.services.background import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from estran.domain.events import CommandIn, Event
    from estran.domain.picture import Picture
    from estran.ports import Clock, EventStore
    from estran.services.hub import Hub
    from estran.services.ledger import Ledger

__all__ = ["InjectedFaultError", "Reactor", "Record", "Runtime"]

log = logging.getLogger(__name__)


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
    ) -> None:
        self.ledger = ledger
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

    def add(self, reactor: Reactor) -> None:
        record = Record(reactor.name, "reactor", critical=reactor.critical)
        self._slots[reactor.name] = _Slot(reactor, record)

    def supervise(
        self, name: str, run: Callable[[], Awaitable[None]], *, critical: bool = False
    ) -> None:
        """Run ``run()`` for ever: restarted with back-off whenever it ends or raises."""
        self._loops[name] = _Loop(run, Record(name, "loop", critical=critical))

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
        head = self.picture.seq
        for slot in self._slots.values():
            slot.record.last_seq = head
            slot.task = asyncio.create_task(self._worker(slot), name=f"reactor-{slot.record.name}")
        for loop in self._loops.values():
            loop.task = asyncio.create_task(self._run_loop(loop), name=f"loop-{loop.record.name}")
        self._started = True

    async def stop(self) -> None:
        self.hub.unlisten(self._on_events)
        await cancel_and_wait(
            [s.task for s in self._slots.values()] + [lp.task for lp in self._loops.values()]
        )
        for slot in self._slots.values():
            slot.record.alive = False
        for loop in self._loops.values():
            loop.record.alive = False

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
        out = []
        for name, rec in self.status().items():
            if not rec["alive"]:
                out.append(f"{name} is down ({rec['last_error'] or 'not running'})")
            elif rec["lag_s"] > self.max_lag_s:
                out.append(f"{name} lags by {rec['lag_s']:.0f} s ({rec['backlog']} events)")
        return out

    def critical_problems(self) -> list[str]:
        critical = {r.name for r in self._records() if r.critical}
        return [p for p in self.problems() if p.split(" ", 1)[0] in critical]

    def _records(self) -> list[Record]:
        return [s.record for s in self._slots.values()] + [lp.record for lp in self._loops.values()]

    # --- the work -------------------------------------------------------------------------

    def _on_events(self, events: Sequence[Event]) -> None:
        for slot in self._slots.values():
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

    async def _catch_up(self, slot: _Slot) -> None:
        """Refill the queue from the store after the last event handled: what arrived while
        the reactor was down (or was dropped with it) is handled, in order, once."""
        after = slot.record.last_seq
        accepts = slot.reactor.accepts

        def read() -> list[Event]:
            return [e for e in self.store.read(after) if accepts(e)]

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
                commands = reactor.react(event, self.picture, self.clock.now())
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
                out.extend(reactor.react(event, view, now))
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


def _epoch(stamp: str) -> float:
    from estran.domain.timefmt import parse_stamp

    return parse_stamp(stamp).timestamp()
