"""Benchmark of the federation of two sovereign centres (issue 19, part 2): prints figures
and their ratio to the issue's targets.

    uv run python bench/bench_federation.py                    # about 3 minutes here
    uv run python bench/bench_federation.py --quick
    uv run python bench/bench_federation.py --partition-s 600  # the issue's 10 minutes

A French centre and the UK's (two ``estran serve`` processes on SQLite, ``--federation`` to the
loopback NATS JetStream, each through a TCP proxy the benchmark owns). The French centre takes
writes at 1,000 events/s, half of them released to GB, half French only. Measured:
- latency from the French centre's acceptance to the UK centre holding the record (both
  stamps from the two centres' own logs), p50/p99 (target p99 under 500 ms at 500 released
  events/s), and to delivery on the wire (a subscriber on the pair's stream);
- a partition (both proxies cut) under the same load, then catch-up: seconds from the links'
  return until the UK centre holds everything, the rate; lost and applied twice (0 each), on
  the wire and in the UK centre's log;
- every message on every federation subject checked: records not released to GB (target 0).
Skipped, saying so, when NATS does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import numpy as np
import orjson
from nats.js.api import DeliverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.auth import AUTH
from tests.faultproxy import FaultProxy
from tests.marks import NATS_SKIP_REASON, NATS_URL
from tests.serverproc import ServerProcess

from bench.loadgen import open_loop
from bench.report import line
from estran.adapters.jetstream_federation import stream_name
from estran.bootstrap import open_store
from estran.config import Settings
from estran.domain.timefmt import parse_stamp

OUT = Path(__file__).parent / "out"
TO_GB = {"classification": "OFFICIAL", "releasable_to": ["FR", "GB"]}
FR_ONLY = {"classification": "OFFICIAL", "releasable_to": ["FR"]}


def body(prefix: str):
    def make(n: int) -> bytes:
        commands = []
        for i in range(10):  # 5 released to GB, 5 French only
            k = n * 10 + i
            commands.append({
                "type": "unit.created",
                "data": {"id": f"{prefix}{'gb' if i % 2 else 'fr'}-{k}",
                         "callsign": f"{prefix.upper()}{k}", "kind": "foot_patrol",
                         "agency_id": "FR-GN"},
                "marking": TO_GB if i % 2 else FR_ONLY,
            })  # fmt: skip
        return orjson.dumps(commands)

    return make


class Consumer:
    """The British side's reading of the stream, and a check of every message on the wire."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.arrivals: dict[str, list[float]] = {}
        self.latency_s: list[float] = []
        self.leaks = 0
        self.messages = 0

    async def start(self) -> None:
        self.nc = await nats.connect(NATS_URL)
        js = self.nc.jetstream()
        for _ in range(100):  # the centre creates the stream when it connects
            try:
                await js.stream_info(stream_name(self.root, "FR", "GB"))
                break
            except Exception:
                await asyncio.sleep(0.1)

        async def got(msg: Any) -> None:
            now = time.time()
            m = orjson.loads(msg.data)
            self.messages += 1
            if m["op"] != "release":
                return
            record = m["record"]
            if "GB" not in record["marking"]["releasable_to"]:
                self.leaks += 1
            self.arrivals.setdefault(m["id"], []).append(now)
            self.latency_s.append(now - parse_stamp(record["updated_at"]).timestamp())

        await js.subscribe(f"{self.root}.FR.GB.>", cb=got, ordered_consumer=True,
                           deliver_policy=DeliverPolicy.NEW)  # fmt: skip

    async def stop(self) -> None:
        await self.nc.close()


def held_in_uk(port: int) -> int:
    """How many French units the UK centre holds now (its API, as a French liaison there)."""
    r = httpx.get(f"http://127.0.0.1:{port}/api/v1/foreign_records",
                  params={"type": "unit", "limit": 1}, headers=AUTH, timeout=30)  # fmt: skip
    return int(r.json()["total"]) if r.status_code == 200 else -1


async def wait_held(port: int, expected: int, within_s: float) -> float:
    """Seconds until the UK centre holds ``expected`` French units (inf: not within)."""
    start = time.monotonic()
    while time.monotonic() - start < within_s:
        if await asyncio.to_thread(held_in_uk, port) >= expected:
            return time.monotonic() - start
        await asyncio.sleep(0.1)
    return float("inf")


def uk_log(data_dir: Path) -> tuple[list[float], int, int]:
    """From the UK centre's own log: latency from France's acceptance to the UK's (ms) of the
    steady-load units, how many French units it holds and how many times one was created."""
    store = open_store(Settings(data_dir=data_dir))
    latency_ms: list[float] = []
    created: list[str] = []
    try:
        for event in store.read(0, types=["foreign.created"]):
            if event.data.get("origin_kind") != "unit":
                continue
            created.append(event.data["origin_id"])
            if event.data["origin_id"].startswith("agb-"):
                accepted = parse_stamp(event.data["record"]["updated_at"]).timestamp()
                latency_ms.append((parse_stamp(event.received_at).timestamp() - accepted) * 1000)
    finally:
        store.close()
    return latency_ms, len(set(created)), len(created)


async def run(fr: int, uk: int, proxies: list[FaultProxy], root: str, seconds: float,
              partition_s: float) -> dict[str, Any]:  # fmt: skip
    consumer = Consumer(root)
    await consumer.start()
    await asyncio.sleep(1.0)
    sent = await open_loop(fr, body("a"), 100.0, seconds)  # 100 requests/s of 10 events
    expected_a = int(100 * seconds) * 5
    await wait_held(uk, expected_a, 60.0)
    steady = np.asarray(consumer.latency_s) * 1000
    got_a = sum(1 for k in consumer.arrivals if k.startswith("agb-"))
    for proxy in proxies:  # both centres cut off from the federation: a partition
        proxy.reset()
    print(f"  partition: {partition_s:.0f} s under the same load", flush=True)
    cut = await open_loop(fr, body("b"), 100.0, partition_s)
    expected_b = int(100 * partition_s) * 5
    restored = time.monotonic()
    for proxy in proxies:
        proxy.restore()
    while sum(1 for k in consumer.arrivals if k.startswith("bgb-")) < expected_b:
        if time.monotonic() - restored > 600:
            break
        await asyncio.sleep(0.05)
    wire_catch_up_s = time.monotonic() - restored
    uk_catch_up_s = wire_catch_up_s + await wait_held(uk, expected_a + expected_b, 600.0)
    got_b = sum(1 for k in consumer.arrivals if k.startswith("bgb-"))
    await asyncio.sleep(1.0)
    dups = sum(len(v) - 1 for v in consumer.arrivals.values())
    await consumer.stop()
    return {
        "errors": sent["errors"] + cut["errors"],
        "p50": float(np.percentile(steady, 50)) if len(steady) else float("inf"),
        "p99": float(np.percentile(steady, 99)) if len(steady) else float("inf"),
        "lost": (expected_a - got_a) + (expected_b - got_b),
        "dups": dups,
        "catch_up_s": wire_catch_up_s,
        "uk_catch_up_s": uk_catch_up_s,
        "rate": expected_b / uk_catch_up_s if uk_catch_up_s else float("inf"),
        "leaks": consumer.leaks,
        "messages": consumer.messages,
        "partition_events": expected_b,
        "expected": expected_a + expected_b,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--partition-s", type=float, default=None)
    args = parser.parse_args()
    if NATS_SKIP_REASON is not None:
        print(f"skipped: {NATS_SKIP_REASON}")
        return
    seconds = 10.0 if args.quick else 30.0
    partition_s = args.partition_s or (15.0 if args.quick else 60.0)
    root = f"bench{uuid.uuid4().hex[:8]}.fed"
    proxies = [FaultProxy("127.0.0.1", 4222), FaultProxy("127.0.0.1", 4222)]
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-fed-") as name:
        common = {"ESTRAN_FEDERATION_ROOT": root, "ESTRAN_PURGE_INTERVAL_S": "0"}
        fr = ServerProcess(Path(name) / "fr", env={
            **common, "ESTRAN_FEDERATION_URL": f"nats://{proxies[0].url_host}",
            "ESTRAN_CENTRE": "FR-BENCH"}).start()  # fmt: skip
        uk = ServerProcess(Path(name) / "uk", env={
            **common, "ESTRAN_FEDERATION_URL": f"nats://{proxies[1].url_host}",
            "ESTRAN_CENTRE": "UK-BENCH", "ESTRAN_NATION": "GB"}).start()  # fmt: skip
        try:
            print(f"[1/1] 1,000 events/s at the French centre (500 released to GB) for "
                  f"{seconds:.0f} s, then a {partition_s:.0f} s partition of both centres "
                  "under the same load", flush=True)  # fmt: skip
            got = asyncio.run(run(fr.port, uk.port, proxies, root, seconds, partition_s))
        finally:
            fr.stop()
            uk.stop()
            for proxy in proxies:
                proxy.close()

            async def drop() -> None:
                nc = await nats.connect(NATS_URL)
                await nc.jetstream().delete_stream(stream_name(root, "FR", "GB"))
                await nc.close()

            asyncio.run(drop())
        latency_ms, held, created = uk_log(Path(name) / "uk")
    print(f"  ({got['messages']:,} messages on the wire; {got['errors']} write errors; "
          f"{got['partition_events']:,} released events written during the partition)")  # fmt: skip
    steady = np.asarray(latency_ms)
    results += [
        line("federation FR -> stream (a subscriber on the wire), p50", got["p50"], "ms"),
        line("federation FR -> stream (a subscriber on the wire), p99", got["p99"], "ms"),
        line("federation FR accepted -> held by the UK centre, p50",
             float(np.percentile(steady, 50)), "ms"),
        line("federation FR accepted -> held by the UK centre, p99",
             float(np.percentile(steady, 99)), "ms", target=500, higher_is_better=False),
        line(f"wire catch-up after a {partition_s:.0f} s partition", got["catch_up_s"], "s"),
        line(f"UK centre catch-up after a {partition_s:.0f} s partition", got["uk_catch_up_s"],
             "s"),
        line("UK catch-up rate", got["rate"], "releases/s"),
        line("released events lost on the wire", got["lost"], "", target=0,
             higher_is_better=False),
        line("released events duplicated on the wire", got["dups"], "", target=0,
             higher_is_better=False),
        line("released units lost by the UK centre", got["expected"] - held, "", target=0,
             higher_is_better=False),
        line("released units applied twice by the UK centre", created - held, "", target=0,
             higher_is_better=False),
        line("records not released to GB on the wire", got["leaks"], "", target=0,
             higher_is_better=False),
    ]  # fmt: skip
    OUT.mkdir(exist_ok=True)
    path = OUT / f"federation-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"quick": args.quick, "partition_s": partition_s,
                                "results": results}, indent=1))  # fmt: skip
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
