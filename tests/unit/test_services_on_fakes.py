"""Services on the ports' fakes (``adapters/fakes.py``) and a fake clock: rules about time
tested by moving the clock, not by sleeping; no database, no OpenCV, no disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from estran.adapters.clock import FixedClock
from estran.adapters.fakes import BrightestFinder, MemorySecurityStore, NpyCodec
from estran.domain.camera import LocalFrame
from estran.domain.errors import AuthenticationError, SignInThrottledError
from estran.domain.markings import Classification
from estran.domain.policy import Role
from estran.services.identity import Identity, NewUser
from estran.services.thermal import ThermalPipeline
from estran.services.thermal_profile import CameraProfile

T0 = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


def identity(clock: FixedClock) -> Identity:
    return Identity(MemorySecurityStore(), now=clock.now, session_ttl_s=3600,
                    max_failed_logins=5, lockout_s=60)  # fmt: skip


def test_a_session_ends_when_the_clock_passes_its_expiry_and_not_before():
    clock = FixedClock(T0)
    ids = identity(clock)
    ids.add_user(NewUser("amelie", Role.OPERATOR, "FR-GN", "FR", Classification.OFFICIAL),
                 "correct horse battery")  # fmt: skip
    session = ids.login("amelie", "correct horse battery", "10.0.0.1")
    assert ids.authenticate(session.token).id == "user:amelie"
    clock.current = T0 + timedelta(seconds=3599)
    assert ids.authenticate(session.token).id == "user:amelie"
    clock.current = T0 + timedelta(seconds=3601)
    with pytest.raises(AuthenticationError, match="expired"):
        ids.authenticate(session.token)


def test_the_sign_in_throttle_lifts_as_the_clock_moves_on():
    clock = FixedClock(T0)
    ids = identity(clock)
    ids.add_user(NewUser("ben", Role.LIAISON, "UK-BF", "GB"), "right password here")
    for _ in range(5):
        with pytest.raises(AuthenticationError, match="password"):
            ids.login("ben", "wrong", "10.0.0.2")
    with pytest.raises(SignInThrottledError):  # even the right password, for now
        ids.login("ben", "right password here", "10.0.0.2")
    clock.current = T0 + timedelta(hours=2)
    assert ids.login("ben", "right password here", "10.0.0.2").principal.id == "user:ben"


def test_the_thermal_pipeline_runs_on_a_fake_codec_and_a_fake_finder():
    profile = CameraProfile(name="test", width=320, height=240, hfov_deg=40.0)
    codec = NpyCodec()
    pipeline = ThermalPipeline(
        profile, "uas-1", codec, emit_s=10.0, frame=LocalFrame(50.9, 1.69),
        find=BrightestFinder(500.0),
    )  # fmt: skip
    pixels = np.full((240, 320), 29_000, dtype=np.uint16)
    pixels[118:123, 198:203] = 29_900
    tel = {"t": 1.0, "lat": 50.9, "lon": 1.69, "alt_m": 80.0, "yaw_deg": 0.0,
           "pitch_deg": -90.0}  # fmt: skip
    commands, chips = [], []
    for k in range(4):  # a track is confirmed after three frames, then reported every 10 s
        out = pipeline.process(codec.encode(pixels), {**tel, "t": 1.0 + 0.1 * k})
        assert out.skipped is None
        commands += out.commands
        chips += out.chips
    assert [c.type for c in commands] == ["detection.created"]
    assert codec.decode(chips[0]).shape == (64, 64)
    bad = pipeline.process(b"not a frame", {**tel, "t": 2.0})
    assert bad.skipped is not None
    assert "corrupt" in bad.skipped
