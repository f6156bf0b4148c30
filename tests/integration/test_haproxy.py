"""A two-node centre behind HAProxy, started by one command (``deploy/two_nodes.py``), end to
end on the real PostgreSQL, NATS and Debian's ``haproxy`` (each skipped with the reason when
absent): HTTP, the WebSocket stream and CoT go through the front; a node is killed under it and
the centre carries on: writes through the front succeed, a stream client reconnecting with
``?since=N`` misses nothing, CoT clients reconnect to the surviving node and still relay, and
the surviving node leads the once-per-centre work."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import websockets

from tests import factories
from tests.auth import AUTH, seed_user
from tests.marks import NATS_URL, POSTGRES_URL, needs_nats, needs_postgres
from tests.polling import get_until
from tests.security.helpers import Raw, position

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
needs_haproxy = pytest.mark.skipif(
    not os.path.exists(HAPROXY), reason=f"no haproxy at {HAPROXY} (Debian: apt-get install haproxy)"
)
pytestmark = [needs_postgres, needs_nats, needs_haproxy, pytest.mark.integration,
              pytest.mark.slow, pytest.mark.timeout(240)]  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]


def _free() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def cluster(pg_schema, tmp_path):
    from estran.config import Settings

    seed_user(Settings(data_dir=tmp_path / "seed", database_url=POSTGRES_URL,
                       database_schema=pg_schema))  # fmt: skip
    http, cot = _free(), _free()
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "two_nodes.py"), "--database-url", POSTGRES_URL,
         "--database-schema", pg_schema, "--relay-url", NATS_URL, "--data", str(tmp_path / "c"),
         "--http-port", str(http), "--cot-port", str(cot), "--haproxy", HAPROXY],
        stdout=subprocess.PIPE, env={**os.environ, "ESTRAN_TERRAIN": "off",
                                     "ESTRAN_FUSION": "false", "ESTRAN_PURGE_INTERVAL_S": "0"},
        start_new_session=True,  # its nodes and HAProxy in one process group, ended together
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        line = proc.stdout.readline().decode()
        assert line.startswith("ready "), f"the cluster did not start: {line!r}"
        yield json.loads(line[len("ready ") :])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()
        with contextlib.suppress(ProcessLookupError):  # whatever is left of the group
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_two_node_centre_behind_haproxy_carries_on_when_a_node_is_killed(cluster):
    front = f"http://127.0.0.1:{cluster['http']}"

    async def run() -> None:
        async with (
            httpx.AsyncClient(base_url=front, headers=AUTH, timeout=10) as api,
            websockets.connect(f"ws://127.0.0.1:{cluster['http']}/api/v1/stream",
                               additional_headers=AUTH) as ws,
            Raw(cluster["cot"]) as one,
            Raw(cluster["cot"]) as two,
        ):  # fmt: skip
            assert orjson.loads(await ws.recv())["type"] == "snapshot"
            # Least connections: the two CoT clients are on different nodes; the relay
            # crosses them.
            await one.send(position("FRONT-1", "ONE"))
            await two.wait_for(b'uid="FRONT-1"')
            seen: list[int] = []
            for i in range(5):
                r = await api.post("/api/v1/units", json=factories.unit(f"H{i}", id=f"h{i}"))
                assert r.status_code == 201, r.text
            while len(seen) < 5:
                seen += [e["seq"] for e in orjson.loads(await ws.recv())["events"]]
            # Node 1 (the leader, started first) is killed under the load balancer.
            os.kill(cluster["nodes"][0]["pid"], signal.SIGKILL)
            killed = time.monotonic()
            written = 0
            while written < 10:
                # A client retries what failed with the same Idempotency-Key: safe, whether
                # or not the dead node had committed it.
                body = factories.unit(f"K{written}", id=f"k{written}")
                key = {"Idempotency-Key": f"haproxy-test-k{written}"}
                answer: httpx.Response | None = None
                with contextlib.suppress(httpx.TransportError):  # it met the node as it died
                    answer = await api.post("/api/v1/units", json=body, headers=key)
                if answer is not None and answer.status_code == 201:
                    written += 1
                else:  # only while HAProxy has not marked it down yet
                    why = "no answer" if answer is None else answer.text
                    assert time.monotonic() - killed < 5, why
        # The stream client reconnects through the front and misses nothing.
        url = f"ws://127.0.0.1:{cluster['http']}/api/v1/stream?since={seen[-1]}"
        async with websockets.connect(url, additional_headers=AUTH) as ws:
            resumed: list[int] = []
            while len(resumed) < 10:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
                resumed += [e["seq"] for e in message["events"]]
            assert resumed[:10] == list(range(seen[-1] + 1, seen[-1] + 11))
        # CoT clients reconnect through the front, to the surviving node, and relay there.
        async with Raw(cluster["cot"]) as one, Raw(cluster["cot"]) as two:
            await one.send(position("FRONT-2", "ONE"))
            await two.wait_for(b'uid="FRONT-2"')

    asyncio.run(run())
    health = get_until(f"{front}/api/v1/health", lambda h: h["leader"]["leading"], 10.0)
    assert health["leader"]["node"] == "node-2"
    assert health["reactors"]["rescue"]["alive"]
