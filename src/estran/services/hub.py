"""The in-process bus: committed events fan out to live subscribers, in seq order.

Each event is encoded once and shared. Every subscriber has a queue bounded by message count
and bytes; one that overflows is cut off with ``SlowConsumerError`` (which says where to
resume) and never slows the writer or the other subscribers (as nats-core's subscriptions).

The writer's publish only appends the shared frame to each queue: a subscriber's own filter
(``transform``: the stream's per-principal marking check) runs when *it* takes its frames, in
its own task, so fifty readers' policies never sit between a commit and the next one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from estran.domain.errors import SlowConsumerError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from estran.domain.events import Event

__all__ = ["Hub", "Subscriber"]

Frame = tuple[int, bytes]
_Queued = tuple[int, bytes, "Event"]


class Subscriber:
    def __init__(
        self,
        max_messages: int,
        max_bytes: int,
        accepts: Callable[[Event], bool] | None = None,
        delivered_seq: int = 0,
        transform: Callable[[Event, bytes], bytes | None] | None = None,
    ) -> None:
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.accepts = accepts
        self.transform = transform
        """Per-subscriber rewrite of an event's frame (None drops it): the stream's filter,
        applied as the subscriber takes its frames (off the writer's path)."""
        self._queue: deque[_Queued] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._failed = asyncio.Event()
        self.failure: SlowConsumerError | None = None
        self.delivered_seq = delivered_seq
        """The last seq the consumer confirmed sent; where it should resume after a cut-off."""

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, seq: int, frame: bytes, event: Event) -> None:
        if self.failure is not None:
            return
        if len(self._queue) + 1 > self.max_messages or self._bytes + len(frame) > self.max_bytes:
            self.failure = SlowConsumerError(
                pending_messages=len(self._queue),
                pending_bytes=self._bytes,
                last_seq=self.delivered_seq,
            )
            self._queue.clear()
            self._bytes = 0
            self._failed.set()
        else:
            self._queue.append((seq, frame, event))
            self._bytes += len(frame)
        self._ready.set()

    async def failed(self) -> SlowConsumerError:
        """Wait until this subscriber is cut off; returns why."""
        await self._failed.wait()
        assert self.failure is not None  # noqa: S101 (set together with the event)
        return self.failure

    async def take(self) -> list[Frame]:
        """Everything pending, once something is (what the ``transform`` keeps of it: maybe
        nothing); raises once the subscriber overflowed."""
        while not self._queue and self.failure is None:
            self._ready.clear()
            await self._ready.wait()
        if self.failure is not None:
            raise self.failure
        return self.take_nowait()

    def take_nowait(self) -> list[Frame]:
        """Everything pending now (maybe nothing), through the subscriber's ``transform``;
        raises once the subscriber overflowed."""
        if self.failure is not None:
            raise self.failure
        queued = list(self._queue)
        self._queue.clear()
        self._bytes = 0
        transform = self.transform
        if transform is None:
            return [(seq, frame) for seq, frame, _ in queued]
        out = []
        for seq, frame, event in queued:
            shown = transform(event, frame)
            if shown is not None:
                out.append((seq, shown))
        return out


class Hub:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self._listeners: list[Callable[[Sequence[Event]], None]] = []
        self.published = 0

    def listen(self, callback: Callable[[Sequence[Event]], None]) -> None:
        """Call ``callback`` with each committed group of events, as objects (the runtime's
        one subscription: nothing is encoded or decoded for it). It must be quick."""
        self._listeners.append(callback)

    def unlisten(self, callback: Callable[[Sequence[Event]], None]) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def subscribe(
        self,
        max_messages: int,
        max_bytes: int,
        accepts: Callable[[Event], bool] | None = None,
        *,
        delivered_seq: int = 0,
        transform: Callable[[Event, bytes], bytes | None] | None = None,
    ) -> Subscriber:
        sub = Subscriber(max_messages, max_bytes, accepts, delivered_seq, transform)
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, events: Sequence[Event]) -> None:
        for listener in self._listeners:
            listener(events)
        if not self._subscribers:
            return
        frames = [(e.seq, e.to_json(), e) for e in events]
        for sub in list(self._subscribers):
            accepts = sub.accepts
            for seq, frame, event in frames:
                if accepts is None or accepts(event):
                    sub.offer(seq, frame, event)
        self.published += len(frames)
