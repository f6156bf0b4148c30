"""What a partner centre's message may say, and what this centre makes of it (pure).

A message off the federation's stream is hostile until proven otherwise: at most
``MAX_MESSAGE_BYTES``, valid JSON, this schema exactly (no extra field), sent by the nation its
subject says, about a kind of record Estran knows. What this centre holds of it is one
``foreign`` record per partner record (``foreign_key``), created or changed by the partner
centre's principal through the one policy like any other write; a withdrawal drops the
content at once and leaves the stub to retention.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.domain.errors import ValidationFailedError
from estran.domain.events import CommandIn
from estran.domain.markings import Marking
from estran.domain.messages import msg
from estran.domain.records import KINDS

__all__ = [
    "MAX_MESSAGE_BYTES",
    "Received",
    "foreign_key",
    "idempotency_key",
    "parse_message",
    "to_command",
]

MAX_MESSAGE_BYTES: Final = 256 * 1024

_Centre = Annotated[str, Field(min_length=2, max_length=40, pattern=r"^[A-Z0-9][A-Z0-9-]+$")]
_Nation = Annotated[str, Field(pattern=r"^[A-Z]{2,3}$")]
_Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$")]


class _About(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    centre: _Centre
    kind: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    id: _Id


class Received(BaseModel):
    """One message from a partner centre, as its publisher wrote it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    op: Literal["release", "withdraw"]
    centre: _Centre
    nation: _Nation
    kind: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")]
    id: _Id
    event_id: Annotated[str, Field(min_length=1, max_length=64)]
    seq: Annotated[int, Field(ge=0)]
    record: dict[str, Any] | None = None
    about: _About | None = None


def parse_message(subject: str, data: bytes, *, root: str, partner: str, nation: str) -> Received:
    """The message, or ``ValidationFailedError`` saying why it is refused."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ValidationFailedError(
            msg(
                "a federation message is at most {MAX_MESSAGE_BYTES} bytes",
                MAX_MESSAGE_BYTES=MAX_MESSAGE_BYTES,
            )
        )
    try:
        message = Received.model_validate(orjson.loads(data))
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise ValidationFailedError(f"not a federation message: {exc}"[:500]) from exc
    if not subject.startswith(f"{root}.{partner}.{nation}."):
        raise ValidationFailedError(
            msg(
                "subject {subject!r} is not {partner}'s to {nation}",
                subject=subject,
                partner=partner,
                nation=nation,
            )
        )
    if message.nation != partner:
        raise ValidationFailedError(
            msg("sent on {partner}'s subject as {nation}", partner=partner, nation=message.nation)
        )
    if message.kind not in KINDS or message.kind == "foreign":
        raise ValidationFailedError(
            msg("kind {kind!r} is not released between centres", kind=message.kind)
        )
    if message.op == "release":
        record = message.record
        if record is None or not isinstance(record.get("marking"), dict):
            raise ValidationFailedError(
                msg("a release carries its record and the record's marking")
            )
        if record.get("id") != message.id or record.get("entity") != message.kind:
            raise ValidationFailedError(msg("the record is not the one the message names"))
    elif message.record is not None:
        raise ValidationFailedError(msg("a withdrawal carries no record"))
    return message


def foreign_key(centre: str, kind: str, entity_id: str) -> str:
    """The id this centre gives a partner's record (one per originating record)."""
    digest = hashlib.sha256(f"{centre}\x1f{kind}\x1f{entity_id}".encode()).hexdigest()
    return f"fx-{digest[:32]}"


def idempotency_key(message: Received) -> str:
    """One per message: the same message delivered twice is stored once (the ledger)."""
    digest = hashlib.sha256(
        f"{message.centre}\x1f{message.event_id}\x1f{message.op}\x1f{message.kind}"
        f"\x1f{message.id}".encode()
    ).hexdigest()
    return f"fed:{digest[:48]}"


def to_command(message: Received, held: dict[str, Any] | None, centre: str) -> CommandIn | None:
    """The change ``message`` makes to what this centre holds (``held``: the foreign record,
    if any); None when it changes nothing (an older release than the one held, a withdrawal
    of what is not held). ``centre`` is this centre's name, for comments on its records."""
    if held is not None and int(held.get("origin_seq", -1)) >= message.seq:
        return None  # delivered again, or overtaken by a newer release
    key = foreign_key(message.centre, message.kind, message.id)
    if message.op == "withdraw":
        if held is None or held.get("status") == "withdrawn":
            return None
        return CommandIn(
            type="foreign.updated",
            entity_id=key,
            event_id=idempotency_key(message),
            data={"status": "withdrawn", "record": {}, "origin_seq": message.seq,
                  "origin_event_id": message.event_id},
        )  # fmt: skip
    record = message.record or {}
    marking = Marking.model_validate(
        {k: v for k, v in record["marking"].items() if k in _MARKING_FIELDS}
    )
    if held is None:
        data: dict[str, Any] = {
            "id": key,
            "origin_centre": message.centre,
            "origin_nation": message.nation,
            "origin_kind": message.kind,
            "origin_id": message.id,
            "origin_seq": message.seq,
            "origin_event_id": message.event_id,
            "record": record,
        }
        about = message.about
        if about is not None and about.centre == centre:
            data["about_kind"], data["about_id"] = about.kind, about.id
        return CommandIn(type="foreign.created", data=data, event_id=idempotency_key(message),
                         marking=marking)  # fmt: skip
    return CommandIn(
        type="foreign.updated",
        entity_id=key,
        event_id=idempotency_key(message),
        data={"status": "held", "record": record, "origin_seq": message.seq,
              "origin_event_id": message.event_id},
        marking=marking,
        justification=f"as {message.centre} released it (its seq {message.seq})",
    )  # fmt: skip


_MARKING_FIELDS: Final = frozenset(
    {"classification", "releasable_to", "purpose", "personal_data", "retain_until"}
)
"""What of the partner's marking this centre keeps: its own originator fields are the
partner centre's (set by the server from the partner's principal)."""
