"""Run cards: what each kind of incident calls for, by sector and hour, as data.

"At night in the Wissant dunes, a group being prepared calls for a buggy and a foot patrol."
A card matches an incident by its type, its sector (``*`` for any) and the hour (UTC, a window
that may wrap midnight); the first matching card in file order wins. Recommendation picks, for
each kind the card asks for, the fastest available unit of that kind; the dispatcher chooses
and tasks. Estran never tasks by itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from estran.domain.records import IncidentType, UnitKind

__all__ = ["RunCard", "match_card", "parse_runcards"]

Hour = Annotated[int, Field(ge=0, le=23)]


class RunCard(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=True)

    name: str = Field(min_length=1, max_length=128)
    incident_types: list[IncidentType] = Field(min_length=1)
    sector: str = Field(default="*", description="Sector id, or * for any.")
    from_h: Hour = 0
    to_h: Hour = 23
    send: list[UnitKind] = Field(min_length=1, max_length=10)

    def applies(self, incident_type: str, sector: str | None, hour: int) -> bool:
        if incident_type not in self.incident_types:
            return False
        if self.sector != "*" and self.sector != sector:
            return False
        if self.from_h <= self.to_h:
            return self.from_h <= hour <= self.to_h
        return hour >= self.from_h or hour <= self.to_h


def parse_runcards(raw: dict[str, Any]) -> list[RunCard]:
    return [RunCard.model_validate(c) for c in raw.get("cards", [])]


def match_card(cards: list[RunCard], incident: dict[str, Any], hour: int) -> RunCard | None:
    for card in cards:
        if card.applies(incident["type"], incident.get("sector_id"), hour):
            return card
    return None
