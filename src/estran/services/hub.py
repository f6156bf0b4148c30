"""The in-process bus: committed events fan out to live subscribers, in seq order.

Each event is encoded once and shared. Every subscriber has a queue bounded by message count
and bytes; one that overflows is cut off with ``SlowConsumerError`` (which says where to
resume) and never slows the writer or the other subscribers (as nats-core's subscriptions).
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
        """Per-subscriber rewrite of an event's frame (None drops it): the stream's filter."""
        self._queue: deque[Frame] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._failed = asyncio.Event()
        self.failure: SlowConsumerError | None = None
        self.delivered_seq = delivered_seq
        """The last seq the consumer confirmed sent; where it should resume after a cut-off."""

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, seq: int, frame: bytes) -> None:
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
            self._queue.append((seq, frame))
            self._bytes += len(frame)
        self._ready.set()

    async def failed(self) -> SlowConsumerError:
        """Wait until this subscriber is cut off; returns why."""
        await self._failed.wait()
        assert self.failure is not None  # noqa: S101 (set together with the event)
        return self.failure

    async def take(self) -> list[Frame]:
        """Everything pending (at least one frame); raises once the subscriber overflowed."""
        while not self._queue and self.failure is None:
            self._ready.clear()
            await self._ready.wait()
        if self.failure is not None:
            raise self.failure
        return self.take_nowait()

    def take_nowait(self) -> list[Frame]:
        """Everything pending now (maybe nothing); raises once the subscriber overflowed."""
        if self.failure is not None:
            raise self.failure
        frames = list(self._queue)
        self._queue.clear()
        self._bytes = 0
        return frames


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
            for seq, frame, event in frames:
                if sub.transform is not None:
                    out = sub.transform(event, frame)
                    if out is not None:
                        sub.offer(seq, out)
                elif sub.accepts is None or sub.accepts(event):
                    sub.offer(seq, frame)
        self.published += len(frames)
