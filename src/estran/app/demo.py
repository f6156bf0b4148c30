"""The live demo: a simulated night fed into the running command centre, accelerated.

The driver steps the simulation kernel at ``speed`` times real time and writes what happens
through the ledger, the same path REST and CoT writes take (``source = sim``): units and their
moves, detections from drones, cameras and patrols, incidents, tasks through their lifecycle,
outcomes, and, when a boat gets into difficulty at sea, a rescue case for CROSS Gris-Nez.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from estran.domain.events import CommandIn
from estran.services.background import cancel_and_wait
from estran.sim.night import Group, Season, SimUnit, begin_night, coast_from

if TYPE_CHECKING:
    from estran.bootstrap import Services
    from estran.sim.kernel import Environment
    from estran.sim.scenario import Scenario

__all__ = ["DemoDriver"]

log = logging.getLogger(__name__)

_MOVES = 6  # position reports along a unit's route to a task
_ROAM_SPEED_MS = {"foot_patrol": 1.3, "dune_buggy": 5.0, "four_by_four": 7.0}
_ROAM_EVERY_S = 1.0  # real seconds between roaming position reports


class DemoDriver:
    def __init__(self, services: Services, scenario: Scenario, *, speed: float, seed: int) -> None:
        self.svc = services
        self.scenario = scenario
        self.speed = speed
        self.seed = seed
        self.pending: list[list[CommandIn]] = []
        self.incident_of: dict[str, str] = {}
        self.task_of: dict[str, str] = {}
        self.written = 0
        self.nights = 0
        self._task: asyncio.Task[None] | None = None
        self._roamer: asyncio.Task[None] | None = None
        self._to_lonlat: Any = None
        self._last_incident: str | None = None
        self.env: Environment | None = None
        self.incident_for_unit: dict[str, str] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="estran-demo")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, self._roamer])

    # --- helpers --------------------------------------------------------------------------

    def _pos(self, x: float, y: float, error_m: float = 25.0) -> dict[str, float]:
        lon, lat = self._to_lonlat(x, y)
        return {"lat": round(lat, 6), "lon": round(lon, 6), "error_m": error_m}

    def _emit(self, *commands: CommandIn) -> None:
        self.pending.append(list(commands))

    async def _flush(self) -> None:
        batch, self.pending = self.pending, []
        for commands in batch:
            try:
                events = await self.svc.ledger.submit(commands, actor="sim:demo", source="sim")
                self.written += len(events)
            except Exception as exc:  # a refused command must not stop the night
                log.warning("demo: %s refused: %s", [c.type for c in commands], exc)

    # --- the observer ---------------------------------------------------------------------

    def detection(self, t: float, group: Group | None, x: float, y: float, sensor: str) -> None:
        night = self.nights
        det = f"det-{night}-{int(t)}-{sensor}"[:120]
        sensor_id = f"sim-{sensor}"
        data: dict[str, Any] = {
            "id": det,
            "sensor_id": sensor_id,
            "position": self._pos(x, y, 30.0),
            "class": "group_of_people",
            "confidence": 0.7 if group is not None else 0.4,
        }
        if group is not None:
            data["count"] = group.size
        commands = [CommandIn(type="detection.created", data=data)]
        if group is not None:
            inc = f"inc-{group.id}"
            self.incident_of[group.id] = inc
            commands.append(
                CommandIn(
                    type="incident.created",
                    data={
                        "id": inc,
                        "type": "boat_being_prepared"
                        if group.state == "preparing"
                        else "launch_attempt",
                        "impact": "high",
                        "confidence": 0.7,
                        "owner_agency_id": "FR-GN",
                        "position": self._pos(x, y, 50.0),
                        "count": group.size,
                        "summary": f"group of about {group.size} seen by {sensor}",
                        "detection_ids": [det],
                    },
                )
            )
        else:
            inc = f"inc-fa-{night}-{int(t)}"
            self.incident_of[inc] = inc
            commands.append(
                CommandIn(
                    type="incident.created",
                    data={
                        "id": inc,
                        "type": "group_sighted",
                        "impact": "medium",
                        "confidence": 0.3,
                        "owner_agency_id": "FR-GN",
                        "position": self._pos(x, y, 150.0),
                        "summary": f"possible group, seen by {sensor}",
                        "detection_ids": [det],
                    },
                )
            )
        self._last_incident = inc
        self._emit(*commands)

    def tasked(
        self, t: float, unit: SimUnit, group: Group | None, eta_s: float, route: np.ndarray
    ) -> None:
        inc = self.incident_of.get(group.id) if group is not None else self._last_incident
        if inc is None:
            return
        self._follow(unit, eta_s, route)
        task = f"task-{inc}-{unit.id}"[:120]
        self.task_of[unit.id] = task
        self.incident_for_unit[unit.id] = inc
        tid = {"entity_id": task}
        self._emit(
            CommandIn(
                type="task.created",
                data={
                    "id": task,
                    "incident_id": inc,
                    "unit_id": f"sim-{unit.id}",
                    "instructions": f"go to the group, ETA {eta_s / 60:.0f} min",
                },
            ),
            *(
                CommandIn(type="task.updated", data={"status": s}, **tid)
                for s in ("sent", "acknowledged", "will_comply", "en_route")
            ),
            CommandIn(type="unit.updated", entity_id=f"sim-{unit.id}", data={"status": "en_route"}),
            CommandIn(type="incident.updated", entity_id=inc, data={"status": "responding"}),
        )

    def arrived(self, t: float, unit: SimUnit, group: Group | None, outcome: str) -> None:
        task = self.task_of.pop(unit.id, None)
        uid = f"sim-{unit.id}"
        commands = [
            CommandIn(
                type="unit.updated",
                entity_id=uid,
                data={"status": "on_scene", "position": self._pos(unit.x, unit.y, 10.0)},
            )
        ]
        if task is not None:
            commands += [
                CommandIn(type="task.updated", entity_id=task, data={"status": "on_scene"}),
                CommandIn(type="task.updated", entity_id=task, data={"status": "done"}),
            ]
        inc = self.incident_for_unit.pop(unit.id, None)
        if inc is not None and outcome != "boat_launched":
            closing: dict[str, Any] = {
                "status": "closed",
                "outcome": outcome,
                "summary": f"outcome: {outcome.replace('_', ' ')}",
            }
            if group is not None and outcome in ("intercepted_before_launch", "launch_prevented"):
                closing["people_count"] = group.size
            commands.append(CommandIn(type="incident.updated", entity_id=inc, data=closing))
        commands.append(CommandIn(type="unit.updated", entity_id=uid, data={"status": "available"}))
        self._emit(*commands)

    def launched(self, t: float, group: Group, in_difficulty: bool) -> None:
        inc = self.incident_of.get(group.id)
        if inc is not None:
            self._emit(
                CommandIn(
                    type="incident.updated",
                    entity_id=inc,
                    data={
                        "type": "boat_launched",
                        "outcome": "boat_launched",
                        "status": "closed",
                        "summary": "boat launched; handed to the rescue centre's watch",
                    },
                )
            )
        if in_difficulty:
            # Life at sea first: a rescue case for the rescue centre, whatever else happens.
            sx, sy = group.x, group.y + 1500.0
            self._emit(
                CommandIn(
                    type="incident.created",
                    data={
                        "id": f"sar-{group.id}",
                        "type": "boat_at_sea",
                        "impact": "very_high",
                        "confidence": 0.8,
                        "owner_agency_id": "FR-CROSS-GN",
                        "position": self._pos(sx, sy, 300.0),
                        "count": group.size,
                        "summary": f"boat in difficulty, about {group.size} aboard",
                    },
                )
            )

    def _follow(self, unit: SimUnit, eta_s: float, route: np.ndarray) -> None:
        """Schedule the unit's position along its route, so the map shows it moving."""
        if self.env is None or len(route) < 2:
            return
        steps = np.hypot(*np.diff(route, axis=0).T)
        along = np.concatenate([[0.0], np.cumsum(steps)])
        total = float(along[-1])
        if total <= 0:
            return
        delay = self.scenario.tasking_delay_s
        uid = f"sim-{unit.id}"
        for k in range(1, _MOVES):
            frac = k / _MOVES
            x = float(np.interp(frac * total, along, route[:, 0]))
            y = float(np.interp(frac * total, along, route[:, 1]))

            def move(x: float = x, y: float = y) -> None:
                self._emit(
                    CommandIn(
                        type="unit.updated", entity_id=uid, data={"position": self._pos(x, y, 15.0)}
                    )
                )

            self.env.after(delay + frac * eta_s, move)

    # --- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        svc = self.svc
        ready = await asyncio.to_thread(svc.terrain.wait, 600)
        if not ready:
            log.error("demo: terrain not ready (%s); no simulated night", svc.terrain.error)
            return
        terrain = svc.terrain.terrain()
        self._to_lonlat = terrain.projector.to_lonlat
        coast = coast_from(terrain)
        await self._setup(coast)
        season = Season(self.scenario, coast, self.seed)
        self._roamer = asyncio.create_task(self._roam(season), name="estran-demo-roam")
        while True:
            night = begin_night(season, self)
            self.env = night.env
            log.info("demo: night %d begins", season.nights - 1)
            started = time.monotonic()
            while night.env.peek() <= night.end_s:
                due = started + night.env.peek() / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(min(delay, 5.0))
                    continue
                night.env.step()
                if self.pending:
                    await self._flush()
            result = night.finish()
            self.nights += 1
            log.info(
                "demo: night %d: %d attempts, %d intercepted, %d launched, %d rescue cases",
                result.night,
                result.attempts,
                result.interceptions,
                result.launched,
                result.rescue_cases,
            )

    async def _roam(self, season: Season) -> None:
        """Available ground patrols walk or drive their beat: back and forth along the launch
        sites within the scenario's roaming radius of their base (the area the simulation
        lets a patrol find groups in), reported as a field unit's tracker would."""
        sc = self.scenario
        beats: dict[str, tuple[str, Any, float]] = {}
        for u in sc.units:
            if u.kind not in _ROAM_SPEED_MS:
                continue
            hx, hy = season.coast.to_xy(u.lon, u.lat)
            d = np.hypot(season.site_xy[:, 0] - hx, season.site_xy[:, 1] - hy)
            near = np.flatnonzero(d <= min(sc.sensors.patrol_roam_m, 3000.0))
            if len(near) < 2:
                continue
            path = season.site_xy[near]
            # Along the beach: sites ordered along their main direction.
            centred = path - path.mean(axis=0)
            axis = np.linalg.svd(centred, full_matrices=False)[2][0]
            path = path[np.argsort(centred @ axis)]
            legs = np.hypot(*np.diff(path, axis=0).T)
            beats[f"sim-{u.id}"] = (u.kind, path, float(legs.sum()))
        travelled = dict.fromkeys(beats, 0.0)
        while True:
            await asyncio.sleep(_ROAM_EVERY_S)
            commands = []
            for uid, (kind, path, length) in beats.items():
                unit = self.svc.picture.get("unit", uid)
                if unit is None or unit.get("status") != "available" or length <= 0:
                    continue
                travelled[uid] += _ROAM_SPEED_MS[kind] * self.speed * _ROAM_EVERY_S
                along = travelled[uid] % (2 * length)
                along = along if along <= length else 2 * length - along
                x, y = _point_along(path, along)
                pos = self._pos(x, y, 10.0)
                commands.append(
                    CommandIn(type="unit.updated", entity_id=uid, data={"position": pos})
                )
            if commands:
                try:
                    await self.svc.ledger.submit(commands, actor="sim:demo", source="sim")
                except Exception as exc:  # a refused report must not stop the patrols
                    log.warning("demo: patrol positions refused: %s", exc)

    async def _setup(self, coast: Any) -> None:
        sc = self.scenario
        picture = self.svc.picture
        commands: list[CommandIn] = []
        for u in sc.units:
            if picture.get("unit", f"sim-{u.id}") is None:
                commands.append(
                    CommandIn(
                        type="unit.created",
                        data={
                            "id": f"sim-{u.id}",
                            "callsign": u.id,
                            "kind": u.kind,
                            "agency_id": "FR-PAF" if u.id.startswith("PAF") else "FR-GN",
                            "position": {"lat": u.lat, "lon": u.lon, "error_m": 10.0},
                        },
                    )
                )
            if picture.get("sensor", f"sim-{u.id}") is None:
                commands.append(
                    CommandIn(
                        type="sensor.created",
                        data={
                            "id": f"sim-{u.id}",
                            "name": f"{u.id} sightings",
                            "kind": "patrol_report",
                            "agency_id": "FR-GN",
                            "unit_id": f"sim-{u.id}",
                        },
                    )
                )
        for d in sc.drones:
            if picture.get("unit", f"sim-{d.id}") is None:
                commands += [
                    CommandIn(
                        type="unit.created",
                        data={
                            "id": f"sim-{d.id}",
                            "callsign": d.id,
                            "kind": "drone",
                            "agency_id": "UK-BF",
                            "position": {"lat": d.lat, "lon": d.lon, "error_m": 10.0},
                        },
                    ),
                    CommandIn(
                        type="sensor.created",
                        data={
                            "id": f"sim-{d.id}",
                            "name": f"{d.id} thermal",
                            "kind": "drone_thermal",
                            "agency_id": "UK-BF",
                            "unit_id": f"sim-{d.id}",
                        },
                    ),
                ]
        for a in sc.aircraft:
            if picture.get("sensor", f"sim-{a.id}") is None:
                commands.append(
                    CommandIn(
                        type="sensor.created",
                        data={
                            "id": f"sim-{a.id}",
                            "name": f"{a.id} (aircraft)",
                            "kind": "aircraft",
                            "agency_id": "FR-DGDDI",
                        },
                    )
                )
        for c in sc.cameras:
            if picture.get("sensor", f"sim-{c.id}") is None:
                commands.append(
                    CommandIn(
                        type="sensor.created",
                        data={
                            "id": f"sim-{c.id}",
                            "name": c.id,
                            "kind": "fixed_camera",
                            "agency_id": "FR-PAF",
                            "position": {"lat": c.lat, "lon": c.lon, "error_m": 5.0},
                        },
                    )
                )
        if picture.get("sensor", "sim-camera") is None:
            commands.append(
                CommandIn(
                    type="sensor.created",
                    data={
                        "id": "sim-camera",
                        "name": "coastal cameras (alerts)",
                        "kind": "fixed_camera",
                        "agency_id": "FR-PAF",
                    },
                )
            )
        if commands:
            await self.svc.ledger.submit(commands, actor="sim:demo", source="sim")


def _point_along(path: Any, distance: float) -> tuple[float, float]:
    """The point ``distance`` metres along the polyline ``path`` ((n, 2) metres)."""
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        leg = float(np.hypot(x1 - x0, y1 - y0))
        if distance <= leg and leg > 0:
            f = distance / leg
            return float(x0 + (x1 - x0) * f), float(y0 + (y1 - y0) * f)
        distance -= leg
    return float(path[-1][0]), float(path[-1][1])
