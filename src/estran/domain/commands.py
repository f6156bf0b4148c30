"""Decide: turn a client's command into an event, or refuse it with a reason.

Pure: the clock's reading, the actor and the id generator come in a ``Context``. The checks
here are the domain rules every path (REST, bulk events, CoT, import) goes through: schema,
references to existing records, unique ids, status lifecycles, and times not in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from estran.domain.errors import (
    AlreadyExistsError,
    FutureTimeError,
    InvalidTransitionError,
    NotFoundError,
    UnknownReferenceError,
    ValidationFailedError,
)
from estran.domain.events import CommandIn, Event
from estran.domain.markings import Marking
from estran.domain.records import KINDS, KindSpec
from estran.domain.rescue import check_life_at_sea
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Context", "RecordView", "decide", "pydantic_details"]

Record = dict[str, Any]


class RecordView(Protocol):
    def get(self, kind: str, entity_id: str) -> Record | None: ...


@dataclass(frozen=True)
class Context:
    received_at: datetime
    actor: str
    source: str
    default_marking: Marking
    max_future_skew_s: float
    new_id: Callable[[], str]


def pydantic_details(
    exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _check_references(view: RecordView, spec: KindSpec, data: Record) -> None:
    for field_name, target in spec.references.items():
        ref = data.get(field_name)
        if ref is not None and view.get(target, ref) is None:
            raise UnknownReferenceError(target, ref, field_name)
    for field_name, target in spec.list_references.items():
        for ref in data.get(field_name) or ():
            if view.get(target, ref) is None:
                raise UnknownReferenceError(target, ref, field_name)


def _check_transitions(spec: KindSpec, entity_id: str, current: Record, changes: Record) -> None:
    for field_name, allowed in spec.transitions.items():
        new = changes.get(field_name)
        old = current.get(field_name)
        if new is None or new == old:
            continue
        if new not in allowed.get(str(old), set()):
            raise InvalidTransitionError(spec.name, entity_id, field_name, str(old), str(new))


def decide(view: RecordView, cmd: CommandIn, ctx: Context) -> Event:
    """Validate ``cmd`` against the picture ``view`` and return the event it makes."""
    spec = KINDS[cmd.kind]
    observed = cmd.observed_at or ctx.received_at
    if observed - ctx.received_at > timedelta(seconds=ctx.max_future_skew_s):
        raise FutureTimeError(
            f"observed_at {stamp(observed)} is more than {ctx.max_future_skew_s:g} s "
            f"after the server's clock ({stamp(ctx.received_at)})",
            observed_at=stamp(observed),
            limit_s=ctx.max_future_skew_s,
        )
    try:
        data = (
            spec.validate_create(cmd.data)
            if cmd.verb == "created"
            else spec.validate_patch(cmd.data)
        )
    except ValidationError as exc:
        raise ValidationFailedError(
            f"invalid {spec.name} data", details=pydantic_details(exc, ("data",))
        ) from exc

    current: Record | None = None
    if cmd.verb == "created":
        entity_id = cmd.entity_id or data.pop("id", None) or f"{spec.id_prefix}{ctx.new_id()}"
        data.pop("id", None)
        if view.get(spec.name, entity_id) is not None:
            raise AlreadyExistsError(spec.name, entity_id)
        marking = cmd.marking or ctx.default_marking
    else:
        if cmd.entity_id is None:
            raise ValidationFailedError(
                "an update needs entity_id",
                details=[{"loc": ["entity_id"], "msg": "required", "type": "missing"}],
            )
        entity_id = cmd.entity_id
        current = view.get(spec.name, entity_id)
        if current is None:
            raise NotFoundError(spec.name, entity_id)
        if not data and cmd.marking is None:
            raise ValidationFailedError(
                "an update must change something",
                details=[{"loc": ["data"], "msg": "empty update", "type": "value_error"}],
            )
        _check_transitions(spec, entity_id, current, data)
        marking = cmd.marking or Marking.model_validate(current["marking"])
    _check_references(view, spec, data)
    check_life_at_sea(view, spec.name, cmd.verb, entity_id, current, data)
    return Event(
        seq=0,
        event_id=cmd.event_id or ctx.new_id(),
        type=cmd.type,
        kind=spec.name,
        entity_id=entity_id,
        observed_at=stamp(observed),
        received_at=stamp(ctx.received_at),
        actor=ctx.actor,
        source=ctx.source,
        marking=marking.model_dump(mode="json"),
        data=data,
    )
