"""A drone's thermal stream into the picture: frame and telemetry in, detections out.

``ThermalPipeline.process`` takes one frame (an array, or encoded bytes: PNG or TIFF, 8 or 16
bit) and that frame's telemetry; it decodes, checks, detects, georeferences and tracks
(``domain/thermal.py``), and returns the commands that put what it saw into the picture
through the ledger, the same path as any sensor: ``detection.created`` with the drone as
sensor, the class and a count (never an identity), the position with its error ellipse and
CEP50. A group being tracked is reported every ``emit_s`` seconds, not on every frame.

Bad input never stops the stream: a corrupt frame, missing or malformed telemetry, or a pose
no drone can have skips that frame with a clear reason (``Outcome.skipped``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from estran.domain.camera import (
    GeometryError,
    Ground,
    LocalFrame,
    Pose,
    PoseSigma,
    cep50,
)
from estran.domain.events import CommandIn
from estran.domain.thermal import Detector, DetectorParams, GroundTracker
from estran.services.thermal_profile import CameraProfile, Telemetry

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy as np
    import numpy.typing as npt

    from estran.ports import BlobFinder, FrameCodec

__all__ = ["Outcome", "ThermalPipeline"]

CLASS = {"group": "group_of_people", "boat": "boat", "engine": "equipment"}


@dataclass
class Outcome:
    index: int
    skipped: str | None = None
    commands: list[CommandIn] = field(default_factory=list)
    chips: list[bytes] = field(default_factory=list)  # one PNG per command, same order
    detections: int = 0
    tracks: int = 0


@dataclass
class ThermalPipeline:
    """One drone's stream: decode, check, detect, georeference, track, report."""

    profile: CameraProfile
    sensor_id: str
    codec: FrameCodec  # encoded bytes to pixels, and the thumbnails (OpenCV in adapters/)
    emit_s: float = 2.0
    frame: LocalFrame | None = None
    tracker: GroundTracker = field(default_factory=GroundTracker)
    dem: Callable[[LocalFrame], Ground] | None = None  # the terrain, once the frame is known
    find: BlobFinder | None = None  # a learned model's, in place of the hot-spot stage
    detector: Detector = field(init=False)
    _last_t: float | None = None
    _emitted: dict[int, float] = field(default_factory=dict)
    _index: int = 0

    def __post_init__(self) -> None:
        d = self.profile.detector
        s = self.profile.sigma
        self.detector = Detector(
            self.profile.intrinsics(),
            DetectorParams(**d.model_dump()),
            PoseSigma(s.horizontal_m, s.vertical_m, s.yaw_deg, s.pitch_deg, s.roll_deg, s.pixel),
            find=self.find,
        )

    def process(
        self, frame: bytes | npt.NDArray[np.generic], telemetry: Telemetry | dict[str, Any]
    ) -> Outcome:
        """One frame: the commands for the picture, or why the frame was skipped."""
        out = Outcome(self._index)
        self._index += 1
        try:
            tel = (
                telemetry
                if isinstance(telemetry, Telemetry)
                else Telemetry.model_validate(telemetry)
            )
        except ValidationError as exc:
            e = exc.errors()[0]
            where = ".".join(str(p) for p in e["loc"]) or "telemetry"
            out.skipped = f"frame {out.index}: bad or missing telemetry ({where}: {e['msg']})"
            return out
        try:
            pixels = self.codec.decode(frame) if isinstance(frame, bytes | bytearray) else frame
            self._check(pixels)
        except ValueError as exc:
            out.skipped = f"frame {out.index}: {exc}"
            return out
        if self._last_t is not None and tel.t <= self._last_t:
            out.skipped = f"frame {out.index}: time {tel.t:g} s does not follow {self._last_t:g} s"
            return out
        if self.frame is None:
            self.frame = LocalFrame(tel.lat, tel.lon)
        if self.dem is not None and not callable(self.detector.ground):
            self.detector.ground = self.dem(self.frame)
        east, north = self.frame.to_en(tel.lat, tel.lon)
        # The drone reports its height above the ground under it: on a DEM, add that ground.
        under = self.detector.ground(east, north) if callable(self.detector.ground) else 0.0
        pose = Pose(east, north, tel.alt_m + under, tel.yaw_deg, tel.pitch_deg, tel.roll_deg)
        try:
            pose.check()
            dets = self.detector.frame(pixels, pose)
        except (GeometryError, ValueError) as exc:
            out.skipped = f"frame {out.index}: impossible pose or frame ({exc})"
            return out
        dt = 0.1 if self._last_t is None else tel.t - self._last_t
        self._last_t = tel.t
        tracks = self.tracker.step(dets, dt)
        out.detections, out.tracks = len(dets), len(tracks)
        for tr in tracks:
            last = tr.last
            if last is None or tel.t - self._emitted.get(tr.id, -math.inf) < self.emit_s:
                continue
            self._emitted[tr.id] = tel.t
            lat, lon = self.frame.to_latlon(float(tr.x[0]), float(tr.x[1]))
            data: dict[str, Any] = {
                "sensor_id": self.sensor_id,
                "class": CLASS.get(tr.cls, "group_of_people"),
                "position": {"lat": round(lat, 7), "lon": round(lon, 7),
                             "error_m": round(min(cep50(last.cov), 100_000.0), 2)},
                "ellipse": {"semi_major_m": round(last.semi_major_m, 2),
                            "semi_minor_m": round(last.semi_minor_m, 2),
                            "orientation_deg": round(last.orientation_deg % 180.0, 1)},
                "confidence": round(last.confidence, 3),
            }  # fmt: skip
            if tr.cls in ("group", "person"):
                data["count"] = max(1, int(tr.count))
            out.commands.append(CommandIn(type="detection.created", data=data))
            out.chips.append(self.codec.chip(pixels, last.u, last.v))
        return out

    def _check(self, pixels: npt.NDArray[np.generic]) -> None:
        p = self.profile
        if pixels.ndim != 2:
            raise ValueError(f"a thermal frame has one channel, not shape {pixels.shape}")
        if pixels.shape != (p.height, p.width):
            raise ValueError(
                f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the camera {p.width}x{p.height}"
            )
