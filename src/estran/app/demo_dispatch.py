"""The dispatch loop closed for the demo's simulated units (issue 20).

A task a commander sends from the console (or a phone, or the API) to a simulated unit is
carried out as a crew would: the unit is ``tasked`` at once, acknowledges after a short delay
(``acknowledged``, ``will_comply``, ``en_route``), moves along its real route over the terrain
(foot or buggy over sand, scrub, forest: the travel engine's route and ETA), arrives
(``on_scene``), stays the scenario's time on scene, reports in the duty log, and is
``available`` again. Everything is written through the ledger like the rest of the demo, on
the night's simulated clock (so at the demo's speed).

The simulation's own dispatches are the driver's; this only takes the tasks it did not make.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from estran.domain.events import CommandIn
from estran.domain.travel_types import UnitAt

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from estran.bootstrap import Services
    from estran.domain.events import Event
    from estran.sim.kernel import Environment

__all__ = ["ConsoleTasks"]

log = logging.getLogger(__name__)

ACK_AFTER_S: Final = 45.0
"""Simulated seconds a crew takes to read and acknowledge a task."""
MOVES: Final = 8
"""Position reports along the route."""


class ConsoleTasks:
    def __init__(
        self,
        services: Services,
        emit: Callable[..., None],
        *,
        on_scene_s: float,
        own: set[str],
    ) -> None:
        self.svc = services
        self.emit = emit
        self.on_scene_s = on_scene_s
        self.own = own
        """The tasks the simulation itself made (not ours to carry out)."""
        self.waiting: list[str] = []
        self.carried: set[str] = set()
        self.busy: set[str] = set()
        """Units carrying out a console task (their beat waits)."""

    def on_events(self, events: Sequence[Event]) -> None:
        """Hub listener: a task sent to a simulated unit that the simulation did not make."""
        for event in events:
            if event.type != "task.updated" or event.data.get("status") != "sent":
                continue
            task = self.svc.picture.get("task", event.entity_id)
            if (
                task is not None
                and str(task["unit_id"]).startswith("sim-")
                and task["id"] not in self.own
                and task["id"] not in self.carried
            ):
                self.carried.add(task["id"])
                self.waiting.append(task["id"])

    async def carry_out(self, env: Environment, to_lonlat: Any) -> None:
        """Schedule, on the night's clock, every task that came in since the last call."""
        waiting, self.waiting = self.waiting, []
        for task_id in waiting:
            try:
                await self._one(env, to_lonlat, task_id)
            except Exception:  # one task the crew cannot make sense of must not stop the night
                log.exception("demo: task %s could not be carried out", task_id)

    async def _one(self, env: Environment, to_lonlat: Any, task_id: str) -> None:
        picture = self.svc.picture
        task = picture.get("task", task_id)
        if task is None:
            return
        unit = picture.get("unit", task["unit_id"])
        incident = picture.get("incident", task["incident_id"])
        if unit is None or incident is None or not unit.get("position"):
            return
        uid, tid = unit["id"], {"entity_id": task_id}
        self.busy.add(uid)
        self.emit(CommandIn(type="unit.updated", entity_id=uid, data={"status": "tasked"}))
        route, eta_s = await asyncio.to_thread(self._route, unit, incident["position"])

        def acknowledge() -> None:
            self.emit(
                *(CommandIn(type="task.updated", data={"status": s}, **tid)
                  for s in ("acknowledged", "will_comply", "en_route")),
                CommandIn(type="unit.updated", entity_id=uid, data={"status": "en_route"}),
            )  # fmt: skip

        env.after(ACK_AFTER_S, acknowledge)
        steps = np.hypot(*np.diff(route, axis=0).T) if len(route) > 1 else np.zeros(0)
        along = np.concatenate([[0.0], np.cumsum(steps)])
        for k in range(1, MOVES + 1):
            frac = k / MOVES
            x = float(np.interp(frac * along[-1], along, route[:, 0]))
            y = float(np.interp(frac * along[-1], along, route[:, 1]))
            lon, lat = to_lonlat(x, y)
            position = {"lat": round(lat, 6), "lon": round(lon, 6), "error_m": 15.0}

            def move(position: dict[str, float] = position, last: bool = k == MOVES) -> None:
                data: dict[str, Any] = {"position": position}
                if last:
                    data["status"] = "on_scene"
                commands = [CommandIn(type="unit.updated", entity_id=uid, data=data)]
                if last:
                    commands.append(CommandIn(type="task.updated", data={"status": "on_scene"},
                                              **tid))  # fmt: skip
                self.emit(*commands)

            env.after(ACK_AFTER_S + frac * eta_s, move)

        def report() -> None:
            line = (f"{unit.get('callsign', uid)} on scene at {incident['id']} for "
                    f"{self.on_scene_s / 60:.0f} min: area searched, nothing further / zone "
                    "fouillée, rien à signaler")  # fmt: skip
            self.emit(
                CommandIn(type="task.updated", data={"status": "done"}, **tid),
                CommandIn(type="log_entry.created",
                          data={"log": "duty", "role": "unit", "text": line}),
                CommandIn(type="unit.updated", entity_id=uid, data={"status": "available"}),
            )  # fmt: skip
            self.busy.discard(uid)

        env.after(ACK_AFTER_S + eta_s + self.on_scene_s, report)

    def _route(self, unit: dict[str, Any], to: dict[str, Any]) -> tuple[np.ndarray, float]:
        """The unit's route to ``to`` (projected metres) and its ETA in seconds: the travel
        engine's, or a straight line at walking pace where it finds none."""
        t = self.svc.terrain.terrain()
        ux, uy = t.projector.to_xy(unit["position"]["lon"], unit["position"]["lat"])
        tx, ty = t.projector.to_xy(to["lon"], to["lat"])
        profile = t.engine.mobility.unit_kinds.get(unit["kind"])
        target = t.engine.resolve(tx, ty)
        if profile is not None and not isinstance(target, str):
            (eta,) = t.engine.eta(target, [UnitAt(unit["id"], profile, float(ux), float(uy))])
            if eta.reachable and eta.eta_s is not None and eta.legs:
                return np.concatenate([leg.points for leg in eta.legs]), float(eta.eta_s)
        straight = np.array([[ux, uy], [tx, ty]], dtype=np.float64)
        return straight, float(np.hypot(tx - ux, ty - uy)) / 1.4
