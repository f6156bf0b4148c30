"""Benchmark of several nodes on one PostgreSQL (issue 19, part 1): prints figures and their
ratio to the issue's targets.

    uv run python bench/bench_nodes.py           # about 2 minutes here
    uv run python bench/bench_nodes.py --quick   # shorter runs

Measures, on this machine, with ``estran serve`` nodes as processes on the loopback
PostgreSQL (each run in a fresh schema, dropped after):
- follow latency: events written on node A at 1,000 events/s (batches of 10), timed from A's
  acceptance (``received_at``) to their arrival at 5 stream clients on node B (in a process
  of their own);
- batched write throughput with 1 and 2 nodes taking writes at once (4 connections each,
  500 events a request, distinct ids per node).
Skipped, saying so, when PostgreSQL does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
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


def _nodes(tmp: Path, count: int, schema: str) -> list[ServerProcess]:
    env = {"ESTRAN_DATABASE_URL": POSTGRES_URL, "ESTRAN_DATABASE_SCHEMA": schema,
           "ESTRAN_PURGE_INTERVAL_S": "0"}  # fmt: skip
    out = []
    tmp.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        background = "true" if k == 0 else "false"
        out.append(ServerProcess(tmp / f"n{k}", env={**env, "ESTRAN_BACKGROUND": background}))
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
    for count in (1, 2):
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
            print("[1/2] follow latency across nodes", flush=True)
            results += bench_follow(tmp, seconds)
        print("[2/2] batched write throughput, 1 and 2 nodes", flush=True)
        results += bench_throughput(tmp, 5.0 if args.quick else 8.0)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"nodes-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
