"""Benchmark of fusion: detections per second through the tracker and the live service.

    uv run python bench/bench_fusion.py

200 groups walk along the coast for an hour, seen every ~20 s by one of several sensors with
20-60 m errors: 10,000+ detections. Measures the pure tracker, then the service (tracker plus
the picture commands it writes, against a live picture, without the store), and checks that
the groups came out as about 200 tracks.
"""

from __future__ import annotations

import itertools
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import line
from estran.domain.events import Event
from estran.domain.fusion import LocalPlane, Tracker
from estran.domain.picture import Picture
from estran.domain.timefmt import stamp
from estran.services.fusion import FusionService

GROUPS = 200
MARKING = {
    "classification": "OFFICIAL",
    "releasable_to": ["FR"],
    "purpose": "border_surveillance",
    "personal_data": False,
    "retain_until": None,
}


def reports(seed: int = 1) -> list[tuple[str, float, float, float, float]]:
    rng = np.random.default_rng(seed)
    plane = LocalPlane(50.95, 1.95)
    start = np.column_stack(
        [rng.uniform(-40_000, 40_000, GROUPS), rng.uniform(-5000, 5000, GROUPS)]
    )
    velocity = rng.normal(0, 0.8, (GROUPS, 2))
    out = []
    n = 0
    for t in range(0, 3600, 20):
        for g in range(GROUPS):
            if rng.random() < 0.7:
                error = float(rng.uniform(20, 60))
                x, y = start[g] + velocity[g] * t + rng.normal(0, error / 2, 2)
                lat, lon = plane.to_latlon(float(x), float(y))
                out.append((f"d{n}", lat, lon, error, float(t)))
                n += 1
    return out


def main() -> None:
    data = reports()
    ids = itertools.count()
    tracker = Tracker(LocalPlane(50.95, 1.95), new_id=lambda: f"t{next(ids)}")
    t0 = time.perf_counter()
    for det, lat, lon, err, when in data:
        tracker.add(det, "group_of_people", lat, lon, err, when)
    pure = len(data) / (time.perf_counter() - t0)
    print(f"  ({len(data):,} detections of {GROUPS} moving groups; {len(tracker.tracks)} tracks)")
    results = [line("fusion, tracker alone", pure, "detections/s", 2000)]

    picture = Picture()
    seq = itertools.count(1)
    t_start = 1_790_000_000.0
    for det, lat, lon, err, when in data:
        moment = stamp(datetime.fromtimestamp(t_start + when, tz=UTC))
        picture.apply(
            Event(
                next(seq),
                f"e{det}",
                "detection.created",
                "detection",
                det,
                moment,
                moment,
                "bench",
                "bench",
                dict(MARKING),
                {
                    "sensor_id": "s",
                    "class": "group_of_people",
                    "count": None,
                    "confidence": 0.7,
                    "track_id": None,
                    "ellipse": None,
                    "position": {"lat": lat, "lon": lon, "error_m": err},
                },
            )
        )
    service = FusionService(
        picture,
        place_of=lambda lat, lon: "ashore",
        new_id=lambda: f"t{next(ids)}",
        owner_agency="FR-GN",
    )
    t0 = time.perf_counter()
    made = 0
    for det, *_ in data:
        made += len(service.commands_for(det))
    through = len(data) / (time.perf_counter() - t0)
    results.append(
        line("fusion, service (tracker + picture commands)", through, "detections/s", 2000)
    )
    print(f"  ({made:,} commands; the ledger then writes them in batches, see bench_core)")
    _ = results


if __name__ == "__main__":
    main()
