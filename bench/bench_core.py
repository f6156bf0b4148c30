"""Benchmark of the picture core: prints figures and their ratio to the issue's targets.

    uv run python bench/bench_core.py            # everything (about 3 minutes here)
    uv run python bench/bench_core.py --quick    # smaller sizes, for a smoke run

Measures, on this machine: events/s accepted over HTTP into SQLite (single and batched);
accept-to-stream latency with 50 subscribers at 1,000 events/s; time to rebuild the picture
from 1,000,000 events; memory for 100,000 live objects. Results also go to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serverproc import ServerProcess

from bench.loadgen import closed_loop, open_loop, subscriber_pool
from bench.report import line
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.bootstrap import rebuild
from estran.domain.events import Event
from estran.domain.picture import Picture
from estran.domain.timefmt import stamp

OUT = Path(__file__).parent / "out"
MARKING = {
    "classification": "OFFICIAL",
    "releasable_to": ["FR"],
    "purpose": "border_surveillance",
    "personal_data": False,
    "retain_until": None,
}


def unit_cmd(n: int, prefix: str = "u") -> dict:
    return {
        "type": "unit.created",
        "data": {
            "id": f"{prefix}{n}",
            "callsign": f"{prefix.upper()}{n}",
            "kind": "foot_patrol",
            "agency_id": "FR-GN",
            "position": {"lat": 50.8 + (n % 1000) * 1e-4, "lon": 1.6 + (n % 777) * 1e-4},
        },
    }


def single_body(n: int) -> bytes:
    return orjson.dumps(unit_cmd(n))


def batch_body(size: int):
    def make(n: int) -> bytes:
        return orjson.dumps([unit_cmd(n * size + i, f"b{size}-") for i in range(size)])

    return make


def bench_http(tmp: Path, seconds: float) -> list[dict]:
    results = []
    server = ServerProcess(tmp / "http").start()
    try:
        single = asyncio.run(
            closed_loop(server.port, single_body, connections=8, duration_s=seconds)
        )
        assert single["errors"] == 0, single
        rate = single["requests"] / single["elapsed_s"]
        results.append(line("HTTP accept, 1 event/request, 8 connections", rate, "events/s"))
        results.append(line("  request latency p50", single["req_p50_ms"], "ms"))
        results.append(line("  request latency p99", single["req_p99_ms"], "ms"))
        for size, conns in ((100, 4), (500, 4)):
            batched = asyncio.run(
                closed_loop(server.port, batch_body(size), connections=conns, duration_s=seconds)
            )
            rate = batched["requests"] * size / batched["elapsed_s"]
            results.append(
                line(
                    f"HTTP accept, {size} events/request, {conns} connections",
                    rate,
                    "events/s",
                    target=5000,
                )
            )
            assert batched["errors"] == 0, batched
    finally:
        server.stop()
    return results


def bench_stream(
    tmp: Path, rate: float, seconds: float, subscribers: int, batch: int
) -> list[dict]:
    tmp.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(tmp / f"stream{batch}").start()
    try:
        total_events = int(rate * seconds)
        out, ready = str(tmp / f"lat{batch}.json"), str(tmp / f"ready{batch}")
        pool = mp.get_context("spawn").Process(
            target=subscriber_pool, args=(server.port, subscribers, total_events, out, ready)
        )
        pool.start()
        while not os.path.exists(ready):
            time.sleep(0.1)
        requests_per_s = rate / batch
        maker = single_body if batch == 1 else batch_body(batch)
        sent = asyncio.run(open_loop(server.port, maker, requests_per_s, seconds))
        pool.join(120)
        lat = sorted(json.loads(Path(out).read_text()))
    finally:
        server.stop()
    p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
    label = f"{batch} event/request" if batch == 1 else f"{batch} events/request"
    print(
        f"  ({subscribers} subscribers, {rate:,.0f} events/s for {seconds:.0f} s as {label}; "
        f"{sent['errors']} errors; {len(lat):,} frames timed)"
    )
    return [
        line(f"accept->stream p50, {subscribers} subs, {rate:,.0f} ev/s ({label})", p50, "ms"),
        line(
            f"accept->stream p99, {subscribers} subs, {rate:,.0f} ev/s ({label})",
            p99,
            "ms",
            target=20,
            higher_is_better=False,
        ),
    ]


def make_log(path: Path, n_events: int) -> float:
    """n events (10k units then position updates and detections) appended in big batches."""
    store = SqliteEventStore(path)
    t0 = datetime(2026, 11, 24, 20, tzinfo=UTC)
    start = time.perf_counter()
    batch: list[Event] = []
    agency = Event(
        0,
        "bench-agency",
        "agency.created",
        "agency",
        "FR-GN",
        stamp(t0),
        stamp(t0),
        "bench",
        "bench",
        MARKING,
        {"name": "GN", "nation": "FR", "kind": "gendarmerie"},
    )
    store.append([agency])
    sensor = Event(
        0,
        "bench-sensor",
        "sensor.created",
        "sensor",
        "s1",
        stamp(t0),
        stamp(t0),
        "bench",
        "bench",
        MARKING,
        {
            "name": "d",
            "kind": "drone_thermal",
            "agency_id": "FR-GN",
            "unit_id": None,
            "position": None,
        },
    )
    store.append([sensor])
    for i in range(2, n_events):
        t = stamp(t0 + timedelta(microseconds=i * 1000))
        if i < 10_002:
            e = Event(
                0,
                f"b{i}",
                "unit.created",
                "unit",
                f"u{i}",
                t,
                t,
                "bench",
                "bench",
                MARKING,
                {
                    "callsign": f"U{i}",
                    "kind": "foot_patrol",
                    "agency_id": "FR-GN",
                    "status": "available",
                    "position": {"lat": 50.9, "lon": 1.7, "error_m": 10.0},
                },
            )
        elif i % 4:
            e = Event(
                0,
                f"b{i}",
                "unit.updated",
                "unit",
                f"u{2 + i % 10_000}",
                t,
                t,
                "bench",
                "bench",
                MARKING,
                {"position": {"lat": 50.9 + (i % 97) * 1e-4, "lon": 1.7, "error_m": 10.0}},
            )
        else:
            e = Event(
                0,
                f"b{i}",
                "detection.created",
                "detection",
                f"d{i}",
                t,
                t,
                "bench",
                "bench",
                MARKING,
                {
                    "sensor_id": "s1",
                    "class": "group_of_people",
                    "count": 8,
                    "confidence": 0.7,
                    "track_id": None,
                    "ellipse": None,
                    "position": {"lat": 50.9, "lon": 1.7, "error_m": 20.0},
                },
            )
        batch.append(e)
        if len(batch) == 50_000:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def bench_rebuild(tmp: Path, n_events: int) -> list[dict]:
    path = tmp / "big" / "events.sqlite3"
    write_s = make_log(path, n_events)
    store = SqliteEventStore(path)
    start = time.perf_counter()
    picture = rebuild(store)
    elapsed = time.perf_counter() - start
    store.close()
    assert picture.seq == n_events
    return [
        line(
            f"store append, direct, batches of 50k ({n_events:,} events)",
            n_events / write_s,
            "events/s",
        ),
        line(
            f"rebuild picture from {n_events:,} events",
            elapsed,
            "s",
            target=30,
            higher_is_better=False,
        ),
        line("  rebuild rate", n_events / elapsed, "events/s"),
        line("  records in the rebuilt picture", picture.count(), "records"),
    ]


def bench_memory(n_objects: int) -> list[dict]:
    t0 = datetime(2026, 11, 24, 20, tzinfo=UTC)
    events = []
    for i in range(n_objects):
        t = stamp(t0 + timedelta(microseconds=i))
        if i % 2:
            events.append(
                Event(
                    i + 1,
                    f"m{i}",
                    "detection.created",
                    "detection",
                    f"d{i}",
                    t,
                    t,
                    "bench",
                    "bench",
                    dict(MARKING),
                    {
                        "sensor_id": "s1",
                        "class": "group_of_people",
                        "count": 8,
                        "confidence": 0.7,
                        "track_id": None,
                        "ellipse": None,
                        "position": {"lat": 50.9, "lon": 1.7, "error_m": 20.0},
                    },
                )
            )
        else:
            events.append(
                Event(
                    i + 1,
                    f"m{i}",
                    "unit.created",
                    "unit",
                    f"u{i}",
                    t,
                    t,
                    "bench",
                    "bench",
                    dict(MARKING),
                    {
                        "callsign": f"U{i}",
                        "kind": "foot_patrol",
                        "agency_id": "FR-GN",
                        "status": "available",
                        "position": {"lat": 50.9, "lon": 1.7, "error_m": 10.0},
                    },
                )
            )
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    picture = Picture().apply_all(events)
    del events
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert picture.count() == n_objects
    return [
        line(f"memory for {n_objects:,} live objects (picture)", used / 2**20, "MiB"),
        line("  per object", used / n_objects, "bytes"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Smaller sizes for a smoke run.")
    parser.add_argument(
        "--only", choices=["http", "stream", "rebuild", "memory"], help="One part only."
    )
    parser.add_argument(
        "--runs", type=int, default=1, help="Repeat the stream part (its p99 spreads)."
    )
    args = parser.parse_args()
    quick = args.quick
    part = args.only
    print(
        f"Estran picture-core benchmark on {platform.node()} "
        f"({os.cpu_count()} cores, Python {platform.python_version()}); "
        f"{'quick' if quick else 'full'} run\n",
        flush=True,
    )
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if part in (None, "http"):
            print("[1/4] HTTP accept into SQLite", flush=True)
            results += bench_http(tmp, 3 if quick else 8)
        if part in (None, "stream"):
            print("[2/4] accept-to-stream latency", flush=True)
            for run in range(args.runs):
                for batch in (1, 10):
                    results += bench_stream(tmp / f"r{run}", 1000, 5 if quick else 15, 50, batch)
        if part in (None, "rebuild"):
            print("[3/4] rebuild from the log", flush=True)
            results += bench_rebuild(tmp, 100_000 if quick else 1_000_000)
        if part in (None, "memory"):
            print("[4/4] memory", flush=True)
            results += bench_memory(20_000 if quick else 100_000)
    OUT.mkdir(exist_ok=True)
    stamp_now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"core-{stamp_now}.json"
    path.write_text(json.dumps({"quick": quick, "results": results}, indent=1))
    print(f"\nwrote {path}  (medians of one run each; rerun to see the spread)")
    _ = statistics


if __name__ == "__main__":
    main()
