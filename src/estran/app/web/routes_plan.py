"""Tonight's deployment plan over HTTP.

POST /api/v1/plans          compute tonight's plan and publish its posts as proposals
GET  /api/v1/plans/latest   the latest plan: every launch site's coverage, every post's why

Publishing is a proposal (commanders and operators); accepting a post is tasking, through
``PATCH /api/v1/posts/{id}`` or an event, decided by the server like any task.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from estran.app.web.auth import require, who
from estran.app.web.common import JSONBytes, read_json
from estran.app.web.deps import AccessDep, PlansDep
from estran.app.web.errors import localized
from estran.domain.commands import pydantic_details
from estran.domain.errors import NotReadyError, ValidationFailedError
from estran.domain.messages import msg
from estran.domain.policy import Action, enforce

__all__ = ["build_plan_router"]


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Literal["ahead", "qr", "sse"] = Field(
        "ahead",
        description="ahead: re-planned against what the organisers saw of the last 7 nights' "
        "accepted posts (qr when none); qr: against a boundedly rational adversary; sse: a "
        "perfect one.",
    )
    seed: int | None = Field(
        None, ge=0, le=2**63 - 1, description="Seed for tonight's draw (default: fresh)."
    )


_OFF = msg("planning (terrain is switched off)")


def build_plan_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["planning"])

    @router.post(
        "/plans",
        status_code=201,
        summary="Compute and publish tonight's plan",
        openapi_extra={"requestBody": {"content": {"application/json": {
            "schema": PlanRequest.model_json_schema()}}}},
    )  # fmt: skip
    async def publish(
        request: Request,
        access: AccessDep,
        plans: PlansDep,
    ) -> JSONBytes:
        # The body is read as JSON whatever its declared type (as every write route here),
        # and may be empty: the defaults then.
        raw = await request.body()
        try:
            body = PlanRequest.model_validate(await read_json(request) if raw.strip() else {})
        except ValidationError as exc:
            raise ValidationFailedError(
                msg("invalid plan request"), details=pydantic_details(exc, ("body",))
            ) from exc
        principal = who(request)
        # Publishing proposes posts: refused up front to whoever may not create one.
        enforce(access.decide(principal, Action.PROPOSE, kind="post"))
        if plans is None:
            raise NotReadyError(
                msg("planning (terrain is switched off)"), progress=0.0, elapsed_s=0.0
            )
        client = request.client.host if request.client else "unknown"
        plan = await plans.publish(
            principal,
            access.predicate(principal),
            method=body.method,
            seed=body.seed,
            source=f"http:{client}",
        )
        return JSONBytes(localized(request, plan), status_code=201)

    @router.get("/plans/status", summary="Whether plans can answer at once: the coverage model")
    async def status(
        request: Request,
        plans: PlansDep,
    ) -> JSONBytes:
        require(request, Action.READ)
        if plans is None:
            raise NotReadyError(_OFF, progress=0.0, elapsed_s=0.0)
        return JSONBytes(plans.status())

    @router.get("/plans/latest", summary="The latest plan: site coverage and posts explained")
    async def latest(
        request: Request,
        access: AccessDep,
        plans: PlansDep,
    ) -> JSONBytes:
        require(request, Action.READ)
        if plans is None:
            raise NotReadyError(
                msg("planning (terrain is switched off)"), progress=0.0, elapsed_s=0.0
            )
        principal = who(request)
        return JSONBytes(localized(request, plans.last(access.predicate(principal))))

    return router
