"""Helpers every route module shares: JSON in and out, time parameters, the services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from fastapi import Request
from pydantic import ValidationError
from starlette.responses import Response

from estran.domain.errors import FutureTimeError, InvalidInputError, ValidationFailedError
from estran.domain.markings import Marking
from estran.domain.messages import msg
from estran.domain.timefmt import parse_stamp, stamp

if TYPE_CHECKING:
    from datetime import datetime

    from estran.bootstrap import Services
    from estran.domain.events import Event

__all__ = [
    "JSONBytes",
    "audit_views",
    "envelope_fields",
    "read_json",
    "seen_then",
    "services",
    "time_param",
]


class JSONBytes(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # numpy arrays (route coordinates) serialise natively, without a list round-trip.
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def seen_then(keep: Any, record: dict[str, Any], event: Event) -> bool:
    """Whether ``keep`` (a reader's policy) lets the reader see ``record`` as ``event`` marked
    it: history, ``/events`` and the stream's backlog never show what a record held before it
    was released to the reader."""
    if event.marking == record.get("marking"):
        return True
    return bool(keep({**record, "marking": event.marking}))


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        raise InvalidInputError(msg("request body is empty; JSON expected"))
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInputError(
            msg("malformed JSON: {exc}", exc=exc), details=[{"loc": ["body"], "msg": str(exc)}]
        ) from exc


def time_param(name: str, value: str | None, now: datetime, max_skew_s: float) -> str | None:
    """A query-string time as a canonical stamp; refuses junk and the far future."""
    if value is None:
        return None
    try:
        moment = parse_stamp(value)
    except ValueError as exc:
        raise ValidationFailedError(
            msg("{name} is not an ISO 8601 time with a zone", name=name),
            details=[{"loc": ["query", name], "msg": str(exc), "type": "datetime_parsing"}],
        ) from exc
    if (moment - now).total_seconds() > max_skew_s:
        raise FutureTimeError(
            msg("{name} is in the future", name=name), observed_at=stamp(moment), limit_s=max_skew_s
        )
    return stamp(moment)


def envelope_fields(body: dict[str, Any]) -> tuple[dict[str, Any], Marking | None, Any]:
    """Split a REST body into record data, its marking and its observation time."""
    data = dict(body)
    raw_marking = data.pop("marking", None)
    observed_at = data.pop("observed_at", None)
    try:
        marking = None if raw_marking is None else Marking.model_validate(raw_marking)
    except ValidationError as exc:
        from estran.domain.commands import pydantic_details

        raise ValidationFailedError(
            msg("invalid marking"), details=pydantic_details(exc, ("body", "marking"))
        ) from exc
    return data, marking, observed_at


_MAX_IDS = 50


async def audit_views(request: Request, records: list[dict[str, Any]]) -> None:
    """Views of sensitive records (personal data, or marked at or above the policy's
    ``sensitive_from``) are audited: one row per request, with the ids (the first 50)."""
    svc = services(request)
    sensitive = [r for r in records if svc.policy.is_sensitive(r)]
    if not sensitive:
        return
    principal = request.state.principal
    await svc.audit.record(
        svc.audit.row(
            principal.id,
            "view",
            target=f"{sensitive[0]['entity']}/{sensitive[0]['id']}",
            details={
                "path": request.url.path,
                "count": len(sensitive),
                "ids": [f"{r['entity']}/{r['id']}" for r in sensitive[:_MAX_IDS]],
            },
        )
    )
