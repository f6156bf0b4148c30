"""A discrete-event kernel: one clock, one heap keyed (time, priority, sequence).

As SimPy's ``core.py``, but callbacks instead of generators: cheaper per event, and nothing
here needs a process to suspend mid-function. The sequence number breaks ties, so a seed gives
the same night event for event. Real-time pacing (the live demo) lives in the adapter that
drives ``step``; this module never reads a clock.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["EARLY", "LATE", "NORMAL", "Environment"]

EARLY: Final = 0
NORMAL: Final = 1
LATE: Final = 2


@dataclass(order=True)
class _Entry:
    time: float
    priority: int
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


class Environment:
    """Simulated seconds since the start of the run."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._heap: list[_Entry] = []
        self._seq = 0
        self.processed = 0

    def at(self, time: float, action: Callable[[], None], priority: int = NORMAL) -> _Entry:
        if time < self.now:
            raise ValueError(f"cannot schedule at {time} before now ({self.now})")
        entry = _Entry(time, priority, self._seq, action)
        self._seq += 1
        heapq.heappush(self._heap, entry)
        return entry

    def after(self, delay: float, action: Callable[[], None], priority: int = NORMAL) -> _Entry:
        return self.at(self.now + max(0.0, delay), action, priority)

    @staticmethod
    def cancel(entry: _Entry) -> None:
        entry.cancelled = True

    def peek(self) -> float:
        """Time of the next event (``inf`` when none)."""
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].time if self._heap else float("inf")

    def step(self) -> bool:
        """Process the next event; False when there is none."""
        while self._heap:
            entry = heapq.heappop(self._heap)
            if entry.cancelled:
                continue
            self.now = entry.time
            entry.action()
            self.processed += 1
            return True
        return False

    def run(self, until: float) -> None:
        while self.peek() <= until:
            self.step()
        self.now = max(self.now, until)
