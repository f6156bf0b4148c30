"""Python's cyclic garbage collector, governed for a stream's latency.

At a thousand events a second the picture grows by thousands of long-lived dicts a second,
and CPython's default thresholds answer with full (generation 2) collections that walk the
whole heap: measured on the accept-to-stream bench, six of them in fifteen seconds, up to
148 ms each, every one a stall of every subscriber (issue 18). Records are plain trees that
reference counting frees; cycles are rare and short-lived. So, while the centre runs:

- what start-up built (modules, the rebuilt picture) is frozen out of the collector's sight
  (``gc.freeze``: still freed by reference counting when dropped);
- young collections stay (generation 0 every ``YOUNG`` allocations, a few milliseconds);
- the older generations are collected on a schedule instead, at a quiet moment (no event for
  ``QUIET_S``) or after twice the period whatever the load, and each pause is measured and
  reported (``/api/v1/health``, the runtime's ``gc`` loop).

Stopping restores Python's thresholds and unfreezes, so a test process hosting many servers
is left as it was.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Collector"]

YOUNG: Final = 20_000
NEVER: Final = 1_000_000  # generation 1 and 2 collections: only when ``collect_now`` runs
QUIET_S: Final = 0.2


class Collector:
    def __init__(
        self, every_s: float, activity: Callable[[], int], quiet_s: float = QUIET_S
    ) -> None:
        """``every_s``: the period of full collections (0: leave Python's collector alone);
        ``activity()``: a number that grows with every event (the hub's published count);
        ``quiet_s``: how long without activity is a quiet moment."""
        self.every_s = every_s
        self.quiet_s = quiet_s
        self.activity = activity
        self.installed = False
        self.collections = 0
        self.last_pause_ms: float | None = None
        self.max_pause_ms = 0.0
        self.freed = 0
        self._saved: tuple[int, int, int] | None = None

    def install(self) -> None:
        if self.every_s <= 0 or self.installed:
            return
        self._saved = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(YOUNG, NEVER, NEVER)
        self.installed = True

    def uninstall(self) -> None:
        if not self.installed:
            return
        assert self._saved is not None  # noqa: S101 (set by install)
        gc.set_threshold(*self._saved)
        gc.unfreeze()
        self.installed = False

    def collect_now(self) -> float:
        """A full collection; its pause, in milliseconds."""
        started = time.perf_counter()
        self.freed += gc.collect()
        pause = (time.perf_counter() - started) * 1000
        self.collections += 1
        self.last_pause_ms = round(pause, 2)
        self.max_pause_ms = max(self.max_pause_ms, self.last_pause_ms)
        return pause

    async def run_forever(self) -> None:
        """Every ``every_s``: wait for a quiet moment (at most another ``every_s``), then
        collect. Supervised by the runtime like any background loop."""
        if self.every_s <= 0:
            await asyncio.Event().wait()
        while True:
            await asyncio.sleep(self.every_s)
            give_up = time.monotonic() + self.every_s
            seen = self.activity()
            while time.monotonic() < give_up:
                await asyncio.sleep(self.quiet_s)
                now = self.activity()
                if now == seen:
                    break
                seen = now
            self.collect_now()

    def status(self) -> dict[str, Any]:
        return {
            "governed": self.installed,
            "every_s": self.every_s,
            "full_collections": self.collections,
            "last_pause_ms": self.last_pause_ms,
            "max_pause_ms": round(self.max_pause_ms, 2),
            "young_threshold": gc.get_threshold()[0],
        }
