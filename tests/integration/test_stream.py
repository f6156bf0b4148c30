from __future__ import annotations

import asyncio
import base64
import json
import os
import socket

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests import factories
from tests.auth import AUTH


async def recv_json(ws, wait_s: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def collect_events(ws, until_seq: int, wait_s: float = 10) -> list[dict]:
    events: list[dict] = []
    while not events or events[-1]["seq"] < until_seq:
        message = await recv_json(ws, wait_s)
        assert message["type"] == "events"
        events.extend(message["events"])
    return events


async def post_units(client: httpx.AsyncClient, n: int, prefix: str = "U") -> int:
    reply = await client.post(
        "/api/v1/events",
        json=[
            {"type": "unit.created", "data": factories.unit(f"{prefix}{i}", id=f"{prefix}{i}")}
            for i in range(n)
        ],
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["events"][-1]["seq"]


async def test_a_client_gets_a_snapshot_then_every_change_in_order(server):
    running = server()
    async with (
        httpx.AsyncClient(headers=AUTH, base_url=running.http) as client,
        websockets.connect(f"{running.ws}/api/v1/stream", additional_headers=AUTH) as ws,
    ):
        snapshot = await recv_json(ws)
        assert snapshot["type"] == "snapshot"
        assert len(snapshot["records"]["agencies"]) == 6
        head = snapshot["seq"]
        last = 0
        for batch in range(5):
            last = await post_units(client, 10, prefix=f"B{batch}-")
        events = await collect_events(ws, last)
    assert [e["seq"] for e in events] == list(range(head + 1, last + 1))
    assert events[0]["type"] == "unit.created"
    assert events[0]["entity_id"] == "B0-0"


async def test_a_client_that_reconnects_with_since_gets_exactly_what_it_missed(server):
    running = server()
    async with httpx.AsyncClient(headers=AUTH, base_url=running.http) as client:
        async with websockets.connect(f"{running.ws}/api/v1/stream", additional_headers=AUTH) as ws:
            held = (await recv_json(ws))["seq"]
            first = await post_units(client, 3, "A")
            got = await collect_events(ws, first)
            held = got[-1]["seq"]
        missed_last = await post_units(client, 25, "M")
        async with websockets.connect(
            f"{running.ws}/api/v1/stream?since={held}", additional_headers=AUTH
        ) as ws:
            backlog = await collect_events(ws, missed_last)
            live_last = await post_units(client, 2, "L")
            live = await collect_events(ws, live_last)
    assert [e["seq"] for e in backlog] == list(range(held + 1, missed_last + 1))
    assert [e["seq"] for e in live] == list(range(missed_last + 1, live_last + 1))


@pytest.mark.parametrize("since", ["999999", "-1", "abc"])
async def test_a_resume_point_the_server_cannot_serve_is_refused_with_4400(server, since):
    running = server()
    async with websockets.connect(
        f"{running.ws}/api/v1/stream?since={since}", additional_headers=AUTH
    ) as ws:
        with pytest.raises(ConnectionClosed) as err:
            await recv_json(ws)
    assert err.value.rcvd is not None
    assert err.value.rcvd.code == 4400


def _raw_stream_client(port: int) -> socket.socket:
    """A WebSocket client that signs in, completes the handshake and then never reads (an
    unsigned one would be closed before it subscribed: a test of it could never fail)."""
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        f"GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert raw.recv(12) == b"HTTP/1.1 101"
    return raw


async def test_a_client_that_never_reads_is_cut_off_and_others_carry_on(server):
    running = server(stream_max_messages=200, stream_max_bytes=1024 * 1024)
    # Internal subscribers (the rescue service) are there before any client connects.
    health = await asyncio.to_thread(
        lambda u: httpx.get(u, headers=AUTH), f"{running.http}/api/v1/health"
    )
    internal = health.json()["subscribers"]
    stuck = _raw_stream_client(running.port)
    try:
        async with (
            httpx.AsyncClient(headers=AUTH, base_url=running.http, timeout=30) as client,
            websockets.connect(f"{running.ws}/api/v1/stream", additional_headers=AUTH) as fast,
        ):
            await recv_json(fast)
            # Both are subscribed before the flood: the stuck one too (it signed in).
            for _ in range(100):
                subscribers = (await client.get("/api/v1/health")).json()["subscribers"]
                if subscribers == internal + 2:
                    break
                await asyncio.sleep(0.05)
            assert subscribers == internal + 2, "the stuck client never subscribed"
            # The stuck client's kernel buffers fill (about 20 MB on loopback here), then its
            # bounded server-side queue overflows. Bounded: at most 60 MB is sent.
            subscribers = internal + 2
            for batch in range(120):
                reply = await client.post(
                    "/api/v1/events",
                    json=[
                        {
                            "type": "incident.created",
                            "data": factories.incident(summary="x" * 2000, id=f"S{batch}-{i}"),
                        }
                        for i in range(200)
                    ],
                )
                assert reply.status_code == 201
                last = reply.json()["events"][-1]["seq"]
                assert (await collect_events(fast, last))[-1]["seq"] == last
                subscribers = (await client.get("/api/v1/health")).json()["subscribers"]
                if subscribers == internal + 1:
                    break
            assert subscribers == internal + 1, "the stuck subscriber was never cut off"
            last = await post_units(client, 3, "after")
            assert (await collect_events(fast, last))[-1]["seq"] == last
    finally:
        stuck.close()


async def test_a_consumer_that_overflows_is_told_why_and_resumes_without_loss(server):
    running = server(stream_max_messages=50)
    async with httpx.AsyncClient(headers=AUTH, base_url=running.http, timeout=30) as client:
        async with websockets.connect(f"{running.ws}/api/v1/stream", additional_headers=AUTH) as ws:
            held = (await recv_json(ws))["seq"]
            last = await post_units(client, 200, "burst")  # one commit, 200 events > 50
            received: list[dict] = []

            async def read_until_closed() -> None:
                while True:
                    received.extend((await recv_json(ws))["events"])

            with pytest.raises(ConnectionClosed) as err:
                await read_until_closed()
            held = received[-1]["seq"] if received else held
        assert err.value.rcvd is not None
        assert err.value.rcvd.code == 4008
        reason = err.value.rcvd.reason
        assert f"reconnect with since={held}" in reason
        async with websockets.connect(
            f"{running.ws}/api/v1/stream?since={held}", additional_headers=AUTH
        ) as ws:
            missed = await collect_events(ws, last)
        assert [e["seq"] for e in missed] == list(range(held + 1, last + 1))


async def test_the_stream_carries_markings_and_origin_with_each_event(server):
    running = server()
    async with (
        httpx.AsyncClient(headers=AUTH, base_url=running.http) as client,
        websockets.connect(f"{running.ws}/api/v1/stream", additional_headers=AUTH) as ws,
    ):
        await recv_json(ws)
        reply = await client.post(
            "/api/v1/units",
            json={**factories.unit(id="m"), "marking": {"releasable_to": ["FR", "GB"]}},
        )
        (event,) = await collect_events(ws, reply.json()["version"])
    assert event["marking"]["releasable_to"] == ["FR", "GB"]
    assert event["actor"] == "user:test-commander"
    assert event["source"].startswith("http:")
