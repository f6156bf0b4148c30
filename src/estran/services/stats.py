"""The figures the agreement is judged by, computed from the picture (``docs/figures.md``).

- an *attempt* is an incident of type boat being prepared, launch attempt or boat launched, or
  any incident whose outcome says an attempt happened (intercepted before launch, launch
  prevented, boat or equipment seized, boat launched);
- *intercepted*: outcome intercepted before launch, launch prevented, or boat or equipment
  seized; the proportion is intercepted / attempts with a Wilson 95 % interval;
- a *launch*: outcome boat launched (or type boat launched with no other outcome);
- a *rescue referral*: a life-at-sea incident, or outcome referred to rescue;
- *response time*: from the incident's opening to the first of its tasks reaching on scene;
- *units' time*: hours each unit spent tasked (tasked, en route, on scene) and available, from
  their status log, inside the period.

An incident belongs to the period (and day) in which it was opened.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from estran.services.simulate import wilson

if TYPE_CHECKING:
    from estran.domain.picture import Picture

__all__ = ["figures"]

ATTEMPT_TYPES: Final = frozenset({"boat_being_prepared", "launch_attempt", "boat_launched"})
ATTEMPT_OUTCOMES: Final = frozenset(
    {"intercepted_before_launch", "launch_prevented", "boat_or_equipment_seized", "boat_launched"}
)
INTERCEPTED: Final = frozenset(
    {"intercepted_before_launch", "launch_prevented", "boat_or_equipment_seized"}
)
TASKED: Final = frozenset({"tasked", "en_route", "on_scene"})

Record = dict[str, Any]


def _opened(rec: Record) -> str:
    log = rec.get("status_log") or ()
    return str(log[0]["at"]) if log else str(rec["observed_at"])


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def _block(incidents: list[Record], tasks_by_incident: dict[str, list[Record]]) -> dict[str, Any]:
    attempts = [
        i for i in incidents if i["type"] in ATTEMPT_TYPES or i.get("outcome") in ATTEMPT_OUTCOMES
    ]
    intercepted = [i for i in attempts if i.get("outcome") in INTERCEPTED]
    launches = [
        i
        for i in attempts
        if i.get("outcome") == "boat_launched"
        or (i["type"] == "boat_launched" and i.get("outcome") in (None, "boat_launched"))
    ]
    rescue = [
        i for i in incidents if i.get("life_at_sea") or i.get("outcome") == "referred_to_rescue"
    ]
    response_min = []
    for inc in attempts:
        scene = [
            _ts(step["at"])
            for task in tasks_by_incident.get(inc["id"], ())
            for step in task.get("status_log") or ()
            if step["status"] == "on_scene"
        ]
        if scene:
            response_min.append((min(scene) - _ts(_opened(inc))) / 60.0)
    low, high = wilson(len(intercepted), len(attempts))
    return {
        "attempts_detected": len(attempts),
        "attempts_intercepted": len(intercepted),
        "proportion_intercepted": len(intercepted) / len(attempts) if attempts else None,
        "proportion_ci95": [round(low, 4), round(high, 4)] if attempts else None,
        "launches": len(launches),
        "rescue_referrals": len(rescue),
        "people_intercepted": sum(i.get("people_count") or 0 for i in intercepted),
        "response_minutes_median": float(np.median(response_min)) if response_min else None,
        "response_minutes_p90": float(np.percentile(response_min, 90)) if response_min else None,
        "responses_measured": len(response_min),
    }


def _unit_hours(units: list[Record], since: str | None, until: str, now: str) -> dict[str, Any]:
    start_all = _ts(since) if since else None
    end = _ts(until)
    tasked = available = 0.0
    for unit in units:
        log = unit.get("status_log") or ()
        for step, nxt in zip(log, [*log[1:], None], strict=True):
            a = _ts(step["at"])
            b = _ts(nxt["at"]) if nxt is not None else _ts(now)
            if start_all is not None:
                a = max(a, start_all)
            b = min(b, end)
            if b <= a:
                continue
            if step["status"] in TASKED:
                tasked += b - a
            elif step["status"] == "available":
                available += b - a
    total = tasked + available
    return {
        "tasked_hours": round(tasked / 3600, 3),
        "available_hours": round(available / 3600, 3),
        "tasked_share": round(tasked / total, 4) if total else None,
    }


def figures(
    picture: Picture, *, since: str | None, until: str | None, by: str | None, now: str
) -> dict[str, Any]:
    """The figures over [since, until), overall and by hour, day or sector."""
    end = until or now
    incidents = [
        i
        for i in picture.all("incident")
        if (since is None or _opened(i) >= since) and _opened(i) < end
    ]
    tasks: dict[str, list[Record]] = defaultdict(list)
    for task in picture.all("task"):
        tasks[task["incident_id"]].append(task)
    out: dict[str, Any] = {
        "since": since,
        "until": end,
        **_block(incidents, tasks),
        "units": _unit_hours(list(picture.all("unit")), since, end, now),
    }
    if by in ("hour", "day", "sector"):
        groups: dict[str, list[Record]] = defaultdict(list)
        for inc in incidents:
            key = (
                (inc.get("sector_id") or "none")
                if by == "sector"
                else _opened(inc)[: 13 if by == "hour" else 10]
            )
            groups[key].append(inc)
        out["by"] = by
        out["groups"] = {k: _block(v, tasks) for k, v in sorted(groups.items())}
    return out
