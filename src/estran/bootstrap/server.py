"""The server's composition root: concrete adapters from settings, wired into the services."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import tomllib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol

from pydantic import ValidationError

from estran.adapters.certs import certs_dir, is_revoked, tls_context
from estran.adapters.chip_store import ChipStore
from estran.adapters.clock import SystemClock
from estran.adapters.cot_server import CotServer
from estran.adapters.frame_codec import OpenCvCodec
from estran.adapters.plan_store import DiskPostCache
from estran.adapters.security_store import SecurityStore
from estran.adapters.storage.leadership import SoleLeadership
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.domain.area import OperatingArea
from estran.domain.errors import AlreadyExistsError, InvalidInputError
from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking
from estran.domain.messages import msg
from estran.domain.picture import Picture
from estran.domain.policy import Policy, Principal, Role, parse_policy
from estran.domain.runcards import RunCard, parse_runcards
from estran.domain.timefmt import stamp
from estran.services.access import Access
from estran.services.audit import AuditTrail
from estran.services.collector import Collector
from estran.services.eventchain import EventChain
from estran.services.federation import Federation, FederationIn, FederationOut
from estran.services.fusion import FusionService
from estran.services.hub import Hub
from estran.services.identity import Identity, principal_of
from estran.services.ledger import Ledger
from estran.services.plan_service import PlanService
from estran.services.posts import posts_for
from estran.services.recommend import RecommendationService
from estran.services.replay import Replay
from estran.services.rescue import RescueService
from estran.services.retention import RetentionService, rules_from
from estran.services.runtime import Runtime
from estran.services.tak import TakGateway
from estran.services.terrain import TerrainService
from estran.services.thermal_ingest import ThermalService
from estran.services.thermal_profile import CameraProfile

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.ports import Clock, EventStore, Leadership, RelayBus

__all__ = [
    "DEFAULT_AGENCIES",
    "DEFAULT_THERMAL_PROFILE",
    "Extra",
    "Services",
    "Startable",
    "agency_nation",
    "build_plans",
    "build_services",
    "build_terrain",
    "build_thermal",
    "cot_principal",
    "load_policy",
    "load_runcards",
    "node_name",
    "open_identity",
    "open_leadership",
    "open_relay",
    "open_security_store",
    "open_store",
    "read_toml",
    "rebuild",
]

log = logging.getLogger(__name__)

DEFAULT_AGENCIES: Final = (
    {"id": "FR-GN", "name": "Gendarmerie nationale", "nation": "FR", "kind": "gendarmerie"},
    {"id": "FR-PAF", "name": "Police aux frontières", "nation": "FR", "kind": "border_police"},
    {"id": "FR-DGDDI", "name": "Douane", "nation": "FR", "kind": "customs"},
    {"id": "FR-CROSS-GN", "name": "CROSS Gris-Nez", "nation": "FR", "kind": "rescue_centre"},
    {"id": "UK-BF", "name": "UK Border Force", "nation": "GB", "kind": "border_force"},
    {
        "id": "UK-MRCC-DOVER",
        "name": "HM Coastguard MRCC Dover",
        "nation": "GB",
        "kind": "rescue_centre",
    },
)


def agency_nation(agency_id: str) -> str | None:
    """The nation of one of the seeded Côte d'Opale agencies; None for any other."""
    return next((str(a["nation"]) for a in DEFAULT_AGENCIES if a["id"] == agency_id), None)


def open_store(settings: Settings) -> EventStore:
    if settings.database_url:
        from estran.adapters.storage.postgres import PostgresEventStore

        return PostgresEventStore(settings.database_url, schema=settings.database_schema)
    return SqliteEventStore(settings.data_dir / "events.sqlite3")


def node_name(settings: Settings) -> str:
    return settings.node_name or f"{socket.gethostname()}-{os.getpid()}"[:48]


def open_leadership(settings: Settings) -> Leadership:
    """Who runs the once-per-centre work: an advisory lock when nodes share PostgreSQL."""
    if settings.database_url:
        from estran.adapters.storage.leadership import PostgresLeadership

        return PostgresLeadership(
            settings.database_url, schema=settings.database_schema, node=node_name(settings)
        )
    return SoleLeadership(node_name(settings))


def open_relay(settings: Settings) -> RelayBus | None:
    """The CoT relay between the centre's nodes (NATS), where one is configured."""
    if not settings.relay_url:
        return None
    from estran.adapters.nats_relay import NatsRelay

    return NatsRelay(
        settings.relay_url,
        subject=f"estran.{settings.database_schema}.cot",
        node=node_name(settings),
    )


def build_federation(
    settings: Settings,
    store: EventStore,
    picture: Picture,
    hub: Hub,
    ledger: Ledger,
    access: Access,
    audit: AuditTrail,
    policy: Policy,
) -> Federation | None:
    """What this centre publishes to the partner nations' centres and what it receives from
    them, where it is federated (each side on a link of its own)."""
    if not settings.federation_url or not settings.centre:
        return None
    from estran.adapters.jetstream_federation import JetStreamFederation

    nation = policy.host_nation
    partners = sorted(n for n in policy.nations if n != nation)

    def link() -> JetStreamFederation:
        return JetStreamFederation(settings.federation_url or "", nation=nation,
                                   partners=partners, root=settings.federation_root,
                                   centre=settings.centre or "")  # fmt: skip

    out = FederationOut(
        link(), store, picture, hub, access, audit, centre=settings.centre, nation=nation,
        partners=partners, clearance=settings.federation_clearance,
    )  # fmt: skip
    inbound = FederationIn(
        link(), ledger, picture, access, audit, centre=settings.centre, nation=nation,
        partners=partners, clearance=settings.federation_clearance,
        root=settings.federation_root,
    )  # fmt: skip
    return Federation(out, inbound)


def operating_area(settings: Settings) -> OperatingArea | None:
    """The area of operations positions are checked against (the area of interest and half
    a degree around it); None when the area folder cannot be read (nothing is checked)."""
    from estran.adapters.terrain_io import DEFAULT_AREA_DIR, load_area

    try:
        return OperatingArea.around(load_area(settings.area_dir or DEFAULT_AREA_DIR).spec)
    except (OSError, InvalidInputError, ValidationError) as exc:
        log.warning("positions are not checked against an area of operations: %s", exc)
        return None


def open_security_store(settings: Settings) -> SecurityStore:
    """Accounts, sessions and the audit trail: beside the events (SQLite or PostgreSQL)."""
    if settings.database_url:
        return SecurityStore.for_postgres(
            settings.database_url, settings.database_schema, settings.data_dir
        )
    return SecurityStore.for_data_dir(settings.data_dir)


def open_identity(settings: Settings, store: SecurityStore, clock: Clock) -> Identity:
    return Identity(
        store,
        now=clock.now,
        session_ttl_s=settings.session_ttl_s,
        max_failed_logins=settings.max_failed_logins,
        lockout_s=settings.lockout_s,
    )


def load_policy(path: Path | None, nation: str | None = None) -> Policy:
    """The access policy (the shipped one by default), for a centre of ``nation`` where
    given (its host nation); a bad one stops the start-up."""
    path = path or Path(__file__).resolve().parent.parent / "data" / "policy.toml"
    try:
        policy = parse_policy(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError, ValueError) as exc:
        raise InvalidInputError(msg("policy {path}: {exc}", path=path, exc=exc)) from exc
    return policy if nation is None else policy.model_copy(update={"host_nation": nation})


def rebuild(store: EventStore, *, until_received: str | None = None) -> Picture:
    """The picture from the whole log, or as it was known at ``until_received``."""
    return Picture().apply_all(store.read(until_received=until_received))


@dataclass(frozen=True)
class Services:
    """Everything a running command centre is made of, built once by ``build_services`` and
    never changed after (the routes take the narrow parts they use, ``app/web/deps.py``)."""

    settings: Settings
    store: EventStore
    picture: Picture
    hub: Hub
    ledger: Ledger
    clock: Clock
    terrain: TerrainService
    policy: Policy
    security: SecurityStore
    identity: Identity
    audit: AuditTrail
    access: Access
    retention: RetentionService
    runtime: Runtime
    collector: Collector
    replay: Replay
    thermal: ThermalService
    runcards: list[RunCard] = field(default_factory=list)
    cot: CotServer | None = None
    tak: TakGateway | None = None
    fusion: FusionService | None = None
    rescue: RescueService | None = None
    recommender: RecommendationService | None = None
    plans: PlanService | None = None
    federation: Federation | None = None
    extras: tuple[Startable, ...] = ()
    """Once-per-centre things started on the leading node (the live demo driver)."""

    async def start(self) -> None:
        self.terrain.start()
        await self.ledger.start()
        if self.settings.seed_agencies:
            missing = [a for a in DEFAULT_AGENCIES if self.picture.get("agency", a["id"]) is None]
            if missing:
                # Reference data, shared by both nations (a record like any other).
                shared = Marking(
                    classification=Classification.UNCLASSIFIED, releasable_to=["FR", "GB"]
                )
                try:
                    await self.ledger.submit(
                        [
                            CommandIn(type="agency.created", data=dict(a), marking=shared)
                            for a in missing
                        ],
                        actor="system:bootstrap",
                        source="estran",
                    )
                except AlreadyExistsError:  # another node of the centre seeded them first
                    log.info("the reference agencies were seeded by another node")
        runtime = self.runtime
        if self.settings.background:  # once per centre: on the leading node of several
            for reactor in (self.rescue, self.recommender, self.fusion):
                if reactor is not None:
                    runtime.add(reactor, once=True)
            if self.retention.interval_s > 0:
                runtime.supervise("retention", self.retention.run_forever, once=True)
            if self.federation is not None:
                for side in (self.federation.out, self.federation.inbound):
                    runtime.supervise(side.name, side.run, once=True)
            for extra in self.extras:
                runtime.supervise(extra.name, _held(extra), once=True)
        if self.plans is not None:  # each node prepares its own coverage model
            runtime.supervise("coverage-model", self.plans.warm)
        if self.cot is not None and self.tak is not None:
            for name, run in self.tak.loops().items():
                runtime.supervise(name, run)
        if self.collector.every_s > 0:
            self.collector.install()
            runtime.supervise("gc", self.collector.run_forever)
        await runtime.start()
        if self.cot is not None and self.tak is not None:
            await self.cot.start(tls_context(self.settings))

    async def stop(self) -> None:
        if self.cot is not None:
            await self.cot.stop()
        await self.runtime.stop()
        self.collector.uninstall()
        if self.retention.chain is not None:
            try:  # the last checkpoint pins everything written up to the stop
                await self.retention.chain.checkpoint()
            except Exception:
                log.exception("the event log's last checkpoint could not be written")
        await self.ledger.stop()
        self.audit.close()
        self.security.close()
        self.store.close()


class Startable(Protocol):
    name: str

    def start(self) -> None: ...

    def status(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


def _held(extra: Startable) -> Callable[[], Awaitable[None]]:
    """``extra`` as a once-per-centre loop: started when this node leads, stopped when it
    stops leading or the centre stops."""

    async def run() -> None:
        extra.start()
        try:
            await asyncio.Event().wait()
        finally:
            await extra.stop()

    return run


Extra = Callable[[Services], Startable]
"""Makes something started with the centre from its finished services (the demo driver)."""


def build_services(
    settings: Settings,
    *,
    store: EventStore | None = None,
    clock: Clock | None = None,
    extras: Sequence[Extra] = (),
) -> Services:
    """The command centre for ``settings``: the composition root of the server. ``store``
    and ``clock`` override the configured ones (tests); ``extras`` are built last, from the
    finished services, and started after everything else."""
    store = store if store is not None else open_store(settings)
    picture = rebuild(store)
    security = open_security_store(settings)
    if hasattr(store, "on_audit_head"):
        store.on_audit_head = security.advance_anchor  # the audit head, kept outside the DB
    log.info("picture rebuilt from %d events (%d records)", picture.seq, picture.count())
    hub = Hub()
    clock = clock or SystemClock()
    policy = load_policy(settings.policy_file, settings.nation)
    audit = AuditTrail(security, clock.now)
    rules = rules_from(settings)
    ledger = Ledger(
        store,
        picture,
        hub,
        clock,
        default_marking=settings.default_marking(),
        max_future_skew_s=settings.max_future_skew_s,
        new_id=lambda: uuid.uuid4().hex,
        policy=policy,
        retention_days=rules.days_for,
        # Nodes sharing PostgreSQL follow each other: notified at once, and read by seq at
        # least every second in case a notification was missed.
        follow_poll_s=1.0 if settings.database_url else 0.0,
        area=operating_area(settings),
    )
    terrain = build_terrain(settings)
    runcards = load_runcards(settings.runcards_file)
    chips = ChipStore(settings.data_dir / "chips", settings.retention_imagery_days)
    access = Access(policy, picture, clock)
    retention = RetentionService(
        ledger,
        picture,
        audit,
        clock,
        rules,
        settings.purge_interval_s,
        chips=chips,
        chain=EventChain(store, audit),
    )
    cot = tak = None
    if settings.cot_tcp_port is not None or settings.cot_tls_port is not None:
        folder = certs_dir(settings)
        cot = CotServer(
            settings,
            now_ms=lambda: int(clock.now().timestamp() * 1000),
            is_revoked=lambda serial: is_revoked(folder, serial),
        )
        tak = TakGateway(
            cot,
            ledger,
            picture,
            hub,
            default_agency=settings.cot_default_agency,
            now_s=lambda: clock.now().timestamp(),
            access=access,
            principal_for=lambda subject: cot_principal(settings, security, subject, clock.now()),
            audit=audit,
            default_marking=settings.default_marking(),
            relay_bus=open_relay(settings),
        )
    recommending = settings.recommend and settings.terrain != "off"
    services = Services(
        settings,
        store,
        picture,
        hub,
        ledger,
        clock,
        terrain,
        policy=policy,
        security=security,
        identity=open_identity(settings, security, clock),
        audit=audit,
        access=access,
        retention=retention,
        runtime=Runtime(ledger, picture, hub, store, clock, leadership=open_leadership(settings)),
        collector=Collector(settings.gc_full_every_s, lambda: hub.published),
        replay=Replay(store, picture),
        thermal=build_thermal(settings, ledger, picture, chips, clock),
        runcards=runcards,
        cot=cot,
        tak=tak,
        fusion=FusionService(
            picture,
            place_of=terrain.place,
            new_id=lambda: f"trk-{uuid.uuid4().hex[:12]}",
            owner_agency=settings.fusion_owner_agency,
        )
        if settings.fusion
        else None,
        rescue=RescueService(picture, ack_s=settings.rescue_ack_s, task_ack_s=settings.task_ack_s),
        recommender=RecommendationService(picture, terrain, runcards, clock.now)
        if recommending
        else None,
        plans=build_plans(settings, terrain, picture, ledger, clock)
        if settings.terrain != "off"
        else None,
        federation=build_federation(settings, store, picture, hub, ledger, access, audit, policy),
    )
    if not extras:
        return services
    return dataclasses.replace(services, extras=tuple(make(services) for make in extras))


def cot_principal(
    settings: Settings, security: SecurityStore, subject: str | None, now: datetime | None = None
) -> Principal | None:
    """Whose rights a TAK client has:

    - no certificate (plain TCP): the anonymous principal, unclassified data only;
    - a certificate whose CN names an account: that account, if it is active; None (refused,
      or disconnected) if it is disabled, locked or its access has expired: a disabled account
      never falls back to a device's rights;
    - a certificate naming no account: a field device of ``cot_default_agency``, cleared to
      ``cot_clearance``.
    """
    from estran.services.tak import anonymous_principal

    nation = agency_nation(settings.cot_default_agency) or "FR"
    if not subject:
        return anonymous_principal(nation)
    names = [
        part.split("=", 1)[1]
        for part in subject.split(",")
        if part.startswith(("CN=", "commonName="))
    ]
    if not names:
        return None
    user = security.get_user(names[0])
    if user is not None:
        moment = stamp(now or datetime.now(UTC))
        locked = user["locked_until"] is not None and user["locked_until"] > moment
        expired = user["access_until"] is not None and user["access_until"] <= moment
        if user["disabled"] or locked or expired:
            return None
        return principal_of(user)
    return Principal(
        f"device:{names[0][:64]}",
        Role.DEVICE,
        agency_id=settings.cot_default_agency,
        nation=nation,
        clearance=settings.cot_clearance,
    )


def load_runcards(path: Path | None) -> list[RunCard]:
    """Run cards from TOML (the shipped ones by default); bad ones stop the start-up."""
    path = path or Path(__file__).resolve().parent.parent / "data" / "runcards.toml"
    try:
        return parse_runcards(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise InvalidInputError(msg("run cards {path}: {exc}", path=path, exc=exc)) from exc


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file's table, or a refusal naming the file and what it was for."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(msg("{what} {path}: {exc}", what=what, path=path, exc=exc)) from exc


def build_plans(
    settings: Settings, terrain: TerrainService, picture: Picture, ledger: Ledger, clock: Clock
) -> PlanService:
    """The planner on the live picture, with the configured (or shipped) scenario's models."""
    from estran.sim.scenario import DEFAULT_SCENARIO, parse_scenario

    path = settings.scenario_file or DEFAULT_SCENARIO
    raw = read_toml(path, "scenario")
    cache = DiskPostCache.for_settings(settings)
    return PlanService(
        terrain,
        picture,
        ledger,
        parse_scenario(raw, path.name),
        lambda prepared, progress: posts_for(prepared, cache, progress),
        clock.now,
    )


DEFAULT_THERMAL_PROFILE: Final = (
    Path(__file__).resolve().parent.parent / "data" / "cameras" / "thermal-640.toml"
)


def build_thermal(
    settings: Settings, ledger: Ledger, picture: Picture, chips: ChipStore, clock: Clock
) -> ThermalService:
    """Drone video into the picture, with its thumbnails under the imagery retention rule."""
    path = settings.thermal_profile_file or DEFAULT_THERMAL_PROFILE
    raw = read_toml(path, "thermal camera profile")
    profile = CameraProfile.parse(raw, path.name)
    find = None
    if profile.learned is not None:
        from estran.adapters.learned import OnnxFinder

        model = Path(profile.learned.model)
        find = OnnxFinder(model if model.is_absolute() else path.parent / model,
                          profile.learned.threshold)  # fmt: skip
    return ThermalService(ledger, picture, chips, profile, OpenCvCodec(), clock.now, find=find)


def build_terrain(settings: Settings) -> TerrainService:
    """The terrain service, preparing through the file-backed terrain store."""
    from estran.adapters.terrain_store import prepare_terrain

    return TerrainService(lambda report: prepare_terrain(settings, report), settings.terrain)
