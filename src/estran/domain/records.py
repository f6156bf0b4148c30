"""What the picture holds: agencies, units, sensors, detections, tracks, incidents, tasks, sectors.

Vocabulary follows EUROSUR (impact levels, incident types) and CISE (agency, unit, event)
where it fits. Each kind has a *create* schema, a *patch* schema (what may change after
creation), the ids it refers to, and the lifecycles of its status fields. ``KINDS`` is the
registry the commands, the projection, the API and the CLI all read; a new kind is one entry.

Detections hold counts and positions, never identities: their schemas forbid extra fields,
so there is no place to put a name, a face or a biometric.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import Polygon, shape

from estran.domain.geo import ErrorEllipse, Position
from estran.domain.vocab import (
    LIFE_AT_SEA_INCIDENTS,
    AgencyKind,
    DetectionClass,
    DistressFactor,
    ImpactLevel,
    IncidentStatus,
    IncidentType,
    Outcome,
    PostStatus,
    RescuePhase,
    Review,
    SensorKind,
    TaskStatus,
    TrackStatus,
    UnitKind,
    UnitStatus,
)

__all__ = [
    "KINDS",
    "LIFE_AT_SEA_INCIDENTS",
    "AgencyCreate",
    "AgencyKind",
    "DetectionClass",
    "DetectionCreate",
    "DistressFactor",
    "ForeignCreate",
    "ImpactLevel",
    "IncidentCreate",
    "IncidentStatus",
    "IncidentType",
    "KindSpec",
    "Outcome",
    "PostStatus",
    "RescueCaseCreate",
    "RescuePhase",
    "Review",
    "SectorCreate",
    "SensorCreate",
    "SensorKind",
    "TaskCreate",
    "TaskStatus",
    "TrackCreate",
    "TrackStatus",
    "UnitCreate",
    "UnitKind",
    "UnitStatus",
]

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]
"""Record ids: letters, digits and ``._:@-``; never ``/``, which would split a URL path."""
Text = Annotated[str, Field(max_length=2000)]
Confidence = Annotated[float, Field(ge=0.0, le=1.0)]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)


class _Patch(_Schema):
    """A partial update: only the fields present change."""


# --- lifecycles ---------------------------------------------------------------------------

_TASK_ENDS = {"cancelled", "replaced"}
TASK_TRANSITIONS: dict[str, set[str]] = {
    "proposed": {"sent"} | _TASK_ENDS,
    "sent": {"acknowledged", "failed"} | _TASK_ENDS,
    "acknowledged": {"will_comply", "failed"} | _TASK_ENDS,
    "will_comply": {"en_route", "failed"} | _TASK_ENDS,
    "en_route": {"on_scene", "failed"} | _TASK_ENDS,
    "on_scene": {"done", "failed"} | _TASK_ENDS,
    "done": set(),
    "failed": set(),
    "cancelled": set(),
    "replaced": set(),
}
POST_TRANSITIONS: dict[str, set[str]] = {
    "proposed": {"accepted", "declined", "withdrawn"},
    "accepted": {"withdrawn"},
    "declined": set(),
    "withdrawn": set(),
}
INCIDENT_TRANSITIONS: dict[str, set[str]] = {
    "open": {"responding", "closed"},
    "responding": {"open", "closed"},
    "closed": set(),
}
RESCUE_TRANSITIONS: dict[str, set[str]] = {
    # Only the rescue centre's acknowledgement lets a case be closed: nothing suppresses it.
    "open": {"acknowledged"},
    "acknowledged": {"closed"},
    "closed": set(),
}
FOREIGN_TRANSITIONS: dict[str, set[str]] = {
    # Withdrawn by its originator, released again later: only the originating centre moves it.
    "held": {"withdrawn"},
    "withdrawn": {"held"},
}
TRACK_TRANSITIONS: dict[str, set[str]] = {
    "active": {"stale", "closed"},
    "stale": {"active", "closed"},
    "closed": set(),
}


# --- schemas --------------------------------------------------------------------------------


class AgencyCreate(_Schema):
    id: Id = Field(description="Short code, e.g. FR-GN.")
    name: Text
    nation: Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")] = Field(description="ISO 3166 code.")
    kind: AgencyKind = AgencyKind.OTHER


class AgencyPatch(_Patch):
    name: Text | None = None


class UnitCreate(_Schema):
    id: Id | None = None
    callsign: Annotated[str, Field(min_length=1, max_length=64)]
    kind: UnitKind
    agency_id: Id
    status: UnitStatus = UnitStatus.AVAILABLE
    position: Position | None = None
    unverified: bool = Field(
        default=False,
        description="Reported by an unauthenticated source (plain CoT): shown as such.",
    )


class UnitPatch(_Patch):
    callsign: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    status: UnitStatus | None = None
    position: Position | None = None


class SensorCreate(_Schema):
    id: Id | None = None
    name: Annotated[str, Field(min_length=1, max_length=128)]
    kind: SensorKind
    agency_id: Id
    unit_id: Id | None = Field(default=None, description="Carrier unit (a drone, a patrol).")
    position: Position | None = None


class SensorPatch(_Patch):
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    position: Position | None = None
    unit_id: Id | None = None


class DetectionCreate(_Schema):
    id: Id | None = None
    sensor_id: Id
    position: Position
    ellipse: ErrorEllipse | None = None
    detection_class: DetectionClass = Field(alias="class")
    count: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Estimated number of people (a count, never an identity)."
    )
    confidence: Confidence = 0.5
    track_id: Id | None = None
    unverified: bool = Field(
        default=False,
        description="From an unauthenticated source (plain CoT): low confidence, shown as "
        "such, never alone the ground for an incident.",
    )

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_enum_values=True, populate_by_name=True
    )


class DetectionPatch(_Patch):
    track_id: Id | None = None
    incident_id: Id | None = None
    review: Review | None = None


class TrackCreate(_Schema):
    id: Id | None = None
    track_class: DetectionClass = Field(alias="class")
    position: Position
    ellipse: ErrorEllipse | None = None
    speed_mps: Annotated[float, Field(ge=0, le=400)] = 0.0
    heading_deg: Annotated[float, Field(ge=0, lt=360)] = 0.0
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    status: TrackStatus = TrackStatus.ACTIVE
    detection_ids: Annotated[list[Id], Field(max_length=10_000)] = Field(default_factory=list)

    model_config = ConfigDict(
        frozen=True, extra="forbid", use_enum_values=True, populate_by_name=True
    )


class TrackPatch(_Patch):
    position: Position | None = None
    ellipse: ErrorEllipse | None = None
    speed_mps: Annotated[float, Field(ge=0, le=400)] | None = None
    heading_deg: Annotated[float, Field(ge=0, lt=360)] | None = None
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    status: TrackStatus | None = None
    detection_ids: Annotated[list[Id], Field(max_length=10_000)] | None = None


class IncidentCreate(_Schema):
    id: Id | None = None
    type: IncidentType
    impact: ImpactLevel = ImpactLevel.MEDIUM
    confidence: Confidence = 0.5
    status: Literal["open"] = "open"
    owner_agency_id: Id
    position: Position
    sector_id: Id | None = None
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    summary: Text = ""
    detection_ids: Annotated[list[Id], Field(max_length=10_000)] = Field(default_factory=list)
    track_ids: Annotated[list[Id], Field(max_length=1_000)] = Field(default_factory=list)


class IncidentPatch(_Patch):
    type: IncidentType | None = None
    impact: ImpactLevel | None = None
    confidence: Confidence | None = None
    status: IncidentStatus | None = None
    position: Position | None = None
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    summary: Text | None = None
    detection_ids: Annotated[list[Id], Field(max_length=10_000)] | None = None
    track_ids: Annotated[list[Id], Field(max_length=1_000)] | None = None
    outcome: Outcome | None = Field(
        default=None, description="How it ended; counted in /api/v1/stats. Not once closed."
    )
    people_count: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="People counted at the outcome (a count, never identities)."
    )


class TaskCreate(_Schema):
    id: Id | None = None
    incident_id: Id
    unit_id: Id
    status: Literal["proposed"] = "proposed"
    instructions: Text = ""


class TaskPatch(_Patch):
    status: TaskStatus | None = None
    instructions: Text | None = None
    escalations: Annotated[int, Field(ge=0, le=1000)] | None = Field(
        default=None, description="Times the task was escalated for want of acknowledgement."
    )


PlanId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
SiteId = Annotated[str, Field(min_length=1, max_length=64)]


class PostCreate(_Schema):
    """One unit's post in tonight's deployment plan, proposed to the commander."""

    id: Id | None = None
    plan_id: PlanId
    unit_id: Id
    status: Literal["proposed"] = "proposed"
    position: Position
    covers: Annotated[list[SiteId], Field(max_length=20)] = Field(
        default_factory=list, description="Launch sites the post is best placed to cover."
    )
    coverage: Confidence = Field(0.0, description="Its best interception chance at a site.")
    manned_share: Confidence = Field(0.0, description="Share of nights the plan mans it.")
    why: Text = ""
    why_fr: Text = Field("", description="The same explanation in French.")


class PostPatch(_Patch):
    status: PostStatus | None = None
    why: Text | None = None
    why_fr: Text | None = None


class LogKind(StrEnum):
    DUTY = "duty"
    INCIDENT = "incident"


class LogEntryCreate(_Schema):
    """A line of the duty log or of an incident's log: entry time is when it was recorded
    (``received_at``), event time is ``observed_at``; the author is the event's actor."""

    id: Id | None = None
    log: LogKind
    incident_id: Id | None = None
    foreign_id: Id | None = Field(
        default=None,
        description="A record received from a partner centre this line comments on: it is "
        "addressed to that centre (released to its nation unless marked otherwise) and travels "
        "back to it as a comment, or as a proposal, never an order.",
    )
    proposal: bool = Field(
        default=False, description="A proposal to the record's originator, not a comment."
    )
    role: Annotated[str, Field(min_length=1, max_length=64)]
    position_held: Annotated[str, Field(max_length=128)] = Field(
        default="", description="The watch position: duty officer, operator, liaison desk..."
    )
    text: Annotated[str, Field(min_length=1, max_length=4000)]


class LogEntryPatch(_Patch):
    """Log lines are not edited; a correction is a new line."""


class RescueCaseCreate(_Schema):
    id: Id | None = None
    incident_id: Id
    centre_agency_id: Id = Field(description="The rescue centre: CROSS Gris-Nez, MRCC Dover.")
    phase: RescuePhase = RescuePhase.ALERT
    status: Literal["open"] = "open"
    position: Position
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    description: Text = ""
    distress_factors: Annotated[list[DistressFactor], Field(max_length=8)] = Field(
        default_factory=list
    )
    escalations: Annotated[int, Field(ge=0, le=1000)] = 0


class RescueCasePatch(_Patch):
    phase: RescuePhase | None = None
    status: Literal["open", "acknowledged", "closed"] | None = None
    position: Position | None = None
    count: Annotated[int, Field(ge=0, le=1000)] | None = None
    description: Text | None = None
    distress_factors: Annotated[list[DistressFactor], Field(max_length=8)] | None = None
    escalations: Annotated[int, Field(ge=0, le=1000)] | None = None


_FOREIGN_MAX_BYTES: Final = 64 * 1024


def _bounded_record(value: dict[str, Any]) -> dict[str, Any]:
    if len(orjson.dumps(value)) > _FOREIGN_MAX_BYTES:
        raise ValueError(f"a received record is at most {_FOREIGN_MAX_BYTES} bytes")
    return value


Centre = Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]+$")]
Nation = Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")]
ReceivedRecord = Annotated[dict[str, Any], AfterValidator(_bounded_record)]


class ForeignCreate(_Schema):
    """A record a partner nation's centre released to this one (the federation): held as its
    originator released it, readable per its marking, changed only by that centre (a newer
    release, a withdrawal); this centre's users comment or propose on it (``log_entry``
    with ``foreign_id``), which travels back to the originator as such."""

    id: Id | None = None
    origin_centre: Centre
    origin_nation: Nation
    origin_kind: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    origin_id: Id
    origin_seq: Annotated[int, Field(ge=0)]
    origin_event_id: Annotated[str, Field(min_length=1, max_length=64)]
    status: Literal["held"] = "held"
    record: ReceivedRecord
    about_kind: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] | None = Field(
        default=None, description="This centre's record the partner's comment is about."
    )
    about_id: Id | None = None


class ForeignPatch(_Patch):
    """A newer release of the record (its content now), or its withdrawal (``withdrawn``:
    the content is dropped at once, the rest purged per retention)."""

    status: Literal["held", "withdrawn"] | None = None
    origin_seq: Annotated[int, Field(ge=0)] | None = None
    origin_event_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    record: ReceivedRecord | None = None


class PurgeCreate(_Schema):
    """What a run of the retention purge removed: counts by kind, never the removed content."""

    id: Id | None = None
    removed: Annotated[dict[str, Annotated[int, Field(ge=0)]], Field(max_length=32)]
    rules_days: Annotated[dict[str, float], Field(max_length=32)] = Field(default_factory=dict)
    reason: Text = "retention limits"


class PurgePatch(_Patch):
    """A purge run is never changed."""


class ProposedUnit(_Schema):
    unit_id: Id
    kind: UnitKind
    eta_s: Annotated[float, Field(ge=0, le=86_400)]
    why: Text


class RecommendationCreate(_Schema):
    """Units proposed for an incident (the run card filled by real ETA). Never a task."""

    id: Id | None = None
    incident_id: Id
    run_card: Annotated[str, Field(max_length=128)] | None = None
    proposed: Annotated[list[ProposedUnit], Field(max_length=20)] = Field(default_factory=list)
    unfilled: Annotated[list[UnitKind], Field(max_length=10)] = Field(default_factory=list)


class RecommendationPatch(_Patch):
    """A fresh recommendation replaces the last one for the incident."""

    run_card: Annotated[str, Field(max_length=128)] | None = None
    proposed: Annotated[list[ProposedUnit], Field(max_length=20)] | None = None
    unfilled: Annotated[list[UnitKind], Field(max_length=10)] | None = None


class PolygonGeometry(_Schema):
    type: Literal["Polygon"]
    coordinates: Annotated[
        list[Annotated[list[tuple[float, float]], Field(min_length=4, max_length=10_000)]],
        Field(min_length=1, max_length=50),
    ]

    @field_validator("coordinates")
    @classmethod
    def _valid_polygon(
        cls, rings: list[list[tuple[float, float]]]
    ) -> list[list[tuple[float, float]]]:
        for ring in rings:
            for lon, lat in ring:
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError(f"coordinate ({lon}, {lat}) out of range")
            if ring[0] != ring[-1]:
                raise ValueError("each ring must be closed (first point equals last)")
        poly = shape({"type": "Polygon", "coordinates": rings})
        if not isinstance(poly, Polygon) or not poly.is_valid:
            raise ValueError("polygon is not valid (self-intersecting or degenerate)")
        return rings


class SectorCreate(_Schema):
    id: Id | None = None
    name: Annotated[str, Field(min_length=1, max_length=128)]
    impact: ImpactLevel = ImpactLevel.LOW
    geometry: PolygonGeometry


class SectorPatch(_Patch):
    name: Annotated[str, Field(min_length=1, max_length=128)] | None = None
    impact: ImpactLevel | None = None
    geometry: PolygonGeometry | None = None


# --- registry ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindSpec:
    """Everything generic code needs to know about one kind of record."""

    name: str
    plural: str
    create: type[_Schema]
    patch: type[_Patch]
    references: dict[str, str] = field(default_factory=dict)
    list_references: dict[str, str] = field(default_factory=dict)
    transitions: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    type_field: str | None = None
    id_prefix: str = ""

    def validate_create(self, data: dict[str, Any]) -> dict[str, Any]:
        out = self.create.model_validate(data).model_dump(mode="json", by_alias=True)
        if out.get("unverified") is False:
            del out["unverified"]  # only an unverified record says so; records stay as they were
        return out

    def validate_patch(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.patch.model_validate(data).model_dump(
            mode="json", by_alias=True, exclude_unset=True
        )


KINDS: dict[str, KindSpec] = {
    spec.name: spec
    for spec in (
        KindSpec("agency", "agencies", AgencyCreate, AgencyPatch, type_field="kind"),
        KindSpec(
            "unit",
            "units",
            UnitCreate,
            UnitPatch,
            references={"agency_id": "agency"},
            type_field="kind",
            id_prefix="unit-",
        ),
        KindSpec(
            "sensor",
            "sensors",
            SensorCreate,
            SensorPatch,
            references={"agency_id": "agency", "unit_id": "unit"},
            type_field="kind",
            id_prefix="sensor-",
        ),
        KindSpec(
            "detection",
            "detections",
            DetectionCreate,
            DetectionPatch,
            references={"sensor_id": "sensor", "track_id": "track", "incident_id": "incident"},
            type_field="class",
            id_prefix="det-",
        ),
        KindSpec(
            "track",
            "tracks",
            TrackCreate,
            TrackPatch,
            list_references={"detection_ids": "detection"},
            transitions={"status": TRACK_TRANSITIONS},
            type_field="class",
            id_prefix="trk-",
        ),
        KindSpec(
            "incident",
            "incidents",
            IncidentCreate,
            IncidentPatch,
            references={"owner_agency_id": "agency", "sector_id": "sector"},
            list_references={"detection_ids": "detection", "track_ids": "track"},
            transitions={"status": INCIDENT_TRANSITIONS},
            type_field="type",
            id_prefix="inc-",
        ),
        KindSpec(
            "task",
            "tasks",
            TaskCreate,
            TaskPatch,
            references={"incident_id": "incident", "unit_id": "unit"},
            transitions={"status": TASK_TRANSITIONS},
            id_prefix="task-",
        ),
        KindSpec(
            "post",
            "posts",
            PostCreate,
            PostPatch,
            references={"unit_id": "unit"},
            transitions={"status": POST_TRANSITIONS},
            id_prefix="post-",
        ),
        KindSpec("sector", "sectors", SectorCreate, SectorPatch, id_prefix="sector-"),
        KindSpec(
            "recommendation",
            "recommendations",
            RecommendationCreate,
            RecommendationPatch,
            references={"incident_id": "incident"},
            id_prefix="rec-",
        ),
        KindSpec(
            "log_entry",
            "log_entries",
            LogEntryCreate,
            LogEntryPatch,
            references={"incident_id": "incident", "foreign_id": "foreign"},
            type_field="log",
            id_prefix="log-",
        ),
        KindSpec(
            "rescue_case",
            "rescue_cases",
            RescueCaseCreate,
            RescueCasePatch,
            references={"incident_id": "incident", "centre_agency_id": "agency"},
            transitions={"status": RESCUE_TRANSITIONS},
            type_field="phase",
            id_prefix="sar-",
        ),
        KindSpec("purge", "purges", PurgeCreate, PurgePatch, id_prefix="purge-"),
        KindSpec(
            "foreign",
            "foreign_records",
            ForeignCreate,
            ForeignPatch,
            transitions={"status": FOREIGN_TRANSITIONS},
            type_field="origin_kind",
            id_prefix="fx-",
        ),
    )
}
KINDS_BY_PLURAL = {spec.plural: spec for spec in KINDS.values()}
