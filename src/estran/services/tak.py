"""CoT <-> the picture: what TAK clients send becomes units and detections; what changes in the
picture (incidents, tasks, rescue cases) goes out to them as CoT.

Inbound (``cot_to_commands``), pure:

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

Every write is made *as the client's principal* (``TakGateway`` submits through the ledger, so
the policy decides it exactly as for REST) and audited: an account named by the client
certificate, a field device (a certificate naming no account), or the anonymous principal of
plain TCP/UDP, whose writes are unclassified, marked unverified with a low confidence, and may
never change a record an authenticated source wrote.

Outbound (``picture_to_cot``): incidents as markers (rescue first, in the callsign), tasks as
markers addressed by callsign with how to acknowledge them, each rendered for the receiving
principal: a field pointing at a record it may not see (a task's unit callsign, its incident's
position) is left out. The relay between TAK clients is filtered per receiver by the same
policy (``RelayFilter``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from estran.domain.errors import EstranError, PermissionDeniedError
from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking
from estran.domain.policy import Principal, Role
from estran.protocols.cot.encode import build_event, detail_xml
from estran.services.background import cancel_and_wait

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from estran.domain.picture import Picture
    from estran.ports import CotTransport
    from estran.protocols.cot.messages import CotEvent
    from estran.services.access import Access
    from estran.services.audit import AuditTrail
    from estran.services.hub import Hub
    from estran.services.ledger import Ledger

__all__ = [
    "ANONYMOUS_AGENCY",
    "RelayFilter",
    "TakBridgeState",
    "TakGateway",
    "anonymous_principal",
    "cot_to_commands",
    "own_units",
    "picture_to_cot",
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


log = logging.getLogger(__name__)

_SAFE: Final = re.compile(r"[^A-Za-z0-9._:@-]")
_COUNT: Final = re.compile(r"(?:group of|groupe de|~|about|environ)\s*(\d{1,4})", re.IGNORECASE)
_ACK: Final = re.compile(r"\bACK\s+([A-Za-z0-9][A-Za-z0-9._:@-]{0,127})", re.IGNORECASE)
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
    if ev.is_control or ev.type.startswith("t-"):
        return []
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
    """The task id a GeoChat ``ACK <task id>`` names, if it is one."""
    if ev.type != "b-t-f":
        return None
    found = _ACK.search(ev.remarks or "")
    return found.group(1) if found else None


def _chat(ev: CotEvent, picture: Picture, units: frozenset[str]) -> list[CommandIn]:
    """``ACK <task id>`` acknowledges a task already sent to one of the sender's own units;
    anything else (a proposed task, another unit's task) changes nothing: only a commander
    sends a task, and only its unit acknowledges it."""
    task_id = ack_target(ev)
    if task_id is None:
        return []
    task = picture.get("task", task_id)
    if task is None or task["status"] != "sent" or task["unit_id"] not in units:
        return []
    return [CommandIn(type="task.updated", entity_id=task["id"], data={"status": "acknowledged"})]


_INCIDENT_TYPES: Final = {
    "persons_in_water": "a-u-S",
    "boat_at_sea": "a-u-S",
    "boat_launched": "a-u-S",
}


def _visible(
    picture: Picture, kind: str, entity_id: str | None, sees: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The record if the receiver may see it; an empty one (nothing of it) otherwise."""
    rec = picture.get(kind, entity_id) if entity_id else None
    return rec if rec is not None and sees(rec) else {}


def _everyone(_record: dict[str, Any]) -> bool:
    return True


def _thermal_detection(
    entity_id: str, picture: Picture, now_ms: int, sees: Callable[[dict[str, Any]], bool]
) -> CotEvent | None:
    """A drone's thermal detection as an unknown ground point (``a-u-G``) linked to the drone,
    with the count and class, never an identity; other sensors' detections stay in Estran."""
    rec = picture.get("detection", entity_id)
    if rec is None:
        return None
    sensor = _visible(picture, "sensor", rec["sensor_id"], sees)
    if sensor.get("kind") != "drone_thermal":
        return None
    pos = rec["position"]
    what = rec["class"].replace("_", " ")
    count = f" ({rec['count']} people)" if rec.get("count") else ""
    source = sensor.get("unit_id") or rec["sensor_id"]
    return build_event(
        uid=f"estran.detection.{rec['id']}",
        type="a-u-G",
        now_ms=now_ms,
        stale_s=600.0,
        lat=pos["lat"],
        lon=pos["lon"],
        ce=pos.get("error_m", 50.0),
        detail=detail_xml(
            callsign=f"THERMAL {what.upper()}{count}",
            remarks=f"{what}{count}, seen by {sensor.get('name', rec['sensor_id'])} "
            f"(thermal), confidence {round(100 * rec.get('confidence', 0.5))} %",
            links=[{"uid": source, "relation": "p-p"}],
            extra=f'<__estran detection="{rec["id"]}" sensor="{rec["sensor_id"]}"/>',
        ),
    )


def _accepted_post(
    entity_id: str, picture: Picture, now_ms: int, sees: Callable[[dict[str, Any]], bool]
) -> CotEvent | None:
    """An accepted post of tonight's plan, as a spot map marker for the unit's TAK screen (a
    withdrawn one goes stale at once); proposals stay in Estran until the commander accepts."""
    post = picture.get("post", entity_id)
    if post is None or post["status"] not in ("accepted", "withdrawn"):
        return None
    unit = _visible(picture, "unit", post["unit_id"], sees)
    callsign = unit.get("callsign", post["unit_id"])
    pos = post["position"]
    live = post["status"] == "accepted"
    remarks = (
        f"Tonight's post for {callsign} ({post['plan_id']}): {post.get('why', '')}"
        if live
        else f"Post for {callsign} withdrawn"
    )
    return build_event(
        uid=f"estran.post.{post['id']}",
        type="b-m-p-s-m",
        now_ms=now_ms,
        stale_s=12 * 3600.0 if live else 1.0,
        lat=pos["lat"],
        lon=pos["lon"],
        detail=detail_xml(
            callsign=f"POST {callsign}",
            remarks=remarks,
            extra=f'<__estran post="{post["id"]}" unit="{post["unit_id"]}" '
            f'status="{post["status"]}"/>',
        ),
    )


def picture_to_cot(
    kind: str,
    entity_id: str,
    picture: Picture,
    now_ms: int,
    sees: Callable[[dict[str, Any]], bool] = _everyone,
) -> CotEvent | None:
    """The CoT a committed picture change sends to TAK clients, if any, as the receiver who
    ``sees`` may have it: a field drawn from another record (a task's unit callsign, its
    incident's position, a detection's sensor name) only where that record is visible too.
    The caller has checked the record itself."""
    if kind == "incident":
        rec = picture.get("incident", entity_id)
        if rec is None:
            return None
        rescue = bool(rec.get("life_at_sea"))
        label = ("RESCUE " if rescue else "") + rec["type"].replace("_", " ").upper()
        pos = rec["position"]
        stale = 60.0 if rec["status"] == "closed" else 6 * 3600.0
        remarks = f"{label} [{rec['impact']}] {rec.get('summary') or ''}".strip()
        if rec.get("count"):
            remarks += f" ({rec['count']} people)"
        return build_event(
            uid=f"estran.incident.{rec['id']}",
            type=_INCIDENT_TYPES.get(rec["type"], "a-h-G"),
            now_ms=now_ms,
            stale_s=stale,
            lat=pos["lat"],
            lon=pos["lon"],
            ce=pos.get("error_m", 50.0),
            detail=detail_xml(
                callsign=f"{label} {rec['id'][-6:]}",
                remarks=remarks,
                extra=f'<__estran incident="{rec["id"]}" status="{rec["status"]}"/>',
            ),
        )
    if kind == "detection":
        return _thermal_detection(entity_id, picture, now_ms, sees)
    if kind == "post":
        return _accepted_post(entity_id, picture, now_ms, sees)
    if kind == "task":
        task = picture.get("task", entity_id)
        if task is None:
            return None
        unit = _visible(picture, "unit", task["unit_id"], sees)
        incident = _visible(picture, "incident", task["incident_id"], sees)
        pos = incident.get("position") or unit.get("position")
        if pos is None:
            return None  # no place the receiver may know: the task is not drawn on its map
        callsign = unit.get("callsign", task["unit_id"])
        remarks = (
            f"TASK {task['id']} for {callsign} [{task['status']}]: {task.get('instructions', '')}"
            f" Reply in chat: ACK {task['id']}"
        )
        return build_event(
            uid=f"estran.task.{task['id']}",
            type="b-m-p-s-m",
            now_ms=now_ms,
            stale_s=3600.0,
            lat=pos["lat"],
            lon=pos["lon"],
            detail=detail_xml(
                callsign=f"TASK {callsign}",
                remarks=remarks,
                links=[{"uid": f"estran.incident.{task['incident_id']}", "relation": "p-p"}],
                extra=f'<__estran task="{task["id"]}" unit="{task["unit_id"]}" '
                f'status="{task["status"]}"/>',
            ),
        )
    return None


class RelayFilter:
    """Which TAK clients may receive what another client sends: positions and chat relayed
    between clients are picture data, filtered per receiving principal by the same policy as
    the picture's own CoT (``Access``).

    What a client sends is judged as its unit's record would be: the unit's own marking where
    the picture holds it (so a release widens it), else the marking the policy gives a new
    record of the sender (its nation's default releasability; unclassified and the host
    nation only for an anonymous sender). Decisions are cached per (sender, receiver) for one
    second, so an observer's expiry and a release take effect within a second.
    """

    def __init__(
        self,
        access: Access,
        picture: Picture,
        default_marking: Marking,
        anonymous: Principal,
        now_s: Callable[[], float],
    ) -> None:
        self.access = access
        self.picture = picture
        self.default_marking = default_marking
        self.anonymous = anonymous
        self.now_s = now_s
        self._epoch = -1
        self._cache: dict[tuple[Any, ...], bool] = {}
        self._predicates: dict[Principal, Callable[[dict[str, Any]], bool]] = {}

    def record_of(self, principal: Principal, uid: str | None) -> dict[str, Any]:
        unit_id = unit_id_for(uid) if uid else None
        if principal.role != Role.ANONYMOUS and unit_id is not None:
            unit = self.picture.get("unit", unit_id)
            if unit is not None:
                return unit
        if principal.role == Role.ANONYMOUS:
            marking = Marking(
                classification=Classification.UNCLASSIFIED, releasable_to=[principal.nation]
            )
        else:
            releasable = self.access.policy.releasable_default(principal.nation)
            marking = self.default_marking.model_copy(update={"releasable_to": releasable})
        body = marking.as_event()
        body["originator_agency"] = principal.agency_id
        body["originator_nation"] = principal.nation
        return {"entity": "unit", "id": unit_id or "", "marking": body}

    def _predicate(self, who: Principal) -> Callable[[dict[str, Any]], bool]:
        keep = self._predicates.get(who)
        if keep is None:
            keep = self._predicates[who] = self.access.predicate(who)
        return keep

    def allows(self, sender: Any, receiver: Any) -> bool:
        to = getattr(receiver, "principal", None)
        if to is None:
            return False
        epoch = int(self.now_s())
        if epoch != self._epoch:
            self._epoch, self._cache, self._predicates = epoch, {}, {}
        uid = getattr(sender, "uid", None)
        # Keyed by the client objects themselves (hashed by identity: cheap), their principals
        # being re-read each second when the cache is emptied.
        key = (sender, uid, receiver)
        found = self._cache.get(key)
        if found is None:
            frm = getattr(sender, "principal", None) or self.anonymous
            found = self._cache[key] = bool(self._predicate(to)(self.record_of(frm, uid)))
        return found


class TakGateway:
    """Wires a CoT server to the picture: ingest through the ledger *as each client's
    principal*, audited; egress from the hub and the relay between clients, each filtered and
    rendered per receiving principal."""

    def __init__(
        self,
        server: CotTransport,
        ledger: Ledger,
        picture: Picture,
        hub: Hub,
        *,
        default_agency: str,
        now_s: Callable[[], float],
        queue_size: int = 10_000,
        access: Access | None = None,
        principal_for: Callable[[str | None], Principal | None] | None = None,
        audit: AuditTrail | None = None,
        default_marking: Marking | None = None,
        recheck_s: float = 2.0,
    ) -> None:
        self.server = server
        self.ledger = ledger
        self.picture = picture
        self.hub = hub
        self.now_s = now_s
        self.audit = audit
        self.recheck_s = recheck_s
        self.state = TakBridgeState(default_agency=default_agency)
        self._queue: asyncio.Queue[tuple[str, Principal, list[CommandIn]]] = asyncio.Queue(
            queue_size
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.refused = 0
        self.access = access
        host = access.policy.host_nation if access is not None else "FR"
        self.anonymous = anonymous_principal(host)
        server.ingest = self.ingest
        server.welcome = self.welcome
        server.principal_for = principal_for
        server.anonymous = self.anonymous
        self.relay_filter: RelayFilter | None = None
        if access is not None:
            self.relay_filter = RelayFilter(
                access, picture, default_marking or Marking(), self.anonymous, now_s
            )
            server.relay_allows = self.relay_filter.allows

    def _viewer(self, checks: dict[Any, Any]) -> Callable[[Any], Callable[[dict[str, Any]], bool]]:
        """``client -> (record -> bool)``: the policy for each client's principal, its clock and
        scope read once per principal in ``checks`` (one batch), not once per client and
        record. A client with no principal gets nothing from the picture."""

        def for_client(client: Any) -> Callable[[dict[str, Any]], bool]:
            if self.access is None:
                return _everyone
            principal = getattr(client, "principal", None)
            if principal is None:
                return _nothing
            keep = checks.get(principal)
            if keep is None:
                keep = checks[principal] = self.access.predicate(principal)
            return keep  # type: ignore[no-any-return]

        return for_client

    def _render(
        self, kind: str, entity_id: str, clients: list[Any], viewer: Any, now_ms: int
    ) -> list[tuple[Any, CotEvent]]:
        """The event for each client that may see the record, rendered once per principal."""
        record = self.picture.get(kind, entity_id)
        if record is None:
            return []
        rendered: dict[Any, CotEvent | None] = {}
        out = []
        for client in clients:
            key = getattr(client, "principal", None)
            if key not in rendered:
                sees = viewer(client)
                rendered[key] = (
                    picture_to_cot(kind, entity_id, self.picture, now_ms, sees)
                    if sees(record)
                    else None
                )
            ev = rendered[key]
            if ev is not None:
                out.append((client, ev))
        return out

    def welcome(self, client: Any = None) -> list[CotEvent]:
        """The open incidents, accepted posts and live tasks the client may see, as it
        connects."""
        now_ms = int(self.now_s() * 1000)
        viewer = self._viewer({})
        ids: list[tuple[str, str]] = []
        for rec in self.picture.all("incident"):
            if rec["status"] != "closed":
                ids.append(("incident", rec["id"]))
        for rec in self.picture.all("post"):
            if rec["status"] == "accepted":
                ids.append(("post", rec["id"]))
        for rec in self.picture.all("task"):
            if rec["status"] not in ("done", "failed", "cancelled", "replaced"):
                ids.append(("task", rec["id"]))
        return [
            ev for kind, rid in ids for _, ev in self._render(kind, rid, [client], viewer, now_ms)
        ]

    async def ingest(self, ev: CotEvent, client: Any) -> None:
        principal: Principal = getattr(client, "principal", None) or self.anonymous
        units = own_units(principal, getattr(client, "uid", None))
        if principal.role == Role.DEVICE and units:
            # A field device is the unit its position reports make: its reports are its own.
            own = unit_id_for(client.uid) if getattr(client, "uid", None) else None
            principal = dataclasses.replace(principal, attached_unit=own or principal.attached_unit)
        commands = cot_to_commands(ev, self.picture, self.state, self.now_s(), principal, units)
        label = f"{principal.id} via tak:{(client.callsign or client.peer)}"[:128]
        if commands:
            await self._queue.put((label, principal, commands))  # full: back-pressure
        elif ack_target(ev) is not None:
            await self._audit_refusal(
                label, principal, "report", f"task/{ack_target(ev)}", "ack",
                "an acknowledgement names a task not sent to this client's unit",
            )  # fmt: skip

    async def _audit_refusal(
        self, label: str, principal: Principal, action: str, target: str | None, rule: str,
        reason: str,
    ) -> None:  # fmt: skip
        if self.audit is None:
            return
        try:
            await self.audit.record(
                self.audit.row(
                    principal.id, action, target=target, allowed=False, rule=rule,
                    reason=reason, details={"source": "cot", "client": label},
                )
            )  # fmt: skip
        except Exception:  # the audit store failing is logged; the refusal stands
            log.exception("CoT refusal from %s could not be audited", label)

    def loops(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        """The gateway's background loops, for the supervised runtime to run and restart."""
        out: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "tak-ingest": self._write_loop,
            "tak-egress": self._egress_loop,
        }
        if self.recheck_s > 0 and getattr(self.server, "principal_for", None) is not None:
            out["tak-recheck"] = self._recheck_loop
        return out

    async def start(self) -> None:
        """Run the loops unsupervised (tools and tests; the server supervises them)."""
        self._tasks = [asyncio.create_task(run(), name=name) for name, run in self.loops().items()]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _recheck_loop(self) -> None:
        """Every ``recheck_s``: a client whose certificate names an account that has since been
        disabled, locked or has expired is disconnected (and refused at its next connect)."""
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self.server.recheck()
            except Exception:
                log.exception("TAK clients' accounts could not be re-checked")

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            results = await asyncio.gather(
                *(
                    self.ledger.submit(cmds, actor=label, source="cot", principal=principal)
                    for label, principal, cmds in batch
                ),
                return_exceptions=True,
            )
            rows = []
            for (label, principal, _cmds), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    self.refused += 1
                    log.warning("CoT from %s not recorded: %s", label, result)
                    if isinstance(result, PermissionDeniedError) and self.audit is not None:
                        rows.append(
                            self.audit.row(
                                principal.id, result.action or "write", target=result.target,
                                allowed=False, rule=result.rule or "denied",
                                reason=result.message, details={"source": "cot", "client": label},
                            )
                        )  # fmt: skip
                    elif not isinstance(result, EstranError):
                        log.error("CoT write failed unexpectedly", exc_info=result)
                    continue
                self.written += len(result)  # audited by the ledger, in the same transaction
            if rows and self.audit is not None:
                try:
                    await self.audit.record(*rows)
                except Exception:
                    log.exception("CoT writes could not be audited")

    async def _egress_loop(self) -> None:
        sub = self.hub.subscribe(
            100_000,
            256 * 1024 * 1024,
            accepts=lambda e: (
                e.kind in ("incident", "task", "post")
                or (e.kind == "detection" and e.type == "detection.created")
            ),
        )
        try:
            while True:
                frames = await sub.take()
                viewer = self._viewer({})  # one policy check per principal for this batch
                clients = list(self.server.clients)
                now_ms = int(self.now_s() * 1000)
                for _, frame in frames:
                    body = orjson.loads(frame)
                    for client, ev in self._render(
                        body["kind"], body["entity_id"], clients, viewer, now_ms
                    ):
                        self.server.send_to(client, ev)
        finally:
            self.hub.unsubscribe(sub)


def _nothing(_record: dict[str, Any]) -> bool:
    return False
