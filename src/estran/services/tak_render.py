"""The picture out to TAK clients (pure): each committed change as the CoT a receiver may
have. Units that are not TAK clients themselves (patrols reported over the API, simulated
ones, drones), incidents as markers (rescue first, in the callsign), tasks as markers addressed by
callsign with how to acknowledge them, accepted posts, drones' thermal detections; a field
drawn from another record (a task's unit callsign, its incident's position, a detection's
sensor name) only where the receiver may see that record too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from estran.domain.vocab import task_code
from estran.protocols.cot.encode import build_event, detail_xml

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.domain.picture import Picture
    from estran.protocols.cot.messages import CotEvent

__all__ = ["UNIT_UID_PREFIX", "drawn_on_phones", "everyone", "picture_to_cot"]

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


def everyone(_record: dict[str, Any]) -> bool:
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


_UNIT_TYPES: Final = {
    "foot_patrol": "a-f-G-U-C-I",
    "dune_buggy": "a-f-G-E-V",
    "four_by_four": "a-f-G-E-V",
    "drone": "a-f-A-M-F-Q",
    "aircraft": "a-f-A",
    "boat": "a-f-S",
}
UNIT_UID_PREFIX: Final = "estran.unit."
"""The uid of a unit Estran draws on phones; what comes back with it is not a new unit."""


def drawn_on_phones(kind: str, record: dict[str, Any]) -> bool:
    """False for a record that is never drawn on phones whoever receives it (checked before
    any per-receiver work): a TAK client's own unit, a unit with no position."""
    return kind != "unit" or (record.get("source") != "cot" and bool(record.get("position")))


def _unit(entity_id: str, picture: Picture, now_ms: int) -> CotEvent | None:
    """A unit that is not itself a TAK client (a patrol reported over the API, a simulated
    one, a drone): its position for the phones that may see it. A TAK client's own position
    already reaches the others by the relay, so it is not drawn twice."""
    rec = picture.get("unit", entity_id)
    if rec is None or not drawn_on_phones("unit", rec):
        return None
    pos = rec["position"]
    off = rec.get("status") == "off_duty"
    return build_event(
        uid=f"{UNIT_UID_PREFIX}{rec['id']}",
        type=_UNIT_TYPES.get(rec.get("kind", ""), "a-f-G"),
        now_ms=now_ms,
        stale_s=5.0 if off else 300.0,
        lat=pos["lat"],
        lon=pos["lon"],
        ce=pos.get("error_m", 10.0),
        detail=detail_xml(
            callsign=rec.get("callsign", rec["id"]),
            remarks=f"{rec.get('kind', 'unit').replace('_', ' ')} · {rec.get('agency_id', '')} · "
            f"{rec.get('status', '').replace('_', ' ')}",
            extra=f'<__estran unit="{rec["id"]}" status="{rec.get("status", "")}"/>',
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
    sees: Callable[[dict[str, Any]], bool] = everyone,
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
    if kind == "unit":
        return _unit(entity_id, picture, now_ms)
    if kind == "detection":
        return _thermal_detection(entity_id, picture, now_ms, sees)
    if kind == "post":
        return _accepted_post(entity_id, picture, now_ms, sees)
    if kind == "task":
        task = picture.get("task", entity_id)
        if task is None or task["status"] == "proposed":
            return None  # only a task a commander sent goes to phones
        unit = _visible(picture, "unit", task["unit_id"], sees)
        incident = _visible(picture, "incident", task["incident_id"], sees)
        pos = incident.get("position") or unit.get("position")
        if pos is None:
            return None  # no place the receiver may know: the task is not drawn on its map
        callsign = unit.get("callsign", task["unit_id"])
        code = task_code(task["id"])
        remarks = (
            f"TASK {code} for {callsign} [{task['status']}]: {task.get('instructions', '')}"
            f" Reply in chat / répondre : ACK {code}"
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
                extra=f'<__estran task="{task["id"]}" code="{code}" unit="{task["unit_id"]}" '
                f'status="{task["status"]}"/>',
            ),
        )
    return None
