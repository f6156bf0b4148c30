"""Settings: one frozen object, built at the edge (CLI, bootstrap) and passed down.

Every field reads from an ``ESTRAN_``-prefixed environment variable; ``docs/settings.md``
lists them all (a test fails if one is missing there).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from estran.domain.markings import Classification, Marking, Purpose

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESTRAN_", frozen=True, extra="forbid")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="`production` refuses unsafe defaults (plain HTTP on a public address).",
    )
    data_dir: Path = Field(
        default=Path("estran-data"),
        description="Where the embedded SQLite event store (`events.sqlite3`) lives.",
    )
    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL (`postgresql://user@host/db`) for the multi-node store; "
        "unset means SQLite in `data_dir`.",
    )
    database_schema: str = Field(
        default="estran", description="PostgreSQL schema that holds Estran's tables."
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    http_port: int = Field(
        default=8080, ge=0, le=65535, description="HTTP port; 0 picks a free one."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, description="Largest accepted HTTP request body."
    )
    max_batch_events: int = Field(
        default=1000, ge=1, le=5000, description="Most events accepted in one request."
    )
    max_future_skew_s: float = Field(
        default=300.0, ge=0, description="How far after the server clock `observed_at` may be."
    )
    stream_max_messages: int = Field(
        default=20_000, ge=10, description="Queued events per stream subscriber before cut-off."
    )
    stream_max_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=4096,
        description="Queued bytes per stream subscriber before cut-off.",
    )
    background: bool = Field(
        default=True,
        description="This node may run the centre's once-per-centre work (fusion, the rescue "
        "watch, recommendations, retention, the demo). Several nodes on one PostgreSQL elect "
        "one of those that may (a session advisory lock); false: this node never does.",
    )
    relay_url: str | None = Field(
        default=None,
        pattern=r"^(nats|tls)://",
        description="NATS server (`nats://host:4222`) carrying the CoT relay between the "
        "nodes of one centre, so a TAK client on one node receives what a client on another "
        "sends; unset: a node relays among its own clients only.",
    )
    federation_url: str | None = Field(
        default=None,
        pattern=r"^(nats|tls)://",
        description="NATS JetStream (`nats://host:4222`) linking this centre to the partner "
        "nation's centre: what this centre's records release to the partner nation is "
        "published there, and nothing else. Needs `centre`.",
    )
    centre: str | None = Field(
        default=None,
        max_length=40,
        pattern=r"^[A-Z0-9][A-Z0-9-]{1,39}$",
        description="This centre's name in the federation (e.g. `FR-CCI-COQUELLES`).",
    )
    nation: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{2,3}$",
        description="This centre's nation (ISO 3166), e.g. `GB` for the UK's centre: the "
        "policy's host nation (whose records unmarked origin means) and, unless "
        "`default_releasable_to` is set, what unmarked records are released to. Unset: the "
        "policy's (`FR`).",
    )
    federation_root: str = Field(
        default="estran.fed",
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$",
        description="The NATS subject root of the federation's streams (both centres alike).",
    )
    federation_clearance: Classification = Field(
        default=Classification.OFFICIAL,
        description="The highest classification released to a partner centre (with "
        "releasability to its nation).",
    )
    node_name: str | None = Field(
        default=None,
        max_length=48,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="This node's name in health and in PostgreSQL's `pg_stat_activity` "
        "(default: host name and process id).",
    )
    gc_full_every_s: float = Field(
        default=300.0,
        ge=0,
        le=86_400,
        description="Full garbage collections on this schedule, at a quiet moment, instead of "
        "whenever Python decides (each one stalls every stream; 0: Python's defaults).",
    )
    stream_compression: bool = Field(
        default=False,
        description="Compress stream frames (permessage-deflate), for clients on thin links: "
        "saves bandwidth, costs the server CPU per subscriber.",
    )
    stream_linger_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="How long a stream sender waits for more events to share a frame with "
        "(0: send at once).",
    )
    default_classification: Classification = Field(
        default=Classification.OFFICIAL, description="Marking given to records that carry none."
    )
    default_releasable_to: list[str] = Field(
        default_factory=lambda: ["FR"],
        description="Nations that may see records that carry no marking (originator default).",
    )
    default_purpose: Purpose = Field(
        default=Purpose.BORDER_SURVEILLANCE, description="Purpose given to unmarked records."
    )
    seed_agencies: bool = Field(
        default=True, description="Register the Côte d'Opale agencies on first start."
    )
    log_level: str = Field(default="info", description="Server log level.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses of reverse proxies whose X-Forwarded-For is believed; none by "
        "default (the client address is the socket's peer).",
    )
    cot_host: str = Field(default="127.0.0.1", description="Address the CoT TLS listener binds.")
    cot_plain_host: str = Field(
        default="127.0.0.1",
        description="Address plain (unauthenticated) CoT over TCP and UDP binds: loopback unless "
        "set; refused on any other address in production.",
    )
    cot_tcp_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="CoT over plain TCP (opt-in, e.g. 8087): anonymous clients, unclassified data "
        "only; unset: off.",
    )
    cot_tls_port: int | None = Field(
        default=8089,
        ge=0,
        le=65535,
        description="CoT over TLS with client certificates; needs `estran certs init`; unset: off.",
    )
    cot_udp_port: int | None = Field(
        default=None, ge=0, le=65535, description="UDP mesh input (opt-in), e.g. 6969."
    )
    cot_max_event_bytes: int = Field(
        default=64 * 1024, ge=1024, le=4 * 1024 * 1024, description="Largest CoT event accepted."
    )
    cot_max_queue_messages: int = Field(
        default=20_000, ge=10, description="Queued messages per CoT client before it is cut off."
    )
    cot_max_queue_bytes: int = Field(
        default=16 * 1024 * 1024, ge=4096, description="Queued bytes per CoT client before cut-off."
    )
    cot_rate_per_s: float = Field(
        default=1000.0, gt=0, description="Messages a second one CoT client may send (sustained)."
    )
    cot_burst: float = Field(default=2000.0, gt=0, description="Burst allowance above the rate.")
    cot_default_agency: str = Field(
        default="FR-GN", description="Agency of units that appear from TAK position reports."
    )
    rescue_ack_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="A rescue case the rescue centre has not acknowledged escalates after this.",
    )
    task_ack_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="A task sent but unacknowledged escalates after.",
    )
    recommend: bool = Field(
        default=True,
        description="Write each open incident's proposed units (run card by real ETA) to the "
        "stream as it opens or moves; needs terrain.",
    )
    runcards_file: Path | None = Field(
        default=None,
        description="Run cards (TOML) for unit recommendation; unset means the shipped ones.",
    )
    thermal_profile_file: Path | None = Field(
        default=None,
        description="Thermal camera profile (TOML) for drone video; unset means the shipped "
        "640x512 profile.",
    )
    scenario_file: Path | None = Field(
        default=None,
        description="Scenario (TOML) whose adversary, sensor and cost models the planner uses; "
        "unset means the shipped baseline.",
    )
    fusion: bool = Field(
        default=True,
        description="Fuse detections into tracks and incidents as they arrive (rules in "
        "`domain/fusion.py`).",
    )
    fusion_owner_agency: str = Field(
        default="FR-GN", description="Agency that owns incidents fusion opens (rescue: CROSS)."
    )
    terrain: Literal["background", "lazy", "off"] = Field(
        default="background",
        description="`background` prepares terrain and travel times at start-up (served once "
        "ready); `lazy` on the first request that needs them; `off` never.",
    )
    area_dir: Path | None = Field(
        default=None,
        description="Area folder (`area.toml`, `coast.geojson`); unset means the shipped "
        "Côte d'Opale.",
    )
    mobility_file: Path | None = Field(
        default=None,
        description="Mobility profiles (TOML); unset means the shipped `mobility.toml`.",
    )
    terrain_cache_dir: Path | None = Field(
        default=None,
        description="Where prepared terrain and coarse travel graphs are cached; unset means "
        "`<data_dir>/terrain-cache`.",
    )
    eta_max_s: float = Field(
        default=7200.0, gt=0, le=86_400, description="Units further than this are 'out of reach'."
    )
    eta_window_m: float = Field(
        default=800.0,
        ge=200,
        le=5000,
        description="Half-width of the full-resolution search around a target; beyond it the "
        "coarse level is used.",
    )

    policy_file: Path | None = Field(
        default=None,
        description="Access policy (TOML, `docs/security.md`); unset means the shipped "
        "`policy.toml`.",
    )
    session_ttl_s: float = Field(
        default=12 * 3600.0,
        ge=60,
        le=7 * 86_400,
        description="How long a sign-in lasts (a watch, by default) before signing in again.",
    )
    max_failed_logins: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed sign-ins in a row, from one source for one name, before that source "
        "is held back (never a hard lock of the account, which anyone could cause).",
    )
    lockout_s: float = Field(
        default=900.0,
        ge=1,
        le=86_400,
        description="How long a source is first held back; it doubles each time (up to 1 h).",
    )
    retention_detection_days: float = Field(
        default=7.0,
        gt=0,
        le=3650,
        description="Raw detections (and tracks built from them) are purged this long after "
        "they were observed.",
    )
    retention_imagery_days: float = Field(
        default=7.0, gt=0, le=3650, description="Imagery (thermal chips) is purged after this."
    )
    retention_log_days: float = Field(
        default=3 * 365.0, gt=0, le=36_500, description="Duty and incident logs are kept this long."
    )
    retention_record_days: float = Field(
        default=3 * 365.0,
        gt=0,
        le=36_500,
        description="Every other record (incidents, tasks, rescue cases...) is kept this long "
        "after its last change.",
    )
    purge_interval_s: float = Field(
        default=3600.0,
        ge=0,
        le=86_400,
        description="How often the retention purge runs in the server (0: only `estran purge`).",
    )
    cot_clearance: Classification = Field(
        default=Classification.OFFICIAL,
        description="Clearance of TAK field devices (certificates naming no account): they "
        "receive records released to their agency's nation up to it. Plain TCP/UDP clients are "
        "anonymous and get unclassified records only.",
    )

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        loopback = ("127.0.0.1", "::1", "localhost")
        if self.environment == "production" and self.host not in loopback:
            raise ValueError(
                "production on a non-loopback address needs a TLS-terminating proxy in front; "
                "bind to loopback and put one there"
            )
        plain = self.cot_tcp_port is not None or self.cot_udp_port is not None
        if self.environment == "production" and plain and self.cot_plain_host not in loopback:
            raise ValueError(
                "production refuses plain (unauthenticated) CoT on a non-loopback address: "
                "field devices connect over TLS with client certificates"
            )
        if self.federation_url and not self.centre:
            raise ValueError("a federation needs this centre's name (ESTRAN_CENTRE, --centre)")
        return self

    def default_marking(self) -> Marking:
        nations = self.default_releasable_to
        if self.nation and "default_releasable_to" not in self.model_fields_set:
            nations = [self.nation]
        return Marking(
            classification=self.default_classification,
            releasable_to=nations,
            purpose=self.default_purpose,
        )
