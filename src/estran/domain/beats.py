"""Beats and orbit sequences: a resource that moves over the night instead of standing (pure).

A **beat** is a route a foot patrol or a buggy works all night: it stands a while at each stop
(``dwell_s``), travels to the next at the terrain's pace (``legs_s``, from the travel engine)
and, from the last stop, back to the first, over and over. A **drone's orbit sequence** is the
same thing flown: each flight orbits the next centre, the battery swap is the move (no leg).

What the plan needs of a beat is where the resource is at each moment (``at``) and, for its
coverage model, the share of the night it spends near each point (``samples``); the simulator
moves the unit by ``at`` and sends it out from the stop it is nearest in time (``at``'s third
value), whose travel times are known.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Beat", "route_watchers"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Beat:
    """A route worked in a loop from the start of the shift: ``stops`` in order (metres),
    ``legs_s[j]`` the time from stop ``j`` to the next (the last back to the first),
    ``dwell_s`` at each stop."""

    stops: tuple[tuple[float, float], ...]
    legs_s: tuple[float, ...]
    dwell_s: float

    def __post_init__(self) -> None:
        if len(self.stops) < 2:
            raise ValueError("a beat has two stops or more")
        if len(self.legs_s) != len(self.stops):
            raise ValueError("a beat has one leg per stop (the last returns to the first)")
        if self.dwell_s < 0 or any(not (0.0 <= leg < float("inf")) for leg in self.legs_s):
            raise ValueError("a beat's dwell and legs are finite and not negative")
        if self.cycle_s <= 0:
            raise ValueError("a beat takes some time to go round")

    @property
    def cycle_s(self) -> float:
        """Once round the beat."""
        return len(self.stops) * self.dwell_s + sum(self.legs_s)

    def at(self, t: float) -> tuple[float, float, int]:
        """Where the resource is ``t`` seconds into its shift, and the stop it is nearest in
        time (the one it stands at, or the one it left or is heading for, whichever is
        closer along the leg)."""
        phase = t % self.cycle_s
        n = len(self.stops)
        for j in range(n):
            if phase < self.dwell_s:
                x, y = self.stops[j]
                return float(x), float(y), j
            phase -= self.dwell_s
            leg = self.legs_s[j]
            if phase < leg:
                f = phase / leg
                (x0, y0), (x1, y1) = self.stops[j], self.stops[(j + 1) % n]
                near = j if f < 0.5 else (j + 1) % n
                return float(x0 + f * (x1 - x0)), float(y0 + f * (y1 - y0)), near
            phase -= leg
        x, y = self.stops[0]  # only reached by rounding at the very end of a cycle
        return float(x), float(y), 0

    def samples(self, k: int = 24) -> tuple[F64, npt.NDArray[np.intp]]:
        """``k`` positions evenly spaced in time over one cycle (k, 2), each with the stop it
        is nearest in time: the beat's time average is the mean over them."""
        t = (np.arange(k) + 0.5) * (self.cycle_s / k)
        where = [self.at(float(s)) for s in t]
        xy = np.array([(x, y) for x, y, _ in where], dtype=np.float64).reshape(-1, 2)
        return xy, np.array([j for *_, j in where], dtype=np.intp)


def route_watchers(
    site_xy: F64, stop_xy: F64, stop_post: npt.NDArray[np.intp], posts: int, radius_m: float
) -> F64:
    """(posts, sites): how many of a post's stops organisers at each site would see within
    ``radius_m`` (a plain post is one stop; a beat is seen at each of its stops, as the
    simulator's organisers see it)."""
    d = np.hypot(
        stop_xy[:, None, 0] - site_xy[None, :, 0], stop_xy[:, None, 1] - site_xy[None, :, 1]
    )
    out = np.zeros((posts, len(site_xy)))
    np.add.at(out, stop_post, (d < radius_m).astype(np.float64))
    return out
