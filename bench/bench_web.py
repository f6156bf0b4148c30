"""The watch floor in a real browser: page load with 500 units and 2,000 detections on the
map, and how smooth it stays while every unit reports its position once a second.

Starts ``estran serve`` (terrain on, cached under bench/out/terrain-cache), fills the picture
through the API, then drives Debian's headless Chromium with Playwright:

- load: from navigation to the whole picture drawn (500 unit markers, 2,000 detection dots,
  base map decoded), signed in, over ``--loads`` fresh page loads (target: under 2 s);
- smooth: frames per second and the longest main-thread task while 500 position updates a
  second arrive on the stream and the map pans and zooms (target: 30 fps or more, no task
  over 200 ms).

    uv run python -m bench.bench_web [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tests.auth import AUTH
from tests.marks import CHROMIUM, CHROMIUM_ARGS
from tests.serverproc import ServerProcess

from bench.report import line

OUT = Path(__file__).parent / "out"
DRAWN = """() => window.estran && estran.ready && estran.map
  && estran.map.markers.unit.size >= %d && estran.map.markers.detection.size >= %d
  && document.querySelector('img.basemap') && document.querySelector('img.basemap').complete
  && document.querySelector('img.basemap').naturalWidth > 0"""


def fill(api: httpx.Client, units: int, detections: int, rng: random.Random) -> list[dict]:
    west, south, east, north = api.get("/area").json()["bbox"]

    def spot() -> dict:
        return {
            "lat": round(rng.uniform(south + 0.02, north - 0.02), 6),
            "lon": round(rng.uniform(west + 0.02, east - 0.02), 6),
        }

    kinds = ["foot_patrol", "dune_buggy", "four_by_four", "drone"]
    batch: list[dict[str, Any]] = [
        {
            "type": "unit.created",
            "data": {
                "id": f"u{i}",
                "callsign": f"UNIT-{i}",
                "kind": kinds[i % 4],
                "agency_id": "FR-GN",
                "position": spot(),
            },
        }
        for i in range(units)
    ]
    batch.append(
        {
            "type": "sensor.created",
            "data": {"id": "s1", "name": "UAS", "kind": "drone_thermal", "agency_id": "FR-GN"},
        }
    )
    for chunk in range(0, len(batch), 500):
        api.post("/events", json=batch[chunk : chunk + 500]).raise_for_status()
    dets = [
        {
            "type": "detection.created",
            "data": {
                "sensor_id": "s1",
                "position": {**spot(), "error_m": rng.uniform(10, 200)},
                "class": rng.choice(["group_of_people", "boat", "vehicle", "equipment"]),
                "count": rng.randint(1, 60),
                "confidence": round(rng.uniform(0.3, 0.99), 2),
            },
        }
        for _ in range(detections)
    ]
    for chunk in range(0, len(dets), 500):
        api.post("/events", json=dets[chunk : chunk + 500]).raise_for_status()
    return [b["data"] for b in batch[:units]]


def mover(api: httpx.Client, units: list[dict], stop: threading.Event, rng: random.Random) -> int:
    """Every unit reports a new position once a second (one batch a second)."""
    sent = 0
    while not stop.is_set():
        started = time.monotonic()
        batch = []
        for u in units:
            p = u["position"]
            p["lat"] = round(p["lat"] + rng.uniform(-3e-4, 3e-4), 6)
            p["lon"] = round(p["lon"] + rng.uniform(-3e-4, 3e-4), 6)
            batch.append({"type": "unit.updated", "entity_id": u["id"], "data": {"position": p}})
        api.post("/events", json=batch).raise_for_status()
        sent += len(batch)
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))
    return sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--detections", type=int, default=2000)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rng = random.Random(8)
    OUT.mkdir(exist_ok=True)
    loads = 3 if args.quick else args.loads
    smooth_s = 5 if args.quick else 10
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(
            Path(tmp) / "data",
            env={"ESTRAN_TERRAIN": "background", "ESTRAN_TERRAIN_CACHE_DIR": str(OUT / "tc")},
        ).start()
        try:
            api = httpx.Client(base_url=server.url + "/api/v1", headers=AUTH, timeout=60)
            deadline = time.monotonic() + 180
            while api.get("/health").json()["terrain"]["state"] != "ready":
                if time.monotonic() > deadline:
                    raise RuntimeError("terrain not ready")
                time.sleep(0.5)
            units = fill(api, args.units, args.detections, rng)
            print(f"picture: {args.units} units, {args.detections} detections", flush=True)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

                def fresh() -> tuple[Any, Any]:
                    """A new browser profile: an empty HTTP cache, signed in by cookie."""
                    ctx = browser.new_context(viewport={"width": 1440, "height": 900})
                    ctx.add_cookies(
                        [{"name": "estran_session", "value": AUTH["Authorization"][7:],
                          "url": server.url}]
                    )  # fmt: skip
                    return ctx, ctx.new_page()

                # The first load warms the server's caches (the base map image is rendered
                # once); every measured load is cold in the browser.
                context, page = fresh()
                page.goto(server.url + "/")
                page.wait_for_function(DRAWN % (args.units, args.detections), timeout=120_000)
                context.close()
                times = []
                for _ in range(loads):
                    context, page = fresh()
                    page.goto(server.url + "/")
                    page.wait_for_function(
                        DRAWN % (args.units, args.detections), timeout=60_000, polling=20
                    )
                    times.append(page.evaluate("() => performance.now()") / 1000)
                    if len(times) < loads:
                        context.close()
                page.screenshot(path=str(OUT / "web-load.png"))
                print("loads (s):", " ".join(f"{t:.2f}" for t in times), flush=True)
                results.append(
                    line("page load to picture drawn, median (s)", statistics.median(times),
                         "s", 2.0, higher_is_better=False)
                )  # fmt: skip
                results.append(
                    line("page load to picture drawn, worst (s)", max(times), "s", 2.0,
                         higher_is_better=False)
                )  # fmt: skip
                # Smoothness under live updates, panning and zooming.
                page.evaluate(
                    """() => {
                      window.benchFrames = []; window.benchLong = [];
                      new PerformanceObserver((l) => l.getEntries().forEach(
                        (e) => benchLong.push(e.duration))).observe({entryTypes: ['longtask']});
                      const tick = (t) => { benchFrames.push(t); requestAnimationFrame(tick); };
                      requestAnimationFrame(tick);
                    }"""
                )
                stop = threading.Event()
                counter: list[int] = []
                thread = threading.Thread(
                    target=lambda: counter.append(mover(api, units, stop, rng)), daemon=True
                )
                thread.start()
                events_before = page.evaluate("() => estran.events")
                started = time.monotonic()
                zooms = [11, 12, 13, 12, 11]
                i = 0
                while time.monotonic() - started < smooth_s:
                    page.evaluate(
                        "(z) => { estran.map.map.flyTo([50.95 + Math.random() * 0.05, "
                        "1.7 + Math.random() * 0.4], z, {duration: 0.8}); }",
                        zooms[i % len(zooms)],
                    )
                    i += 1
                    time.sleep(1.0)
                stop.set()
                thread.join(10)
                frames = page.evaluate("() => benchFrames")
                longest = page.evaluate("() => benchLong.length ? Math.max(...benchLong) : 0")
                events = page.evaluate("() => estran.events") - events_before
                gaps = sorted(b - a for a, b in itertools.pairwise(frames))
                fps = (len(frames) - 1) / ((frames[-1] - frames[0]) / 1000)
                p95 = gaps[int(0.95 * (len(gaps) - 1))]
                results.append(line("frames per second under live updates", fps, "fps", 30))
                results.append(
                    line("95th percentile frame interval", p95, "ms", 1000 / 30,
                         higher_is_better=False)
                )  # fmt: skip
                results.append(
                    line("longest main-thread task", longest, "ms", 200, higher_is_better=False)
                )
                results.append(
                    line("position updates drawn", events / smooth_s, "ev/s", args.units * 0.9)
                )
                page.screenshot(path=str(OUT / "web-smooth.png"))
                browser.close()
        finally:
            server.stop()
    (OUT / "bench_web.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
