"""A thermal camera's profile and a frame's telemetry, as validated configuration.

A profile (``data/cameras/*.toml`` or the user's own) gives the camera's geometry, the
detector's rules and the telemetry's accuracy; ``Telemetry`` is one frame's pose as a ground
station logs it. Both refuse what no real camera or drone can report.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.domain.camera import Intrinsics
from estran.domain.errors import ValidationFailedError
from estran.domain.messages import msg

__all__ = ["CameraProfile", "DetectorSpec", "LearnedSpec", "SigmaSpec", "Telemetry"]


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
            raise ValidationFailedError(
                msg("{source}: {names}", source=source, names=names)
            ) from exc

    def intrinsics(self) -> Intrinsics:
        return Intrinsics.from_fov(self.width, self.height, self.hfov_deg)
