"""``GET /api/v1/stats``: the figures the agreement is judged by (``docs/figures.md``); and
``GET /api/v1/handover``: the shift handover report."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from estran.app.web.auth import require, who
from estran.app.web.common import JSONBytes, time_param
from estran.app.web.deps import AccessDep, ClockDep, SecurityDep, SettingsDep
from estran.domain.errors import ValidationFailedError
from estran.domain.messages import msg
from estran.domain.policy import Action
from estran.domain.timefmt import stamp
from estran.services.handover import handover
from estran.services.stats import figures

__all__ = ["build_stats_router"]


def build_stats_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["figures"])

    @router.get("/stats", summary="Attempts, interceptions, launches, rescues, response times")
    async def stats(
        request: Request,
        access: AccessDep,
        clock: ClockDep,
        settings: SettingsDep,
        since: Annotated[str | None, Query(description="ISO 8601; incidents opened from.")] = None,
        until: Annotated[str | None, Query(description="ISO 8601; opened before.")] = None,
        by: Annotated[
            Literal["hour", "day", "sector"] | None,
            Query(description="Group by: hour (`YYYY-MM-DDTHH`), day or sector."),
        ] = None,
    ) -> JSONBytes:
        now = clock.now()
        skew = settings.max_future_skew_s
        start = time_param("since", since, now, skew)
        end = time_param("until", until, now, skew)
        if start is not None and end is not None and end <= start:
            raise ValidationFailedError(
                msg("until must be after since"),
                details=[{"loc": ["query", "until"], "msg": "not after since"}],
            )
        require(request, Action.STATS)
        # Figures count only what the asker may see: a hidden incident moves no number.
        view = access.visible_picture(who(request))
        return JSONBytes(figures(view, since=start, until=end, by=by, now=stamp(now)))

    @router.get("/handover", summary="The shift handover report (rescue cases first)")
    async def handover_report(
        request: Request,
        access: AccessDep,
        clock: ClockDep,
        security: SecurityDep,
        settings: SettingsDep,
        since: Annotated[str, Query(description="ISO 8601: the start of the outgoing shift.")],
    ) -> JSONBytes:
        now = clock.now()
        start = time_param("since", since, now, settings.max_future_skew_s)
        assert start is not None  # noqa: S101 (a required parameter)
        require(request, Action.READ)
        view = access.visible_picture(who(request))
        report = handover(view, since=start, now=stamp(now))
        # The audit trail's head, printed in every handover: kept on paper or in the next
        # watch's log, it lets `estran audit verify --anchor SEQ:HASH` find a chain that was
        # cut back, or emptied, later.
        seq, digest = await asyncio.to_thread(security.audit_head)
        report["audit_head"] = {"seq": seq, "hash": digest, "anchor": f"{seq}:{digest}"}
        return JSONBytes(report)

    return router
