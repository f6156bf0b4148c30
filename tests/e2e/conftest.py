"""A real ``estran demo`` (server plus simulated night) and headless Debian Chromium driven by
Playwright, for the watch floor's end-to-end tests. Screenshots go to ``$ESTRAN_SCREENSHOTS``
(default: the test's temporary directory)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.marks import CHROMIUM, CHROMIUM_ARGS, NATS_SKIP_REASON, NATS_URL
from tests.serverproc import stop_process


class Demo:
    def __init__(self, data: Path, cache: Path) -> None:
        self.log = data.parent / "demo.log"
        env = {
            **os.environ,
            "ESTRAN_TERRAIN_CACHE_DIR": str(cache),
            "ESTRAN_COT_TCP_PORT": "0",
            "ESTRAN_COT_TLS_PORT": "0",
            # A rescue case unacknowledged for 20 s escalates (5 min in service), so a test
            # sees an escalation reach the watch floor.
            "ESTRAN_RESCUE_ACK_S": "20",
        }
        # Federated with a partner centre where NATS answers (a subject root of its own), so a
        # test can play the partner on the stream.
        self.federation_root: str | None = None
        if NATS_SKIP_REASON is None:
            self.federation_root = f"e2e{uuid.uuid4().hex[:8]}.fed"
            env |= {"ESTRAN_FEDERATION_URL": NATS_URL, "ESTRAN_CENTRE": "FR-CCI-DEMO",
                    "ESTRAN_FEDERATION_ROOT": self.federation_root}  # fmt: skip
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "estran", "demo", "--data", str(data), "--http-port", "0"],
            stdout=self._out,
            stderr=self._out,
            env=env,
        )
        self.url = ""
        self.passwords: dict[str, str] = {}

    def wait(self, timeout_s: float = 150) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited: {text[-2000:]}")
            port = re.search(r"Estran listening on http://127\.0\.0\.1:(\d+)", text)
            if port and "Application startup complete" in text and not self.url:
                self.url = f"http://127.0.0.1:{port.group(1)}"
                self.passwords = dict(re.findall(r"^\s+(demo-[a-z]+)\s+(\S+)", text, re.M))
            if self.url:
                token = self.token("demo-commander")
                health = httpx.get(
                    f"{self.url}/api/v1/health", headers={"Authorization": f"Bearer {token}"}
                ).json()
                units = httpx.get(
                    f"{self.url}/api/v1/units", headers={"Authorization": f"Bearer {token}"}
                ).json()
                if health["terrain"]["state"] == "ready" and units["total"] > 0:
                    return
            time.sleep(0.5)
        raise RuntimeError("the demo did not get ready in time")

    def token(self, user: str) -> str:
        r = httpx.post(
            f"{self.url}/api/v1/auth/login",
            json={"username": user, "password": self.passwords[user]},
        )
        r.raise_for_status()
        return str(r.json()["token"])

    def api(self, user: str = "demo-commander") -> httpx.Client:
        return httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=30,
        )

    def stop(self) -> None:
        stop_process(self.proc)
        self._out.close()
        if self.federation_root is not None:
            root = self.federation_root

            async def drop() -> None:
                import nats

                from estran.adapters.jetstream_federation import stream_name

                nc = await nats.connect(NATS_URL)
                with contextlib.suppress(Exception):
                    await nc.jetstream().delete_stream(stream_name(root, "FR", "GB"))
                await nc.close()

            # (in a thread of its own: Playwright's event loop may be running in this one)
            worker = threading.Thread(target=lambda: asyncio.run(drop()))
            worker.start()
            worker.join(30)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, terrain_cache: Path) -> Iterator[Demo]:
    d = Demo(tmp_path_factory.mktemp("demo") / "data", terrain_cache)
    try:
        d.wait()
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    out = Path(os.environ.get("ESTRAN_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    return out


def signed_in_page(
    browser: Any,
    demo: Demo,
    user: str,
    viewport: tuple[int, int] = (1440, 900),
    language: str = "en",
) -> Any:
    """A new browser context signed in as ``user`` through the API (the cookie it sets), the
    account's language set to ``language`` (kept with the account, as the page's switch
    does)."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    r = context.request.post(
        f"{demo.url}/api/v1/auth/login",
        data={"username": user, "password": demo.passwords[user]},
    )
    assert r.ok, r.text()
    r = context.request.put(f"{demo.url}/api/v1/auth/me/language", data={"language": language},
                            headers={"Origin": demo.url})  # fmt: skip
    assert r.ok, r.text()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(demo.url + "/")
    page.wait_for_function("() => window.estran && window.estran.ready", timeout=60_000)
    return page
