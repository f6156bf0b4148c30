"""The picture's vocabularies: agency, unit, sensor and detection kinds, statuses, incident
types and impact levels (EUROSUR's where it has them), rescue phases and distress factors.
``records.py`` builds the record schemas on them and re-exports them."""

from __future__ import annotations

import hashlib
from enum import StrEnum

__all__ = [
    "LIFE_AT_SEA_INCIDENTS",
    "AgencyKind",
    "DetectionClass",
    "DistressFactor",
    "ImpactLevel",
    "IncidentStatus",
    "IncidentType",
    "Outcome",
    "PostStatus",
    "RescuePhase",
    "Review",
    "SensorKind",
    "TaskStatus",
    "TrackStatus",
    "UnitKind",
    "UnitStatus",
    "task_code",
]


class AgencyKind(StrEnum):
    GENDARMERIE = "gendarmerie"
    BORDER_POLICE = "border_police"
    CUSTOMS = "customs"
    BORDER_FORCE = "border_force"
    RESCUE_CENTRE = "rescue_centre"
    NAVY = "navy"
    OTHER = "other"


class UnitKind(StrEnum):
    FOOT_PATROL = "foot_patrol"
    DUNE_BUGGY = "dune_buggy"
    FOUR_BY_FOUR = "four_by_four"
    DRONE = "drone"
    AIRCRAFT = "aircraft"
    BOAT = "boat"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    TASKED = "tasked"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFF_DUTY = "off_duty"


class SensorKind(StrEnum):
    DRONE_THERMAL = "drone_thermal"
    FIXED_CAMERA = "fixed_camera"
    AIRCRAFT = "aircraft"
    RADAR = "radar"
    PATROL_REPORT = "patrol_report"


class DetectionClass(StrEnum):
    GROUP_OF_PEOPLE = "group_of_people"
    BOAT = "boat"
    VEHICLE = "vehicle"
    EQUIPMENT = "equipment"


class Review(StrEnum):
    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


class TrackStatus(StrEnum):
    ACTIVE = "active"
    STALE = "stale"
    CLOSED = "closed"


class IncidentType(StrEnum):
    GROUP_SIGHTED = "group_sighted"
    BOAT_BEING_PREPARED = "boat_being_prepared"
    LAUNCH_ATTEMPT = "launch_attempt"
    BOAT_LAUNCHED = "boat_launched"
    BOAT_AT_SEA = "boat_at_sea"
    PERSONS_IN_WATER = "persons_in_water"
    ABANDONED_BOAT_OR_EQUIPMENT = "abandoned_boat_or_equipment"


LIFE_AT_SEA_INCIDENTS = frozenset({IncidentType.BOAT_AT_SEA, IncidentType.PERSONS_IN_WATER})


class ImpactLevel(StrEnum):
    """EUROSUR impact levels, lowest first."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class Outcome(StrEnum):
    """How an incident ended, as the agreement's figures count it."""

    INTERCEPTED_BEFORE_LAUNCH = "intercepted_before_launch"
    LAUNCH_PREVENTED = "launch_prevented"
    BOAT_OR_EQUIPMENT_SEIZED = "boat_or_equipment_seized"
    BOAT_LAUNCHED = "boat_launched"
    NOTHING_FOUND = "nothing_found"
    REFERRED_TO_RESCUE = "referred_to_rescue"


class RescuePhase(StrEnum):
    """The maritime SAR phases (IAMSAR), lowest first."""

    UNCERTAINTY = "uncertainty"
    ALERT = "alert"
    DISTRESS = "distress"


class DistressFactor(StrEnum):
    REQUEST_FOR_HELP = "request_for_help"
    OVERCROWDING = "overcrowding"
    UNSEAWORTHY = "unseaworthy"
    NO_LIFEJACKETS = "no_lifejackets"
    MEDICAL = "medical"
    CHILDREN_OR_PREGNANT = "children_or_pregnant"
    WEATHER = "weather"
    PERSONS_IN_WATER = "persons_in_water"


class IncidentStatus(StrEnum):
    OPEN = "open"
    RESPONDING = "responding"
    CLOSED = "closed"


_CODE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
"""Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L, 5/S, 8/B, 2/Z)
when read off a phone in the dark or over the radio."""


def task_code(task_id: str) -> str:
    """A task's 4-character code (``K7QF``), what a patrol types to acknowledge it: derived
    from the id (so every node and client agrees, with nothing stored), 23**4 = 279,841 codes,
    so two tasks sent to one unit share one with a chance of about 1 in 280,000."""
    digest = int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big")
    out = []
    for _ in range(4):
        digest, k = divmod(digest, len(_CODE_ALPHABET))
        out.append(_CODE_ALPHABET[k])
    return "".join(out)


class TaskStatus(StrEnum):
    PROPOSED = "proposed"
    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    WILL_COMPLY = "will_comply"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REPLACED = "replaced"


class PostStatus(StrEnum):
    """A planned post: the planner proposes it, the commander accepts or declines it."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
