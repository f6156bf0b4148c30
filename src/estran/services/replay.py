"""The picture as it was known at a past moment, without replaying the whole log each time.

``/picture?at=`` used to rebuild the picture from the first event at every call (0.3-0.7 s at
20,000 events). ``Replay`` keeps a few past pictures (checkpoints every ``every`` events on
the way, and the latest answers) and serves a moment from the nearest earlier one plus the
events after it: an after-action slider moving through a night reads a few hundred events per
step, not the log.

Correct only if ``received_at`` never decreases with ``seq`` (one writer stamps each group
from one clock); the first event seen to break that switches the cache off for good, and every
answer is a full rebuild again. A purge (the one deletion the log allows) empties the cache:
a past picture must never show what the purge removed. Records are never changed in place
(``evolve`` makes a new one), so a checkpoint is a shallow copy of each table.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from estran.domain.picture import Picture

if TYPE_CHECKING:
    from estran.ports import EventStore

__all__ = ["Replay"]


def _copy(picture: Picture) -> Picture:
    return picture.copy()


class Replay:
    def __init__(
        self, store: EventStore, live: Picture, *, keep: int = 12, every: int = 5000
    ) -> None:
        self.store = store
        self.live = live
        self.keep = keep
        self.every = every
        self.monotonic = True
        self.rebuilt_events = 0
        """Events read by all answers so far (what a bench or test compares)."""
        self._cache: list[tuple[int, str, Picture]] = []
        self._purges = -1
        self._lock = threading.Lock()

    def _base(self, until_received: str) -> Picture | None:
        with self._lock:
            purges = self.live.count_of("purge")
            if purges != self._purges:
                self._cache.clear()
                self._purges = purges
            if not self.monotonic:
                return None
            fits = [c for c in self._cache if c[1] <= until_received]
            return max(fits, key=lambda c: c[0])[2] if fits else None

    def _remember(self, picture: Picture) -> None:
        if picture.as_of is None:
            return
        with self._lock:
            if not self.monotonic or any(c[0] == picture.seq for c in self._cache):
                return
            self._cache.append((picture.seq, picture.as_of, picture))
            if len(self._cache) > self.keep:
                # Keep the spread: drop the entry closest to its neighbour.
                self._cache.sort(key=lambda c: c[0])
                gaps = [b[0] - a[0] for a, b in zip(self._cache, self._cache[1:], strict=False)]
                del self._cache[gaps.index(min(gaps)) + 1]

    def at(self, until_received: str) -> Picture:
        """The picture from every event received at or before ``until_received`` (a copy the
        caller may keep)."""
        base = self._base(until_received)
        picture = _copy(base) if base is not None else Picture()
        last = picture.as_of or ""
        read = 0
        for event in self.store.read(picture.seq, until_received=until_received):
            if event.received_at < last:
                with self._lock:
                    self.monotonic = False
                    self._cache.clear()
            picture.apply(event)
            last = event.received_at
            read += 1
            if read % self.every == 0:
                self._remember(_copy(picture))
        self.rebuilt_events += read
        if not self.monotonic and base is not None:
            return self.at(until_received)  # the base may be wrong: rebuild from nothing
        self._remember(_copy(picture))
        return picture
