"""Several nodes, one centre (issue 19, part 1): ``estran serve`` processes on one real
PostgreSQL follow each other's writes (LISTEN/NOTIFY as the wake-up, the log read by seq as
the truth), decide every record once across nodes, honour an idempotency key on any node,
show no gaps, and let a stream client fail over to another node with ``?since=N``."""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests import factories
from tests.auth import AUTH
from tests.marks import POSTGRES_URL, needs_postgres
from tests.polling import get_until
from tests.serverproc import ServerProcess

pytestmark = [
    needs_postgres,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(180),
]


@pytest.fixture
def nodes(tmp_path: Path, pg_schema: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"ESTRAN_DATABASE_URL": POSTGRES_URL, "ESTRAN_DATABASE_SCHEMA": pg_schema,
           "ESTRAN_PURGE_INTERVAL_S": "0"}  # fmt: skip
    # Both may lead the once-per-centre work (the rescue watch, fusion...): A, up first, does.
    a = ServerProcess(tmp_path / "a", env={**env, "ESTRAN_NODE_NAME": "node-a"}).start()
    b = ServerProcess(tmp_path / "b", env={**env, "ESTRAN_NODE_NAME": "node-b"}).start()
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def _post(node: ServerProcess, body: dict, **headers: str) -> httpx.Response:
    return httpx.post(f"{node.url}/api/v1/units", json=body, headers={**AUTH, **headers},
                      timeout=30)  # fmt: skip


def _seqs(node: ServerProcess) -> list[int]:
    r = httpx.get(f"{node.url}/api/v1/events", params={"limit": 10_000}, headers=AUTH,
                  timeout=30)  # fmt: skip
    assert r.status_code == 200, r.text
    return [e["seq"] for e in r.json()["events"]]


def test_a_write_on_one_node_is_in_the_other_nodes_picture_at_once(nodes):
    a, b = nodes
    assert _post(a, factories.unit("ALPHA", id="alpha")).status_code == 201
    started = time.monotonic()
    got = get_until(f"{b.url}/api/v1/units/alpha", lambda u: u["callsign"] == "ALPHA", 3.0)
    assert got["version"] > 0
    assert time.monotonic() - started < 2.0


def test_the_same_record_created_on_both_nodes_is_created_once(nodes):
    a, b = nodes
    body = factories.unit("TWIN", id="twin")
    with cf.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: _post(n, body).status_code, [a, b] * 4))
    assert answers.count(201) == 1, answers
    assert set(answers) == {201, 409}, answers
    for node in (a, b):
        history = httpx.get(f"{node.url}/api/v1/units/twin/history", headers=AUTH).json()
        assert [e["type"] for e in history["events"]] == ["unit.created"]


def test_an_idempotent_retry_on_the_other_node_returns_the_original(nodes):
    a, b = nodes
    key = {"Idempotency-Key": "create-bravo-0001"}
    first = _post(a, factories.unit("BRAVO", id="bravo"), **key)
    again = _post(b, factories.unit("BRAVO", id="bravo"), **key)
    assert first.status_code == again.status_code == 201, again.text
    assert first.json()["version"] == again.json()["version"]


def test_interleaved_writes_on_both_nodes_show_no_gap_on_either(nodes):
    a, b = nodes
    with cf.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(
            lambda i: _post(a if i % 2 else b, factories.unit(f"U{i}", id=f"u{i}")).status_code,
            range(60),
        ))  # fmt: skip
    assert codes == [201] * 60
    head = max(_seqs(a)[-1], _seqs(b)[-1])
    for node in (a, b):
        seqs = get_until(f"{node.url}/api/v1/events?limit=10000",
                         lambda body: body["events"][-1]["seq"] == head, 3.0)["events"]  # fmt: skip
        got = [e["seq"] for e in seqs]
        assert got == list(range(got[0], head + 1)), f"gaps on {node.url}"


def test_a_stream_client_fails_over_to_the_other_node_and_misses_nothing(nodes):
    a, b = nodes

    async def run() -> tuple[list[int], list[int]]:
        headers = AUTH
        async with websockets.connect(f"ws://127.0.0.1:{a.port}/api/v1/stream",
                                      additional_headers=headers) as ws:  # fmt: skip
            snapshot = orjson.loads(await ws.recv())
            assert snapshot["type"] == "snapshot"
            for i in range(5):
                assert _post(a, factories.unit(f"S{i}", id=f"s{i}")).status_code == 201
            seen: list[int] = []
            while len(seen) < 5:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                seen += [e["seq"] for e in message["events"]]
        # Node A is gone for this client; more is written (on both) before it reconnects to B.
        for i in range(5, 10):
            assert _post(a if i % 2 else b, factories.unit(f"S{i}", id=f"s{i}")).status_code == 201
        since = seen[-1]
        async with websockets.connect(f"ws://127.0.0.1:{b.port}/api/v1/stream?since={since}",
                                      additional_headers=headers) as ws:  # fmt: skip
            resumed: list[int] = []
            while len(resumed) < 5:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                resumed += [e["seq"] for e in message["events"]]
        return seen, resumed

    seen, resumed = asyncio.run(run())
    assert resumed == list(range(seen[-1] + 1, seen[-1] + 6))


def test_persons_in_the_water_reported_on_one_node_raise_one_rescue_case_from_the_other(nodes):
    """The rescue watch runs on node A, the leader, only; an incident written on node B
    reaches it through the shared log, and exactly one case is opened, seen on both nodes."""
    a, b = nodes
    r = httpx.post(f"{b.url}/api/v1/incidents", headers=AUTH, timeout=30,
                   json=factories.incident("persons_in_water", lat=50.95, lon=1.62))  # fmt: skip
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    for node in (b, a):
        cases = get_until(f"{node.url}/api/v1/rescue_cases",
                          lambda body: body["total"] >= 1, 10.0)["items"]  # fmt: skip
        assert [c["incident_id"] for c in cases] == [incident]
    health = httpx.get(f"{b.url}/api/v1/health", headers=AUTH).json()
    assert health["leader"] == {**health["leader"], "node": "node-b", "leading": False,
                                "holder": "node-a"}  # fmt: skip
    assert health["reactors"]["rescue"]["standby"] is True
    assert health["status"] == "ok", health["problems"]
    assert health["followed"] > 0
    time.sleep(1.0)  # and no second case appears
    assert httpx.get(f"{a.url}/api/v1/rescue_cases", headers=AUTH).json()["total"] == 1


def test_the_leader_killed_the_other_node_leads_within_5_s_and_nothing_is_lost_or_doubled(nodes):
    """SIGKILL the leading node: PostgreSQL frees its advisory lock with its session, node B
    takes the once-per-centre work within 5 s and resumes from the last seq handled: a person
    in the water reported just before the kill and one just after each get exactly one
    rescue case."""
    a, b = nodes
    body = factories.incident("persons_in_water", lat=50.95, lon=1.62)
    before = httpx.post(f"{a.url}/api/v1/incidents", headers=AUTH, timeout=30, json=body)
    assert before.status_code == 201, before.text
    a.kill()
    killed = time.monotonic()
    led = get_until(f"{b.url}/api/v1/health", lambda h: h["leader"]["leading"], 10.0)
    took_over = time.monotonic() - killed
    assert took_over < 5.0, took_over
    assert led["leader"]["holder"] == "node-b"
    after = httpx.post(f"{b.url}/api/v1/incidents", headers=AUTH, timeout=30,
                       json=factories.incident("boat_at_sea", lat=50.96, lon=1.61))  # fmt: skip
    assert after.status_code == 201, after.text
    cases = get_until(f"{b.url}/api/v1/rescue_cases", lambda body: body["total"] >= 2,
                      10.0)["items"]  # fmt: skip
    assert sorted(c["incident_id"] for c in cases) == sorted(
        [before.json()["id"], after.json()["id"]]
    )
    time.sleep(1.5)  # and no second case appears for either
    assert httpx.get(f"{b.url}/api/v1/rescue_cases", headers=AUTH).json()["total"] == 2
    health = httpx.get(f"{b.url}/api/v1/health", headers=AUTH).json()
    assert health["reactors"]["rescue"]["alive"], health["reactors"]["rescue"]
