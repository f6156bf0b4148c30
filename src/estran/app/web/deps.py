"""What each route depends on: the narrow parts of the command centre, as FastAPI
dependencies (``ledger: LedgerDep``), never the whole ``Services`` container. The container
is built once by ``bootstrap`` and held by the app; these read one part of it each, so a route
names in its signature exactly what it uses, and a test may override any one of them
(``app.dependency_overrides``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from estran.adapters.basemap import BasemapRenderer
from estran.adapters.cot_server import CotServer
from estran.config import Settings
from estran.domain.picture import Picture
from estran.domain.policy import Policy
from estran.domain.runcards import RunCard
from estran.ports import Clock, EventStore, SecurityStore
from estran.services.access import Access
from estran.services.audit import AuditTrail
from estran.services.collector import Collector
from estran.services.federation import Federation
from estran.services.hub import Hub
from estran.services.identity import Identity
from estran.services.ledger import Ledger
from estran.services.plan_service import PlanService
from estran.services.replay import Replay
from estran.services.retention import RetentionService
from estran.services.runtime import Runtime
from estran.services.tak import TakGateway
from estran.services.terrain import TerrainService
from estran.services.thermal_ingest import ThermalService

__all__ = [
    "AccessDep",
    "AuditDep",
    "BasemapDep",
    "ClockDep",
    "CollectorDep",
    "CotDep",
    "ExtrasDep",
    "FederationDep",
    "HubDep",
    "IdentityDep",
    "LedgerDep",
    "PictureDep",
    "PlansDep",
    "PolicyDep",
    "ReplayDep",
    "RetentionDep",
    "RuncardsDep",
    "RuntimeDep",
    "SecurityDep",
    "SettingsDep",
    "StoreDep",
    "TakDep",
    "TerrainDep",
    "ThermalDep",
]


def _part(name: str) -> Callable[[HTTPConnection], Any]:
    def part(conn: HTTPConnection) -> Any:
        return getattr(conn.app.state.services, name)

    part.__name__ = f"{name}_part"
    return part


AccessDep = Annotated[Access, Depends(_part("access"))]
AuditDep = Annotated[AuditTrail, Depends(_part("audit"))]


def _basemap(conn: HTTPConnection) -> BasemapRenderer:
    renderer: BasemapRenderer = conn.app.state.basemap
    return renderer


BasemapDep = Annotated[BasemapRenderer, Depends(_basemap)]
ClockDep = Annotated[Clock, Depends(_part("clock"))]
CollectorDep = Annotated[Collector, Depends(_part("collector"))]
CotDep = Annotated[CotServer | None, Depends(_part("cot"))]
FederationDep = Annotated[Federation | None, Depends(_part("federation"))]
HubDep = Annotated[Hub, Depends(_part("hub"))]
IdentityDep = Annotated[Identity, Depends(_part("identity"))]
LedgerDep = Annotated[Ledger, Depends(_part("ledger"))]
PictureDep = Annotated[Picture, Depends(_part("picture"))]
ExtrasDep = Annotated[tuple[Any, ...], Depends(_part("extras"))]
TakDep = Annotated[TakGateway | None, Depends(_part("tak"))]
PlansDep = Annotated[PlanService | None, Depends(_part("plans"))]
PolicyDep = Annotated[Policy, Depends(_part("policy"))]
ReplayDep = Annotated[Replay, Depends(_part("replay"))]
RetentionDep = Annotated[RetentionService, Depends(_part("retention"))]
RuncardsDep = Annotated[list[RunCard], Depends(_part("runcards"))]
RuntimeDep = Annotated[Runtime, Depends(_part("runtime"))]
SecurityDep = Annotated[SecurityStore, Depends(_part("security"))]
SettingsDep = Annotated[Settings, Depends(_part("settings"))]
StoreDep = Annotated[EventStore, Depends(_part("store"))]
TerrainDep = Annotated[TerrainService, Depends(_part("terrain"))]
ThermalDep = Annotated[ThermalService, Depends(_part("thermal"))]
