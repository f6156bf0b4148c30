"""Synthetic thermal flights with ground truth: for tests, the benchmark and the demo.

A night beach seen by a drone's thermal camera: cold sea, cooling dry sand, warmer wet sand,
textured dune grass, woods that stay warm, and on it groups of people walking to the water
(some at the edge of the woods, half hidden by the canopy), a boat and an outboard engine
being carried. The drone flies a straight pass at a given height with its gimbal pitched down;
each frame is rendered from the *true* pose, and the telemetry it reports carries GNSS and
gimbal errors drawn from ``PoseSigma``, as a real one does. Every frame comes with what is
really there, so detection, tracking and georeferencing can be measured.

Frames are 16-bit radiometric counts (centikelvin), 640 x 512 by default. The scene's classes
come from a function ``(east, north) -> class`` in local metres: the default is a beach along
east-west (sea to the north); ``classes_from_grid`` takes them from the real terrain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from estran.domain.camera import Intrinsics, Pose, PoseSigma, ground_to_pixel, world_from_camera
from estran.domain.terrain import TerrainClass as T

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Flight", "FlightSpec", "Frame", "Thing", "beach", "fly"]

F64 = npt.NDArray[np.float64]

# Apparent temperature (K) and texture (K, sd) of each class on a winter night.
SURFACE = {
    T.SEA: (283.0, 0.08), T.WET_SAND: (280.5, 0.3), T.DRY_SAND: (278.0, 0.6),
    T.DUNE_GRASS: (279.0, 1.0), T.SCRUB: (280.0, 0.8), T.WOODLAND: (281.5, 0.8),
    T.FARMLAND: (278.5, 0.5), T.URBAN: (282.0, 1.0), T.ROAD: (281.0, 0.3),
    T.TRACK: (279.5, 0.4), T.WATER: (282.0, 0.1), T.MARSH: (280.0, 0.5), T.CLIFF: (279.0, 0.8),
}  # fmt: skip
PERSON_K = 293.0  # clothed people at night, as a thermal camera sees them
PERSON_R_M = 0.25
BOAT_K = 285.0
ENGINE_K = 330.0
CELL_M = 0.25


def beach(east: F64, north: F64) -> npt.NDArray[np.uint8]:
    """The default scene along an east-west shore: woods (south of 0 m), dunes to 40 m, dry
    sand to 80 m, wet sand, then the sea (north of 105 m)."""
    out = np.full(np.shape(east), T.DRY_SAND, dtype=np.uint8)
    out[north < 40] = T.DUNE_GRASS
    out[north < 0] = T.WOODLAND
    out[north >= 80] = T.WET_SAND
    out[north >= 105] = T.SEA
    return out


@dataclass(frozen=True)
class FlightSpec:
    seconds: float = 40.0
    fps: float = 10.0
    alt_m: float = 90.0
    speed_mps: float = 4.0
    pitch_deg: float = -75.0
    hfov_deg: float = 40.0
    width: int = 640
    height: int = 512
    groups_open: int = 3
    groups_edge: int = 1
    group_size: tuple[int, int] = (6, 20)
    boats: int = 1
    netd_k: float = 0.05
    blur_px: float = 0.6
    sigma: PoseSigma = field(default_factory=PoseSigma)
    seed: int = 1


@dataclass(frozen=True)
class Thing:
    """What is really there in one frame: a group (its centre and count), a boat, an engine;
    and each person (for georeferencing), with whether it is at the tree edge."""

    id: int
    cls: str  # group, person, boat, engine
    east: float
    north: float
    count: int
    edge: bool
    in_view: bool


@dataclass(frozen=True)
class Frame:
    index: int
    t: float
    pixels: npt.NDArray[np.uint16]
    reported: Pose
    true: Pose
    truth: list[Thing]


@dataclass
class Flight:
    spec: FlightSpec
    cam: Intrinsics
    frames: list[Frame]


@dataclass
class _Group:
    id: int
    centre: F64
    velocity: F64
    offsets: F64
    edge: bool
    hidden: npt.NDArray[np.bool_]
    ids: list[int]


def fly(
    spec: FlightSpec = FlightSpec(),
    classes: Callable[[F64, F64], npt.NDArray[np.uint8]] = beach,
) -> Iterator[Frame]:
    """The flight's frames, one by one (each about 0.3 MB): render, add noise, report."""
    rng = np.random.default_rng(spec.seed)
    cam = Intrinsics.from_fov(spec.width, spec.height, spec.hfov_deg)
    frames = int(spec.seconds * spec.fps)
    # The drone flies east along the dunes, its camera pitched down and looking north-ish
    # (towards the sea), so the frame holds woods, dunes, sand and sea.
    length = spec.speed_mps * spec.seconds
    start_e, track_n = -length / 2, -10.0
    half = 260.0
    e_axis = np.arange(-half + start_e, half - start_e, CELL_M, dtype=np.float64)
    n_axis = np.arange(-half, half, CELL_M, dtype=np.float64)
    ee, nn = np.meshgrid(e_axis, n_axis)
    cls = classes(ee, nn)
    base = np.zeros(cls.shape, dtype=np.float32)
    texture = ndimage.gaussian_filter(rng.standard_normal(cls.shape).astype(np.float32), 3.0)
    texture /= texture.std() or 1.0
    for c, (temp, sd) in SURFACE.items():
        m = cls == c
        base[m] = temp + sd * texture[m]
    groups = _groups(spec, rng, track_n)
    boats = [(np.array([rng.uniform(-30, 30), rng.uniform(30, 38)]), rng.uniform(0, math.pi))
             for _ in range(spec.boats)]  # fmt: skip
    next_id = 1000
    for k in range(frames):
        t = k / spec.fps
        true = Pose(start_e + spec.speed_mps * t, track_n, spec.alt_m,
                    float(5.0 * math.sin(t / 7.0)), spec.pitch_deg, 0.0)  # fmt: skip
        s = spec.sigma
        reported = Pose(
            true.east + rng.normal(0, s.horizontal_m), true.north + rng.normal(0, s.horizontal_m),
            true.alt + rng.normal(0, s.vertical_m), true.yaw + rng.normal(0, s.yaw_deg),
            true.pitch + rng.normal(0, s.pitch_deg), true.roll + rng.normal(0, s.roll_deg),
        )  # fmt: skip
        img = _render_ground(base, e_axis, n_axis, true, cam)
        truth: list[Thing] = []
        for g in groups:
            g.centre = g.centre + g.velocity / spec.fps
            pos = g.centre[None, :] + g.offsets
            u, v, front = ground_to_pixel(pos[:, 0], pos[:, 1], 0.0, true, cam)
            seen = front & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
            for i in range(len(pos)):
                if g.hidden[i]:
                    continue
                excess = (PERSON_K - 279.0) * (0.45 if g.edge else 1.0)  # through the canopy
                _disc(img, true, cam, pos[i], PERSON_R_M, excess, additive=True)
                truth.append(Thing(g.ids[i], "person", float(pos[i, 0]), float(pos[i, 1]), 1,
                                   g.edge, bool(seen[i])))  # fmt: skip
            visible = ~g.hidden
            centre = pos[visible].mean(axis=0) if visible.any() else g.centre
            cu, cv, cf = ground_to_pixel(centre[:1], centre[1:], 0.0, true, cam)
            in_view = bool(cf[0] and 10 <= cu[0] < cam.width - 10 and 10 <= cv[0] < cam.height - 10)
            truth.append(Thing(g.id, "group", float(centre[0]), float(centre[1]),
                               int(visible.sum()), g.edge, in_view))  # fmt: skip
        for b, (at, heading) in enumerate(boats):
            _boat(img, true, cam, at, heading)
            engine = at + 4.0 * np.array([math.cos(heading + 1.2), math.sin(heading + 1.2)])
            _disc(img, true, cam, engine, 0.3, ENGINE_K, additive=False)
            for cls_, where in (("boat", at), ("engine", engine)):
                u, v, front = ground_to_pixel(np.array([where[0]]), np.array([where[1]]), 0.0,
                                              true, cam)  # fmt: skip
                inside = bool(front[0] and 0 <= u[0] < cam.width and 0 <= v[0] < cam.height)
                truth.append(Thing(next_id + 2 * b + (cls_ == "engine"), cls_, float(where[0]),
                                   float(where[1]), 0, False, inside))  # fmt: skip
        if spec.blur_px > 0:
            img = ndimage.gaussian_filter(img, spec.blur_px)
        img = img + rng.normal(0.0, spec.netd_k, img.shape).astype(np.float32)
        pixels = np.clip(np.round(img * 100.0), 0, 65535).astype(np.uint16)
        yield Frame(k, t, pixels, reported, true, truth)


def _groups(spec: FlightSpec, rng: np.random.Generator, track_n: float) -> list[_Group]:
    out = []
    pid = 1
    length = spec.speed_mps * spec.seconds
    for g in range(spec.groups_open + spec.groups_edge):
        edge = g >= spec.groups_open
        n = int(rng.integers(spec.group_size[0], spec.group_size[1] + 1))
        # Open groups on the dunes; edge groups just out of the woods, under its branches.
        east = -length / 2 + (g + 0.5) * length / (spec.groups_open + spec.groups_edge)
        north = rng.uniform(1.5, 3.0) if edge else rng.uniform(12, 28)
        offsets = _spaced(n, rng)
        hidden = rng.random(n) < (0.4 if edge else 0.0)  # behind trunks and branches
        if hidden.all():
            hidden[0] = False
        velocity = np.array([0.0, 0.0 if edge else rng.uniform(0.2, 0.5)])  # to the sea
        out.append(_Group(g + 1, np.array([east, north]), velocity, offsets, edge,
                          hidden, list(range(pid, pid + n))))  # fmt: skip
        pid += n
    return out


def _spaced(n: int, rng: np.random.Generator, gap: float = 0.9) -> F64:
    """``n`` people around a centre, no two closer than ``gap`` metres (walking, with kit)."""
    pts: list[F64] = []
    radius = 0.8 * math.sqrt(n) + 0.5
    while len(pts) < n:
        p = rng.uniform(-radius, radius, 2)
        if all(np.hypot(*(p - q)) >= gap for q in pts):
            pts.append(p)
        else:
            radius += 0.02
    return np.array(pts)


def _render_ground(base: npt.NDArray[np.float32], e_axis: F64, n_axis: F64, pose: Pose,
                   cam: Intrinsics) -> npt.NDArray[np.float32]:  # fmt: skip
    """The ground temperature seen through every pixel (bilinear from the scene raster)."""
    east, north, sky = _ground_of(slice(0, cam.height), slice(0, cam.width), pose, cam)
    ci = (east - e_axis[0]) / CELL_M
    ri = (north - n_axis[0]) / CELL_M
    out: npt.NDArray[np.float32] = ndimage.map_coordinates(
        base, [ri, ci], order=1, mode="nearest"
    ).astype(np.float32)
    out[sky] = 265.0  # a cold night sky
    return out


def _footprint(
    pose: Pose, cam: Intrinsics, pts: F64, radius_px: float
) -> tuple[slice, slice] | None:
    """The pixel box around ground points ``pts``, clipped to the frame (None: not in it)."""
    u, v, front = ground_to_pixel(pts[:, 0], pts[:, 1], 0.0, pose, cam)
    if not front.all():
        return None
    u0, u1 = math.floor(u.min() - radius_px - 1), math.ceil(u.max() + radius_px + 1)
    v0, v1 = math.floor(v.min() - radius_px - 1), math.ceil(v.max() + radius_px + 1)
    u0, v0 = max(u0, 0), max(v0, 0)
    u1, v1 = min(u1, cam.width), min(v1, cam.height)
    if u0 >= u1 or v0 >= v1:
        return None
    return slice(v0, v1), slice(u0, u1)


def _disc(img: npt.NDArray[np.float32], pose: Pose, cam: Intrinsics, at: F64, r_m: float,
          value: float, *, additive: bool) -> None:  # fmt: skip
    """A warm disc of radius ``r_m`` on the ground at ``at``: drawn by testing each pixel's
    ground point, so it has its true shape whatever the view."""
    ring = at[None, :] + r_m * np.array([[1, 0], [-1, 0], [0, 1], [0, -1]])
    box = _footprint(pose, cam, ring, 1.0)
    if box is None:
        return
    rs, cs = box
    east, north, _ = _ground_of(rs, cs, pose, cam)
    inside = np.hypot(east - at[0], north - at[1]) <= r_m
    if additive:
        img[rs, cs][inside] += value
    else:
        img[rs, cs][inside] = value


def _boat(img: npt.NDArray[np.float32], pose: Pose, cam: Intrinsics, at: F64,
          heading: float) -> None:  # fmt: skip
    """A boat on the sand: an 8 x 2.5 m rubber hull, a little warmer than the sand."""
    c, s = math.cos(heading), math.sin(heading)
    corners = at[None, :] + np.array(
        [[a * c - b * s, a * s + b * c] for a in (-4.0, 4.0) for b in (-1.25, 1.25)]
    )
    box = _footprint(pose, cam, corners, 1.0)
    if box is None:
        return
    rs, cs = box
    east, north, _ = _ground_of(rs, cs, pose, cam)
    de, dn = east - at[0], north - at[1]
    along, across = de * c + dn * s, -de * s + dn * c
    inside = (np.abs(along) <= 4.0) & (np.abs(across) <= 1.25)
    img[rs, cs][inside] = BOAT_K


def _ground_of(
    rs: slice, cs: slice, pose: Pose, cam: Intrinsics
) -> tuple[F64, F64, npt.NDArray[np.bool_]]:
    """Where each pixel of the box (rows ``rs``, columns ``cs``) looks on flat ground, and
    which pixels look at the sky."""
    cols, rows = np.meshgrid(np.arange(cs.start, cs.stop), np.arange(rs.start, rs.stop))
    rays = world_from_camera(pose.yaw, pose.pitch, pose.roll) @ np.stack(
        [(cols.ravel() - cam.cx) / cam.fx, (rows.ravel() - cam.cy) / cam.fy, np.ones(cols.size)]
    )
    t = -pose.alt / np.minimum(rays[2], -1e-6)
    shape = cols.shape
    return (
        (pose.east + t * rays[0]).reshape(shape),
        (pose.north + t * rays[1]).reshape(shape),
        (rays[2] >= -1e-6).reshape(shape),
    )
