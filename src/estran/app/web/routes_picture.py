"""The whole picture, now or as it was at a past moment; and the health check."""

from __future__ import annotations

import asyncio
import shutil
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from estran import __version__
from estran.app.web.auth import authenticated, require, who
from estran.app.web.common import JSONBytes, audit_views, time_param
from estran.app.web.deps import (
    AccessDep,
    ClockDep,
    CollectorDep,
    CotDep,
    ExtrasDep,
    FederationDep,
    HubDep,
    LedgerDep,
    PictureDep,
    PlansDep,
    PolicyDep,
    ReplayDep,
    RuntimeDep,
    SettingsDep,
    StoreDep,
    TakDep,
    TerrainDep,
)
from estran.domain.errors import AuthenticationError, ValidationFailedError
from estran.domain.messages import msg
from estran.domain.policy import Action
from estran.domain.records import KINDS, KINDS_BY_PLURAL

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.services.ledger import Ledger
    from estran.services.runtime import Runtime

__all__ = ["build_health_router", "build_picture_router"]


def build_picture_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/picture", tags=["picture"], summary="The picture now, or as known at `at`")
    async def picture(
        request: Request,
        access: AccessDep,
        clock: ClockDep,
        picture: PictureDep,
        replay: ReplayDep,
        settings: SettingsDep,
        at: Annotated[str | None, Query(description="ISO 8601 time; omitted means now.")] = None,
        kinds: Annotated[
            str | None, Query(description="Comma-separated, e.g. units,incidents")
        ] = None,
    ) -> JSONBytes:
        chosen = list(KINDS_BY_PLURAL) if kinds is None else kinds.split(",")
        unknown = [k for k in chosen if k not in KINDS_BY_PLURAL]
        if unknown:
            raise ValidationFailedError(
                msg("unknown kinds {unknown}", unknown=unknown),
                details=[
                    {
                        "loc": ["query", "kinds"],
                        "msg": f"one of {list(KINDS_BY_PLURAL)}",
                        "type": "enum",
                    }
                ],
            )
        at_stamp = time_param("at", at, clock.now(), settings.max_future_skew_s)
        principal = who(request)
        if at_stamp is None:
            view = picture
            snap = view.snapshot(
                (KINDS_BY_PLURAL[k].name for k in chosen), access.predicate(principal)
            )
        else:
            require(request, Action.REPLAY)
            past = await asyncio.to_thread(replay.at, at_stamp)
            view = access.visible_picture(principal, past)
            snap = view.snapshot(KINDS_BY_PLURAL[k].name for k in chosen)
        await audit_views(request, [r for records in snap.values() for r in records])
        return JSONBytes(
            {
                "at": at_stamp,
                "seq": view.seq,
                "as_of": view.as_of,
                "records": {KINDS[k].plural: v for k, v in snap.items()},
            }
        )

    return router


_MIN_FREE_BYTES = 512 * 1024 * 1024


def _problems(ledger: Ledger, runtime: Runtime, settings: Settings) -> list[str]:
    """Why the centre is not fully working (empty: it is): the store not taking writes, a
    background reactor or loop down or lagging, the data disk nearly full."""
    out = []
    if ledger.failing:
        out.append(f"store not writable: {ledger.failing}")
    out.extend(runtime.problems())
    try:
        free = shutil.disk_usage(settings.data_dir).free
    except OSError:
        free = None
    if free is not None and free < _MIN_FREE_BYTES:
        out.append(f"data disk nearly full: {free // (1024 * 1024)} MiB free")
    return out


def build_health_router() -> APIRouter:
    """``/health`` answers anyone (liveness and, signed in, what the server holds);
    ``/livez`` and ``/readyz`` are for a load balancer."""
    router = APIRouter(prefix="/api/v1")

    @router.get("/livez", tags=["health"], summary="The process answers (a load balancer's check)")
    async def livez() -> JSONBytes:
        return JSONBytes({"status": "alive", "version": __version__})

    @router.get(
        "/readyz",
        tags=["health"],
        summary="Ready for traffic: 503 while life-critical background work is down",
    )
    async def readyz(runtime: RuntimeDep) -> Response:
        critical = runtime.critical_problems(this_node=True)
        body = {"status": "ready" if not critical else "not_ready", "problems": critical}
        return JSONBytes(body, status_code=200 if not critical else 503)

    @router.get("/health", tags=["health"], summary="Liveness and what the server holds")
    async def health(
        request: Request,
        access: AccessDep,
        collector: CollectorDep,
        cot: CotDep,
        tak: TakDep,
        federation: FederationDep,
        plans: PlansDep,
        extras: ExtrasDep,
        hub: HubDep,
        picture: PictureDep,
        policy: PolicyDep,
        store: StoreDep,
        terrain: TerrainDep,
        ledger: LedgerDep,
        runtime: RuntimeDep,
        settings: SettingsDep,
    ) -> JSONBytes:
        problems = _problems(ledger, runtime, settings)
        status = "degraded" if problems else "ok"
        try:
            principal = await authenticated(request)
        except AuthenticationError:
            return JSONBytes({"status": status, "version": __version__})
        if policy.roles[principal.role].sees == "none":
            return JSONBytes({"status": status, "version": __version__})
        demo = next((x.status() for x in extras if getattr(x, "name", "") == "demo"), None)
        critical = runtime.critical_problems()
        return JSONBytes(
            {
                "status": status,
                "problems": problems,
                "version": __version__,
                "store": store.name,
                "seq": picture.seq,
                # What this user may see: a total over everything would reveal hidden records.
                "records": access.visible_picture(principal).count(),
                "subscribers": hub.subscriber_count,
                "terrain": terrain.status(),
                "plans": None if plans is None else plans.status(),
                "reactors": runtime.status(),
                "background": settings.background,
                "leader": runtime.leader_status(),
                "demo": demo,
                "federation": None if federation is None else federation.status(),
                "followed": ledger.followed,
                "gc": collector.status(),
                "rescue_watch": {
                    "ok": not critical,
                    "problems": critical,
                },
                "cot": None
                if cot is None
                else {
                    "ports": cot.ports,
                    "clients": len(cot.clients),
                    **vars(cot.stats),
                    "relay": None
                    if tak is None or tak.relay_bus is None
                    else tak.relay_bus.status(),
                },
            }
        )

    return router
