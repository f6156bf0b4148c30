"""The camera model against an independent implementation (cameratransform), against itself
(pixel to ground and back), on a DEM, and its propagated error against Monte Carlo."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from estran.domain.camera import (
    GeometryError,
    Intrinsics,
    Pose,
    PoseSigma,
    cep50,
    ground_to_pixel,
    pixel_to_ground,
    propagate,
)

with warnings.catch_warnings():  # its gps module has regexes with invalid escapes
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import cameratransform as ct  # type: ignore[import-untyped]

CAM = Intrinsics.from_fov(640, 512, 40.0)


@settings(max_examples=60, deadline=None)
@given(
    yaw=st.floats(0, 359),
    pitch=st.floats(-90, -30),
    roll=st.floats(-10, 10),
    alt=st.floats(30, 300),
    u=st.floats(0, 639),
    v=st.floats(0, 511),
)
def test_pixel_to_ground_agrees_with_cameratransform(yaw, pitch, roll, alt, u, v):
    theirs = ct.Camera(
        ct.RectilinearProjection(focallength_px=CAM.fx, image=(CAM.width, CAM.height)),
        ct.SpatialOrientation(elevation_m=alt, tilt_deg=90 + pitch, roll_deg=roll, heading_deg=yaw),
    )
    pose = Pose(0.0, 0.0, alt, yaw, pitch, roll)
    try:
        e, n = pixel_to_ground(u, v, pose, CAM)
    except GeometryError:
        return  # above the horizon or past 20 km: cameratransform gives nan or a far point
    x, y, _ = theirs.spaceFromImage([u, v], Z=0)
    assert e == pytest.approx(x, abs=1e-6 * max(1.0, abs(x)) + 1e-6)
    assert n == pytest.approx(y, abs=1e-6 * max(1.0, abs(y)) + 1e-6)


@settings(max_examples=60, deadline=None)
@given(
    yaw=st.floats(0, 359),
    pitch=st.floats(-90, -40),
    roll=st.floats(-10, 10),
    alt=st.floats(30, 300),
    u=st.floats(0, 639),
    v=st.floats(0, 511),
)
def test_ground_to_pixel_inverts_pixel_to_ground(yaw, pitch, roll, alt, u, v):
    pose = Pose(100.0, -50.0, alt, yaw, pitch, roll)
    e, n = pixel_to_ground(u, v, pose, CAM)
    pu, pv, front = ground_to_pixel(np.array([e]), np.array([n]), 0.0, pose, CAM)
    assert front[0]
    assert pu[0] == pytest.approx(u, abs=1e-6)
    assert pv[0] == pytest.approx(v, abs=1e-6)


def test_looking_down_the_centre_pixel_is_under_the_drone_and_north_is_up():
    pose = Pose(10.0, 20.0, 100.0, 0.0, -90.0, 0.0)
    assert pixel_to_ground(CAM.cx, CAM.cy, pose, CAM) == pytest.approx((10.0, 20.0))
    e, n = pixel_to_ground(CAM.cx, 0.0, pose, CAM)  # the top of the frame
    assert n > 20.0
    assert e == pytest.approx(10.0)
    # Turned east (yaw 90): the top of the frame is east.
    e, n = pixel_to_ground(CAM.cx, 0.0, Pose(10.0, 20.0, 100.0, 90.0, -90.0, 0.0), CAM)
    assert e > 10.0
    assert n == pytest.approx(20.0)


def test_a_dem_moves_the_point_where_the_ray_meets_the_ground():
    pose = Pose(0.0, 0.0, 100.0, 0.0, -45.0, 0.0)
    flat = pixel_to_ground(CAM.cx, CAM.cy, pose, CAM)
    assert flat[1] == pytest.approx(100.0)

    def dune(_e: float, n: float) -> float:  # a 20 m dune ridge 60 m north and beyond
        return 20.0 if n > 60.0 else 0.0

    hit = pixel_to_ground(CAM.cx, CAM.cy, pose, CAM, dune)
    assert hit[1] == pytest.approx(80.0, abs=0.01)  # the ray meets the ridge's top at 80 m


@pytest.mark.parametrize(
    "pose",
    [
        Pose(0, 0, 100, 0, 10, 0),  # looking above the horizon: its centre never lands
        Pose(0, 0, float("nan"), 0, -90, 0),
        Pose(0, 0, 100, 0, -120, 0),
        Pose(0, 0, 20_000, 0, -90, 0),
    ],
)
def test_impossible_poses_are_refused_with_a_reason(pose):
    def place(p: Pose) -> tuple[float, float]:
        p.check()
        return pixel_to_ground(CAM.cx, CAM.cy, p, CAM)

    with pytest.raises(GeometryError):
        place(pose)


def test_cep50_is_exact_for_a_circle_and_a_line():
    assert cep50(np.eye(2) * 4.0) == pytest.approx(1.1774 * 2.0, rel=1e-3)
    assert cep50(np.diag([9.0, 0.0])) == pytest.approx(0.6745 * 3.0, rel=1e-3)
    rng = np.random.default_rng(2)
    pts = rng.multivariate_normal([0, 0], [[9.0, 2.0], [2.0, 1.0]], 200_000)
    assert cep50(np.array([[9.0, 2.0], [2.0, 1.0]])) == pytest.approx(
        np.median(np.hypot(*pts.T)), rel=0.01
    )


@pytest.mark.parametrize("pitch", [-90.0, -70.0, -50.0])
def test_the_propagated_error_matches_monte_carlo(pitch):
    sigma = PoseSigma(2.0, 3.0, 2.0, 1.0, 1.0, 1.0)
    pose = Pose(0.0, 0.0, 90.0, 30.0, pitch, 0.0)
    u, v = 200.0, 300.0
    est = propagate(u, v, pose, CAM, sigma)
    rng = np.random.default_rng(4)
    pts = []
    for _ in range(4000):
        p = Pose(rng.normal(0, 2), rng.normal(0, 2), 90 + rng.normal(0, 3),
                 30 + rng.normal(0, 2), pitch + rng.normal(0, 1), rng.normal(0, 1))  # fmt: skip
        pts.append(pixel_to_ground(u + rng.normal(0, 1), v + rng.normal(0, 1), p, CAM))
    err = np.array(pts) - np.array([est.east, est.north])
    measured = float(np.median(np.hypot(*err.T)))
    assert est.cep50_m == pytest.approx(measured, rel=0.1)
    assert est.semi_major_m >= est.semi_minor_m > 0
    cov = np.cov(err.T)
    assert math.sqrt(np.linalg.eigvalsh(cov)[1]) == pytest.approx(est.semi_major_m, rel=0.1)
