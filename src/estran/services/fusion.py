"""Live fusion: every committed detection goes through the tracker, and what it concludes
(tracks, links, incidents) is written back through the ledger as ``system:fusion``.

A detection already linked to an incident (an operator's, or the demo's) links that incident to
its track; later reports of the same group extend the same incident instead of making new ones.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from estran.domain.events import CommandIn
from estran.domain.fusion import (
    SCENE_RADIUS_M,
    SCENE_WINDOW_S,
    IncidentRule,
    LocalPlane,
    Tracker,
    TrackState,
    scene_assessment,
)
from estran.domain.timefmt import parse_stamp
from estran.domain.vocab import LIFE_AT_SEA_INCIDENTS

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from estran.domain.events import Event
    from estran.domain.fusion import FusionUpdate
    from estran.domain.picture import Picture

__all__ = ["FusionService"]

log = logging.getLogger(__name__)

_LIFE_AT_SEA_OWNER = "FR-CROSS-GN"
_BOATS = frozenset({"boat", "equipment"})


class FusionService:
    """Fusion as a reactor of the supervised runtime (``services/runtime``): each committed
    detection through the tracker (``react``), tracks aged every ``age_every_s`` (``tick``),
    on the event loop against the live picture (the tracker's state is this reactor's own)."""

    name = "fusion"
    actor = "system:fusion"
    source = "fusion"
    critical = False
    off_loop = False

    def __init__(
        self,
        picture: Picture,
        *,
        place_of: Callable[[float, float], str],
        new_id: Callable[[], str],
        owner_agency: str,
        age_every_s: float = 30.0,
    ) -> None:
        self.picture = picture
        self.owner_agency = owner_agency
        self.tick_every_s = age_every_s
        self.tracker = Tracker(LocalPlane(50.95, 1.95), place_of=place_of, new_id=new_id)
        self.processed = 0

    def accepts(self, event: Event) -> bool:
        return event.type == "detection.created"

    def react(self, event: Event, view: Picture, now: datetime) -> list[CommandIn]:
        self.processed += 1
        return self.commands_for(event.entity_id)

    def on_start(self, view: Picture, now: datetime) -> list[CommandIn]:
        return []

    def tick(self, view: Picture, now: datetime) -> list[CommandIn]:
        changed = self.tracker.age(now.timestamp())
        return [
            CommandIn(type="track.updated", entity_id=t.id, data={"status": t.status})
            for t in changed
            if view.get("track", t.id) is not None
        ]

    def commands_for(self, det_id: str) -> list[CommandIn]:
        det = self.picture.get("detection", det_id)
        if det is None or det.get("track_id"):
            return []
        pos = det["position"]
        when = parse_stamp(det["observed_at"]).timestamp()
        upd = self.tracker.add(
            det_id,
            det["class"],
            pos["lat"],
            pos["lon"],
            float(pos.get("error_m", 25.0)),
            when,
            det.get("count"),
        )
        return self._conclusions(det_id, upd)

    def _conclusions(self, det_id: str, upd: FusionUpdate) -> list[CommandIn]:
        t = upd.track
        lat, lon = self.tracker.plane.to_latlon(float(t.x[0]), float(t.x[1]))
        major, minor, angle = t.ellipse()
        position = {"lat": round(lat, 7), "lon": round(lon, 7), "error_m": round(major, 1)}
        ellipse = {
            "semi_major_m": round(major, 1),
            "semi_minor_m": round(minor, 1),
            "orientation_deg": round(angle, 1) % 180.0,
        }
        detections = [d for d in t.detections if self.picture.get("detection", d) is not None]
        body: dict[str, Any] = {
            "position": position,
            "ellipse": ellipse,
            "speed_mps": round(min(t.speed_mps, 399.0), 2),
            "heading_deg": round(t.heading_deg, 1) % 360.0,
            "detection_ids": detections,
        }
        if t.count is not None:
            body["count"] = t.count
        commands: list[CommandIn] = []
        if self.picture.get("track", t.id) is None:
            commands.append(
                CommandIn(type="track.created", data={"id": t.id, "class": t.cls, **body})
            )
        else:
            commands.append(CommandIn(type="track.updated", entity_id=t.id, data=body))
        for gone in upd.merged:
            rec = self.picture.get("track", gone)
            if rec is not None and rec["status"] != "closed":
                commands.append(
                    CommandIn(type="track.updated", entity_id=gone, data={"status": "closed"})
                )
        commands.append(
            CommandIn(type="detection.updated", entity_id=det_id, data={"track_id": t.id})
        )
        linked = t.incident_id or self._incident_citing(det_id)
        verified = self._verified(detections)
        when_s = t.last_s
        if linked is None and upd.incident is not None and verified:
            # Another group, or the boat, of a scene already open: the same incident.
            linked = self._scene_of(lat, lon, upd.incident.incident_type, when_s)
        if linked is not None and self.picture.get("incident", linked) is not None:
            t.incident_id = linked
            inc = self.picture.get("incident", linked) or {}
            if inc.get("status") != "closed":
                commands.append(
                    CommandIn(type="incident.updated", entity_id=linked,
                              data=self._scene_patch(inc, t, det_id, position, upd.incident))
                )  # fmt: skip
        elif upd.incident is not None and verified:
            rule = upd.incident
            inc_id = f"inc-{t.id}"
            t.incident_id = inc_id
            life_at_sea = rule.incident_type in ("boat_at_sea", "persons_in_water")
            people = t.count or 0 if t.cls == "group_of_people" else 0
            kind, impact = scene_assessment(rule.incident_type, rule.impact, None, people,
                                            t.cls in _BOATS)  # fmt: skip
            data: dict[str, Any] = {
                "id": inc_id,
                "type": kind,
                "impact": impact,
                "confidence": rule.confidence,
                "owner_agency_id": _LIFE_AT_SEA_OWNER if life_at_sea else self.owner_agency,
                "position": position,
                "summary": f"from {len(detections)} report(s), fused",
                "detection_ids": detections,
                "track_ids": [t.id],
            }
            if t.count is not None:
                data["count"] = t.count
            commands.append(CommandIn(type="incident.created", data=data))
        return commands

    def _scene_of(self, lat: float, lon: float, incident_type: str, when_s: float) -> str | None:
        """The open incident whose scene a new track falls in (fusion's own, within
        ``SCENE_RADIUS_M``, updated within ``SCENE_WINDOW_S``, ashore or at sea alike)."""
        at_sea = incident_type in LIFE_AT_SEA_INCIDENTS
        x, y = self.tracker.plane.to_xy(lat, lon)
        best: tuple[float, str] | None = None
        for inc in self.picture.all("incident"):
            if inc["status"] == "closed" or not inc.get("track_ids"):
                continue
            if bool(inc.get("life_at_sea")) != at_sea:
                continue
            if when_s - parse_stamp(inc["updated_at"]).timestamp() > SCENE_WINDOW_S:
                continue
            ix, iy = self.tracker.plane.to_xy(inc["position"]["lat"], inc["position"]["lon"])
            d = math.hypot(ix - x, iy - y)
            if d <= SCENE_RADIUS_M and (best is None or d < best[0]):
                best = (d, str(inc["id"]))
        return None if best is None else best[1]

    def _scene_patch(
        self,
        inc: dict[str, Any],
        t: TrackState,
        det_id: str,
        position: dict[str, Any],
        rule: IncidentRule | None,
    ) -> dict[str, Any]:
        """An incident's scene after ``t`` reported: its reports and tracks, the people of its
        groups together, and its type and impact graver where the scene is."""
        track_ids = sorted(set(inc.get("track_ids", [])) | {t.id})
        people, boat = 0, False
        for tid in track_ids:
            rec = {"class": t.cls, "count": t.count} if tid == t.id else self.picture.get(
                "track", tid) or {}  # fmt: skip
            if rec.get("class") == "group_of_people":
                people += int(rec.get("count") or 0)
            boat = boat or rec.get("class") in _BOATS
        kind, impact = scene_assessment(inc["type"], inc["impact"], rule, people, boat)
        patch: dict[str, Any] = {
            "detection_ids": sorted(set(inc.get("detection_ids", [])) | {det_id}),
            "track_ids": track_ids,
        }
        if len(track_ids) == 1:
            patch["position"] = position  # one group: the incident follows it
        if people:
            patch["count"] = max(people, inc.get("count") or 0)
        if kind != inc["type"] and not inc.get("life_at_sea"):
            patch["type"] = kind
        if impact != inc["impact"]:
            patch["impact"] = impact
        return patch

    def _verified(self, detections: list[str]) -> bool:
        """True when at least one report comes from an authenticated source: an unverified
        contact alone (plain CoT, anyone on the network) never opens an incident, or a rescue
        case, by itself; it stays on the map, marked unverified, for an operator to judge."""
        return any(
            not (self.picture.get("detection", d) or {}).get("unverified") for d in detections
        )

    def _incident_citing(self, det_id: str) -> str | None:
        for inc in self.picture.all("incident"):
            if det_id in inc.get("detection_ids", ()):
                return str(inc["id"])
        return None
