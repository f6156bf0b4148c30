"""Terrain and travel time over HTTP.

GET /api/v1/eta?lat=&lon=           units ranked by ETA, with route and reason each
GET /api/v1/area                    the area: extent, places, legend, class counts, source
GET /api/v1/terrain?bbox=           terrain classes as GeoJSON polygons (a map layer)
GET /api/v1/terrain/at?lat=&lon=    the class at a point and each profile's speed there
GET /api/v1/launch-sites            candidate launch sites (GeoJSON points)
GET /api/v1/basemap.png             the offline base map (PNG, Web Mercator, the area's bbox)
GET /api/v1/basemap/{theme}/{z}/{x}/{y}.png   the base map as XYZ tiles (sharp at every zoom)

While the terrain is still being prepared these answer 503 ``not_ready`` with the progress.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from estran.app.web.auth import who
from estran.app.web.common import JSONBytes
from estran.app.web.deps import (
    AccessDep,
    BasemapDep,
    ClockDep,
    PictureDep,
    RuncardsDep,
    TerrainDep,
)
from estran.app.web.errors import localized
from estran.domain.errors import ValidationFailedError
from estran.domain.geo import parse_bbox
from estran.domain.messages import msg
from estran.domain.records import UnitKind, UnitStatus
from estran.services.dispatch import recommend

__all__ = ["build_terrain_router"]

Lat = Annotated[float, Query(ge=-90, le=90, description="Latitude, WGS 84.")]
Lon = Annotated[float, Query(ge=-180, le=180, description="Longitude, WGS 84.")]


def build_terrain_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", tags=["terrain"])

    @router.get("/eta", summary="Units ranked by travel time over the terrain to a location")
    async def eta(
        request: Request,
        access: AccessDep,
        picture: PictureDep,
        terrain: TerrainDep,
        lat: Lat,
        lon: Lon,
        status: Annotated[
            str,
            Query(description="Unit statuses to rank, comma-separated, or `any`."),
        ] = UnitStatus.AVAILABLE.value,
        kinds: Annotated[
            str | None, Query(description="Unit kinds to rank, comma-separated.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=1000, description="Most units listed.")] = 100,
        routes: Annotated[bool, Query(description="Include each unit's route.")] = True,
    ) -> JSONBytes:
        wanted_status = None if status == "any" else set(status.split(","))
        wanted_kinds = None if kinds is None else set(kinds.split(","))
        bad = [
            *((wanted_status or set()) - {s.value for s in UnitStatus}),
            *((wanted_kinds or set()) - {k.value for k in UnitKind}),
        ]
        if bad:
            raise ValidationFailedError(
                msg("unknown unit status or kind {values}", values=sorted(bad)),
                details=[{"loc": ["query"], "msg": f"unknown {sorted(bad)}", "type": "enum"}],
            )
        keep = access.predicate(who(request))
        units = [
            u
            for u in picture.all("unit")
            if keep(u)
            and (wanted_status is None or u.get("status") in wanted_status)
            and (wanted_kinds is None or u.get("kind") in wanted_kinds)
        ]
        result = await asyncio.to_thread(terrain.rank, lat, lon, units, limit=limit, routes=routes)
        return JSONBytes(localized(request, result))

    @router.get(
        "/incidents/{incident_id}/recommendations",
        summary="Units proposed for an incident: the run card filled by real ETA, with why",
    )
    async def recommendations(
        request: Request,
        access: AccessDep,
        clock: ClockDep,
        picture: PictureDep,
        runcards: RuncardsDep,
        terrain: TerrainDep,
        incident_id: str,
    ) -> JSONBytes:
        view = access.visible_picture(who(request))
        result = await asyncio.to_thread(
            recommend,
            terrain,
            view,
            runcards,
            incident_id,
            clock.now(),
            whole=picture,
        )
        return JSONBytes(localized(request, result))

    @router.get("/area", summary="The area of interest: extent, places, terrain legend")
    async def area(
        request: Request,
        terrain: TerrainDep,
    ) -> JSONBytes:
        return JSONBytes(terrain.area())

    @router.get("/terrain", summary="Terrain classes as GeoJSON polygons (map layer)")
    async def terrain(
        request: Request,
        terrain: TerrainDep,
        bbox: Annotated[
            str | None, Query(description="min_lon,min_lat,max_lon,max_lat; omitted: all.")
        ] = None,
        max_cells: Annotated[
            int, Query(ge=1000, le=4_000_000, description="Resolution budget (cells).")
        ] = 250_000,
    ) -> JSONBytes:
        box = None
        if bbox is not None:
            try:
                box = parse_bbox(bbox).as_tuple()
            except ValueError as exc:
                raise ValidationFailedError(
                    str(exc), details=[{"loc": ["query", "bbox"], "msg": str(exc)}]
                ) from exc
        result = await asyncio.to_thread(terrain.layer, box, max_cells)
        return JSONBytes(result)

    @router.get("/terrain/at", summary="The terrain class at a point and the speeds there")
    async def terrain_at(request: Request, terrain: TerrainDep, lat: Lat, lon: Lon) -> JSONBytes:
        return JSONBytes(terrain.at(lat, lon))

    @router.get(
        "/basemap.png",
        summary="The offline base map: terrain as a PNG in Web Mercator over the area's bbox",
        response_class=Response,
    )
    async def basemap(
        terrain: TerrainDep,
        renderer: BasemapDep,
        theme: Annotated[Literal["night", "day"], Query(description="Palette.")] = "night",
        width: Annotated[int, Query(ge=256, le=4096, description="Pixels across.")] = 2048,
    ) -> Response:
        prepared = terrain.terrain()
        png, bounds = await asyncio.to_thread(renderer.render, prepared, theme, width)
        return Response(
            png,
            media_type="image/png",
            headers={
                "Cache-Control": "private, max-age=3600",
                "X-Bounds": ",".join(f"{v:.6f}" for v in bounds),
            },
        )

    @router.get(
        "/basemap/{theme}/{z}/{x}/{y}.png",
        summary="The base map as XYZ tiles, drawn from the terrain at each zoom (stays sharp)",
        response_class=Response,
    )
    async def basemap_tile(
        terrain: TerrainDep,
        renderer: BasemapDep,
        theme: Literal["night", "day"],
        z: Annotated[int, Path(ge=8, le=19, description="Zoom level.")],
        x: Annotated[int, Path(ge=0, lt=2**19, description="Column.")],
        y: Annotated[int, Path(ge=0, lt=2**19, description="Row.")],
    ) -> Response:
        if x >= 2**z or y >= 2**z:
            raise ValidationFailedError(
                msg("tile {x}/{y} does not exist at zoom {z}", x=x, y=y, z=z),
                details=[{"loc": ["path"], "msg": "beyond the zoom's tiles", "type": "range"}],
            )
        png = await asyncio.to_thread(renderer.tile, terrain.terrain(), theme, z, x, y)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})  # fmt: skip

    @router.get("/launch-sites", summary="Candidate launch sites along the beaches (GeoJSON)")
    async def launch_sites(
        request: Request,
        terrain: TerrainDep,
    ) -> JSONBytes:
        return JSONBytes(terrain.launch_sites())

    return router
