"""A discrete-event kernel: one clock, one heap keyed (time, priority, sequence).

As SimPy's ``core.py``, but callbacks instead of generators: cheaper per event, and nothing
here needs a process to suspend mid-function. The sequence number breaks ties, so a seed gives
the same night event for event. Real-time pacing (the live demo) lives in the adapter that
drives ``step``; this module never reads a clock.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EARLY", "LATE", "NORMAL", "Environment"]

EARLY: Final = 0
NORMAL: Final = 1
LATE: Final = 2


Entry = tuple[float, int, int, "Callable[[], None]"]
"""(time, priority, sequence, action): a plain tuple, since the heap compares millions of
them a season (a dataclass's generated comparison costs three times as much)."""


class Environment:
    """Simulated seconds since the start of the run."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[Entry] = []
        self._seq = 0
        self._cancelled: set[int] = set()
        self.processed = 0

    def at(self, time: float, action: Callable[[], None], priority: int = NORMAL) -> int:
        """Schedule ``action`` at ``time``; the handle returned cancels it."""
        if time < self.now:
            raise ValueError(f"cannot schedule at {time} before now ({self.now})")
        seq = self._seq
        self._seq += 1
        heapq.heappush(self._heap, (time, priority, seq, action))
        return seq

    def after(self, delay: float, action: Callable[[], None], priority: int = NORMAL) -> int:
        return self.at(self.now + max(0.0, delay), action, priority)

    def cancel(self, handle: int) -> None:
        self._cancelled.add(handle)

    def peek(self) -> float:
        """Time of the next event (``inf`` when none)."""
        heap = self._heap
        while heap and heap[0][2] in self._cancelled:
            self._cancelled.discard(heapq.heappop(heap)[2])
        return heap[0][0] if heap else float("inf")

    def step(self) -> bool:
        """Process the next event; False when there is none."""
        while self._heap:
            time, _, seq, action = heapq.heappop(self._heap)
            if self._cancelled and seq in self._cancelled:
                self._cancelled.discard(seq)
                continue
            self.now = time
            action()
            self.processed += 1
            return True
        return False

    def run(self, until: float) -> None:
        while self.peek() <= until:
            self.step()
        self.now = max(self.now, until)
