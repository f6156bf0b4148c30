from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from estran.app.web.app import create_app
from estran.cli.serve import server_config
from estran.config import Settings
from tests.auth import AUTH, seed_user
from tests.marks import POSTGRES_URL, needs_postgres


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if "/integration/" in path:
            item.add_marker(pytest.mark.integration)
        if "/e2e/" in path:
            item.add_marker(pytest.mark.browser)
        if "postgres" in item.keywords:
            item.add_marker(needs_postgres)


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "terrain": "off",
            "cot_tcp_port": None,
            "cot_tls_port": None,
            "fusion": False,
        }
        base.update(overrides)
        return Settings(**base)

    return factory


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"estran_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def terrain_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One terrain cache for the whole run: the Côte d'Opale is prepared once."""
    return tmp_path_factory.mktemp("terrain-cache")


@pytest.fixture(scope="session")
def opale(terrain_cache: Path) -> Any:
    """The shipped Côte d'Opale terrain, prepared (about 25 s the first time)."""
    from estran.adapters.terrain_store import prepare_terrain

    settings = Settings(
        data_dir=terrain_cache / "data", terrain="background", terrain_cache_dir=terrain_cache
    )
    return prepare_terrain(settings)


@contextlib.contextmanager
def in_process(settings: Settings, headers: dict[str, str] | None = None) -> Iterator[Any]:
    """The app in this process, no socket (``tests/inprocess.py``), signed in as the seeded
    commander unless ``headers`` say otherwise."""
    from tests.inprocess import in_process_client

    seed_user(settings)
    with in_process_client(create_app(settings), headers or dict(AUTH)) as client:
        yield client


class RunningServer:
    def __init__(self, settings: Settings, services: Any = None) -> None:
        self.settings = settings
        seed_user(settings)
        self.headers = dict(AUTH)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.app = create_app(settings, services)
        config = server_config(settings, self.app, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=lambda: self.server.run(sockets=[self.sock]), daemon=True
        )

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __enter__(self) -> RunningServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        with contextlib.suppress(OSError):
            self.sock.close()


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., RunningServer]]:
    started: list[RunningServer] = []

    def start(
        *, extras: list[Callable[[Any], Any]] | None = None, **overrides: Any
    ) -> RunningServer:
        """A server; each of ``extras`` makes, from the finished services, something started
        with it (the demo driver)."""
        settings = make_settings(**overrides)
        services = None
        if extras is not None:
            from estran.bootstrap import build_services

            services = build_services(settings, extras=extras)
        running = RunningServer(settings, services).__enter__()
        started.append(running)
        return running

    yield start
    for running in started:
        running.__exit__()


@pytest.fixture
def start_terrain_server(
    server: Callable[..., RunningServer], terrain_cache: Path, opale: Any
) -> Callable[..., RunningServer]:
    """Starts a server on the shared prepared terrain and waits until its terrain is ready."""
    import httpx

    def start(*, within_s: float = 60, **overrides: Any) -> RunningServer:
        running = server(terrain="background", terrain_cache_dir=terrain_cache, **overrides)
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            health = httpx.get(headers=AUTH, url=f"{running.http}/api/v1/health").json()
            state = health["terrain"]["state"]
            if state == "ready":
                return running
            assert state in ("loading", "idle")
            time.sleep(0.1)
        raise AssertionError("terrain did not become ready")

    return start
