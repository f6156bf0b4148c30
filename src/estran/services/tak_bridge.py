"""CoT into the picture (pure): what a TAK client's message means as commands.

- a friendly atom with a callsign (``a-f-...``, an ATAK position report) creates or moves a
  Unit ``tak-<uid>``, its kind read from the CoT type (ground unit combat -> foot patrol, ground
  vehicle -> 4x4, or what ``<__estran unit_kind=.../>`` says; UAV -> drone; air -> aircraft;
  sea surface -> boat). Moves are written at most every ``min_move_s`` or ``min_move_m``.
- an unknown or hostile atom from a sensor (a drone ground station's point of interest, a
  patrol's marker) becomes a Detection: sea surface -> boat, vehicle -> vehicle, anything else
  on the ground -> group of people, with the count read from the remarks ("group of 12") and
  never an identity. Its sensor is the linked parent (the drone) or the sender.
- a GeoChat that says ``ACK <task id>`` acknowledges that task, only when the task was already
  *sent* to the sending client's own unit; it never sends one.

The commands are submitted by the gateway (``services/tak.py``) as the client's principal; an
anonymous (plain TCP/UDP) client's are unclassified, flagged unverified, low in confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking
from estran.domain.policy import Principal, Role
from estran.domain.vocab import task_code

if TYPE_CHECKING:
    from estran.domain.picture import Picture
    from estran.protocols.cot.messages import CotEvent

__all__ = [
    "ANONYMOUS_AGENCY",
    "UNVERIFIED_CONFIDENCE",
    "TakBridgeState",
    "ack_target",
    "anonymous_principal",
    "cot_to_commands",
    "own_units",
    "unit_id_for",
]

ANONYMOUS_AGENCY: Final = "UNAUTHENTICATED"
"""The originator agency stamped on what an unauthenticated CoT source writes."""
UNVERIFIED_CONFIDENCE: Final = 0.2
"""The highest confidence an unauthenticated report is given."""


def anonymous_principal(nation: str = "FR") -> Principal:
    """Plain TCP and UDP CoT: nobody in particular. Unclassified only, both ways."""
    return Principal(
        "anonymous:cot",
        Role.ANONYMOUS,
        agency_id=ANONYMOUS_AGENCY,
        nation=nation,
        clearance=Classification.UNCLASSIFIED,
    )


_SAFE: Final = re.compile(r"[^A-Za-z0-9._:@-]")
_COUNT: Final = re.compile(r"(?:group of|groupe de|~|about|environ)\s*(\d{1,4})", re.IGNORECASE)
_ACK: Final = re.compile(
    r"\b(?:ACK|ACKNOWLEDGED|ROGER|WILCO|COPY|RECU|REÇU|BIEN\s+REÇU|OK)(?:\s+|\s*[:#-]\s*)"
    r"([A-Za-z0-9][A-Za-z0-9._:@-]{0,127})",
    re.IGNORECASE,
)
"""What a patrol types in GeoChat to acknowledge a task: ``ACK``, or the radio's ``ROGER``,
``WILCO``, ``COPY`` (``REÇU`` in French), then the task's 4-character code or its id."""
_UNIT_KIND: Final = re.compile(r"<__estran[^>]*\bunit_kind=['\"]([a-z_]+)['\"]")


def unit_id_for(uid: str) -> str:
    return "tak-" + _SAFE.sub("_", uid)[:120]


def _unit_kind(ev: CotEvent) -> str:
    declared = _UNIT_KIND.search(ev.detail_xml)
    if declared and declared.group(1) in (
        "foot_patrol",
        "dune_buggy",
        "four_by_four",
        "drone",
        "aircraft",
        "boat",
    ):
        return declared.group(1)
    t = ev.type
    if t.startswith("a-f-A") and "-Q" in t:  # unmanned aerial vehicles: a-f-A-M-F-Q, -H-Q
        return "drone"
    if t.startswith("a-f-A"):
        return "aircraft"
    if t.startswith(("a-f-S", "a-f-U")):
        return "boat"
    if t.startswith("a-f-G-E-V"):
        return "four_by_four"
    return "foot_patrol"


def _detection_class(ev: CotEvent) -> str:
    t = ev.type
    if t.startswith(("a-u-S", "a-h-S", "a-n-S")):
        return "boat"
    if "-G-E-V" in t:
        return "vehicle"
    if "-G-E" in t:
        return "equipment"
    return "group_of_people"


@dataclass
class TakBridgeState:
    """What the bridge remembers between messages: last written positions, known sensors."""

    default_agency: str = "FR-GN"
    min_move_s: float = 10.0
    min_move_m: float = 10.0
    last_written: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    sensors: set[str] = field(default_factory=set)


def _position(ev: CotEvent) -> dict[str, float]:
    error = ev.point.ce if 0 < ev.point.ce < 100_000 else 50.0
    return {"lat": ev.point.lat, "lon": ev.point.lon, "error_m": error}


def _moved_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    from math import cos, hypot, radians

    dy = (a[0] - b[0]) * 111_320.0
    dx = (a[1] - b[1]) * 111_320.0 * cos(radians(a[0]))
    return hypot(dx, dy)


def own_units(principal: Principal, client_uid: str | None) -> frozenset[str]:
    """The units a TAK client *is*: the one its own position reports make, and the unit its
    account or device is attached to. Only their tasks may it acknowledge."""
    units = set()
    if client_uid:
        units.add(unit_id_for(client_uid))
    if principal.attached_unit:
        units.add(principal.attached_unit)
    return frozenset(units)


def cot_to_commands(
    ev: CotEvent,
    picture: Picture,
    state: TakBridgeState,
    now_s: float,
    principal: Principal | None = None,
    units: frozenset[str] = frozenset(),
) -> list[CommandIn]:
    """The picture commands a CoT event implies (often none), for ``principal``: an
    unauthenticated source's are unclassified and marked unverified, with a low confidence."""
    if ev.is_control or ev.type.startswith("t-") or ev.uid.startswith("estran."):
        return []  # (a marker Estran drew, sent back by a phone, is not a new report)
    if ev.type == "b-t-f":
        return _chat(ev, picture, units)
    aff = ev.affiliation
    agency = state.default_agency
    if (
        principal is not None
        and principal.role not in (Role.ANONYMOUS, Role.SYSTEM)
        and picture.get("agency", principal.agency_id) is not None
    ):
        agency = principal.agency_id
    if aff == "f" and ev.contact is not None and ev.contact.callsign:
        out = _friendly(ev, picture, state, now_s, agency)
    elif aff in ("u", "h", "s", "j", "k"):
        out = _detection(ev, picture, state, agency)
    else:
        return []
    if principal is not None and principal.role == Role.ANONYMOUS:
        out = [_unverified(cmd, principal.nation) for cmd in out]
    return out


def _unverified(cmd: CommandIn, nation: str) -> CommandIn:
    """An unauthenticated source's command: unclassified, and a new record flagged unverified
    with a low confidence, so a screen shows it for what it is."""
    data = dict(cmd.data)
    if cmd.verb == "created" and cmd.kind in ("unit", "detection"):
        data["unverified"] = True
    if cmd.kind == "detection" and cmd.verb == "created":
        data["confidence"] = min(float(data.get("confidence", 0.5)), UNVERIFIED_CONFIDENCE)
    marking = Marking(classification=Classification.UNCLASSIFIED, releasable_to=[nation])
    return cmd.model_copy(
        update={"data": data, "marking": marking if cmd.verb == "created" else None}
    )


def _friendly(
    ev: CotEvent, picture: Picture, state: TakBridgeState, now_s: float, agency: str
) -> list[CommandIn]:
    uid = unit_id_for(ev.uid)
    where = (ev.point.lat, ev.point.lon)
    last = state.last_written.get(uid)
    if picture.get("unit", uid) is None and last is None:
        state.last_written[uid] = (*where, now_s)
        assert ev.contact is not None  # noqa: S101 (checked by the caller)
        return [
            CommandIn(
                type="unit.created",
                data={
                    "id": uid,
                    "callsign": (ev.contact.callsign or ev.uid)[:64],
                    "kind": _unit_kind(ev),
                    "agency_id": agency,
                    "position": _position(ev),
                },
            )
        ]
    if (
        last is not None
        and now_s - last[2] < state.min_move_s
        and _moved_m(where, last[:2]) < (state.min_move_m)
    ):
        return []
    state.last_written[uid] = (*where, now_s)
    return [CommandIn(type="unit.updated", entity_id=uid, data={"position": _position(ev)})]


def _detection(
    ev: CotEvent, picture: Picture, state: TakBridgeState, agency: str
) -> list[CommandIn]:
    parent = next((link.uid for link in ev.links if link.relation == "p-p" and link.uid), None)
    sensor_uid = parent or ev.uid.split(".")[0]
    sensor_id = "tak-sensor-" + _SAFE.sub("_", sensor_uid)[:100]
    commands: list[CommandIn] = []
    if sensor_id not in state.sensors and picture.get("sensor", sensor_id) is None:
        drone = any(link.type and link.type.startswith("a-f-A") for link in ev.links)
        commands.append(
            CommandIn(
                type="sensor.created",
                data={
                    "id": sensor_id,
                    "name": sensor_uid[:128],
                    "kind": "drone_thermal" if drone else "patrol_report",
                    "agency_id": agency,
                },
            )
        )
    state.sensors.add(sensor_id)
    data: dict[str, Any] = {
        "sensor_id": sensor_id,
        "position": _position(ev),
        "class": _detection_class(ev),
        "confidence": 0.6,
    }
    found = _COUNT.search(ev.remarks or "")
    if found:
        data["count"] = min(1000, int(found.group(1)))
    commands.append(CommandIn(type="detection.created", data=data))
    return commands


def ack_target(ev: CotEvent) -> str | None:
    """The task code or id a GeoChat acknowledgement (``ACK K7QF``) names, if it is one."""
    if ev.type != "b-t-f":
        return None
    found = _ACK.search(ev.remarks or "")
    return found.group(1) if found else None


def _chat(ev: CotEvent, picture: Picture, units: frozenset[str]) -> list[CommandIn]:
    """``ACK <code or id>`` acknowledges a task already sent to one of the sender's own
    units; anything else (a proposed task, another unit's task, a code two of its sent tasks
    share) changes nothing: only a commander sends a task, and only its unit acknowledges it."""
    named = ack_target(ev)
    if named is None:
        return []
    sent = [t for t in picture.all("task") if t["status"] == "sent" and t["unit_id"] in units]
    matches = [t for t in sent if t["id"] == named] or [
        t for t in sent if task_code(t["id"]) == named.upper()
    ]
    if len(matches) != 1:
        return []
    return [
        CommandIn(type="task.updated", entity_id=matches[0]["id"], data={"status": "acknowledged"})
    ]
