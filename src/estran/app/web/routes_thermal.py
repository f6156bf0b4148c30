"""Drone thermal video over HTTP.

POST /api/v1/sensors/{id}/thermal?t=&lat=&lon=&alt_m=&yaw_deg=&pitch_deg=&roll_deg=
     the body is one encoded frame (PNG or TIFF, 8 or 16 bit); the query its telemetry.
     Answer 200 with what the frame gave (or why it was skipped: a bad frame never stops the
     stream, and changes nothing).
GET  /api/v1/detections/{id}/chip   the detection's thumbnail (PNG), while imagery is kept;
     every view is audited.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Query, Request, Response

from estran.app.web.auth import who
from estran.app.web.common import JSONBytes
from estran.app.web.deps import AccessDep, AuditDep, ClockDep, ThermalDep
from estran.domain.errors import InvalidInputError, NotFoundError, NotReadyError
from estran.domain.messages import msg
from estran.domain.policy import Action, enforce

__all__ = ["build_thermal_router"]


MAX_FLIGHT_S: Final = 7 * 86_400.0


def build_thermal_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["thermal"])

    @router.post("/sensors/{sensor_id}/thermal", summary="One thermal frame and its telemetry")
    async def frame(
        request: Request,
        access: AccessDep,
        thermal: ThermalDep,
        sensor_id: str,
        t: Annotated[
            float,
            Query(
                ge=0,
                le=MAX_FLIGHT_S,
                description="Seconds since the flight began (a week "
                "at most: a later time would hold the drone's frames back for ever).",
            ),
        ],
        lat: Annotated[float, Query(ge=-90, le=90)],
        lon: Annotated[float, Query(ge=-180, le=180)],
        alt_m: Annotated[
            float, Query(ge=-500, le=20_000, description="Height above the ground, metres.")
        ],
        yaw_deg: Annotated[
            float, Query(ge=-360, le=360, description="Gimbal heading from true north.")
        ],
        pitch_deg: Annotated[
            float, Query(ge=-180, le=180, description="Gimbal pitch; -90 straight down.")
        ],
        roll_deg: Annotated[float, Query(ge=-180, le=180)] = 0.0,
    ) -> JSONBytes:
        principal = who(request)
        enforce(access.decide(principal, Action.CREATE, kind="detection"))
        if thermal is None:
            raise NotReadyError(msg("thermal video (switched off)"), progress=0.0, elapsed_s=0.0)
        body = await request.body()
        if not body:
            raise InvalidInputError(msg("the request body is empty: one encoded frame expected"))
        telemetry = {"t": t, "lat": lat, "lon": lon, "alt_m": alt_m, "yaw_deg": yaw_deg,
                     "pitch_deg": pitch_deg, "roll_deg": roll_deg}  # fmt: skip
        client = request.client.host if request.client else "unknown"
        result = await thermal.ingest(
            sensor_id, body, telemetry, principal, access.predicate(principal),
            source=f"thermal:{client}",
        )  # fmt: skip
        return JSONBytes(result)

    @router.get("/detections/{detection_id}/chip", summary="A detection's thumbnail (audited)")
    async def chip(
        request: Request,
        access: AccessDep,
        audit: AuditDep,
        clock: ClockDep,
        thermal: ThermalDep,
        detection_id: str,
    ) -> Response:
        principal = who(request)
        record = access.get(principal, "detection", detection_id)
        if record is None or thermal is None:
            raise NotFoundError("detection", detection_id)
        png = thermal.chips.get(detection_id, clock.now())
        await audit.record(
            audit.row(
                principal.id,
                "view",
                target=f"detection/{detection_id}",
                details={"imagery": "chip", "found": png is not None},
            )
        )
        if png is None:
            raise NotFoundError(
                "chip", detection_id, msg("no thumbnail (none kept, or past retention)")
            )
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    return router
