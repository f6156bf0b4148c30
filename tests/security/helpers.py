"""Shared pieces of the red-team tests: raw CoT clients over TCP and TLS, and the audit."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import time
from pathlib import Path
from typing import Any

from estran.bootstrap import open_security_store
from tests.polling import a_get_until


def now_iso(offset_s: float = 0.0) -> str:
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def position(uid: str, callsign: str, lat: float = 50.9, lon: float = 1.7) -> bytes:
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now_iso()}" '
        f'start="{now_iso()}" stale="{now_iso(300)}"><point lat="{lat}" lon="{lon}" hae="10" '
        f'ce="8" le="9999999"/><detail><contact callsign="{callsign}"/></detail></event>'
    ).encode()


def chat(uid: str, text: str) -> bytes:
    return (
        f'<event version="2.0" uid="GeoChat.{uid}.All.{time.monotonic_ns()}" type="b-t-f" '
        f'how="h-g-i-g-o" time="{now_iso()}" start="{now_iso()}" stale="{now_iso(300)}">'
        f'<point lat="50.9" lon="1.7" hae="0" ce="20" le="9999999"/><detail>'
        f"<remarks>{text}</remarks></detail></event>"
    ).encode()


def sighting(uid: str, remarks: str, kind: str = "a-u-G", lat: float = 50.9) -> bytes:
    return (
        f'<event version="2.0" uid="{uid}" type="{kind}" how="h-g-i-g-o" time="{now_iso()}" '
        f'start="{now_iso()}" stale="{now_iso(300)}"><point lat="{lat}" lon="1.7" hae="0" '
        f'ce="20" le="9999999"/><detail><remarks>{remarks}</remarks></detail></event>'
    ).encode()


class Raw:
    """A raw CoT stream client that keeps everything it receives."""

    def __init__(self, port: int, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.port, self.tls = port, tls
        self.received = b""
        self.closed = False

    async def __aenter__(self) -> Raw:
        ctx = None
        if self.tls is not None:
            cert, key, ca = self.tls
            ctx = ssl.create_default_context(cafile=str(ca))
            ctx.check_hostname = False
            ctx.load_cert_chain(cert, key)
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, ssl=ctx)
        self.task = asyncio.create_task(self._read())
        await self.wait_for(b"t-x-takp-v")
        return self

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            while data := await self.reader.read(65536):
                self.received += data
        self.closed = True

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def wait_for(self, needle: bytes, within_s: float = 5.0) -> None:
        deadline = time.monotonic() + within_s
        while needle not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never arrived")
            await asyncio.sleep(0.02)

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2)


def tls_files(folder: Path, name: str) -> tuple[Path, Path, Path]:
    out = folder / "clients"
    return out / f"{name}.pem", out / f"{name}.key", folder / "ca.pem"


poll = a_get_until


def audit_rows(settings: Any) -> list[Any]:
    store = open_security_store(settings)
    try:
        return list(store.read_audit())
    finally:
        store.close()
