"""Thermal frames to detections and tracks on the ground (pure: numpy and SciPy).

1. **Hot spots** (``detect_blobs``): the frame less a local background (a box mean over
   ``background_px``), divided by the frame's robust noise (MAD), thresholded at ``k`` sigmas;
   connected blobs with their area, centroid and peak excess in kelvin.
2. **On the ground** (``Detector.frame``): each blob's centroid through the camera model
   (``domain/camera.py``) with its error ellipse, and its size in square metres from the
   pixel's ground footprint (so the same person is the same size at 60 m or 150 m, looking down
   or obliquely). Rules by size and heat, from the camera profile: a **person** (0.08-1.5 m²,
   3-20 K warmer), an **engine** (small and over 20 K warmer), a **boat** (6-60 m², mildly
   warm, elongated). People within ``group_m`` of each other are one **group** with a count.
3. **Tracks** (``GroundTracker``): SORT on the ground plane (a constant-velocity Kalman filter
   per track, Hungarian assignment within a gate, a track confirmed after ``min_hits`` and
   dropped after ``max_age`` frames unseen): a group is one track across frames, whatever the
   drone does, because tracking runs in metres, not pixels.

Privacy by design: blobs are warm shapes; nothing here can tell one person from another, and
only counts and positions leave it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage
from scipy.optimize import linear_sum_assignment

from estran.domain.camera import (
    GeometryError,
    Ground,
    Intrinsics,
    Pose,
    PoseSigma,
    pixel_to_ground,
    propagate,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Blob",
    "Detector",
    "DetectorParams",
    "GroundDetection",
    "GroundTracker",
    "Track",
    "blobs_of",
    "detect_blobs",
    "footprint_m2",
    "group",
]

F64 = npt.NDArray[np.float64]
_NO_COV = np.zeros((2, 2))


@dataclass(frozen=True)
class DetectorParams:
    """The hot-spot detector's settings (a camera profile's ``[detector]`` table)."""

    kelvin_per_count: float = 0.01  # radiometric counts to kelvin (centikelvin by default)
    background_px: int = 101  # wider than the largest thing sought (a boat, ~70 px at 90 m)
    k_sigma: float = 5.0
    min_pixels: int = 3
    person_m2: tuple[float, float] = (0.05, 1.5)
    person_excess_k: tuple[float, float] = (1.5, 20.0)
    engine_excess_k: float = 20.0
    engine_m2: tuple[float, float] = (0.05, 2.0)
    boat_m2: tuple[float, float] = (6.0, 60.0)
    boat_elongation: float = 2.0
    group_m: float = 4.0  # people closer than this are one group


@dataclass(frozen=True)
class Blob:
    u: float
    v: float
    pixels: int
    excess_k: float  # peak, above the local background
    length_px: float  # along its long axis (four standard deviations)
    width_px: float  # across it


@dataclass(frozen=True)
class GroundDetection:
    """One thing seen, on the ground: east, north (m), its error, class and count."""

    east: float
    north: float
    cov: F64
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float
    cls: str  # person, group, engine, boat
    count: int
    area_m2: float
    excess_k: float
    confidence: float
    u: float
    v: float


def detect_blobs(frame: npt.NDArray[np.generic], params: DetectorParams) -> list[Blob]:
    """Warm blobs in one frame (radiometric counts, 8 or 16 bit, or kelvin as floats)."""
    f = _checked(frame)
    background = ndimage.uniform_filter(f, size=params.background_px, mode="nearest")
    residual = f - background
    sample = residual[::3, ::3]
    centre = float(np.median(sample))
    sigma = 1.4826 * float(np.median(np.abs(sample - centre)))
    if sigma <= 0:
        sigma = float(np.std(sample)) or 1.0
    return blobs_of(residual > centre + params.k_sigma * sigma, residual, params)


def _checked(frame: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    if frame.ndim != 2 or frame.shape[0] < 16 or frame.shape[1] < 16:
        raise ValueError(f"a thermal frame is one 2-D image, not {frame.shape}")
    f = np.asarray(frame, dtype=np.float32)
    if not np.all(np.isfinite(f[::7, ::7])):
        raise ValueError("the frame has non-finite pixels")
    return f


def blobs_of(
    mask: npt.NDArray[np.bool_], residual: npt.NDArray[np.float32], params: DetectorParams
) -> list[Blob]:
    """The connected blobs of ``mask``, measured on ``residual`` (counts above background):
    area, heat-weighted centroid, peak in kelvin, long and short axes."""
    f = residual
    labels, n = ndimage.label(mask)
    if n == 0:
        return []
    # Measure only the blobs' own pixels (a few hundred of 327,680): bincount per label.
    flat = np.flatnonzero(labels)
    lab = labels.ravel()[flat]
    rows, cols = np.divmod(flat, f.shape[1])
    weight = np.maximum(residual.ravel()[flat], 1e-6)
    pixels = np.bincount(lab, minlength=n + 1)[1:]
    mass = np.bincount(lab, weight, minlength=n + 1)[1:]
    cu = np.bincount(lab, weight * cols, minlength=n + 1)[1:] / mass
    cv = np.bincount(lab, weight * rows, minlength=n + 1)[1:] / mass
    peak = np.zeros(n + 1)
    np.maximum.at(peak, lab, weight)
    # Shape from the second moments (unweighted): the blob's long and short axes, whatever
    # its orientation in the frame.
    cnt = np.maximum(pixels, 1)
    mc = np.bincount(lab, cols, minlength=n + 1)[1:] / cnt
    mr = np.bincount(lab, rows, minlength=n + 1)[1:] / cnt
    scc = np.bincount(lab, cols * cols, minlength=n + 1)[1:] / cnt - mc**2
    srr = np.bincount(lab, rows * rows, minlength=n + 1)[1:] / cnt - mr**2
    scr = np.bincount(lab, cols * rows, minlength=n + 1)[1:] / cnt - mc * mr
    half_trace = (scc + srr) / 2
    spread = np.sqrt(np.maximum(half_trace**2 - (scc * srr - scr**2), 0.0))
    major = np.sqrt(np.maximum(half_trace + spread, 0.0) + 1 / 12)
    minor = np.sqrt(np.maximum(half_trace - spread, 0.0) + 1 / 12)
    out = []
    for i in np.flatnonzero(pixels >= params.min_pixels):
        out.append(
            Blob(
                float(cu[i]), float(cv[i]), int(pixels[i]),
                float(peak[i + 1]) * params.kelvin_per_count,
                float(4 * major[i]), float(4 * minor[i]),
            )
        )  # fmt: skip
    return out


def footprint_m2(
    u: float, v: float, pose: Pose, cam: Intrinsics, ground: Ground | float = 0.0
) -> float:
    """The ground area one pixel covers at (u, v): |det| of the pixel-to-ground Jacobian."""
    e0, n0 = pixel_to_ground(u, v, pose, cam, ground)
    e1, n1 = pixel_to_ground(u + 1.0, v, pose, cam, ground)
    e2, n2 = pixel_to_ground(u, v + 1.0, pose, cam, ground)
    return abs((e1 - e0) * (n2 - n0) - (e2 - e0) * (n1 - n0))


@dataclass
class Detector:
    """Blobs to classified detections on the ground, frame by frame."""

    cam: Intrinsics
    params: DetectorParams = field(default_factory=DetectorParams)
    sigma: PoseSigma = field(default_factory=PoseSigma)
    ground: Ground | float = 0.0  # flat, or the terrain's height at (east, north)
    find: Callable[[npt.NDArray[np.generic], DetectorParams], list[Blob]] | None = None
    """What finds the blobs: the hot-spot detector by default, or a learned model's."""

    def frame(self, frame: npt.NDArray[np.generic], pose: Pose) -> list[GroundDetection]:
        """Every person, group, engine and boat in one frame, on the ground."""
        pose.check()
        p = self.params
        people: list[GroundDetection] = []
        out: list[GroundDetection] = []
        for b in (self.find or detect_blobs)(frame, p):
            try:
                east, north = pixel_to_ground(b.u, b.v, pose, self.cam, self.ground)
                area = b.pixels * footprint_m2(b.u, b.v, pose, self.cam, self.ground)
            except GeometryError:
                continue  # above the horizon, or too far to place
            longest = b.length_px / max(1.0, b.width_px)
            cls = None
            if b.excess_k >= p.engine_excess_k and p.engine_m2[0] <= area <= p.engine_m2[1]:
                cls = "engine"
            elif p.person_m2[0] <= area <= p.person_m2[1] and (
                p.person_excess_k[0] <= b.excess_k <= p.person_excess_k[1]
            ):
                cls = "person"
            elif p.boat_m2[0] <= area <= p.boat_m2[1] and longest >= p.boat_elongation:
                cls = "boat"
            if cls is None:
                continue
            snr = b.excess_k / max(p.person_excess_k[0], 1e-6)
            det = GroundDetection(
                east, north, _NO_COV, 0.0, 0.0, 0.0, cls, 1 if cls == "person" else 0, area,
                b.excess_k, float(min(0.99, 0.5 + 0.1 * snr)), b.u, b.v,
            )  # fmt: skip
            (people if cls == "person" else out).append(det)
        # The error of each reported thing, propagated once at its pixel (a group's members
        # share their pose's error: it does not average out over them).
        return [self._placed(d, pose) for d in out + group(people, p.group_m)]

    def _placed(self, d: GroundDetection, pose: Pose) -> GroundDetection:
        w = propagate(d.u, d.v, pose, self.cam, self.sigma, self.ground)
        return replace(d, cov=w.cov, semi_major_m=w.semi_major_m, semi_minor_m=w.semi_minor_m,
                       orientation_deg=w.orientation_deg)  # fmt: skip


def group(people: list[GroundDetection], within_m: float) -> list[GroundDetection]:
    """People closer than ``within_m`` (chained) are one group: its centroid and a count."""
    if not people:
        return []
    xy = np.array([[d.east, d.north] for d in people])
    n = len(people)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    for i, j in zip(*np.nonzero(np.triu(d <= within_m, 1)), strict=True):
        parent[root(int(i))] = root(int(j))
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(root(i), []).append(i)
    out = []
    for members in clusters.values():
        m = [people[i] for i in members]
        centre = xy[members].mean(axis=0)
        out.append(
            GroundDetection(
                float(centre[0]), float(centre[1]), _NO_COV, 0.0, 0.0, 0.0, "group", len(m),
                float(sum(x.area_m2 for x in m)), float(max(x.excess_k for x in m)),
                float(min(0.99, max(x.confidence for x in m) + 0.02 * (len(m) - 1))),
                float(np.mean([x.u for x in m])), float(np.mean([x.v for x in m])),
            )
        )  # fmt: skip
    return out


# --- tracking on the ground -------------------------------------------------------------------


@dataclass(eq=False)
class Track:
    id: int
    cls: str
    x: F64  # east, north, v_east, v_north
    p: F64
    hits: int = 1
    missed: int = 0
    count: int = 0
    confirmed: bool = False
    last: GroundDetection | None = None


@dataclass
class GroundTracker:
    """SORT in metres: one constant-velocity Kalman filter per track, Hungarian assignment of
    detections to predicted tracks of the same class within ``gate_m``."""

    gate_m: float = 12.0
    min_hits: int = 3
    max_age: int = 15
    accel: float = 1.0  # process noise, m/s²
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1

    def step(self, dets: list[GroundDetection], dt: float) -> list[Track]:
        """Advance by ``dt`` seconds with this frame's detections; the confirmed tracks."""
        f = np.eye(4)
        f[0, 2] = f[1, 3] = dt
        g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]])
        q = g @ g.T * self.accel**2
        for t in self.tracks:
            t.x = f @ t.x
            t.p = f @ t.p @ f.T + q
        pairs: list[tuple[int, int]] = []
        if self.tracks and dets:
            cost = np.full((len(self.tracks), len(dets)), 1e6)
            for i, t in enumerate(self.tracks):
                for j, d in enumerate(dets):
                    if _family(t.cls) != _family(d.cls):
                        continue
                    dist = math.hypot(t.x[0] - d.east, t.x[1] - d.north)
                    if dist <= self.gate_m:
                        cost[i, j] = dist
            rows, cols = linear_sum_assignment(cost)
            pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)
                     if cost[r, c] < 1e6]  # fmt: skip
        used_t = {i for i, _ in pairs}
        used_d = {j for _, j in pairs}
        h = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
        for i, j in pairs:
            t, d = self.tracks[i], dets[j]
            r = d.cov + np.eye(2) * 0.25
            s = h @ t.p @ h.T + r
            k = t.p @ h.T @ np.linalg.inv(s)
            t.x = t.x + k @ (np.array([d.east, d.north]) - h @ t.x)
            t.p = (np.eye(4) - k @ h) @ t.p
            t.hits += 1
            t.missed = 0
            t.count = d.count
            t.last = d
            t.cls = d.cls if d.cls != "person" else t.cls
            t.confirmed = t.confirmed or t.hits >= self.min_hits
        for i, t in enumerate(self.tracks):
            if i not in used_t:
                t.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_age]
        for j, d in enumerate(dets):
            if j in used_d:
                continue
            p0 = np.diag([max(d.cov[0, 0], 1.0), max(d.cov[1, 1], 1.0), 4.0, 4.0])
            self.tracks.append(Track(self.next_id, d.cls, np.array([d.east, d.north, 0.0, 0.0]),
                                     p0, count=d.count, last=d))  # fmt: skip
            self.next_id += 1
        return [t for t in self.tracks if t.confirmed and t.missed == 0]


def _family(cls: str) -> str:
    return "people" if cls in ("person", "group") else cls


def thumbnail(
    pixels: npt.NDArray[np.generic], u: float, v: float, size: int
) -> npt.NDArray[np.uint8]:
    """``size`` x ``size`` pixels around (u, v), kept inside the frame, stretched to 8 bits:
    what a detection's thumbnail shows (every frame codec encodes this one crop)."""
    h, w = pixels.shape[:2]
    half = size // 2
    r0 = min(max(round(v) - half, 0), max(h - size, 0))
    c0 = min(max(round(u) - half, 0), max(w - size, 0))
    crop = np.asarray(pixels[r0 : r0 + size, c0 : c0 + size], dtype=np.float32)
    lo, hi = float(crop.min()), float(crop.max())
    out: npt.NDArray[np.uint8] = ((crop - lo) / (hi - lo or 1.0) * 255.0).astype(np.uint8)
    return out
