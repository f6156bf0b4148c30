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
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.domain.camera import GeometryError, Ground, Intrinsics, Pose, PoseSigma, cep50
from estran.domain.errors import ValidationFailedError
from estran.domain.events import CommandIn
from estran.domain.thermal import Blob, Detector, DetectorParams, GroundTracker

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "CameraProfile",
    "LocalFrame",
    "Outcome",
    "Telemetry",
    "ThermalPipeline",
    "chip",
    "decode",
]

MAX_FRAME_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
CLASS = {"group": "group_of_people", "boat": "boat", "engine": "equipment"}


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Telemetry(_Spec):
    """One frame's telemetry, as a ground station logs it."""

    t: float = Field(
        ge=0.0,
        le=7 * 86_400.0,
        description="Seconds since the flight began (a week at most: a later time would hold "
        "every later frame back as 'time going backwards').",
    )
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    alt_m: float = Field(
        ge=-500.0, le=20_000.0, description="Height above the ground under the drone, metres."
    )
    yaw_deg: float = Field(
        ge=-360.0, le=360.0, description="Gimbal heading, clockwise from true north."
    )
    pitch_deg: float = Field(
        ge=-180.0, le=180.0, description="Gimbal pitch from the horizon; -90 is straight down."
    )
    roll_deg: float = Field(default=0.0, ge=-180.0, le=180.0)


class DetectorSpec(_Spec):
    kelvin_per_count: float = Field(0.01, gt=0.0, le=10.0)
    background_px: Annotated[int, Field(ge=3, le=511)] = 101
    k_sigma: float = Field(5.0, ge=1.0, le=50.0)
    min_pixels: Annotated[int, Field(ge=1, le=10_000)] = 3
    person_m2: tuple[float, float] = (0.05, 1.5)
    person_excess_k: tuple[float, float] = (1.5, 20.0)
    engine_excess_k: float = Field(20.0, gt=0.0)
    engine_m2: tuple[float, float] = (0.05, 2.0)
    boat_m2: tuple[float, float] = (6.0, 60.0)
    boat_elongation: float = Field(2.0, ge=1.0)
    group_m: float = Field(4.0, ge=0.0, le=50.0)


class SigmaSpec(_Spec):
    horizontal_m: float = Field(2.0, ge=0.0, le=100.0)
    vertical_m: float = Field(3.0, ge=0.0, le=100.0)
    yaw_deg: float = Field(2.0, ge=0.0, le=45.0)
    pitch_deg: float = Field(1.0, ge=0.0, le=45.0)
    roll_deg: float = Field(1.0, ge=0.0, le=45.0)
    pixel: float = Field(1.0, ge=0.0, le=50.0)


class LearnedSpec(_Spec):
    model: str = Field(min_length=1, max_length=4096, description="Path to the ONNX model.")
    threshold: float = Field(0.5, description="Scores above this are warm things.")


class CameraProfile(_Spec):
    """A thermal camera: geometry, radiometry, the detector's rules, telemetry accuracy."""

    name: str = Field(min_length=1, max_length=128)
    width: Annotated[int, Field(ge=16, le=4096)]
    height: Annotated[int, Field(ge=16, le=4096)]
    hfov_deg: float = Field(gt=1.0, lt=170.0)
    detector: DetectorSpec = DetectorSpec()
    sigma: SigmaSpec = SigmaSpec()
    learned: LearnedSpec | None = None  # a user's model in place of the hot-spot stage

    @classmethod
    def parse(cls, raw: dict[str, Any], source: str = "camera profile") -> CameraProfile:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            names = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                              for e in exc.errors()[:5])  # fmt: skip
            raise ValidationFailedError(f"{source}: {names}") from exc

    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_fov(self.width, self.height, self.hfov_deg)


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
    emit_s: float = 2.0
    frame: LocalFrame | None = None
    tracker: GroundTracker = field(default_factory=GroundTracker)
    dem: Callable[[LocalFrame], Ground] | None = None  # the terrain, once the frame is known
    find: Callable[[npt.NDArray[np.generic], DetectorParams], list[Blob]] | None = None
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

    def process(self, frame: bytes | npt.NDArray[np.generic], telemetry: Any) -> Outcome:
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
            pixels = decode(frame) if isinstance(frame, bytes | bytearray) else frame
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
            out.chips.append(chip(pixels, last.u, last.v))
        return out

    def _check(self, pixels: npt.NDArray[np.generic]) -> None:
        p = self.profile
        if pixels.ndim != 2:
            raise ValueError(f"a thermal frame has one channel, not shape {pixels.shape}")
        if pixels.shape != (p.height, p.width):
            raise ValueError(
                f"frame is {pixels.shape[1]}x{pixels.shape[0]}, the camera {p.width}x{p.height}"
            )


def decode(data: bytes | bytearray) -> npt.NDArray[np.generic]:
    """An encoded frame (PNG, TIFF; 8 or 16 bit) to pixels, or a clear ValueError."""
    import cv2

    if len(data) > MAX_FRAME_BYTES:
        raise ValueError(f"frame larger than {MAX_FRAME_BYTES} bytes")
    img = cv2.imdecode(np.frombuffer(bytes(data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError("corrupt or unreadable frame")
    if img.ndim == 3:
        img = img[:, :, 0]
    if img.size > MAX_PIXELS:
        raise ValueError("frame has too many pixels")
    out: npt.NDArray[np.generic] = img
    return out


CHIP_PX = 64


def chip(pixels: npt.NDArray[np.generic], u: float, v: float, size: int = CHIP_PX) -> bytes:
    """A small PNG thumbnail around (u, v), stretched to 8 bits: what an operator needs to
    confirm or dismiss a detection, and no more (64 x 64 pixels of heat: no face, no identity)."""
    import cv2

    h, w = pixels.shape[:2]
    half = size // 2
    r0 = min(max(round(v) - half, 0), max(h - size, 0))
    c0 = min(max(round(u) - half, 0), max(w - size, 0))
    crop = np.asarray(pixels[r0 : r0 + size, c0 : c0 + size], dtype=np.float32)
    lo, hi = float(crop.min()), float(crop.max())
    scaled = ((crop - lo) / (hi - lo or 1.0) * 255.0).astype(np.uint8)
    ok, png = cv2.imencode(".png", scaled)
    if not ok:  # pragma: no cover (an 8-bit array always encodes)
        raise ValueError("the thumbnail could not be encoded")
    return bytes(png.tobytes())
