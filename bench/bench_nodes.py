"""Benchmark of several nodes on one PostgreSQL (issue 19, part 1): prints figures and their
ratio to the issue's targets.

    uv run python bench/bench_nodes.py           # about 2 minutes here
    uv run python bench/bench_nodes.py --quick   # shorter runs

Measures, on this machine, with ``estran serve`` nodes as processes on the loopback
PostgreSQL (each run in a fresh schema, dropped after):
- follow latency: events written on node A at 1,000 events/s (batches of 10), timed from A's
  acceptance (``received_at``) to their arrival at 5 stream clients on node B (in a process
  of their own);
- batched write throughput with 1, 2 and 3 nodes taking writes at once (4 connections each,
  500 events a request, distinct ids per node);
- failover: two nodes under a steady load (100 writes/s to each), 3 stream clients on node B;
  the leader (node A) is SIGKILLed; then: acknowledged writes missing from the log (must be
  0), gaps and duplicates on B's stream clients (0), and seconds from the kill until node B
  leads, a person in the water reported on B has its rescue case, and a detection on B is
  fused into a track (target under 5 s).
Skipped, saying so, when PostgreSQL does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.marks import POSTGRES_URL
from tests.serverproc import ServerProcess

from bench.bench_core import unit_cmd
from bench.loadgen import closed_loop, open_loop, subscriber_pool
from bench.report import line

OUT = Path(__file__).parent / "out"


def batch_of(size: int, prefix: str):
    def make(n: int) -> bytes:
        return orjson.dumps([unit_cmd(n * size + i, prefix) for i in range(size)])

    return make


def _nodes(tmp: Path, count: int, schema: str, **extra: str) -> list[ServerProcess]:
    """``count`` nodes on one log, all of them able to lead; node 0, up first, leads."""
    env = {"ESTRAN_DATABASE_URL": POSTGRES_URL, "ESTRAN_DATABASE_SCHEMA": schema,
           "ESTRAN_PURGE_INTERVAL_S": "0", **extra}  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    out = [ServerProcess(tmp / f"n{k}", env={**env, "ESTRAN_NODE_NAME": f"node-{k}"})
           for k in range(count)]  # fmt: skip
    return [n.start() for n in out]


def _drop(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def bench_follow(tmp: Path, seconds: float) -> list[dict]:
    schema = f"estran_bench_{uuid.uuid4().hex[:8]}"
    a, b = _nodes(tmp / "follow", 2, schema)
    try:
        rate, batch, subs = 1000.0, 10, 5
        total = int(rate * seconds)
        out, ready = str(tmp / "lat.json"), str(tmp / "ready")
        pool = mp.get_context("spawn").Process(
            target=subscriber_pool, args=(b.port, subs, total, out, ready)
        )
        pool.start()
        while not os.path.exists(ready):
            time.sleep(0.1)
        sent = asyncio.run(open_loop(a.port, batch_of(batch, "f"), rate / batch, seconds))
        pool.join(120)
        lat = sorted(json.loads(Path(out).read_text()))
    finally:
        a.stop()
        b.stop()
        _drop(schema)
    p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
    print(f"  ({subs} stream clients on node B, {rate:,.0f} events/s written on node A for "
          f"{seconds:.0f} s; {sent['errors']} errors; {len(lat):,} frames timed)")  # fmt: skip
    return [
        line("follow: A accepts -> B's stream, p50", p50, "ms"),
        line("follow: A accepts -> B's stream, p99", p99, "ms", target=100,
             higher_is_better=False),
    ]  # fmt: skip


def bench_throughput(tmp: Path, seconds: float) -> list[dict]:
    results = []
    for count in (1, 2, 3):
        schema = f"estran_bench_{uuid.uuid4().hex[:8]}"
        nodes = _nodes(tmp / f"tp{count}", count, schema)
        try:

            async def load(nodes: list[ServerProcess] = nodes) -> list[dict]:
                return await asyncio.gather(*(
                    closed_loop(n.port, batch_of(500, f"n{k}-"), connections=4,
                                duration_s=seconds)
                    for k, n in enumerate(nodes)
                ))  # fmt: skip

            runs = asyncio.run(load())
        finally:
            for n in nodes:
                n.stop()
            _drop(schema)
        errors = sum(r["errors"] for r in runs)
        events = sum(r["requests"] * 500 / r["elapsed_s"] for r in runs)
        label = f"write throughput, {count} node{'s' if count > 1 else ''} on one PostgreSQL"
        results.append(line(f"{label} ({errors} errors)", events, "events/s"))
    return results


async def _failover(a: ServerProcess, b: ServerProcess, seconds: float) -> dict:
    import httpx
    import websockets
    from tests.auth import AUTH
    from tests.factories import incident

    acked: list[str] = []
    seen: list[list[int]] = [[], [], []]
    stop = asyncio.Event()
    killed: dict[str, float] = {}

    async def listen(k: int) -> None:
        url = f"ws://127.0.0.1:{b.port}/api/v1/stream"
        async with websockets.connect(url, additional_headers=AUTH, max_size=None) as ws:
            await ws.recv()  # the snapshot
            while not stop.is_set():
                try:
                    message = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
                except TimeoutError:
                    continue
                seen[k] += [e["seq"] for e in message.get("events", ())]

    async def write(node: ServerProcess, prefix: str, http: httpx.AsyncClient) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            body = unit_cmd(n, prefix)["data"]
            try:
                r = await http.post(f"{node.url}/api/v1/units", json=body, headers=AUTH)
                if r.status_code == 201:
                    acked.append(body["id"])
            except httpx.HTTPError:
                pass  # the killed node: not acknowledged
            await asyncio.sleep(0.01)

    async def until(check, limit: float = 20.0) -> float:
        while time.monotonic() - killed["at"] < limit:
            if await check():
                return time.monotonic() - killed["at"]
            await asyncio.sleep(0.02)
        return float("inf")

    async with httpx.AsyncClient(timeout=10) as http:
        sensor = {"id": "uas-1", "name": "uas-1", "kind": "drone_thermal", "agency_id": "FR-GN"}
        assert (await http.post(f"{b.url}/api/v1/sensors", json=sensor, headers=AUTH)).is_success
        tasks = [asyncio.create_task(listen(k)) for k in range(3)]
        await asyncio.sleep(0.5)
        tasks += [asyncio.create_task(write(a, "fa", http)),
                  asyncio.create_task(write(b, "fb", http))]  # fmt: skip
        await asyncio.sleep(seconds / 2)
        a.kill()
        killed["at"] = time.monotonic()

        async def leads() -> bool:
            r = await http.get(f"{b.url}/api/v1/health", headers=AUTH)
            return bool(r.json()["leader"]["leading"])

        body = incident("persons_in_water", lat=50.95, lon=1.62)
        pw = (await http.post(f"{b.url}/api/v1/incidents", json=body, headers=AUTH)).json()["id"]
        det = {"id": "det-after-kill", "sensor_id": "uas-1", "class": "group_of_people",
               "position": {"lat": 50.9, "lon": 1.7, "error_m": 30.0},
               "confidence": 0.7}  # fmt: skip
        assert (await http.post(f"{b.url}/api/v1/detections", json=det, headers=AUTH)).is_success

        async def rescued() -> bool:
            r = await http.get(f"{b.url}/api/v1/rescue_cases/sar-{pw}", headers=AUTH)
            return r.status_code == 200

        async def fused() -> bool:
            r = await http.get(f"{b.url}/api/v1/detections/det-after-kill", headers=AUTH)
            return bool(r.json().get("track_id"))

        lead_s, rescue_s, fusion_s = await until(leads), await until(rescued), await until(fused)
        await asyncio.sleep(seconds / 2)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        logged: set[str] = set()
        after = 0
        while True:
            query: dict[str, str | int] = {"after": after, "limit": 10_000, "type": "unit.created"}
            r = await http.get(f"{b.url}/api/v1/events", headers=AUTH, params=query)
            page = r.json()
            logged |= {e["entity_id"] for e in page["events"]}
            if page["next_after"] == after or not page["events"]:
                break
            after = page["next_after"]
    lost = len(set(acked) - logged)
    gaps = dups = 0
    for seqs in seen:
        dups += len(seqs) - len(set(seqs))
        gaps += sum(1 for x, y in itertools.pairwise(seqs) if y != x + 1 and y > x)
    return {"acked": len(acked), "lost": lost, "gaps": gaps, "dups": dups,
            "frames": sum(map(len, seen)), "lead_s": lead_s, "rescue_s": rescue_s,
            "fusion_s": fusion_s}  # fmt: skip


def bench_failover(tmp: Path, seconds: float) -> list[dict]:
    schema = f"estran_bench_{uuid.uuid4().hex[:8]}"
    a, b = _nodes(tmp / "failover", 2, schema, ESTRAN_FUSION="true")
    try:
        got = asyncio.run(_failover(a, b, seconds))
    finally:
        a.stop()
        b.stop()
        _drop(schema)
    print(f"  ({got['acked']:,} writes acknowledged by both nodes, the leader killed half-way; "
          f"{got['frames']:,} events on 3 stream clients of node B)")  # fmt: skip
    return [
        line("failover: acknowledged writes lost", got["lost"], "", target=0,
             higher_is_better=False),
        line("failover: stream gaps + duplicates on node B", got["gaps"] + got["dups"], "",
             target=0, higher_is_better=False),
        line("failover: kill -> node B leads", got["lead_s"], "s", target=5,
             higher_is_better=False),
        line("failover: kill -> rescue case opened on node B", got["rescue_s"], "s", target=5,
             higher_is_better=False),
        line("failover: kill -> detection fused on node B", got["fusion_s"], "s", target=5,
             higher_is_better=False),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--throughput-only", action="store_true")
    args = parser.parse_args()
    try:
        import psycopg

        psycopg.connect(POSTGRES_URL, connect_timeout=2).close()
    except Exception as exc:
        print(f"skipped: PostgreSQL at {POSTGRES_URL} does not answer ({exc})")
        return
    seconds = 5.0 if args.quick else 15.0
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-nodes-") as name:
        tmp = Path(name)
        if not args.throughput_only:
            print("[1/3] follow latency across nodes", flush=True)
            results += bench_follow(tmp, seconds)
        print("[2/3] batched write throughput, 1, 2 and 3 nodes", flush=True)
        results += bench_throughput(tmp, 5.0 if args.quick else 8.0)
        if not args.throughput_only:
            print("[3/3] failover: the leader SIGKILLed under load", flush=True)
            results += bench_failover(tmp, 6.0 if args.quick else 12.0)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"nodes-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
