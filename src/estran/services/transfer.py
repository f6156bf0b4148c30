"""Export and import of the event log as JSON Lines.

Import checks the whole file before writing anything: each line must be a well-formed event
of a known type whose data fits its schema and which applies cleanly (references, ids,
lifecycles) on top of the store's picture and the lines before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.domain.commands import pydantic_details
from estran.domain.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidTransitionError,
    NotFoundError,
    UnknownReferenceError,
    ValidationFailedError,
)
from estran.domain.events import EVENT_TYPES, MAX_EVENT_BYTES, Event
from estran.domain.markings import Marking
from estran.domain.messages import msg
from estran.domain.picture import Picture, Staged
from estran.domain.records import KINDS
from estran.domain.timefmt import EARLIEST, LATEST, parse_stamp, stamp

if TYPE_CHECKING:
    from collections.abc import Iterable

    from estran.ports import EventStore

__all__ = ["ImportResult", "export_events", "import_events"]

_CHUNK: Final = 20_000


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(ge=0)
    event_id: str = Field(min_length=8, max_length=64)
    type: str
    kind: str
    entity_id: str = Field(min_length=1, max_length=128)
    observed_at: str
    received_at: str
    actor: str = Field(max_length=256)
    source: str = Field(max_length=256)
    marking: Marking
    data: dict[str, Any]


@dataclass(frozen=True)
class ImportResult:
    imported: int
    skipped: int


def export_events(store: EventStore, out: IO[bytes], *, after: int = 0) -> int:
    count = 0
    for event in store.read(after):
        out.write(event.to_json() + b"\n")
        count += 1
    return count


def _check(view: Staged, line: _Line, number: int) -> Event:
    if line.type not in EVENT_TYPES or line.type.split(".")[0] != line.kind:
        raise InvalidInputError(
            msg("line {number}: unknown event type {type!r}", number=number, type=line.type)
        )
    spec = KINDS[line.kind]
    try:
        moments = parse_stamp(line.observed_at), parse_stamp(line.received_at)
        for name, moment in zip(("observed_at", "received_at"), moments, strict=True):
            if not EARLIEST <= moment < LATEST:
                raise ValueError(f"{name} {stamp(moment)} is outside 2000 to 2200")
        observed, received = stamp(moments[0]), stamp(moments[1])
        if line.type.endswith(".created"):
            data = spec.validate_create({**line.data, "id": line.entity_id})
            data.pop("id", None)
        else:
            data = spec.validate_patch(line.data)
    except ValidationError as exc:
        raise ValidationFailedError(
            msg("line {number}: invalid {name} data", number=number, name=spec.name),
            details=pydantic_details(exc, ("data",)),
        ) from exc
    except ValueError as exc:
        raise InvalidInputError(msg("line {number}: {exc}", number=number, exc=exc)) from exc
    current = view.get(spec.name, line.entity_id)
    if line.type.endswith(".created") and current is not None:
        raise AlreadyExistsError(spec.name, line.entity_id)
    if line.type.endswith(".updated") and current is None:
        raise NotFoundError(spec.name, line.entity_id)
    for field_name, target in spec.references.items():
        ref = data.get(field_name)
        if ref is not None and view.get(target, ref) is None:
            raise UnknownReferenceError(target, ref, field_name)
    return Event(
        0,
        line.event_id,
        line.type,
        line.kind,
        line.entity_id,
        observed,
        received,
        line.actor,
        line.source,
        line.marking.as_event(),
        data,
    )


def import_events(store: EventStore, lines: Iterable[bytes]) -> ImportResult:
    parsed: list[tuple[_Line, int]] = []
    seen: set[str] = set()
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        if len(raw) > MAX_EVENT_BYTES:
            raise InvalidInputError(
                msg(
                    "line {number}: over {MAX_EVENT_BYTES} bytes",
                    number=number,
                    MAX_EVENT_BYTES=MAX_EVENT_BYTES,
                )
            )
        try:
            line = _Line.model_validate(orjson.loads(raw))
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(
                msg("line {number}: malformed JSON ({exc})", number=number, exc=exc)
            ) from exc
        except ValidationError as exc:
            raise ValidationFailedError(
                msg("line {number}: not an event", number=number), details=pydantic_details(exc)
            ) from exc
        if line.event_id in seen:
            raise InvalidInputError(
                msg(
                    "line {number}: event_id {event_id!r} repeated",
                    number=number,
                    event_id=line.event_id,
                )
            )
        seen.add(line.event_id)
        parsed.append((line, number))
    present = store.find([line.event_id for line, _ in parsed])
    view = Staged(Picture().apply_all(store.read()))
    fresh: list[Event] = []
    for line, number in parsed:
        if line.event_id in present:
            continue
        try:
            event = _check(view, line, number)
        except (NotFoundError, AlreadyExistsError, InvalidTransitionError) as exc:
            raise InvalidInputError(
                msg("line {number}: {message}", number=number, message=exc.message)
            ) from exc
        view.stage(event)
        fresh.append(event)
    for i in range(0, len(fresh), _CHUNK):
        store.append(fresh[i : i + _CHUNK])
    return ImportResult(imported=len(fresh), skipped=len(parsed) - len(fresh))
