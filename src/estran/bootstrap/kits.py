"""The composition roots of the command line's admin and offline commands.

Each command asks for the narrow kit it needs (accounts, the terrain, the planner's inputs,
the certificate authority) and gets it built here from settings, so the CLI never builds an
adapter itself; tests pass their own settings (or stores) in the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from estran.adapters import certs as _certs
from estran.adapters import terrain_store as _terrain
from estran.adapters.clock import SystemClock
from estran.adapters.plan_store import DiskPostCache
from estran.adapters.terrain_io import render_png
from estran.bootstrap.server import open_identity, open_security_store
from estran.services.audit import AuditTrail
from estran.services.posts import posts_for
from estran.sim.night import coast_from

if TYPE_CHECKING:
    from pathlib import Path

    from estran.config import Settings
    from estran.domain.planning import PostSet
    from estran.domain.prepared import PreparedTerrain
    from estran.ports import Clock, PostCache, SecurityStore
    from estran.services.identity import Identity
    from estran.sim.night import Coast

__all__ = [
    "AdminKit",
    "CertAuthority",
    "CoastLoader",
    "PlanningKit",
    "TerrainKit",
    "admin_kit",
    "planning_kit",
    "prepare_terrain",
]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class AdminKit:
    """Accounts and the audit trail, opened for one command."""

    store: SecurityStore
    identity: Identity
    trail: AuditTrail
    clock: Clock


@contextmanager
def admin_kit(settings: Settings) -> Iterator[AdminKit]:
    """The accounts and audit trail of ``settings``' store, always closed after."""
    store = open_security_store(settings)
    clock = SystemClock()
    trail = AuditTrail(store, clock.now)
    try:
        yield AdminKit(store, open_identity(settings, store, clock), trail, clock)
    finally:
        trail.close()
        store.close()


def prepare_terrain(settings: Settings, progress: Progress | None = None) -> PreparedTerrain:
    """The terrain of ``settings`` (from the disk cache when it is there)."""
    return _terrain.prepare_terrain(settings, progress)


@dataclass(frozen=True)
class TerrainKit:
    """The terrain admin commands: prepare, import land cover or sites, draw."""

    settings: Settings

    def prepare(self, progress: Progress | None = None) -> PreparedTerrain:
        return prepare_terrain(self.settings, progress)

    def import_landcover(self, file: Path, mapping: Any, progress: Progress) -> dict[str, Any]:
        return _terrain.import_landcover_file(self.settings, file, mapping, progress)

    def import_sites(self, file: Path) -> int:
        return _terrain.import_sites_file(self.settings, file)

    def render(self, output: Path, step: int, progress: Progress | None = None) -> None:
        render_png(self.prepare(progress).grid, output, step=step)


@dataclass(frozen=True)
class PlanningKit:
    """What offline planning and evaluation start from: the terrain and its posts."""

    settings: Settings
    terrain: PreparedTerrain
    posts: PostSet


def post_cache(settings: Settings) -> PostCache:
    return DiskPostCache.for_settings(settings)


def planning_kit(settings: Settings, progress: Progress | None = None) -> PlanningKit:
    terrain = prepare_terrain(settings, progress)
    return PlanningKit(settings, terrain, posts_for(terrain, post_cache(settings), progress))


@dataclass(frozen=True)
class CoastLoader:
    """Loads the coast in a planning worker process (picklable: the settings as JSON)."""

    settings_json: dict[str, Any]

    @classmethod
    def of(cls, settings: Settings) -> CoastLoader:
        return cls(settings.model_dump(mode="json"))

    def __call__(self) -> Coast:
        from estran.config import Settings

        settings = Settings.model_validate(self.settings_json)
        terrain = prepare_terrain(settings)
        coast = coast_from(terrain)
        posts = post_cache(settings).get(terrain)
        if posts is not None:  # the travel times the simulator's dispatch asks most
            coast.remember_posts(posts)
        return coast


@dataclass(frozen=True)
class CertAuthority:
    """The TAK gateway's certificate authority in ``settings``' data folder."""

    settings: Settings

    @property
    def folder(self) -> Path:
        return _certs.certs_dir(self.settings)

    def init(self, hosts: list[str], *, force: bool) -> Path:
        return _certs.init_ca(self.folder, hosts, force=force)

    def issue(self, name: str, *, server_host: str, out_dir: Path | None, days: int) -> Any:
        return _certs.issue_client(
            self.folder,
            name,
            server_host=server_host,
            tls_port=self.settings.cot_tls_port or 8089,
            out_dir=out_dir or self.folder / "clients",
            days=days,
        )

    def revoke(self, name: str) -> list[str]:
        return _certs.revoke(self.folder, name)

    @staticmethod
    def loopback_only(hosts: Sequence[str]) -> bool:
        """Whether ``hosts`` name only this machine (no phone reaches them)."""
        return all(h in _certs.LOOPBACK for h in hosts)

    def phone_host(self, given: str | None) -> tuple[str, list[str]]:
        """The server address to put in a phone's data package (``given``, else the first
        address the server certificate names that is not this machine's loopback), and what
        is wrong with it: a loopback address no phone reaches, or one the certificate does
        not name (the phone would refuse the server)."""
        names = _certs.server_names(self.folder)
        reachable = [n for n in names if n not in _certs.LOOPBACK]
        host = given or (reachable[0] if reachable else "127.0.0.1")
        warnings = []
        if host in _certs.LOOPBACK:
            warnings.append(
                f"the package points phones at {host}, which only this machine reaches: run "
                f"`estran certs init --host <address phones reach> --force` (then re-issue the "
                f"packages), or pass --host"
            )
        elif host not in names:
            warnings.append(
                f"the server certificate names {', '.join(names)}, not {host}: phones will "
                f"refuse the server; run `estran certs init --host {host} --force`"
            )
        return host, warnings
