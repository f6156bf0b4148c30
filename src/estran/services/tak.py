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
- a GeoChat that says ``ACK <task id>`` acknowledges that task.

Outbound (``picture_to_cot``): incidents as markers (rescue first, in the callsign), tasks as
markers addressed by callsign with how to acknowledge them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

from estran.domain.events import CommandIn
from estran.protocols.cot.encode import build_event, detail_xml
from estran.services.background import cancel_and_wait

if TYPE_CHECKING:
    from estran.domain.picture import Picture
    from estran.protocols.cot.messages import CotEvent

__all__ = ["TakBridgeState", "TakGateway", "cot_to_commands", "picture_to_cot", "unit_id_for"]

log = logging.getLogger(__name__)

_SAFE: Final = re.compile(r"[^A-Za-z0-9._:@/-]")
_COUNT: Final = re.compile(r"(?:group of|groupe de|~|about|environ)\s*(\d{1,4})", re.IGNORECASE)
_ACK: Final = re.compile(r"\bACK\s+([A-Za-z0-9][A-Za-z0-9._:@/-]{0,127})", re.IGNORECASE)
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


def cot_to_commands(
    ev: CotEvent, picture: Picture, state: TakBridgeState, now_s: float
) -> list[CommandIn]:
    """The picture commands a CoT event implies (often none)."""
    if ev.is_control or ev.type.startswith("t-"):
        return []
    if ev.type == "b-t-f":
        return _chat(ev, picture)
    aff = ev.affiliation
    if aff == "f" and ev.contact is not None and ev.contact.callsign:
        return _friendly(ev, picture, state, now_s)
    if aff in ("u", "h", "s", "j", "k"):
        return _detection(ev, picture, state)
    return []


def _friendly(
    ev: CotEvent, picture: Picture, state: TakBridgeState, now_s: float
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
                    "agency_id": state.default_agency,
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


def _detection(ev: CotEvent, picture: Picture, state: TakBridgeState) -> list[CommandIn]:
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
                    "agency_id": state.default_agency,
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


def _chat(ev: CotEvent, picture: Picture) -> list[CommandIn]:
    found = _ACK.search(ev.remarks or "")
    if not found:
        return []
    task = picture.get("task", found.group(1))
    if task is None or task["status"] not in ("sent", "proposed"):
        return []
    out = []
    if task["status"] == "proposed":
        out.append(CommandIn(type="task.updated", entity_id=task["id"], data={"status": "sent"}))
    out.append(
        CommandIn(type="task.updated", entity_id=task["id"], data={"status": "acknowledged"})
    )
    return out


_INCIDENT_TYPES: Final = {
    "persons_in_water": "a-u-S",
    "boat_at_sea": "a-u-S",
    "boat_launched": "a-u-S",
}


def _thermal_detection(entity_id: str, picture: Picture, now_ms: int) -> CotEvent | None:
    """A drone's thermal detection as an unknown ground point (``a-u-G``) linked to the drone,
    with the count and class, never an identity; other sensors' detections stay in Estran."""
    rec = picture.get("detection", entity_id)
    if rec is None:
        return None
    sensor = picture.get("sensor", rec["sensor_id"]) or {}
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


def _accepted_post(entity_id: str, picture: Picture, now_ms: int) -> CotEvent | None:
    """An accepted post of tonight's plan, as a spot map marker for the unit's TAK screen (a
    withdrawn one goes stale at once); proposals stay in Estran until the commander accepts."""
    post = picture.get("post", entity_id)
    if post is None or post["status"] not in ("accepted", "withdrawn"):
        return None
    unit = picture.get("unit", post["unit_id"]) or {}
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


def picture_to_cot(kind: str, entity_id: str, picture: Picture, now_ms: int) -> CotEvent | None:
    """The CoT a committed picture change sends to TAK clients, if any."""
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
        return _thermal_detection(entity_id, picture, now_ms)
    if kind == "post":
        return _accepted_post(entity_id, picture, now_ms)
    if kind == "task":
        task = picture.get("task", entity_id)
        if task is None:
            return None
        unit = picture.get("unit", task["unit_id"]) or {}
        incident = picture.get("incident", task["incident_id"]) or {}
        pos = incident.get("position") or unit.get("position") or {"lat": 0.0, "lon": 0.0}
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


class TakGateway:
    """Wires a CoT server to the picture: ingest through the ledger, egress from the hub."""

    def __init__(
        self,
        server: Any,
        ledger: Any,
        picture: Picture,
        hub: Any,
        *,
        default_agency: str,
        now_s: Any,
        queue_size: int = 10_000,
        access: Any = None,
        principal_for: Any = None,
    ) -> None:
        self.server = server
        self.ledger = ledger
        self.picture = picture
        self.hub = hub
        self.now_s = now_s
        self.state = TakBridgeState(default_agency=default_agency)
        self._queue: asyncio.Queue[tuple[str, list[CommandIn]]] = asyncio.Queue(queue_size)
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.refused = 0
        self.access = access
        server.ingest = self.ingest
        server.welcome = self.welcome
        server.principal_for = principal_for

    def _viewer(self, checks: dict[Any, Any]) -> Any:
        """``(client, record) -> bool``: the policy for each client's principal, its clock and
        scope read once per principal in ``checks`` (one batch), not once per client and
        record. A client with no principal gets nothing from the picture (peer-to-peer relay
        between TAK clients is not Estran's records)."""

        def sees(client: Any, record: dict[str, Any]) -> bool:
            if self.access is None:
                return True
            principal = getattr(client, "principal", None)
            if principal is None:
                return False
            keep = checks.get(principal)
            if keep is None:
                keep = checks[principal] = self.access.predicate(principal)
            return bool(keep(record))

        return sees

    def welcome(self, client: Any = None) -> list[CotEvent]:
        """The open incidents, accepted posts and live tasks the client may see, as it
        connects."""
        now_ms = int(self.now_s() * 1000)
        sees = self._viewer({})
        out = []
        for rec in self.picture.records["incident"].values():
            if rec["status"] != "closed" and sees(client, rec):
                ev = picture_to_cot("incident", rec["id"], self.picture, now_ms)
                if ev is not None:
                    out.append(ev)
        for rec in self.picture.records["post"].values():
            if rec["status"] == "accepted" and sees(client, rec):
                ev = picture_to_cot("post", rec["id"], self.picture, now_ms)
                if ev is not None:
                    out.append(ev)
        for rec in self.picture.records["task"].values():
            if rec["status"] not in ("done", "failed", "cancelled", "replaced") and sees(
                client, rec
            ):
                ev = picture_to_cot("task", rec["id"], self.picture, now_ms)
                if ev is not None:
                    out.append(ev)
        return out

    async def ingest(self, ev: CotEvent, client: Any) -> None:
        commands = cot_to_commands(ev, self.picture, self.state, self.now_s())
        if commands:
            actor = f"tak:{(client.callsign or client.peer)}"[:128]
            await self._queue.put((actor, commands))  # full: back-pressure on that client

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="tak-ingest"),
            asyncio.create_task(self._egress_loop(), name="tak-egress"),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            results = await asyncio.gather(
                *(self.ledger.submit(cmds, actor=actor, source="cot") for actor, cmds in batch),
                return_exceptions=True,
            )
            for (actor, _), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    self.refused += 1
                    log.warning("CoT from %s not recorded: %s", actor, result)
                else:
                    self.written += len(result)

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
                sees = self._viewer({})  # one policy check per principal for this batch
                for _, frame in frames:
                    body = orjson.loads(frame)
                    record = self.picture.get(body["kind"], body["entity_id"])
                    ev = picture_to_cot(
                        body["kind"], body["entity_id"], self.picture, int(self.now_s() * 1000)
                    )
                    if ev is not None and record is not None:
                        self.server.broadcast(ev, lambda c, r=record, s=sees: s(c, r))
        finally:
            self.hub.unsubscribe(sub)
