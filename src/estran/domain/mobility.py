"""Mobility profiles: how fast each kind of unit moves over each terrain class.

Profiles are data (``data/mobility.toml``, sources in ``docs/terrain.md``). A ground profile
gives a speed per class; a class it does not list cannot be entered. A vehicle profile names
the profile its crew walks with once the vehicle can go no further (``walk_profile``) and the
time to dismount. An air profile flies a straight line at cruise speed after a launch delay,
within its endurance.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, model_validator

from estran.domain.terrain import TerrainClass, class_by_name

__all__ = [
    "AirProfile",
    "GroundProfile",
    "Mobility",
    "pace_table",
    "parse_mobility",
]

_NON_CLASS_KEYS: Final = frozenset({"label", "mode", "walk_profile", "dismount_s"})
Kmh = Annotated[float, Field(gt=0.0, le=400.0)]


class GroundProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: str
    mode: Literal["ground"] = "ground"
    speeds_kmh: dict[str, Kmh] = Field(description="Speed on each enterable class, km/h.")
    walk_profile: str | None = Field(
        default=None, description="The profile the crew walks with after leaving the vehicle."
    )
    dismount_s: float = Field(default=0.0, ge=0.0, le=3600.0)

    @model_validator(mode="after")
    def _known_classes(self) -> GroundProfile:
        for name in self.speeds_kmh:
            class_by_name(name)
        if not self.speeds_kmh:
            raise ValueError(f"profile {self.name!r} can enter no terrain class")
        return self

    @property
    def is_vehicle(self) -> bool:
        return self.walk_profile is not None

    def can_enter(self, cls: TerrainClass) -> bool:
        return cls.label in self.speeds_kmh


class AirProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: str
    mode: Literal["air"] = "air"
    cruise_kmh: Kmh
    launch_s: float = Field(default=0.0, ge=0.0, le=7200.0)
    endurance_s: float = Field(gt=0.0, le=172_800.0)

    @property
    def cruise_ms(self) -> float:
        return self.cruise_kmh / 3.6


class Mobility(BaseModel):
    """Every profile, and which profile each unit kind moves with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ground: dict[str, GroundProfile]
    air: dict[str, AirProfile]
    unit_kinds: dict[str, str] = Field(description="Unit kind -> profile name.")

    @model_validator(mode="after")
    def _references(self) -> Mobility:
        names = set(self.ground) | set(self.air)
        for profile in self.ground.values():
            if profile.walk_profile is not None:
                walker = self.ground.get(profile.walk_profile)
                if walker is None or walker.is_vehicle:
                    raise ValueError(
                        f"profile {profile.name!r} walks with {profile.walk_profile!r}, "
                        "which is not a walking ground profile"
                    )
        for kind, name in self.unit_kinds.items():
            if name not in names:
                raise ValueError(f"unit kind {kind!r} uses unknown profile {name!r}")
        return self

    def profile_for(self, unit_kind: str) -> GroundProfile | AirProfile | None:
        name = self.unit_kinds.get(unit_kind)
        if name is None:
            return None
        return self.ground.get(name) or self.air.get(name)


def parse_mobility(raw: dict[str, Any]) -> Mobility:
    """Build profiles from the TOML document's dict (``[profiles.NAME]`` and ``[unit_kinds]``)."""
    ground: dict[str, GroundProfile] = {}
    air: dict[str, AirProfile] = {}
    for name, body in dict(raw.get("profiles", {})).items():
        body = dict(body)
        mode = body.get("mode", "ground")
        if mode == "air":
            air[name] = AirProfile(name=name, **body)
        elif mode == "ground":
            speeds = {k: v for k, v in body.items() if k not in _NON_CLASS_KEYS}
            rest = {k: v for k, v in body.items() if k in _NON_CLASS_KEYS}
            ground[name] = GroundProfile(name=name, speeds_kmh=speeds, **rest)
        else:
            raise ValueError(f"profile {name!r}: mode is 'ground' or 'air', not {mode!r}")
    return Mobility(ground=ground, air=air, unit_kinds=dict(raw.get("unit_kinds", {})))


def pace_table(profile: GroundProfile) -> npt.NDArray[np.float32]:
    """Seconds per metre for each of the 256 class codes; ``inf`` where it cannot go."""
    table = np.full(256, np.inf, dtype=np.float32)
    for name, kmh in profile.speeds_kmh.items():
        table[class_by_name(name)] = 3.6 / kmh
    return table
