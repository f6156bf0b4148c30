"""Benchmark of the simulation: prints figures and their ratio to the issue's targets.

    uv run python bench/bench_sim.py            # everything (about 2 minutes here)
    uv run python bench/bench_sim.py --quick

Measures, on this machine, with the baseline scenario on the Côte d'Opale: one season (180
nights) offline; 100 replications of one night (in parallel over the cores, as `estran simulate
--replications` runs them); and the live demo's load on the server (CPU share of the process
and events written per second at 30x). Results also go to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import sys
import tempfile
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import line
from estran.adapters.terrain_store import prepare_terrain
from estran.cli.simulate import DEFAULT_SCENARIO, _replicate
from estran.config import Settings
from estran.services.simulate import simulate, summarise
from estran.sim.night import coast_from
from estran.sim.scenario import parse_scenario

OUT = Path(__file__).parent / "out"


def bench_season(settings: Settings, nights: int) -> list[dict]:
    scenario = parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()))
    coast = coast_from(prepare_terrain(settings))
    t0 = time.perf_counter()
    result = summarise(simulate(scenario, coast, nights, seed=1))
    elapsed = time.perf_counter() - t0
    low, high = result["proportion_ci95"]
    print(
        f"  ({result['attempts']} attempts, {result['proportion_intercepted']:.1%} intercepted "
        f"[{low:.1%}-{high:.1%}], {result['launched']} launched, "
        f"{result['rescue_cases']} rescue cases; response median "
        f"{result['response_median_min']:.1f} min, p90 {result['response_p90_min']:.1f} min)"
    )
    target = 60.0 * nights / 180
    return [line(f"one season offline ({nights} nights, baseline)", elapsed, "s", target, False)]


def bench_replications(settings: Settings, count: int) -> list[dict]:
    scenario = parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()))
    jobs = [(scenario.model_dump(), settings.data_dir, 1, 1000 + r) for r in range(count)]
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(mp.cpu_count()) as pool:
        nights = pool.map(_replicate, jobs, chunksize=max(1, count // (4 * mp.cpu_count())))
    elapsed = time.perf_counter() - t0
    attempts = sum(n[0]["attempts"] for n in nights)
    print(f"  ({count} replications over {mp.cpu_count()} processes, {attempts} attempts in all)")
    target = 30.0 * count / 100
    return [line(f"{count} replications of one night", elapsed, "s", target, False)]


def bench_demo(settings: Settings, seconds: float, speed: float) -> list[dict]:
    from estran.app.demo import DemoDriver
    from estran.bootstrap import build_services

    scenario = parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()))

    async def run() -> tuple[float, float, int]:
        services = build_services(settings)
        driver = DemoDriver(services, scenario, speed=speed, seed=1)
        await services.start()
        await asyncio.to_thread(services.terrain.wait, 600)
        driver.start()
        proc = psutil.Process()
        await asyncio.sleep(5)  # set-up writes
        cpu0, t0, w0 = proc.cpu_times(), time.perf_counter(), driver.written
        await asyncio.sleep(seconds)
        cpu1, t1, w1 = proc.cpu_times(), time.perf_counter(), driver.written
        await driver.stop()
        await services.stop()
        used = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        return used / (t1 - t0), (w1 - w0) / (t1 - t0), w1

    share, rate, total = asyncio.run(run())
    hours = seconds * speed / 3600
    print(f"  ({speed:g}x: {seconds:.0f} s real = {hours:.1f} h simulated; {total} events)")
    return [
        line(f"live demo at {speed:g}x: server process CPU", share * 100, "% of a core"),
        line(f"live demo at {speed:g}x: events written", rate, "events/s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(
        f"Estran simulation benchmark on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); {'quick' if args.quick else 'full'} run\n",
        flush=True,
    )
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-sim-") as tmp:
        cache = Path(tmp) / "cache"
        settings = Settings(
            data_dir=Path(tmp) / "data",
            terrain_cache_dir=cache,
            cot_tcp_port=None,
            cot_tls_port=None,
            terrain="lazy",
        )
        os.environ["ESTRAN_TERRAIN_CACHE_DIR"] = str(cache)  # the worker processes share it
        print("[0/3] preparing the terrain (cached after the first run)", flush=True)
        prepare_terrain(settings)
        print("[1/3] a season offline", flush=True)
        results += bench_season(settings, 60 if args.quick else 180)
        print("[2/3] replications", flush=True)
        results += bench_replications(settings, 20 if args.quick else 100)
        print("[3/3] the live demo's load", flush=True)
        for speed in (30.0, 600.0):
            results += bench_demo(settings, 10 if args.quick else 30, speed)
    OUT.mkdir(exist_ok=True)
    stamp_now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"sim-{stamp_now}.json"
    path.write_text(json.dumps({"quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
