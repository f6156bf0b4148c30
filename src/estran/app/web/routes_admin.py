"""Exports, the audit trail and the retention purge.

GET  /api/v1/export              every record the asker may see, as JSON lines (justified,
                                 audited); ``kinds`` narrows it
GET  /api/v1/export/statistics   the subject-free export: counts by day, sector, kind and type,
                                 positions coarsened to 0.05 degrees, no ids, no free text
GET  /api/v1/audit               the audit trail (auditors and administrators)
GET  /api/v1/audit/verify        walks the hash chain and reports any break
POST /api/v1/purge               runs the retention purge now (justified)
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from estran.app.web.auth import justification, require, who
from estran.app.web.common import JSONBytes
from estran.app.web.deps import (
    AccessDep,
    AuditDep,
    PictureDep,
    PolicyDep,
    RetentionDep,
    RuntimeDep,
    SecurityDep,
)
from estran.domain.errors import NotFoundError, ValidationFailedError
from estran.domain.messages import msg
from estran.domain.policy import Action
from estran.domain.records import KINDS, KINDS_BY_PLURAL
from estran.services.audit import verify

__all__ = ["build_admin_router", "subject_free"]

_STAT_KINDS = ("detection", "track", "incident", "task", "rescue_case")
_GRID = 0.05


def _chosen(kinds: str | None) -> list[str]:
    names = list(KINDS_BY_PLURAL) if kinds is None else kinds.split(",")
    unknown = [k for k in names if k not in KINDS_BY_PLURAL]
    if unknown:
        raise ValidationFailedError(
            msg("unknown kinds {unknown}", unknown=unknown),
            details=[{"loc": ["query", "kinds"], "msg": f"one of {list(KINDS_BY_PLURAL)}"}],
        )
    return [KINDS_BY_PLURAL[k].name for k in names]


def subject_free(records: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Counts by day, ~5 km cell, kind, type and outcome: nothing that points at a subject."""
    cells: Counter[tuple[Any, ...]] = Counter()
    people: Counter[tuple[Any, ...]] = Counter()
    for kind, items in records.items():
        type_field = KINDS[kind].type_field
        for r in items:
            pos = r.get("position")
            cell = (
                None
                if not pos
                else (round(pos["lat"] / _GRID) * _GRID, round(pos["lon"] / _GRID) * _GRID)
            )
            key = (
                r["observed_at"][:10],
                kind,
                r.get(type_field) if type_field else None,
                r.get("outcome"),
                None if cell is None else round(cell[0], 2),
                None if cell is None else round(cell[1], 2),
            )
            cells[key] += 1
            people[key] += int(r.get("people_count") or r.get("count") or 0)
    return [
        {
            "day": k[0],
            "kind": k[1],
            "type": k[2],
            "outcome": k[3],
            "cell_lat": k[4],
            "cell_lon": k[5],
            "records": n,
            "people": people[k],
        }
        for k, n in sorted(cells.items(), key=lambda kv: tuple(str(x) for x in kv[0]))
    ]


def build_admin_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/export", tags=["export"], summary="Records out, as JSON lines (justified)")
    async def export(
        request: Request,
        access: AccessDep,
        audit: AuditDep,
        picture: PictureDep,
        policy: PolicyDep,
        kinds: Annotated[str | None, Query(description="Comma-separated plurals.")] = None,
    ) -> Response:
        why = justification(request)
        require(request, Action.EXPORT, why=why)
        chosen = _chosen(kinds)
        snap = picture.snapshot(chosen, access.predicate(who(request)))
        lines = [orjson.dumps(r) for k in chosen for r in snap[k]]
        await audit.record(
            audit.row(
                who(request).id,
                "export",
                justification=why,
                details={
                    "kinds": chosen,
                    "records": len(lines),
                    "sensitive": sum(1 for k in chosen for r in snap[k] if policy.is_sensitive(r)),
                },
            )
        )
        return Response(b"\n".join(lines) + b"\n", media_type="application/x-ndjson")

    @router.get(
        "/export/statistics", tags=["export"], summary="The subject-free export for statistics"
    )
    async def statistics(
        request: Request,
        access: AccessDep,
        audit: AuditDep,
        picture: PictureDep,
    ) -> JSONBytes:
        require(request, Action.EXPORT_STATS)
        snap = picture.snapshot(_STAT_KINDS, access.predicate(who(request)))
        rows = subject_free(snap)
        await audit.record(audit.row(who(request).id, "export_stats", details={"rows": len(rows)}))
        return JSONBytes({"grid_deg": _GRID, "rows": rows})

    @router.get("/audit", tags=["audit"], summary="The audit trail, in order")
    async def audit_rows(
        request: Request,
        security: SecurityDep,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONBytes:
        require(request, Action.AUDIT)
        rows = await asyncio.to_thread(
            lambda: [r.as_dict() for r in security.read_audit(after, limit)]
        )
        return JSONBytes({"rows": rows, "next_after": rows[-1]["seq"] if rows else after})

    @router.get("/audit/verify", tags=["audit"], summary="Check the audit trail's hash chain")
    async def audit_verify(
        request: Request,
        security: SecurityDep,
    ) -> JSONBytes:
        require(request, Action.AUDIT)
        result = await asyncio.to_thread(verify, security)
        return JSONBytes({"ok": result.ok, "rows": result.rows, "problems": result.problems})

    @router.post("/purge", tags=["retention"], summary="Run the retention purge now")
    async def purge(
        request: Request,
        retention: RetentionDep,
    ) -> JSONBytes:
        why = justification(request)
        require(request, Action.PURGE, why=why)
        return JSONBytes(await retention.run_once(actor=who(request).id, justification=why))

    @router.post(
        "/runtime/{name}/drill",
        tags=["health"],
        summary="A supervision drill: make one background worker fail (administrators)",
    )
    async def drill(
        request: Request, audit: AuditDep, runtime: RuntimeDep, name: str, times: int = 1
    ) -> JSONBytes:
        """The named reactor or loop raises ``times`` times, is restarted by the supervisor and
        catches up; meanwhile health reports it and, for the rescue watch, every watch floor
        shows the red banner. Audited, with its justification."""
        why = justification(request)
        require(request, Action.MANAGE_USERS, why=why)
        if not 1 <= times <= 20:
            raise ValidationFailedError(
                msg("times is 1 to 20"),
                details=[{"loc": ["query", "times"], "msg": "1 to 20", "type": "range"}],
            )
        try:
            runtime.inject_fault(name, times)
        except KeyError:
            raise NotFoundError("reactor", name) from None
        await audit.record(
            audit.row(who(request).id, "drill", target=f"runtime/{name}",
                          justification=why, details={"times": times})
        )  # fmt: skip
        return JSONBytes({"drill": name, "times": times})

    return router
