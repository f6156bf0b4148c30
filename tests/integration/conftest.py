"""Fixtures the integration tests share."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def root() -> Iterator[str]:
    """A federation subject root of the test's own; the pair's stream is deleted after."""
    import nats

    from estran.adapters.jetstream_federation import stream_name
    from tests.marks import NATS_URL

    name = f"t{uuid.uuid4().hex[:10]}.fed"
    yield name

    async def drop() -> None:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):  # not created: nothing to drop
            await nc.jetstream().delete_stream(stream_name(name, "FR", "GB"))
        await nc.close()

    asyncio.run(drop())


@pytest.fixture
def nats_proxy() -> Iterator[Any]:
    """A proxy the test owns between Estran and NATS, to cut and restore the link (set up
    before the servers, so closed after them)."""
    from tests.faultproxy import FaultProxy

    proxy = FaultProxy("127.0.0.1", 4222)
    yield proxy
    proxy.close()
