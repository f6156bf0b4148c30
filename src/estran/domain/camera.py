"""A drone camera's geometry: pixels to the ground and back, with an honest error (pure).

Frames: the world is local east-north-up metres around a reference point; the camera is the
OpenCV pinhole (x right, y down, z along the optical axis; intrinsics ``fx, fy, cx, cy`` in
pixels). The gimbal's attitude is given as drone ground stations give it: ``yaw`` clockwise
from true north, ``pitch`` from the horizon (-90 is straight down), ``roll`` about the optical
axis (in the sense of cameratransform's ``roll_deg``, which the tests check against), all in
degrees.

A pixel's ray is intersected with the ground: flat at a given height by default, or a
terrain function (a DEM) by fixed-point iteration. The error of the ground point comes from the
uncertainty of everything that placed it (the drone's position and height, the gimbal's three
angles, the pixel) by first-order propagation: the 2x2 covariance ``J Σ Jᵀ`` with ``J`` the
Jacobian by central differences, given as an ellipse and as its CEP50.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "GeometryError",
    "Ground",
    "Intrinsics",
    "LocalFrame",
    "Pose",
    "PoseSigma",
    "Uncertain",
    "cep50",
    "ground_to_pixel",
    "pixel_to_ground",
    "propagate",
    "world_from_camera",
]

F64 = npt.NDArray[np.float64]
Ground = Callable[[float, float], float]
"""Ground height (metres, same datum as the drone's altitude) at an east, north point."""

# The camera looking north, level: x right = east, y down = -up, z forward = north.
_LEVEL_NORTH = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
_MAX_RANGE_M = 20_000.0


class GeometryError(ValueError):
    """A pixel or pose that cannot be put on the ground (a ray at or above the horizon, a
    pose outside what a drone can be)."""


@dataclass(frozen=True)
class Intrinsics:
    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
        return cls(width, height, f, f, width / 2, height / 2)


@dataclass(frozen=True)
class Pose:
    """Where the camera is and where it looks: metres east and north of the reference, height
    (same datum as the ground function), gimbal yaw, pitch and roll in degrees."""

    east: float
    north: float
    alt: float
    yaw: float
    pitch: float
    roll: float = 0.0

    def check(self) -> None:
        values = (self.east, self.north, self.alt, self.yaw, self.pitch, self.roll)
        if not all(math.isfinite(v) for v in values):
            raise GeometryError("the pose has a missing or non-finite value")
        if not -90.0 <= self.pitch <= 30.0:
            raise GeometryError(f"gimbal pitch {self.pitch:g}° is outside -90..30")
        if not -5_000.0 <= self.alt <= 10_000.0:
            raise GeometryError(f"altitude {self.alt:g} m is not a drone's")
        if abs(self.roll) > 90.0:
            raise GeometryError(f"gimbal roll {self.roll:g}° is outside -90..90")


@dataclass(frozen=True)
class PoseSigma:
    """One standard deviation of each pose value (metres, degrees) and of a pixel."""

    horizontal_m: float = 2.0
    vertical_m: float = 3.0
    yaw_deg: float = 2.0
    pitch_deg: float = 1.0
    roll_deg: float = 1.0
    pixel: float = 1.0


@dataclass(frozen=True)
class Uncertain:
    """A ground point and its error: east, north (m), covariance, and the ellipse."""

    east: float
    north: float
    cov: F64
    semi_major_m: float
    semi_minor_m: float
    orientation_deg: float  # of the major axis, clockwise from north, in [0, 180)

    @property
    def cep50_m(self) -> float:
        return cep50(self.cov)


def _rx(a: float) -> F64:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _rz(a: float) -> F64:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def world_from_camera(yaw: float, pitch: float, roll: float) -> F64:
    """The rotation taking camera-frame vectors to east-north-up."""
    out: F64 = (
        _rz(-math.radians(yaw)) @ _rx(math.radians(pitch)) @ _LEVEL_NORTH @ _rz(-math.radians(roll))
    )
    return out


def pixel_to_ground(
    u: float,
    v: float,
    pose: Pose,
    cam: Intrinsics,
    ground: Ground | float = 0.0,
    *,
    iterations: int = 8,
) -> tuple[float, float]:
    """Where the ray through pixel (u, v) meets the ground: east, north in metres."""
    ray = world_from_camera(pose.yaw, pose.pitch, pose.roll) @ np.array(
        [(u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy, 1.0]
    )
    if ray[2] >= -1e-9:
        raise GeometryError(f"pixel ({u:.0f}, {v:.0f}) looks at or above the horizon")
    height_at = (lambda _e, _n: float(ground)) if not callable(ground) else ground
    z = height_at(pose.east, pose.north)
    for _ in range(iterations):  # on a DEM: move to the ground height where the ray lands
        t = (z - pose.alt) / ray[2]
        if t <= 0:
            raise GeometryError("the ground is above the camera")
        e, n = pose.east + t * ray[0], pose.north + t * ray[1]
        z_new = height_at(e, n)
        if abs(z_new - z) < 0.01:
            break
        z = z_new
    if math.hypot(e - pose.east, n - pose.north) > _MAX_RANGE_M:
        raise GeometryError(f"pixel ({u:.0f}, {v:.0f}) lands more than 20 km away")
    return float(e), float(n)


def ground_to_pixel(
    east: F64, north: F64, up: F64 | float, pose: Pose, cam: Intrinsics
) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """Pixels of ground points (vectorised) and whether each is in front of the camera."""
    r = world_from_camera(pose.yaw, pose.pitch, pose.roll)
    rel = np.stack(
        [np.asarray(east) - pose.east, np.asarray(north) - pose.north,
         np.asarray(up) - pose.alt + np.zeros_like(np.asarray(east, dtype=float))]
    )  # fmt: skip
    c = r.T @ rel.reshape(3, -1)
    front = c[2] > 1e-6
    z = np.where(front, c[2], 1.0)
    u = cam.fx * c[0] / z + cam.cx
    v = cam.fy * c[1] / z + cam.cy
    shape = np.shape(east)
    return u.reshape(shape), v.reshape(shape), front.reshape(shape)


def propagate(
    u: float,
    v: float,
    pose: Pose,
    cam: Intrinsics,
    sigma: PoseSigma,
    ground: Ground | float = 0.0,
) -> Uncertain:
    """The ground point of (u, v) with its error ellipse, by first-order propagation."""
    base = np.array([pose.east, pose.north, pose.alt, pose.yaw, pose.pitch, pose.roll, u, v])
    steps = np.array([0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.5, 0.5])
    sd = np.array([sigma.horizontal_m, sigma.horizontal_m, sigma.vertical_m, sigma.yaw_deg,
                   sigma.pitch_deg, sigma.roll_deg, sigma.pixel, sigma.pixel])  # fmt: skip

    def at(p: F64) -> F64:
        return np.array(pixel_to_ground(p[6], p[7], Pose(*p[:6]), cam, ground))

    centre = at(base)
    jac = np.zeros((2, len(base)))
    for k in range(len(base)):
        d = np.zeros(len(base))
        d[k] = steps[k]
        jac[:, k] = (at(base + d) - at(base - d)) / (2 * steps[k])
    cov = jac @ np.diag(sd**2) @ jac.T
    vals, vecs = np.linalg.eigh(cov)
    major = vecs[:, 1]
    orient = math.degrees(math.atan2(major[0], major[1])) % 180.0  # east over north
    return Uncertain(
        float(centre[0]), float(centre[1]), cov,
        math.sqrt(max(vals[1], 0.0)), math.sqrt(max(vals[0], 0.0)), orient,
    )  # fmt: skip


def cep50(cov: F64) -> float:
    """The radius holding half the points of a 2-D normal with covariance ``cov``: exact,
    by bisection on the radius (the chance inside a circle, by quadrature over the angle)."""
    vals = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
    s1, s2 = math.sqrt(vals[1]), math.sqrt(vals[0])
    if s1 == 0.0:
        return 0.0
    if s2 < 1e-9 * s1:  # a line: half within |x| < 0.6745 s1
        return 0.6745 * s1
    theta = np.linspace(0.0, 2 * math.pi, 721)[:-1]
    # P(r < R) = (1/2π) ∫ (1 - exp(-R² / (2 q(θ)))) dθ with q(θ) the variance along θ... in
    # polar form for a normal with axes s1, s2: 1/q = cos²/s1² + sin²/s2².
    inv_q = np.cos(theta) ** 2 / s1**2 + np.sin(theta) ** 2 / s2**2
    norm = 1.0 / (2 * math.pi * s1 * s2)

    def inside(r: float) -> float:
        return float(np.mean(norm * 2 * math.pi * (1 - np.exp(-(r**2) * inv_q / 2)) / inv_q))

    lo, hi = 0.0, 5.0 * s1
    for _ in range(60):
        mid = (lo + hi) / 2
        if inside(mid) < 0.5:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class LocalFrame:
    """East-north metres around a point (a local tangent plane: centimetres over kilometres)."""

    lat0: float
    lon0: float

    def to_en(self, lat: float, lon: float) -> tuple[float, float]:
        k = math.cos(math.radians(self.lat0))
        return (lon - self.lon0) * 111_320.0 * k, (lat - self.lat0) * 110_574.0

    def to_latlon(self, east: float, north: float) -> tuple[float, float]:
        k = math.cos(math.radians(self.lat0))
        return self.lat0 + north / 110_574.0, self.lon0 + east / (111_320.0 * k)
