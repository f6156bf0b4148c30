"""A kernel run against a clock: simulated seconds = ``speed`` x real seconds since the start.

The night's kernel (``kernel.py``) never reads a clock, so a seed gives the same night event
for event; this pacer only decides *when* each event is processed, from the clock it is
given (the live demo passes ``time.monotonic``; a test passes its own). Everything a night
does, patrol movement included (``patrols.py``), is on the kernel, so a demo run is the same
from its seed at any pace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.sim.kernel import Environment

__all__ = ["Pacer"]


class Pacer:
    def __init__(self, env: Environment, speed: float, clock: Callable[[], float]) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.env = env
        self.speed = speed
        self.clock = clock
        self.started = clock() - env.now / speed

    def due_in(self) -> float:
        """Real seconds until the next event is due (0 or less: due now; ``inf``: none)."""
        return self.started + self.env.peek() / self.speed - self.clock()

    def step_due(self, until: float = float("inf")) -> int:
        """Process every event due by now (and not after ``until``); how many."""
        n = 0
        while self.env.peek() <= until and self.due_in() <= 0 and self.env.step():
            n += 1
        return n
