"""Benchmark of terrain and travel time: prints figures and their ratio to the issue's targets.

    uv run python bench/bench_terrain.py            # everything (about 2 minutes here)
    uv run python bench/bench_terrain.py --quick    # fewer queries, for a smoke run

Measures, on this machine, for the shipped Côte d'Opale: start-up preparation (cold, and from
the on-disk cache), memory, ETA ranking latency for 100 mixed units against one location
anywhere in the area (each query a new location, so nothing is cached; and the same location
again), and the accuracy of the two-level engine against an exact full-resolution search.
Results also go to bench/out/.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import line
from estran.adapters import terrain_store
from estran.config import Settings
from estran.domain.terrain import Grid
from estran.domain.travel import TravelEngine, UnitAt
from estran.services.terrain import TerrainService

OUT = Path(__file__).parent / "out"
KINDS = ("foot_patrol", "dune_buggy", "four_by_four", "drone")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def prepare(cache: Path, data: Path) -> tuple[terrain_store.PreparedTerrain, float, float, float]:
    settings = Settings(data_dir=data, terrain_cache_dir=cache)
    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    t0 = time.perf_counter()
    cold = terrain_store.prepare_terrain(settings)
    cold_s = time.perf_counter() - t0
    rss = proc.memory_info().rss - rss0
    terrain_store._memo.clear()
    t0 = time.perf_counter()
    terrain_store.prepare_terrain(settings)
    warm_s = time.perf_counter() - t0
    return cold, cold_s, warm_s, rss


def random_units(t: terrain_store.PreparedTerrain, rng: np.random.Generator, n: int) -> list[dict]:
    land = np.argwhere(np.isfinite(t.engine.pace["foot"]))
    units = []
    for i in range(n):
        r, c = land[rng.integers(len(land))]
        lon, lat = t.projector.to_lonlat(*t.grid.centre(int(r), int(c)))
        units.append(
            {
                "id": f"u{i}",
                "callsign": f"U{i}",
                "kind": KINDS[i % len(KINDS)],
                "agency_id": "FR-GN",
                "status": "available",
                "position": {"lat": lat, "lon": lon},
            }
        )
    return units


def bench_rank(t: terrain_store.PreparedTerrain, queries: int) -> list[dict]:
    rng = np.random.default_rng(2026)
    service = TerrainService(lambda report: t, "lazy")
    assert service.wait(60)
    units = random_units(t, rng, 100)
    land = np.argwhere(np.isfinite(t.engine.pace["foot"]))
    cold: list[float] = []
    reachable = 0
    for _ in range(queries):
        r, c = land[rng.integers(len(land))]
        lon, lat = t.projector.to_lonlat(*t.grid.centre(int(r), int(c)))
        t0 = time.perf_counter()
        result = service.rank(lat, lon, units)
        orjson.dumps(result, option=orjson.OPT_SERIALIZE_NUMPY)  # as the HTTP layer does
        cold.append((time.perf_counter() - t0) * 1000)
        reachable += sum(u["reachable"] for u in result["units"])
    warm: list[float] = []
    for _ in range(queries // 2):
        t0 = time.perf_counter()
        orjson.dumps(service.rank(lat, lon, units), option=orjson.OPT_SERIALIZE_NUMPY)
        warm.append((time.perf_counter() - t0) * 1000)
    print(
        f"  ({queries} locations drawn over the whole area, 100 units: 25 each of foot, buggy, "
        f"4x4, drone; {reachable / queries:.0f} reachable within 2 h on average; routes and JSON "
        "encoding included)"
    )
    return [
        line("ETA ranking, 100 units, new location: p50", percentile(cold, 50), "ms", 50, False),
        line("ETA ranking, 100 units, new location: p99", percentile(cold, 99), "ms", 150, False),
        line("ETA ranking, 100 units, same location again: p50", percentile(warm, 50), "ms"),
    ]


def bench_accuracy(t: terrain_store.PreparedTerrain, pairs: int) -> list[dict]:
    """Two-level ETAs against one exact search over a 10 km x 10 km piece of the area."""
    rng = np.random.default_rng(7)
    g = t.grid
    # A square around Calais-Marck: beaches, dunes, towns, roads, polders.
    cx, cy = t.projector.to_xy(1.90, 50.93)
    cell = g.cell_of(cx, cy)
    assert cell is not None
    r0, c0 = cell[0] - 200, cell[1] - 200
    sub = Grid(
        np.ascontiguousarray(g.classes[r0 : r0 + 400, c0 : c0 + 400]),
        g.left_x + c0 * g.cell_m,
        g.top_y - r0 * g.cell_m,
        g.cell_m,
        g.crs,
    )
    mobility = t.engine.mobility
    fast = TravelEngine(sub, mobility, window_cells=t.engine.window_cells)
    exact = TravelEngine(sub, mobility, window_cells=400)
    land = np.argwhere(np.isfinite(fast.pace["foot"]))
    errors: dict[str, list[float]] = {"foot": [], "buggy": [], "four_by_four": []}
    for _ in range(pairs):
        r, c = land[rng.integers(len(land))]
        target = fast.resolve(*sub.centre(int(r), int(c)))
        if isinstance(target, str):
            continue
        units = []
        for i in range(12):
            ur, uc = land[rng.integers(len(land))]
            units.append(UnitAt(f"u{i}", list(errors)[i % 3], *sub.centre(int(ur), int(uc))))
        got = {e.unit_id: e for e in fast.eta(target, units)}
        for ref in exact.eta(target, units):
            mine = got[ref.unit_id]
            if ref.eta_s and mine.eta_s and mine.method == "coarse":
                errors[ref.profile].append(mine.eta_s / ref.eta_s - 1)
    out = []
    window_km = t.engine.window_cells * g.cell_m / 1000
    print(
        f"  (beyond the {window_km:.1f} km full-resolution window; exact = one search over all "
        "160,000 cells)"
    )
    for name, errs in errors.items():
        if not errs:
            continue
        arr = np.asarray(errs) * 100
        out.append(line(f"coarse-level ETA error vs exact, {name}: mean", float(arr.mean()), "%"))
        out.append(
            line(f"  {name}: 95th percentile of |error|", percentile(list(abs(arr)), 95), "%")
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer queries, for a smoke run.")
    args = parser.parse_args()
    quick = args.quick
    print(
        f"Estran terrain benchmark on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); {'quick' if quick else 'full'} run\n",
        flush=True,
    )
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-terrain-") as tmp_name:
        tmp = Path(tmp_name)
        print("[1/3] preparation and memory", flush=True)
        t, cold_s, warm_s, rss = prepare(tmp / "cache", tmp / "data")
        rows, cols = t.grid.shape
        print(f"  ({rows} x {cols} cells of {t.grid.cell_m:.0f} m, {len(t.sites)} launch sites)")
        results.append(line("start-up preparation, cold (no cache)", cold_s, "s", 30, False))
        results.append(line("start-up preparation, from the disk cache", warm_s, "s"))
        results.append(line("memory held by the engine (arrays)", t.engine.nbytes / 2**20, "MiB"))
        results.append(line("process memory growth while preparing (RSS)", rss / 2**20, "MiB"))
        print("[2/3] ETA ranking latency", flush=True)
        results += bench_rank(t, 60 if quick else 300)
        print("[3/3] accuracy of the two-level engine", flush=True)
        results += bench_accuracy(t, 10 if quick else 40)
    OUT.mkdir(exist_ok=True)
    stamp_now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"terrain-{stamp_now}.json"
    path.write_text(json.dumps({"quick": quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
