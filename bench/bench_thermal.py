"""Thermal video end to end on one core: frames/s (decode, detect, georeference, track,
report) for 640x512 16-bit frames, and the latency from a frame's arrival to its detections
committed in the picture (SQLite ledger). Target: at least 25 frames/s, real time for one
drone. Also the quality figures on the default synthetic flight.

    uv run python -m bench.bench_thermal [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench.report import line
from estran.adapters.frame_codec import OpenCvCodec
from estran.domain.camera import Intrinsics, LocalFrame
from estran.domain.events import CommandIn
from estran.services.thermal import ThermalPipeline
from estran.services.thermal_eval import evaluate_flight
from estran.services.thermal_profile import CameraProfile
from estran.sim.thermal_flight import FlightSpec, fly

CODEC = OpenCvCodec()
ORIGIN = LocalFrame(50.905, 1.690)


async def run(frames: int) -> None:
    from estran.bootstrap import build_services
    from estran.config import Settings

    cv2.setNumThreads(1)
    spec = FlightSpec()
    flight = list(itertools.islice(fly(spec), frames))
    encoded = [cv2.imencode(".png", f.pixels)[1].tobytes() for f in flight]
    telemetry = []
    for f in flight:
        lat, lon = ORIGIN.to_latlon(f.reported.east, f.reported.north)
        telemetry.append({"t": f.t, "lat": lat, "lon": lon, "alt_m": f.reported.alt,
                          "yaw_deg": f.reported.yaw, "pitch_deg": f.reported.pitch,
                          "roll_deg": f.reported.roll})  # fmt: skip
    profile = CameraProfile(name="bench 640", width=640, height=512, hfov_deg=spec.hfov_deg)
    # Frames/s: the whole chain, one frame after another, on one core.
    pipeline = ThermalPipeline(profile, "uas-bench", CODEC, frame=ORIGIN)
    started = time.perf_counter()
    for data, tel in zip(encoded, telemetry, strict=True):
        pipeline.process(data, tel)
    took = time.perf_counter() - started
    line("end to end, 640x512 16-bit PNG frames, one core (frames/s)", len(flight) / took,
         "frames/s", 25.0)  # fmt: skip
    decode_s = 0.0
    for data in encoded[:100]:
        t0 = time.perf_counter()
        cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        decode_s += time.perf_counter() - t0
    line("  of which decoding a PNG frame (ms)", decode_s / min(100, len(encoded)) * 1000, "ms")
    # Latency: a frame's arrival to its detections committed in the picture.
    with tempfile.TemporaryDirectory() as tmp:
        services = build_services(Settings(data_dir=Path(tmp), terrain="off", fusion=False))
        await services.ledger.start()
        await services.ledger.submit(
            [CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR",
                                                    "kind": "gendarmerie"}),
             CommandIn(type="sensor.created", data={"id": "uas-bench", "name": "UAS",
                                                    "kind": "drone_thermal",
                                                    "agency_id": "FR-GN"})],
            actor="bench", source="bench",
        )  # fmt: skip
        pipeline = ThermalPipeline(profile, "uas-bench", CODEC, frame=ORIGIN)
        latencies = []
        for data, tel in zip(encoded, telemetry, strict=True):
            t0 = time.perf_counter()
            out = pipeline.process(data, tel)
            if out.commands:
                await services.ledger.submit(out.commands, actor="uas-bench", source="thermal")
                latencies.append(time.perf_counter() - t0)
        await services.ledger.stop()
        stored = len(services.picture.records["detection"])
        services.store.close()
    ms = np.array(latencies) * 1000
    line("frame to detection in the picture, median (ms)", float(np.median(ms)), "ms")
    line("frame to detection in the picture, p95 (ms)", float(np.percentile(ms, 95)), "ms")
    print(f"    ({stored} detections written from {len(flight)} frames)")


def quality() -> None:
    spec = FlightSpec()
    started = time.perf_counter()
    cam = Intrinsics.from_fov(spec.width, spec.height, spec.hfov_deg)
    score = evaluate_flight(fly(spec), cam, fps=spec.fps)
    took = time.perf_counter() - started
    d = score.as_dict()
    line("recall, groups in the open", d["recall"]["group (open)"], "", 0.95)
    line("recall, groups under tree-edge cover", d["recall"]["group (tree edge)"], "", 0.7)
    line("recall, boats", d["recall"]["boat"], "")
    line("recall, engines", d["recall"]["engine"], "")
    line("precision, every detection", d["precision"], "", 0.85)
    line("tracking IDF1", d["idf1"], "", 0.85)
    line("tracking MOTA", d["mota"], "")
    line("CEP50 measured (m)", d["cep50_measured_m"], "m")
    line("CEP50 propagated (m)", d["cep50_predicted_m"], "m")
    ratio = d["cep50_measured_m"] / d["cep50_predicted_m"]
    line("measured / propagated CEP50 (within 10 %: 0.9-1.1)", ratio, "x")
    print(f"    ({d['frames']} frames, {d['georeferenced_people']} people placed; "
          f"{took:.0f} s with the rendering)")  # fmt: skip
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "thermal-quality.json").write_text(json.dumps(d, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(150 if args.quick else 400))
    if not args.quick:
        quality()


if __name__ == "__main__":
    main()
