"""``create_app(settings)``: the ASGI application, with no module globals.

The lifespan opens the event store, rebuilds the picture and starts the ledger; later
capabilities (CoT listeners, planners) start there too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from estran import __version__
from estran.adapters.basemap import BasemapRenderer
from estran.app.web.auth import authenticated, build_auth_router
from estran.app.web.errors import install_error_handlers
from estran.app.web.limits import BodyLimitMiddleware
from estran.app.web.routes_admin import build_admin_router
from estran.app.web.routes_events import build_events_router
from estran.app.web.routes_picture import build_health_router, build_picture_router
from estran.app.web.routes_plan import build_plan_router
from estran.app.web.routes_records import build_records_router, openapi_components
from estran.app.web.routes_stats import build_stats_router
from estran.app.web.routes_terrain import build_terrain_router
from estran.app.web.routes_thermal import build_thermal_router
from estran.app.web.ui import SecurityHeaders, install_ui
from estran.app.web.ws import build_stream_router
from estran.bootstrap import Services, build_services
from estran.config import Settings
from estran.domain.events import CommandIn

__all__ = ["create_app"]


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        svc = services if services is not None else build_services(settings)
        app.state.services = svc
        app.state.basemap = BasemapRenderer()
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(
        title="Estran",
        version=__version__,
        lifespan=lifespan,
        description="Joint coastal-operations centre: the common operational picture API.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    install_error_handlers(app)
    signed_in = [Depends(authenticated)]
    app.include_router(build_auth_router())
    app.include_router(build_health_router())
    app.include_router(build_records_router(), dependencies=signed_in)
    app.include_router(build_events_router(), dependencies=signed_in)
    app.include_router(build_picture_router(), dependencies=signed_in)
    app.include_router(build_terrain_router(), dependencies=signed_in)
    app.include_router(build_plan_router(), dependencies=signed_in)
    app.include_router(build_thermal_router(), dependencies=signed_in)
    app.include_router(build_stats_router(), dependencies=signed_in)
    app.include_router(build_admin_router(), dependencies=signed_in)
    app.include_router(build_stream_router())  # signs the socket in itself
    install_ui(app)  # the watch floor at /: public files; the data behind it needs sign-in
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(openapi_components())
            command = CommandIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(command.pop("$defs", {}))
            components["CommandIn"] = command
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
