"""The shift handover report: what the next watch must know, from the picture and the logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from estran.domain.picture import sort_by_priority
from estran.domain.rescue import ACTIVE_TASK_STATUSES
from estran.services.stats import figures

if TYPE_CHECKING:
    from estran.domain.picture import Picture

__all__ = ["handover"]


def handover(picture: Picture, *, since: str, now: str) -> dict[str, Any]:
    """Rescue cases first, then open incidents, live tasks, units, the logs and the figures."""
    rescue = [c for c in picture.all("rescue_case") if c["status"] != "closed"]
    incidents = sort_by_priority([i for i in picture.all("incident") if i["status"] != "closed"])
    tasks = [t for t in picture.all("task") if t["status"] in ACTIVE_TASK_STATUSES]
    units: dict[str, int] = {}
    for unit in picture.all("unit"):
        units[unit["status"]] = units.get(unit["status"], 0) + 1
    logs = sorted(
        (e for e in picture.all("log_entry") if e["created_at"] >= since),
        key=lambda e: (e["observed_at"], e["id"]),
    )
    lines = [f"Handover at {now} (since {since})", ""]
    lines.append(f"Rescue cases open: {len(rescue)}")
    lines += [
        f"  - {c['id']}: {c['phase']}, {c['status']}, centre {c['centre_agency_id']}, "
        f"{c.get('count') or '?'} people, escalated {c.get('escalations', 0)}x"
        for c in rescue
    ]
    lines.append(f"Open incidents: {len(incidents)}")
    lines += [
        f"  - {i['id']}: {i['type'].replace('_', ' ')} [{i['impact']}] {i['status']}"
        + (" LIFE AT SEA" if i.get("life_at_sea") else "")
        for i in incidents
    ]
    lines.append(f"Live tasks: {len(tasks)}")
    lines += [f"  - {t['id']}: {t['unit_id']} {t['status']} on {t['incident_id']}" for t in tasks]
    lines.append("Units: " + ", ".join(f"{k} {v}" for k, v in sorted(units.items())))
    lines.append(f"Log entries: {len(logs)}")
    lines += [f"  - {e['observed_at']} [{e['log']}] {e['role']}: {e['text']}" for e in logs]
    return {
        "at": now,
        "since": since,
        "rescue_cases": rescue,
        "open_incidents": incidents,
        "live_tasks": tasks,
        "units_by_status": units,
        "log_entries": logs,
        "figures": figures(picture, since=since, until=None, by=None, now=now),
        "text": "\n".join(lines),
    }
