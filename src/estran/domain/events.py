"""Domain events: every change to the picture is one immutable event with its origin.

An event says what changed (``type`` = ``<kind>.created`` or ``<kind>.updated``, the entity,
the data), who or what said so (``actor``, ``source``), when it was observed in the world
(``observed_at``) and when Estran received it (``received_at``), and how it is marked. The
store gives it a gap-free sequence number ``seq``; the picture is a projection of the log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from estran.domain.markings import Marking
from estran.domain.records import KINDS

__all__ = ["EVENT_TYPES", "MAX_EVENT_BYTES", "CommandIn", "Event"]

MAX_EVENT_BYTES: Final = 64 * 1024
"""Largest accepted encoded event; bigger ones are refused, not truncated."""

EVENT_TYPES: Final = tuple(f"{k}.{verb}" for k in KINDS for verb in ("created", "updated"))
_TYPE_PATTERN = r"^(" + "|".join(KINDS) + r")\.(created|updated)$"


@dataclass(frozen=True, slots=True)
class Event:
    seq: int
    event_id: str
    type: str
    kind: str
    entity_id: str
    observed_at: str
    received_at: str
    actor: str
    source: str
    marking: dict[str, Any]
    data: dict[str, Any]

    @property
    def verb(self) -> str:
        return self.type.rsplit(".", 1)[1]

    def with_seq(self, seq: int) -> Event:
        return replace(self, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> bytes:
        return orjson.dumps(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            seq=d["seq"],
            event_id=d["event_id"],
            type=d["type"],
            kind=d["kind"],
            entity_id=d["entity_id"],
            observed_at=d["observed_at"],
            received_at=d["received_at"],
            actor=d["actor"],
            source=d["source"],
            marking=d["marking"],
            data=d["data"],
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Event:
        return cls.from_dict(orjson.loads(raw))


class CommandIn(BaseModel):
    """What a client submits: a change it wants recorded. The server decides the event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(pattern=_TYPE_PATTERN, description="`<kind>.created` or `<kind>.updated`.")
    entity_id: str | None = Field(
        default=None, max_length=128, description="Required for updates; optional on create."
    )
    data: dict[str, Any] = Field(description="The record (create) or the changed fields (update).")
    observed_at: AwareDatetime | None = Field(
        default=None, description="When it happened; defaults to when the server received it."
    )
    event_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="Idempotency key: a retry with the same id returns the original event.",
    )
    marking: Marking | None = Field(default=None, description="Defaults to the originator's.")
    out_of_area: Literal["deliberate"] | None = Field(
        default=None,
        description="`deliberate`: accept a position far outside the area of operations "
        "(otherwise refused, 422 `outside_area`: swapped latitude and longitude, a typo).",
    )
    justification: str | None = Field(
        default=None,
        max_length=1000,
        description="Why: required for sensitive actions (a release); kept in the audit trail.",
    )

    @property
    def kind(self) -> str:
        return self.type.split(".", 1)[0]

    @property
    def verb(self) -> str:
        return self.type.split(".", 1)[1]
