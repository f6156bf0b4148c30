"""Scenarios as data: the night, the weather, the adversary, sensors and units.

Loaded from TOML by the CLI; validated here with pydantic so that a bad file gets a message
naming the field (``adversary.rationality: Input should be greater than or equal to 0``).
Sources and assumptions behind the baseline numbers: ``docs/simulation.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from estran.domain.errors import ValidationFailedError
from estran.domain.messages import msg

__all__ = [
    "DEFAULT_SCENARIO",
    "AdversarySpec",
    "AircraftSpec",
    "CameraSpec",
    "CostSpec",
    "DroneSpec",
    "HidingSpec",
    "PlanningSpec",
    "Scenario",
    "SeaSpec",
    "TideSpec",
    "UnitSpec",
    "WeatherSpec",
    "parse_scenario",
]

DEFAULT_SCENARIO = Path(__file__).resolve().parent.parent / "data" / "scenarios" / "baseline.toml"
"""The shipped baseline night on the Côte d'Opale."""

Prob = Annotated[float, Field(ge=0.0, le=1.0)]
Hour = Annotated[float, Field(ge=0.0, lt=24.0)]
Lat = Annotated[float, Field(ge=50.5, le=51.3)]
Lon = Annotated[float, Field(ge=1.3, le=2.8)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WeatherSpec(_Spec):
    calm_probability: Prob = Field(0.45, description="Share of nights calm enough to cross.")
    rough_attempt_factor: Prob = Field(0.1, description="Attempts on rough nights, relative.")
    rough_detection_factor: Prob = Field(0.7, description="Thermal detection in rain and wind.")


class AdversarySpec(_Spec):
    attempts_per_calm_night: float = Field(8.0, ge=0.0, le=500.0)
    group_size_mean: float = Field(45.0, ge=1.0, le=120.0)
    prep_minutes_mean: float = Field(50.0, ge=1.0, le=600.0)
    prep_minutes_sd: float = Field(20.0, ge=0.0, le=300.0)
    launch_minutes: float = Field(15.0, ge=1.0, le=120.0)
    rationality: float = Field(
        3.0, ge=0.0, le=50.0, description="Quantal response: 0 picks sites at random."
    )
    coverage_weight: float = Field(2.0, ge=0.0, le=20.0, description="Aversion to seen coverage.")
    cover_weight: float = Field(
        1.0, ge=0.0, le=20.0, description="Taste for woods, dunes, bunkers."
    )
    road_weight: float = Field(0.5, ge=0.0, le=20.0, description="Taste for a road nearby.")
    memory: Prob = Field(0.7, description="Weight of older nights in the coverage they saw.")
    watch_radius_m: float = Field(
        2000.0, ge=0.0, le=20_000.0, description="How far from a site they notice a patrol."
    )
    presence_weight: float = Field(
        0.5, ge=0.0, le=5.0, description="Coverage they read into one patrol or drone seen."
    )
    abandon_radius_m: float = Field(250.0, ge=0.0, le=5000.0)
    sees_tonight: Prob = Field(
        0.0,
        description="Share of tonight's deployment they see before they choose a site "
        "(0: only what they remember of past nights; 1: all of it).",
    )
    boat_ahead_minutes: float = Field(
        0.0, ge=0.0, le=720.0,
        description="The boat and engine are brought apart and hidden at the beach this long "
        "before the group comes (0: they come with the group).",
    )  # fmt: skip
    boat_noticed: Prob = Field(
        0.3,
        description="A hidden boat and engine's chance of being noticed by a patrol or a "
        "camera, relative to a group's (cold: drones and aircraft see nothing).",
    )
    retry_probability: Prob = Field(
        0.0,
        description="Chance a group turned back (deterred) or stopped (intercepted, its "
        "launch prevented) tries again on a later calm night, wherever the organisers pick then.",
    )
    retry_nights_mean: float = Field(
        3.0, ge=1.0, le=60.0, description="Nights, on average, before a group tries again."
    )


class HidingSpec(_Spec):
    """Groups wait in hiding behind the beach, then walk to it (``domain/hiding.py``)."""

    wait_minutes_mean: float = Field(
        0.0, ge=0.0, le=600.0,
        description="Time a group waits in hiding before walking to the beach (0: no hiding, "
        "groups appear at the beach).",
    )  # fmt: skip
    wait_minutes_sd: float = Field(0.0, ge=0.0, le=300.0)
    walk_factor: float = Field(
        1.5, ge=1.0, le=5.0,
        description="A group's walk over a foot patrol's time on the same ground.",
    )  # fmt: skip
    hidden: Prob = Field(
        0.85,
        description="Share of a still group's signature a hiding place of full cover (a wood, "
        "a bunker) keeps from drones, aircraft, cameras and patrols; thinner cover keeps less.",
    )

    @property
    def on(self) -> bool:
        return self.wait_minutes_mean > 0.0


class TideSpec(_Spec):
    """Boats go out around high water (a short carry over the sand), and high water comes
    later each night: launches fall within ``window_h`` of it, in the dark."""

    high_water_h: Hour | None = Field(
        None,
        description="Hour of a high water on the first night (None: launches at any time of "
        "the dark).",
    )
    period_h: float = Field(12.42, ge=6.0, le=25.0, description="Between two high waters.")
    later_minutes_per_night: float = Field(
        50.0, ge=0.0, le=120.0, description="How much later high water comes each night."
    )
    window_h: float = Field(
        2.0, gt=0.0, le=6.0, description="Launches within this of a high water, either side."
    )

    @property
    def on(self) -> bool:
        return self.high_water_h is not None


class DroneSpec(_Spec):
    id: str = Field(min_length=1, max_length=64)
    lat: Lat
    lon: Lon
    radius_m: float = Field(4000.0, gt=0.0, le=20_000.0, description="Sector it patrols.")
    start_h: Hour = 20.0
    end_h: Hour = 6.0


class AircraftSpec(_Spec):
    """A surveillance aircraft sweeping the whole coast, back and forth, in its hours."""

    id: str = Field(min_length=1, max_length=64)
    start_h: Hour = 22.0
    end_h: Hour = 2.0
    sweep_minutes: float = Field(40.0, gt=0.0, le=600.0, description="One end to the other.")
    swath_m: float = Field(2500.0, gt=0.0, le=20_000.0, description="Width it watches.")
    p: Prob = Field(0.25, description="Chance per minute it sees a group inside its swath.")


class CameraSpec(_Spec):
    id: str = Field(min_length=1, max_length=64)
    lat: Lat
    lon: Lon
    range_m: float = Field(800.0, gt=0.0, le=10_000.0)


class UnitSpec(_Spec):
    id: str = Field(min_length=1, max_length=64)
    kind: Literal["foot_patrol", "dune_buggy", "four_by_four"]
    lat: Lat
    lon: Lon
    start_h: Hour = 20.0
    end_h: Hour = 6.0


class SensorModel(_Spec):
    drone_p0: Prob = Field(0.08, description="Chance a group in the open is seen in one scan.")
    drone_range_m: float = Field(3000.0, gt=0.0, description="Range at which p falls by 1/e.")
    drone_scan_s: float = Field(60.0, gt=0.0, le=3600.0)
    drone_flight_min: float = Field(35.0, gt=0.0, le=600.0)
    drone_swap_min: float = Field(10.0, ge=0.0, le=600.0)
    cover_hides: Prob = Field(0.5, description="Share of thermal signature woods and scrub hide.")
    camera_p: Prob = Field(0.3, description="Chance per minute a camera sees a group in range.")
    patrol_roam_m: float = Field(2000.0, gt=0.0, le=20_000.0, description="Area a patrol roams.")
    patrol_p: Prob = Field(0.02, description="Chance per minute a roaming patrol finds a group.")
    false_alarms_per_hour: float = Field(0.3, ge=0.0, le=100.0)


class SeaSpec(_Spec):
    difficulty_probability: Prob = Field(
        0.12, description="Share of launched boats that get into difficulty (a rescue case)."
    )


class CostSpec(_Spec):
    """What one more resource costs a night (euros; assumptions, see docs/planning.md)."""

    foot_patrol: float = Field(1300.0, gt=0.0, le=1e6)
    dune_buggy: float = Field(1700.0, gt=0.0, le=1e6)
    four_by_four: float = Field(1600.0, gt=0.0, le=1e6)
    drone: float = Field(1100.0, gt=0.0, le=1e6)


class PlanningSpec(_Spec):
    response_minutes: float = Field(
        10.0, gt=0.0, le=240.0, description="Typical ground response to a drone's sighting."
    )
    history_weight: Prob = Field(
        0.5, description="How much where attempts were seen weighs against the scenario."
    )
    beats: bool = Field(
        False,
        description="Also plan beats: a patrol working a route between two posts all night, "
        "a drone flying its orbits in turn.",
    )
    beat_dwell_minutes: float = Field(
        10.0, ge=0.0, le=240.0, description="A patrol's time at each stop of its beat."
    )
    costs: CostSpec = CostSpec()


class Scenario(_Spec):
    name: str = Field(min_length=1, max_length=128)
    night_start_h: Hour = 20.0
    night_end_h: Hour = 6.0
    weather: WeatherSpec = WeatherSpec()
    adversary: AdversarySpec = AdversarySpec()
    hiding: HidingSpec = HidingSpec()
    tide: TideSpec = TideSpec()
    sensors: SensorModel = SensorModel()
    sea: SeaSpec = SeaSpec()
    planning: PlanningSpec = PlanningSpec()
    drones: list[DroneSpec] = Field(default_factory=list, max_length=200)
    cameras: list[CameraSpec] = Field(default_factory=list, max_length=500)
    aircraft: list[AircraftSpec] = Field(default_factory=list, max_length=20)
    units: list[UnitSpec] = Field(default_factory=list, max_length=500)
    tasking_delay_s: float = Field(90.0, ge=0.0, le=3600.0)
    on_scene_minutes: float = Field(30.0, ge=0.0, le=600.0)

    @model_validator(mode="after")
    def _unique_ids(self) -> Scenario:
        ids = [
            *(d.id for d in self.drones),
            *(c.id for c in self.cameras),
            *(a.id for a in self.aircraft),
            *(u.id for u in self.units),
        ]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"ids used twice: {dupes}")
        return self

    @property
    def night_hours(self) -> float:
        return (self.night_end_h - self.night_start_h) % 24 or 24.0


def parse_scenario(raw: dict[str, object], source: str = "scenario") -> Scenario:
    """A validated scenario; ``ValidationFailedError`` names every bad field."""
    head = raw.get("scenario")
    body: dict[str, object] = dict(head) if isinstance(head, dict) else {}
    keys = ("weather", "adversary", "hiding", "tide", "sensors", "sea", "planning", "drones",
            "cameras", "aircraft", "units")  # fmt: skip
    for key in keys:
        if key in raw:
            body[key] = raw[key]
    try:
        return Scenario.model_validate(body)
    except ValidationError as exc:
        details = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        names = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in details[:5])
        raise ValidationFailedError(
            msg("{source}: {names}", source=source, names=names), details=details
        ) from exc
