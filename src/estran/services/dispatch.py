"""Unit recommendation for an incident: ranked by real ETA, filled by the run card, with why.

The dispatcher chooses; nothing here tasks a unit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from estran.domain.errors import NotFoundError
from estran.domain.messages import msg
from estran.domain.rescue import ACTIVE_TASK_STATUSES
from estran.domain.runcards import RunCard, match_card

if TYPE_CHECKING:
    from datetime import datetime

    from estran.domain.picture import Picture
    from estran.services.terrain import TerrainService

__all__ = ["recommend"]


def recommend(
    terrain: TerrainService,
    picture: Picture,
    cards: list[RunCard],
    incident_id: str,
    now: datetime,
    limit: int = 20,
    whole: Picture | None = None,
) -> dict[str, Any]:
    """Units for ``incident_id`` in ``picture`` (the asker's view). ``whole`` (default: the
    same) is the full picture, consulted only for which units are already committed."""
    incident = picture.get("incident", incident_id)
    if incident is None:
        raise NotFoundError("incident", incident_id)
    # A unit holding an active task cannot take another (the ledger refuses it), so it is not
    # proposed however close it is; for life at sea only a rescue task keeps a unit away.
    whole = whole if whole is not None else picture
    sea = bool(incident.get("life_at_sea"))
    busy = {
        t["unit_id"]
        for t in whole.all("task")
        if t.get("status") in ACTIVE_TASK_STATUSES
        and (not sea or (whole.get("incident", t["incident_id"]) or {}).get("life_at_sea"))
    }
    units = [
        u for u in picture.all("unit") if u.get("status") == "available" and u["id"] not in busy
    ]
    pos = incident["position"]
    ranked = terrain.rank(pos["lat"], pos["lon"], units, limit=max(limit, len(units)))
    card = match_card(cards, incident, now.hour)
    proposed: list[dict[str, Any]] = []
    unfilled: list[dict[str, str]] = []
    taken: set[str] = set()
    for kind in card.send if card is not None else []:
        assert card is not None  # noqa: S101 (the loop runs only with a card)
        pick = next(
            (
                u
                for u in ranked["units"]
                if u["reachable"] and u["kind"] == kind and u["unit_id"] not in taken
            ),
            None,
        )
        if pick is None:
            unfilled.append(
                {
                    "kind": kind,
                    "why": msg("no available {kind} can reach it", kind=kind.replace("_", " ")),
                }
            )
            continue
        taken.add(pick["unit_id"])
        proposed.append(
            {
                **pick,
                "why": msg(
                    "run card '{card}' asks for a {kind}: the fastest available, "
                    "{min:.0f} min. {reason}",
                    card=card.name,
                    kind=kind.replace("_", " "),
                    min=pick["eta_s"] / 60,
                    reason=pick["reason"],
                ),
            }
        )
    if card is None:
        best = next((u for u in ranked["units"] if u["reachable"]), None)
        if best is not None:
            proposed.append(
                {
                    **best,
                    "why": msg(
                        "no run card matches; fastest unit. {reason}", reason=best["reason"]
                    ),
                }
            )
    return {
        "incident_id": incident_id,
        "incident_type": incident["type"],
        "life_at_sea": bool(incident.get("life_at_sea")),
        "run_card": None if card is None else card.name,
        "proposed": proposed,
        "unfilled": unfilled,
        "ranked": ranked["units"][:limit],
        "target": ranked["target"],
        "note": msg("the dispatcher chooses and tasks; Estran never tasks a unit by itself"),
    }
