"""What the travel-time engine answers: a unit's ``Eta`` to a ``Target``, made of ``Leg``s,
and how a unit is given to it (``UnitAt``). ``travel.py`` re-exports them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from estran.domain.messages import N_, joined, msg

__all__ = ["Eta", "Leg", "Target", "UnitAt", "no_eta", "reason_for"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class Leg:
    """One stretch of a route in one mode; ``points`` is an (n, 2) array of grid metres."""

    mode: str  # "drive", "walk" or "fly"
    points: F64
    seconds: float
    resolution_m: float
    classes: tuple[str, ...] = ()

    @property
    def length_m(self) -> float:
        if len(self.points) < 2:
            return 0.0
        return float(np.hypot(*np.diff(self.points, axis=0).T).sum())

    def prepend(self, x: float, y: float) -> Leg:
        pts = np.vstack([[x, y], self.points])
        return Leg(self.mode, pts, self.seconds, self.resolution_m, self.classes)


@dataclass(frozen=True)
class Eta:
    unit_id: str
    profile: str
    reachable: bool
    eta_s: float | None
    legs: tuple[Leg, ...]
    reason: str
    method: str  # "lattice", "coarse", "straight", "air", "none"


@dataclass(frozen=True)
class UnitAt:
    """A unit as the engine sees it: where it is, which profile it moves with."""

    unit_id: str
    profile: str
    x: float
    y: float


@dataclass(frozen=True)
class Target:
    row: int
    col: int
    x: float
    y: float
    requested: tuple[float, float]
    snapped_m: float
    terrain: str
    note: str | None


def no_eta(unit: UnitAt, reason: str) -> Eta:
    return Eta(unit.unit_id, unit.profile, False, None, (), reason, "none")


_LEG: Final = {
    "drive": N_("drives {km:.2f} km in {min:.1f} min"),
    "walk": N_("walks {km:.2f} km in {min:.1f} min"),
    "fly": N_("flies {km:.2f} km in {min:.1f} min"),
}
_LEG_OVER: Final = {
    "drive": N_("drives {km:.2f} km in {min:.1f} min over {classes}"),
    "walk": N_("walks {km:.2f} km in {min:.1f} min over {classes}"),
    "fly": N_("flies {km:.2f} km in {min:.1f} min over {classes}"),
}


def reason_for(label: str, legs: tuple[Leg, ...]) -> str:
    """Why a unit takes the time it does: its legs, their lengths, times and terrain."""
    parts = []
    for leg in legs:
        km, mins = leg.length_m / 1000, leg.seconds / 60
        if leg.classes:
            classes = joined([c.replace("_", " ") for c in leg.classes])
            parts.append(msg(_LEG_OVER[leg.mode], km=km, min=mins, classes=classes))
        else:
            parts.append(msg(_LEG[leg.mode], km=km, min=mins))
    return msg("{label}: {legs}", label=label, legs=joined(parts, "; then "))
