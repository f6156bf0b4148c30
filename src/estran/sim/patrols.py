"""Available ground patrols walk or drive their beat, on the night's kernel.

A beat runs back and forth along the launch sites within the scenario's roaming radius of a
unit's base (the area the simulation lets a patrol find groups in); while the unit is free, it
covers its beat at its kind's speed and reports its position every ``every_s`` simulated
seconds, as a field unit's tracker would. Being events on the kernel, the reports are the same
for the same seed, whatever the pace the night is played at (``realtime.py``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.sim.night import Night, Season, SimUnit

__all__ = ["SPEED_MS", "Beat", "Roaming", "beats_of", "point_along"]

SPEED_MS: Final = {"foot_patrol": 1.3, "dune_buggy": 5.0, "four_by_four": 7.0}
MAX_BEAT_M: Final = 3000.0


@dataclass(frozen=True)
class Beat:
    kind: str
    path: np.ndarray  # (n, 2) metres, ordered along the beach
    length_m: float


def beats_of(season: Season) -> dict[str, Beat]:
    """Each ground unit's beat (units with fewer than two sites near their base have none)."""
    sc = season.scenario
    out = {}
    for u in sc.units:
        if u.kind not in SPEED_MS:
            continue
        hx, hy = season.coast.to_xy(u.lon, u.lat)
        d = np.hypot(season.site_xy[:, 0] - hx, season.site_xy[:, 1] - hy)
        near = np.flatnonzero(d <= min(sc.sensors.patrol_roam_m, MAX_BEAT_M))
        if len(near) < 2:
            continue
        path = season.site_xy[near]
        centred = path - path.mean(axis=0)
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]  # the beach's main direction
        path = path[np.argsort(centred @ axis)]
        out[u.id] = Beat(u.kind, path, float(np.hypot(*np.diff(path, axis=0).T).sum()))
    return out


def point_along(path: np.ndarray, distance: float) -> tuple[float, float]:
    """The point ``distance`` metres along the polyline ``path`` ((n, 2) metres)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        leg = float(np.hypot(x1 - x0, y1 - y0))
        if distance <= leg and leg > 0:
            f = distance / leg
            return float(x0 + (x1 - x0) * f), float(y0 + (y1 - y0) * f)
        distance -= leg
    return float(path[-1][0]), float(path[-1][1])


class Roaming:
    """The beats of a season, played on each night's kernel. How far along its beat each
    unit is carries over from night to night."""

    def __init__(
        self,
        beats: dict[str, Beat],
        every_s: float,
        report: Callable[[float, SimUnit, float, float], None],
    ) -> None:
        self.beats = beats
        self.every_s = every_s
        self.report = report
        self.travelled = dict.fromkeys(beats, 0.0)

    def install(self, night: Night) -> None:
        units = [u for u in night.units if u.id in self.beats]
        env = night.env

        def tick() -> None:
            t = env.now
            for unit in units:
                beat = self.beats[unit.id]
                if not unit.available(t) or beat.length_m <= 0:
                    continue
                self.travelled[unit.id] += SPEED_MS[beat.kind] * self.every_s
                along = self.travelled[unit.id] % (2 * beat.length_m)
                along = along if along <= beat.length_m else 2 * beat.length_m - along
                self.report(t, unit, *point_along(beat.path, along))
            if t + self.every_s <= night.end_s:
                env.after(self.every_s, tick)

        if units:
            env.after(self.every_s, tick)
