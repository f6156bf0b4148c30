"""Fusion: detections from several sensors become tracks, tracks become incidents.

Pure. Each track is a constant-velocity Kalman filter in a local metric plane (east, north
metres around a reference point; at this scale the plane is exact to centimetres). A detection
is predicted-against every live track of a compatible class; it joins the nearest one inside
the gate (Mahalanobis distance, chi-square 99 % for two degrees of freedom), or starts a new
track. Tracks with no report for ``stale_s`` go stale, and after ``close_s`` are closed. Two
live tracks of one class that come within each other's gate are merged into the older.

Incidents follow from tracks by rules that are data (``IncidentRule``): the first rule whose
class, place (near a launch site, at sea) and count match says the incident's type, impact
and confidence. A track keeps its incident: later reports link to it instead of making new
ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "GATE_CHI2",
    "SCENE_RADIUS_M",
    "SCENE_WINDOW_S",
    "FusionUpdate",
    "IncidentRule",
    "LocalPlane",
    "TrackState",
    "Tracker",
    "default_rules",
    "scene_assessment",
]

GATE_CHI2: Final = 9.21
"""Chi-square, 2 degrees of freedom, 99 %: the association gate."""

F64 = npt.NDArray[np.float64]


class LocalPlane:
    """Degrees <-> metres east and north of a reference point (equirectangular)."""

    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = 111_320.0 * math.cos(math.radians(lat0))
        self.ky = 110_574.0

    def to_xy(self, lat: float, lon: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * self.ky

    def to_latlon(self, x: float, y: float) -> tuple[float, float]:
        return self.lat0 + y / self.ky, self.lon0 + x / self.kx


@dataclass(eq=False)
class TrackState:
    id: str
    cls: str
    x: F64  # (x, y, vx, vy)
    p: F64  # 4 x 4 covariance
    last_s: float
    created_s: float
    detections: list[str] = field(default_factory=list)
    count: int | None = None
    status: str = "active"
    incident_id: str | None = None

    def ellipse(self) -> tuple[float, float, float]:
        """(semi-major m, semi-minor m, orientation deg from north) at 1 sigma."""
        cov = self.p[:2, :2]
        vals, vecs = np.linalg.eigh(cov)
        major = float(math.sqrt(max(vals[1], 0.0)))
        minor = float(math.sqrt(max(vals[0], 0.0)))
        vx, vy = vecs[:, 1]
        angle = math.degrees(math.atan2(vx, vy)) % 180.0
        return major, minor, angle

    @property
    def speed_mps(self) -> float:
        return float(math.hypot(self.x[2], self.x[3]))

    @property
    def heading_deg(self) -> float:
        return float(math.degrees(math.atan2(self.x[2], self.x[3])) % 360.0)


class IncidentRule(BaseModel):
    """One line of the incident rules: when a track matches, what incident it makes."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when_class: str = Field(description="Track class: group_of_people, boat, vehicle, equipment.")
    where: str = Field(default="anywhere", pattern="^(anywhere|near_launch_site|at_sea|ashore)$")
    min_count: int = Field(default=0, ge=0)
    incident_type: str
    impact: str = Field(pattern="^(low|medium|high|very_high)$")
    confidence: float = Field(ge=0.0, le=1.0)


def default_rules() -> list[IncidentRule]:
    """The rules Estran ships: life at sea first, then what is near a beach."""
    rows = [
        ("boat", "at_sea", 0, "boat_at_sea", "very_high", 0.8),
        ("group_of_people", "at_sea", 0, "persons_in_water", "very_high", 0.7),
        ("boat", "near_launch_site", 0, "boat_being_prepared", "high", 0.7),
        ("equipment", "near_launch_site", 0, "boat_being_prepared", "high", 0.6),
        ("group_of_people", "near_launch_site", 20, "boat_being_prepared", "high", 0.7),
        ("group_of_people", "near_launch_site", 0, "group_sighted", "medium", 0.6),
        ("group_of_people", "anywhere", 0, "group_sighted", "low", 0.5),
        ("equipment", "anywhere", 0, "abandoned_boat_or_equipment", "low", 0.5),
    ]
    return [
        IncidentRule(when_class=c, where=w, min_count=n, incident_type=t, impact=i, confidence=f)
        for c, w, n, t, i, f in rows
    ]


SCENE_RADIUS_M: Final = 250.0
"""Tracks within this distance of an open incident's place belong to its scene: the groups and
the boat one flight sees around one launch site are one incident, not one each."""
SCENE_WINDOW_S: Final = 1800.0
"""... when the incident was last updated no longer ago than this."""
_IMPACTS: Final = ("low", "medium", "high", "very_high")
_SHORE_RANK: Final = {"group_sighted": 0, "abandoned_boat_or_equipment": 0,
                      "boat_being_prepared": 1}  # fmt: skip


def scene_assessment(
    incident_type: str, impact: str, rule: IncidentRule | None, people: int, boat: bool
) -> tuple[str, str]:
    """The type and impact of a scene once a track joins it: what its rule says if that is
    graver, a boat with people ashore is a boat being prepared, and the impact rises with the
    group's size (5 people medium, 15 high, 40 very high) and a boat among people (high).
    Never lowered; life-at-sea types are kept as they are."""
    if rule is not None:
        if _SHORE_RANK.get(rule.incident_type, -1) > _SHORE_RANK.get(incident_type, 9):
            incident_type = rule.incident_type
        impact = max(impact, rule.impact, key=_IMPACTS.index)
    if boat and people > 0 and _SHORE_RANK.get(incident_type, 9) < 1:
        incident_type = "boat_being_prepared"
    floor = (
        "very_high" if people >= 40 else "high" if people >= 15 or (boat and people > 0)
        else "medium" if people >= 5 else "low"
    )  # fmt: skip
    return incident_type, max(impact, floor, key=_IMPACTS.index)


@dataclass(frozen=True)
class FusionUpdate:
    """What one detection changed: its track (new or updated), and a new incident if any."""

    track: TrackState
    new_track: bool
    merged: tuple[str, ...]
    incident: IncidentRule | None


class Tracker:
    def __init__(
        self,
        plane: LocalPlane,
        *,
        place_of: Callable[[float, float], str] | None = None,
        rules: list[IncidentRule] | None = None,
        new_id: Callable[[], str],
        accel_mps2: float = 0.01,
        stale_s: float = 600.0,
        close_s: float = 3600.0,
    ) -> None:
        self.plane = plane
        self.place_of = place_of or (lambda _lat, _lon: "ashore")
        self.rules = rules if rules is not None else default_rules()
        self.new_id = new_id
        self.q = accel_mps2
        self.stale_s = stale_s
        self.close_s = close_s
        self.tracks: dict[str, TrackState] = {}
        self.search_m = 2000.0

    def _predict(self, t: TrackState, now_s: float) -> tuple[F64, F64]:
        dt = max(0.0, now_s - t.last_s)
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
        q = g @ g.T * self.q**2
        return f @ t.x, f @ t.p @ f.T + q

    def age(self, now_s: float) -> list[TrackState]:
        """Mark tracks stale or closed by time; return those that changed."""
        changed = []
        for t in self.tracks.values():
            idle = now_s - t.last_s
            new = "closed" if idle >= self.close_s else "stale" if idle >= self.stale_s else None
            if new is not None and new != t.status and t.status != "closed":
                t.status = new
                changed.append(t)
        for t in changed:
            if t.status == "closed":
                del self.tracks[t.id]
        return changed

    def add(
        self,
        det_id: str,
        cls: str,
        lat: float,
        lon: float,
        error_m: float,
        now_s: float,
        count: int | None = None,
    ) -> FusionUpdate:
        z = np.array(self.plane.to_xy(lat, lon))
        r = np.eye(2) * max(error_m, 1.0) ** 2
        best: TrackState | None = None
        best_d2 = GATE_CHI2
        best_pred: tuple[F64, F64] | None = None
        reach = self.search_m + 3.0 * max(error_m, 1.0)
        for t in self.tracks.values():
            if t.cls != cls or t.status == "closed":
                continue
            # Cheap pre-filter before the Kalman prediction: far tracks cannot be in the gate.
            if abs(t.x[0] - z[0]) > reach or abs(t.x[1] - z[1]) > reach:
                continue
            x, p = self._predict(t, now_s)
            s = p[:2, :2] + r
            nu = z - x[:2]
            d2 = float(nu @ np.linalg.solve(s, nu))
            if d2 < best_d2:
                best, best_d2, best_pred = t, d2, (x, p)
        if best is None or best_pred is None:
            p0 = np.diag([error_m**2, error_m**2, 1.0, 1.0])
            track = TrackState(
                self.new_id(), cls, np.array([z[0], z[1], 0.0, 0.0]), p0, now_s, now_s, [det_id]
            )
            track.count = count
            self.tracks[track.id] = track
            return FusionUpdate(track, True, (), self._rule_for(track))
        x, p = best_pred
        h = np.zeros((2, 4))
        h[0, 0] = h[1, 1] = 1.0
        s = h @ p @ h.T + r
        k = p @ h.T @ np.linalg.inv(s)
        best.x = x + k @ (z - h @ x)
        best.p = (np.eye(4) - k @ h) @ p
        best.last_s = now_s
        best.status = "active"
        best.detections.append(det_id)
        if count is not None:
            best.count = max(best.count or 0, count)
        survivor, merged = self._merge(best)
        rule = self._rule_for(survivor) if survivor.incident_id is None else None
        return FusionUpdate(survivor, False, merged, rule)

    def _merge(self, keep: TrackState) -> tuple[TrackState, tuple[str, ...]]:
        """Fold into ``keep`` every live track of its class inside its gate; the older id wins."""
        gone = []
        for other in list(self.tracks.values()):
            if other is keep or other.cls != keep.cls or other.status == "closed":
                continue
            if abs(other.x[0] - keep.x[0]) > self.search_m:
                continue
            nu = other.x[:2] - keep.x[:2]
            s = other.p[:2, :2] + keep.p[:2, :2]
            if float(nu @ np.linalg.solve(s, nu)) < GATE_CHI2:
                older, newer = sorted((keep, other), key=lambda t: t.created_s)
                older.x, older.p, older.last_s = keep.x, keep.p, keep.last_s
                older.detections = [*older.detections, *newer.detections]
                older.count = max(older.count or 0, newer.count or 0) or None
                older.incident_id = older.incident_id or newer.incident_id
                newer.status = "closed"
                del self.tracks[newer.id]
                gone.append(newer.id)
                keep = older
        return keep, tuple(gone)

    def _rule_for(self, t: TrackState) -> IncidentRule | None:
        lat, lon = self.plane.to_latlon(float(t.x[0]), float(t.x[1]))
        place = self.place_of(lat, lon)
        for rule in self.rules:
            if rule.when_class != t.cls:
                continue
            if rule.where not in ("anywhere", place):
                continue
            if (t.count or 0) < rule.min_count:
                continue
            return rule
        return None
