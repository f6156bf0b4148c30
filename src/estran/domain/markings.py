"""Markings: classification, releasability, purpose, personal data and retention, on every record.

The joint-working capability enforces them on every read path; the picture core stores them
with every event and carries them onto every record, so no record is ever unmarked.
"""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 (pydantic reads the annotation at run time)
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

__all__ = ["Classification", "Marking", "Purpose"]


class Classification(StrEnum):
    """Protective markings in use on both sides of the Channel, lowest first."""

    UNCLASSIFIED = "UNCLASSIFIED"
    OFFICIAL = "OFFICIAL"
    OFFICIAL_SENSITIVE = "OFFICIAL-SENSITIVE"
    DIFFUSION_RESTREINTE = "DIFFUSION RESTREINTE"


class Purpose(StrEnum):
    BORDER_SURVEILLANCE = "border_surveillance"
    LAW_ENFORCEMENT = "law_enforcement"
    SEARCH_AND_RESCUE = "search_and_rescue"


def _nations(values: list[str]) -> list[str]:
    cleaned = sorted({v.upper() for v in values})
    for v in cleaned:
        if not (2 <= len(v) <= 3 and v.isalpha()):
            raise ValueError(f"releasability entries are ISO 3166 nation codes, not {v!r}")
    if not cleaned:
        raise ValueError("releasability needs at least the originating nation")
    return cleaned


def _sane_until(value: datetime | None) -> datetime | None:
    from estran.domain.timefmt import EARLIEST, LATEST

    if value is not None and not (EARLIEST <= value < LATEST):
        raise ValueError("retain_until must lie between 2000-01-01 and 2200-01-01")
    return value


class Marking(BaseModel):
    """How a record may be handled. Frozen: a change of marking is a new event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classification: Classification = Field(
        default=Classification.OFFICIAL, description="Protective marking."
    )
    releasable_to: Annotated[list[str], AfterValidator(_nations)] = Field(
        default_factory=lambda: ["FR"],
        description="Nations (ISO 3166 alpha-2/3) whose users may see the record.",
    )
    purpose: Purpose = Field(default=Purpose.BORDER_SURVEILLANCE, description="Why it is held.")
    personal_data: bool = Field(
        default=False, description="True where the record relates to identifiable people."
    )
    retain_until: Annotated[AwareDatetime | None, AfterValidator(_sane_until)] = Field(
        default=None,
        description="Keep the record at least until then (2000 to 2200); it never shortens the "
        "legal retention period of its kind.",
    )
    originator_agency: str | None = Field(
        default=None,
        max_length=128,
        description="Agency whose user created the record: set by the server, never by a client.",
    )
    originator_nation: str | None = Field(
        default=None,
        max_length=3,
        description="Nation of the originator: only it may change or release the record.",
    )

    def retain_until_utc(self) -> datetime | None:
        return self.retain_until

    def as_event(self) -> dict[str, Any]:
        """The marking as stored with an event (originator fields only when known)."""
        out: dict[str, Any] = self.model_dump(mode="json")
        for key in ("originator_agency", "originator_nation"):
            if out[key] is None:
                del out[key]
        return out
