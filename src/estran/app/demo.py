"""The live demo: a simulated night fed into the running command centre, accelerated.

The driver steps the simulation kernel at ``speed`` times real time and writes what happens
through the ledger, the same path REST and CoT writes take (``source = sim``): units and their
moves, detections from drones, cameras and patrols, incidents, tasks through their lifecycle,
outcomes, and, when a boat gets into difficulty at sea, a rescue case for CROSS Gris-Nez.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from estran.app.demo_dispatch import ConsoleTasks
from estran.domain.events import CommandIn
from estran.services.background import cancel_and_wait
from estran.sim.night import Group, Night, Season, SimUnit, begin_night, coast_from
from estran.sim.patrols import Roaming, beats_of
from estran.sim.realtime import Pacer

if TYPE_CHECKING:
    from estran.bootstrap import Services
    from estran.sim.kernel import Environment
    from estran.sim.scenario import Scenario

__all__ = ["DemoDriver"]

log = logging.getLogger(__name__)

_MOVES = 6  # position reports along a unit's route to a task
_ROAM_EVERY_S = 1.0  # real seconds between a free patrol's position reports


_INCIDENT_OF = {
    "hiding": "group_sighted",  # found waiting behind the beach (``HidingSpec``)
    "walking": "group_sighted",
    "preparing": "boat_being_prepared",
    "cache": "boat_being_prepared",  # a boat and engine hidden at the beach, brought apart
}
"""The incident a detection opens, by what the group was doing when it was seen."""


class DemoDriver:
    name = "demo"
    """Its name among the once-per-centre work (it runs on the leading node)."""

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
        self._roaming: Roaming | None = None
        self._to_lonlat: Any = None
        self._last_incident: str | None = None
        self.env: Environment | None = None
        self.incident_for_unit: dict[str, str] = {}
        self.own_tasks: set[str] = set()
        self.console: ConsoleTasks | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="estran-demo")

    def status(self) -> dict[str, Any]:
        """Where the simulation is, for the watch floor's header: the scenario, the night and
        its simulated time (24-hour, local), and the speed."""
        env = self.env
        out: dict[str, Any] = {"scenario": self.scenario.name, "speed": self.speed,
                               "night": self.nights, "time": None}  # fmt: skip
        if env is not None:
            hours = (self.scenario.night_start_h + env.now / 3600.0) % 24.0
            out["time"] = f"{int(hours):02d}:{int(hours * 60) % 60:02d}"
        return out

    async def stop(self) -> None:
        if self.console is not None:
            self.svc.hub.unlisten(self.console.on_events)
        await cancel_and_wait([self._task])

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
        boat = group is not None and group.state == "cache"
        det = f"det-{night}-{int(t)}-{sensor}"[:120]
        sensor_id = f"sim-{sensor}"
        data: dict[str, Any] = {
            "id": det,
            "sensor_id": sensor_id,
            "position": self._pos(x, y, 30.0),
            "class": "equipment" if boat else "group_of_people",
            "confidence": 0.7 if group is not None else 0.4,
        }
        if group is not None and not boat:
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
                        "type": _INCIDENT_OF.get(group.state, "launch_attempt"),
                        "impact": "high",
                        "confidence": 0.7,
                        "owner_agency_id": "FR-GN",
                        "position": self._pos(x, y, 50.0),
                        "count": None if boat else group.size,
                        "summary": f"boat and engine hidden at the beach, seen by {sensor}"
                        if boat
                        else f"group of about {group.size} seen by {sensor}",
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
        self.own_tasks.add(task)
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

    def begin(self, season: Season) -> Night:
        """The season's next night on its kernel, with the patrols' beats on it: what the
        night will emit is fixed by the seed from here, whatever the pace (``_run``'s)."""
        if self._roaming is None:
            self._roaming = Roaming(beats_of(season), _ROAM_EVERY_S * self.speed, self.patrolled)
        night = begin_night(season, self)
        self.env = night.env
        self._roaming.install(night)
        return night

    def patrolled(self, t: float, unit: SimUnit, x: float, y: float) -> None:
        """A free patrol's tracker reports where it is on its beat (not while it carries out
        a task sent from the console: then it is on its route)."""
        if self.console is not None and f"sim-{unit.id}" in self.console.busy:
            return
        self._emit(
            CommandIn(
                type="unit.updated",
                entity_id=f"sim-{unit.id}",
                data={"position": self._pos(x, y, 10.0)},
            )
        )

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
        # Tasks sent from the console to simulated units are carried out (demo_dispatch).
        self.console = ConsoleTasks(svc, self._emit, own=self.own_tasks,
                                    on_scene_s=self.scenario.on_scene_minutes * 60.0)  # fmt: skip
        svc.hub.listen(self.console.on_events)
        season = Season(self.scenario, coast, self.seed)
        while True:
            night = self.begin(season)
            log.info("demo: night %d begins", season.nights - 1)
            pacer = Pacer(night.env, self.speed, time.monotonic)
            while night.env.peek() <= night.end_s:
                wait = pacer.due_in()
                if wait > 0:
                    await asyncio.sleep(min(wait, 1.0))
                    continue
                pacer.step_due(until=night.end_s)
                if self.console.waiting:
                    await self.console.carry_out(night.env, self._to_lonlat)
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
