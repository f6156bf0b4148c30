"""The one way tests wait for something to become true (instead of a hand-written loop in
each file): ``eventually`` and ``get_until`` for synchronous tests, ``a_eventually`` and
``a_get_until`` for async ones. Each fails with what it was waiting for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.auth import AUTH

STEP_S = 0.05


def eventually(check: Callable[[], Any], within_s: float = 5.0, what: str = "condition") -> Any:
    """Call ``check`` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} never became true within {within_s:g} s")
        time.sleep(STEP_S)


async def a_eventually(
    check: Callable[[], Any], within_s: float = 5.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} never became true within {within_s:g} s")
        await asyncio.sleep(STEP_S)


def get_until(
    url: str, check: Callable[[Any], Any], within_s: float = 5.0, headers: Any = None
) -> Any:
    """GET ``url`` (as the test commander by default) until a 200 whose JSON ``check``
    accepts; returns that JSON."""

    def once() -> Any:
        r = httpx.get(url, headers=headers or AUTH, timeout=30)
        return r.json() if r.status_code == 200 and check(r.json()) else None

    return eventually(once, within_s, f"GET {url}")


async def a_get_until(
    url: str, check: Callable[[Any], Any], within_s: float = 5.0, headers: Any = None
) -> Any:
    async with httpx.AsyncClient(headers=headers or AUTH, timeout=30) as http:
        deadline = time.monotonic() + within_s
        while True:
            r = await http.get(url)
            if r.status_code == 200 and check(r.json()):
                return r.json()
            if time.monotonic() >= deadline:
                raise AssertionError(f"GET {url} never matched within {within_s:g} s")
            await asyncio.sleep(STEP_S)
