"""The raw event log: batched submission, and reads by sequence, time, entity and type."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import TypeAdapter, ValidationError

from estran.app.web.auth import justification, require, who
from estran.app.web.common import (
    JSONBytes,
    read_json,
    seen_then,
    time_param,
)
from estran.app.web.deps import AccessDep, ClockDep, LedgerDep, PictureDep, SettingsDep, StoreDep
from estran.domain.commands import pydantic_details
from estran.domain.errors import InvalidInputError, PayloadTooLargeError, ValidationFailedError
from estran.domain.events import EVENT_TYPES, CommandIn, Event
from estran.domain.messages import msg
from estran.domain.policy import Action

__all__ = ["build_events_router"]

_COMMANDS = TypeAdapter(list[CommandIn])


def build_events_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["events"])

    @router.post(
        "/events",
        status_code=201,
        summary="Submit one command or a batch (all or nothing)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/CommandIn"},
                                {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/CommandIn"},
                                },
                            ]
                        }
                    }
                },
            }
        },
    )
    async def submit(
        request: Request,
        ledger: LedgerDep,
        settings: SettingsDep,
    ) -> JSONBytes:
        body: Any = await read_json(request)
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or not body:
            raise InvalidInputError(
                msg("a command object or a non-empty array of commands expected")
            )
        if len(body) > settings.max_batch_events:
            raise PayloadTooLargeError(
                msg(
                    "{n_body} commands in one request; the limit is {max_batch_events}",
                    n_body=len(body),
                    max_batch_events=settings.max_batch_events,
                ),
                limit=settings.max_batch_events,
                actual=len(body),
            )
        why = justification(request)
        if why is not None:
            body = [{"justification": why, **c} if isinstance(c, dict) else c for c in body]
        try:
            commands = _COMMANDS.validate_python(body)
        except ValidationError as exc:
            raise ValidationFailedError(
                msg("invalid commands"), details=pydantic_details(exc)
            ) from exc
        client = request.client.host if request.client else "unknown"
        principal = who(request)
        events = await ledger.submit(
            commands, actor=principal.id, source=f"http:{client}", principal=principal
        )
        return JSONBytes(
            {
                "events": [
                    {
                        "seq": e.seq,
                        "event_id": e.event_id,
                        "type": e.type,
                        "entity_id": e.entity_id,
                        "received_at": e.received_at,
                    }
                    for e in events
                ]
            },
            status_code=201,
        )

    @router.get("/events", summary="Read the event log in order")
    async def read(
        request: Request,
        access: AccessDep,
        clock: ClockDep,
        picture: PictureDep,
        settings: SettingsDep,
        store: StoreDep,
        after: Annotated[int, Query(ge=0, le=2**62, description="Events after this seq.")] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
        until: Annotated[str | None, Query(description="Received at or before.")] = None,
        entity_id: Annotated[str | None, Query(max_length=128)] = None,
        type: Annotated[list[str] | None, Query(description="Event types.")] = None,
    ) -> JSONBytes:
        for t in type or ():
            if t not in EVENT_TYPES:
                raise ValidationFailedError(
                    msg("unknown event type {t!r}", t=t),
                    details=[
                        {
                            "loc": ["query", "type"],
                            "msg": f"one of {list(EVENT_TYPES)}",
                            "type": "enum",
                        }
                    ],
                )
        until_stamp = time_param("until", until, clock.now(), settings.max_future_skew_s)
        require(request, Action.REPLAY)
        keep = access.predicate(who(request))

        def visible(e: Event) -> bool:
            # An event shows where its record may be seen both as it is now (a purged record's
            # events are gone) and as the event marked it then: a release opens the record's
            # events from the release on, never what it held before it.
            live = picture.get(e.kind, e.entity_id)
            return live is not None and bool(keep(live)) and seen_then(keep, live, e)

        def page() -> tuple[list[dict[str, Any]], int]:
            scanned = after
            out: list[dict[str, Any]] = []
            for e in store.read(
                after, until_received=until_stamp, entity_id=entity_id, types=type, limit=limit
            ):
                scanned = e.seq
                if visible(e):
                    out.append(e.to_dict())
            return out, scanned

        events, next_after = await asyncio.to_thread(page)
        return JSONBytes({"events": events, "next_after": next_after})

    return router
