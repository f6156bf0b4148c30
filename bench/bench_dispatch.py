"""Benchmark: from a detection arriving to a ranked recommendation on the stream.

    uv run python bench/bench_dispatch.py [--samples 60]

A real server process (SQLite, fusion on, terrain ready) holds 200 units of every kind along
the coast and 50 open incidents. A client listens on the stream; detections of new groups are
posted one at a time at beaches; for each, the time from the POST to the recommendation frame
for the incident fusion opened from it is measured at the client. Target: p99 under 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.auth import AUTH
from tests.serverproc import ServerProcess

from bench.report import line
from estran.adapters.terrain_store import prepare_terrain
from estran.config import Settings

KINDS = ("foot_patrol", "dune_buggy", "four_by_four", "drone")


def coast_points(cache: Path, n: int, seed: int) -> list[tuple[float, float]]:
    t = prepare_terrain(Settings(data_dir=cache / "d", terrain_cache_dir=cache))
    rng = np.random.default_rng(seed)
    out: list[tuple[float, float]] = []
    while len(out) < n:
        site = t.sites[int(rng.integers(len(t.sites)))]
        x, y = site.x + rng.normal(0, 300), site.y - abs(rng.normal(300, 200))
        if np.isfinite(t.engine.pace["foot"][t.grid.cell_of(x, y) or (0, 0)]):
            lon, lat = t.projector.to_lonlat(x, y)
            out.append((lat, lon))
    return out


async def run(port: int, points: list[tuple[float, float]], samples: int) -> list[float]:
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(headers=AUTH, base_url=base, timeout=30) as http:
        await http.post(
            "/api/v1/sensors",
            json={"id": "uas", "name": "uas", "kind": "drone_thermal", "agency_id": "UK-BF"},
        )
        units = [
            {
                "type": "unit.created",
                "data": {
                    "id": f"u{i}",
                    "callsign": f"U{i}",
                    "kind": KINDS[i % 4],
                    "agency_id": "FR-GN",
                    "position": {"lat": points[i][0], "lon": points[i][1]},
                },
            }
            for i in range(200)
        ]
        assert (await http.post("/api/v1/events", json=units)).status_code == 201
        for i in range(50):
            lat, lon = points[200 + i]
            body = {
                "id": f"open-{i}",
                "type": "group_sighted",
                "owner_agency_id": "FR-GN",
                "position": {"lat": lat, "lon": lon},
            }
            assert (await http.post("/api/v1/incidents", json=body)).status_code == 201
        await asyncio.sleep(3)  # let the 50 recommendations settle
        latencies = []
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/api/v1/stream", additional_headers=AUTH, max_size=2**26
        ) as ws:
            await ws.recv()  # snapshot
            for k in range(samples):
                lat, lon = points[250 + k]
                det = f"bench-d{k}"
                incident = None
                started = time.perf_counter()
                r = await http.post(
                    "/api/v1/detections",
                    json={
                        "id": det,
                        "sensor_id": "uas",
                        "class": "group_of_people",
                        "count": 30,
                        "position": {"lat": lat, "lon": lon, "error_m": 30},
                    },
                )
                assert r.status_code == 201, r.text
                done = False
                while not done:
                    frame = orjson.loads(await asyncio.wait_for(ws.recv(), 30))
                    for ev in frame.get("events", ()):
                        data = ev["data"]
                        if ev["kind"] == "incident" and det in (data.get("detection_ids") or ()):
                            incident = ev["entity_id"]  # opened, or extended by fusion
                        if (
                            ev["kind"] == "recommendation"
                            and incident is not None
                            and ev["entity_id"] == f"rec-{incident}"
                        ):
                            latencies.append((time.perf_counter() - started) * 1000)
                            done = True
                await asyncio.sleep(0.2)
        return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="estran-bench-dispatch-") as tmp:
        cache = Path(tmp) / "cache"
        print("preparing the terrain (about 25 s)", flush=True)
        points = coast_points(cache, 250 + args.samples, seed=9)
        server = ServerProcess(
            Path(tmp) / "data",
            env={
                "ESTRAN_TERRAIN": "background",
                "ESTRAN_FUSION": "true",
                "ESTRAN_TERRAIN_CACHE_DIR": str(cache),
                "ESTRAN_LOG_LEVEL": "info",
            },
        ).start()
        try:
            deadline = time.monotonic() + 120
            while (
                httpx.get(headers=AUTH, url=f"{server.url}/api/v1/health").json()["terrain"][
                    "state"
                ]
                != "ready"
            ):
                assert time.monotonic() < deadline, "terrain never ready"
                time.sleep(0.2)
            lat = sorted(asyncio.run(run(server.port, points, args.samples)))
        finally:
            server.stop()
    print(
        f"  ({len(lat)} detections, each of a new group; 200 units, 50 open incidents; "
        f"{os.cpu_count()} cores)"
    )
    line("detection -> recommendation on the stream: p50", float(np.percentile(lat, 50)), "ms")
    line(
        "detection -> recommendation on the stream: p99",
        float(np.percentile(lat, 99)),
        "ms",
        200,
        False,
    )


if __name__ == "__main__":
    main()
