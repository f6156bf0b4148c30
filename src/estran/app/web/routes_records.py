"""REST routes for every kind of record, registered from the ``KINDS`` registry.

POST  /api/v1/{kinds}                create (201, the record; ``Idempotency-Key`` honoured)
GET   /api/v1/{kinds}                query: since, until, bbox, type, status, limit, offset
GET   /api/v1/{kinds}/{id}           one record
PATCH /api/v1/{kinds}/{id}           change fields (lifecycle rules apply)
GET   /api/v1/{kinds}/{id}/history   the events behind the record
GET   /api/v1/layers/{kinds}         the same query as a GeoJSON FeatureCollection
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from pydantic import ValidationError

from estran.app.web.auth import justification, require, who
from estran.app.web.common import (
    JSONBytes,
    audit_views,
    envelope_fields,
    read_json,
    seen_then,
    time_param,
)
from estran.app.web.deps import (
    AccessDep,
    ClockDep,
    LedgerDep,
    PictureDep,
    SettingsDep,
    StoreDep,
)
from estran.domain.commands import pydantic_details
from estran.domain.errors import InvalidInputError, NotFoundError, ValidationFailedError
from estran.domain.events import CommandIn
from estran.domain.geo import parse_bbox
from estran.domain.messages import msg
from estran.domain.picture import Query as PictureQuery
from estran.domain.policy import Action
from estran.domain.records import KINDS, KindSpec

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.ports import Clock
    from estran.services.ledger import Ledger

__all__ = ["build_records_router", "to_feature"]

Limit = Annotated[int, Query(ge=1, le=10_000, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Records to skip.")]


def to_feature(record: dict[str, Any]) -> dict[str, Any]:
    if "geometry" in record:
        geometry = record["geometry"]
    elif record.get("position"):
        geometry = {
            "type": "Point",
            "coordinates": [record["position"]["lon"], record["position"]["lat"]],
        }
    else:
        geometry = None
    properties = {k: v for k, v in record.items() if k != "geometry"}
    return {"type": "Feature", "id": record["id"], "geometry": geometry, "properties": properties}


def _picture_query(
    clock: Clock,
    settings: Settings,
    since: str | None,
    until: str | None,
    bbox: str | None,
    type_: str | None,
    status: str | None,
    limit: int,
    offset: int,
) -> PictureQuery:
    now, skew = clock.now(), settings.max_future_skew_s
    try:
        box = parse_bbox(bbox) if bbox is not None else None
    except ValueError as exc:
        raise ValidationFailedError(
            str(exc), details=[{"loc": ["query", "bbox"], "msg": str(exc), "type": "value_error"}]
        ) from exc
    return PictureQuery(
        since=time_param("since", since, now, skew),
        until=time_param("until", until, now, skew),
        bbox=box,
        type=type_,
        status=status,
        limit=limit,
        offset=offset,
    )


async def _submit_one(
    request: Request, ledger: Ledger, cmd_fields: dict[str, Any], key: str | None
) -> Any:
    principal = who(request)
    if key is not None:
        cmd_fields["event_id"] = key
    why = justification(request)
    if why is not None:
        cmd_fields["justification"] = why
    if request.headers.get("x-out-of-area", "").strip().lower() == "deliberate":
        cmd_fields["out_of_area"] = "deliberate"
    try:
        cmd = CommandIn.model_validate(cmd_fields)
    except ValidationError as exc:
        raise ValidationFailedError(msg("invalid request"), details=pydantic_details(exc)) from exc
    client = request.client.host if request.client else "unknown"
    (event,) = await ledger.submit(
        [cmd], actor=principal.id, source=f"http:{client}", principal=principal
    )
    return ledger.picture.get(event.kind, event.entity_id)


def _object_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInputError(msg("a JSON object is expected"))
    return body


def _make_handlers(spec: KindSpec) -> dict[str, Callable[..., Awaitable[Any]]]:
    async def create(
        request: Request,
        ledger: LedgerDep,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONBytes:
        data, marking, observed_at = envelope_fields(_object_body(await read_json(request)))
        fields: dict[str, Any] = {"type": f"{spec.name}.created", "data": data}
        if marking is not None:
            fields["marking"] = marking
        if observed_at is not None:
            fields["observed_at"] = observed_at
        record = await _submit_one(request, ledger, fields, idempotency_key)
        return JSONBytes(
            record, status_code=201, headers={"Location": f"/api/v1/{spec.plural}/{record['id']}"}
        )

    async def update(
        request: Request,
        ledger: LedgerDep,
        access: AccessDep,
        entity_id: str,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> JSONBytes:
        data, marking, observed_at = envelope_fields(_object_body(await read_json(request)))
        if access.get(who(request), spec.name, entity_id) is None:
            raise NotFoundError(spec.name, entity_id)
        fields: dict[str, Any] = {
            "type": f"{spec.name}.updated",
            "entity_id": entity_id,
            "data": data,
        }
        if marking is not None:
            fields["marking"] = marking
        if observed_at is not None:
            fields["observed_at"] = observed_at
        return JSONBytes(await _submit_one(request, ledger, fields, idempotency_key))

    async def get_one(request: Request, access: AccessDep, entity_id: str) -> JSONBytes:
        record = access.get(who(request), spec.name, entity_id)
        if record is None:
            raise NotFoundError(spec.name, entity_id)
        await audit_views(request, [record])
        return JSONBytes(record)

    async def history(
        request: Request, access: AccessDep, store: StoreDep, entity_id: str, limit: Limit = 1000
    ) -> JSONBytes:
        record = access.get(who(request), spec.name, entity_id)
        if record is None:
            raise NotFoundError(spec.name, entity_id)
        require(request, Action.REPLAY, record)
        await audit_views(request, [record])
        types = [f"{spec.name}.created", f"{spec.name}.updated"]
        keep = access.predicate(who(request))
        events = await asyncio.to_thread(
            lambda: [
                e.to_dict()
                for e in store.read(entity_id=entity_id, types=types, limit=limit)
                if e.kind == spec.name and seen_then(keep, record, e)
            ]
        )
        return JSONBytes({"events": events})

    async def listing(
        request: Request,
        access: AccessDep,
        picture: PictureDep,
        clock: ClockDep,
        settings: SettingsDep,
        since: Annotated[str | None, Query(description="Observed at or after (ISO 8601).")] = None,
        until: Annotated[str | None, Query(description="Observed at or before (ISO 8601).")] = None,
        bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat")] = None,
        type: Annotated[str | None, Query(description="Kind, class or type.")] = None,
        status: Annotated[str | None, Query()] = None,
        limit: Limit = 1000,
        offset: Offset = 0,
    ) -> JSONBytes:
        q = _picture_query(clock, settings, since, until, bbox, type, status, limit, offset)
        items, total = picture.query(spec.name, q, access.predicate(who(request)))
        await audit_views(request, items)
        return JSONBytes({"items": items, "total": total, "limit": limit, "offset": offset})

    async def layer(
        request: Request,
        access: AccessDep,
        picture: PictureDep,
        clock: ClockDep,
        settings: SettingsDep,
        since: Annotated[str | None, Query()] = None,
        until: Annotated[str | None, Query()] = None,
        bbox: Annotated[str | None, Query()] = None,
        type: Annotated[str | None, Query()] = None,
        status: Annotated[str | None, Query()] = None,
        limit: Limit = 10_000,
        offset: Offset = 0,
    ) -> JSONBytes:
        q = _picture_query(clock, settings, since, until, bbox, type, status, limit, offset)
        items, total = picture.query(spec.name, q, access.predicate(who(request)))
        await audit_views(request, items)
        return JSONBytes(
            {
                "type": "FeatureCollection",
                "features": [to_feature(r) for r in items],
                "total": total,
            }
        )

    return {
        "create": create,
        "update": update,
        "get": get_one,
        "history": history,
        "list": listing,
        "layer": layer,
    }


def _body_doc(model: type[Any], required: bool = True) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": ref}}}}


def build_records_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for spec in KINDS.values():
        h = _make_handlers(spec)
        base, tag = f"/{spec.plural}", spec.plural
        router.add_api_route(
            base,
            h["create"],
            methods=["POST"],
            tags=[tag],
            status_code=201,
            summary=f"Create a {spec.name}",
            openapi_extra=_body_doc(spec.create),
        )
        router.add_api_route(
            base, h["list"], methods=["GET"], tags=[tag], summary=f"Query {spec.plural}"
        )
        router.add_api_route(
            f"{base}/{{entity_id}}",
            h["get"],
            methods=["GET"],
            tags=[tag],
            summary=f"Get one {spec.name}",
        )
        router.add_api_route(
            f"{base}/{{entity_id}}",
            h["update"],
            methods=["PATCH"],
            tags=[tag],
            summary=f"Change a {spec.name}",
            openapi_extra=_body_doc(spec.patch),
        )
        router.add_api_route(
            f"{base}/{{entity_id}}/history",
            h["history"],
            methods=["GET"],
            tags=[tag],
            summary=f"Events behind a {spec.name}",
        )
        router.add_api_route(
            f"/layers/{spec.plural}",
            h["layer"],
            methods=["GET"],
            tags=["layers"],
            summary=f"{spec.plural} as GeoJSON",
        )
    return router


def openapi_components() -> dict[str, Any]:
    """JSON schemas of every create and patch body, for ``/openapi.json``."""
    schemas: dict[str, Any] = {}
    for spec in KINDS.values():
        for model in (spec.create, spec.patch):
            schema = model.model_json_schema(
                by_alias=True, ref_template="#/components/schemas/{model}"
            )
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
    return schemas
