"""Thermal video to detections: measured on the default synthetic flight against its ground
truth (detection, tracking, georeferencing), into the picture through the ledger, and bad
input skipped frame by frame with a reason."""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import pytest

from estran.adapters.frame_codec import OpenCvCodec
from estran.domain.camera import Intrinsics, LocalFrame
from estran.domain.errors import InvalidInputError, ValidationFailedError
from estran.domain.records import DetectionCreate
from estran.protocols.cot.encode import to_xml
from estran.protocols.cot.parse import parse_xml
from estran.services.tak import picture_to_cot
from estran.services.thermal import ThermalPipeline
from estran.services.thermal_eval import ThermalScore, evaluate_flight
from estran.services.thermal_profile import CameraProfile
from estran.sim.thermal_flight import FlightSpec, fly

SPEC = FlightSpec()
CODEC = OpenCvCodec()
ORIGIN = LocalFrame(50.905, 1.690)  # the dunes west of Wissant
PROFILE = CameraProfile(name="test 640", width=640, height=512, hfov_deg=40.0)


@pytest.fixture(scope="module")
def score() -> ThermalScore:
    cam = Intrinsics.from_fov(SPEC.width, SPEC.height, SPEC.hfov_deg)
    return evaluate_flight(fly(SPEC), cam, fps=SPEC.fps)


def test_groups_are_found_in_the_open_and_at_the_tree_edge(score):
    assert score.present["group (open)"] > 300
    assert score.present["group (tree edge)"] > 80
    assert score.recall("group (open)") >= 0.95
    assert score.recall("group (tree edge)") >= 0.7
    assert score.precision >= 0.85
    # Counts, not identities: the number of people in a group, within a few percent.
    assert np.mean(score.count_errors) < 0.1


def test_boats_and_engines_are_told_apart_from_people(score):
    assert score.recall("boat") >= 0.8
    assert score.recall("engine") >= 0.8


def test_a_group_is_one_track_across_the_flight(score):
    assert score.idf1 >= 0.85
    assert score.mota >= 0.8
    assert score.switches <= 10


def test_the_georeferencing_error_is_what_the_propagation_says(score):
    assert len(score.errors_m) > 1000
    assert score.cep50_measured_m == pytest.approx(score.cep50_predicted_m, rel=0.1)
    assert 0.4 <= score.within_own_cep <= 0.6


def _telemetry(frame: Any) -> dict[str, float]:
    lat, lon = ORIGIN.to_latlon(frame.reported.east, frame.reported.north)
    return {"t": frame.t, "lat": lat, "lon": lon, "alt_m": frame.reported.alt,
            "yaw_deg": frame.reported.yaw, "pitch_deg": frame.reported.pitch,
            "roll_deg": frame.reported.roll}  # fmt: skip


def test_the_stream_puts_counted_groups_into_the_picture(tmp_path):
    from estran.bootstrap import build_services
    from estran.config import Settings
    from estran.domain.events import CommandIn

    pipeline = ThermalPipeline(PROFILE, "sim-UAS-WISSANT", CODEC, emit_s=2.0, frame=ORIGIN)
    commands: list[CommandIn] = []
    for f in itertools.islice(fly(SPEC), 120):
        ok, png = cv2.imencode(".png", f.pixels)
        assert ok
        out = pipeline.process(png.tobytes(), _telemetry(f))
        assert out.skipped is None
        commands += out.commands
    assert 4 <= len(commands) <= 60  # each track every 2 s, not every frame
    for c in commands:
        DetectionCreate.model_validate(c.data)  # the picture's own schema
        assert set(c.data) <= {"sensor_id", "class", "position", "ellipse", "confidence", "count"}
    groups = [c.data for c in commands if c.data["class"] == "group_of_people"]
    assert groups
    assert all(g["count"] >= 1 for g in groups)
    assert all(0 < g["position"]["error_m"] < 20 for g in groups)
    services = build_services(Settings(data_dir=tmp_path, terrain="off", fusion=False))
    import asyncio

    async def submit() -> None:
        await services.ledger.start()
        sensor = {"id": "sim-UAS-WISSANT", "name": "UAS Wissant", "kind": "drone_thermal",
                  "agency_id": "FR-GN"}  # fmt: skip
        agency = {"id": "FR-GN", "name": "Gendarmerie", "nation": "FR", "kind": "gendarmerie"}
        await services.ledger.submit(
            [CommandIn(type="agency.created", data=agency),
             CommandIn(type="sensor.created", data=sensor), *commands],
            actor="sensor:sim-UAS-WISSANT", source="thermal",
        )  # fmt: skip
        await services.ledger.stop()

    asyncio.run(submit())
    stored = list(services.picture.records["detection"].values())
    assert len(stored) == len(commands)
    assert {d["sensor_id"] for d in stored} == {"sim-UAS-WISSANT"}
    assert all(50.8 < d["position"]["lat"] < 51.0 for d in stored)
    # Out to TAK clients as an unknown ground point linked to the drone, with the count.
    group = next(d for d in stored if d["class"] == "group_of_people")
    ev = picture_to_cot("detection", group["id"], services.picture, 1_700_000_000_000)
    assert ev is not None
    assert ev.type == "a-u-G"
    assert ev.point.lat == pytest.approx(group["position"]["lat"])
    assert f"({group['count']} people)" in ev.detail_xml
    assert 'uid="sim-UAS-WISSANT"' in ev.detail_xml
    assert parse_xml(to_xml(ev)).uid == f"estran.detection.{group['id']}"
    services.store.close()


@pytest.mark.parametrize(
    ("frame", "telemetry", "reason"),
    [
        (b"\x89PNG\r\n\x1a\n garbage", {}, "corrupt or unreadable frame"),
        (None, {"t": 0.0, "lat": 50.9, "lon": 1.69, "yaw_deg": 0, "pitch_deg": -90},
         "bad or missing telemetry (alt_m: Field required)"),
        (None, {"t": 0.0, "lat": 50.9, "lon": 1.69, "alt_m": float("nan"), "yaw_deg": 0,
                "pitch_deg": -90}, "bad or missing telemetry (alt_m"),
        (None, {"t": 0.0, "lat": 50.9, "lon": 1.69, "alt_m": 90, "yaw_deg": 0,
                "pitch_deg": -120}, "gimbal pitch -120"),
        (np.zeros((100, 100), np.uint16), None, "frame is 100x100, the camera 640x512"),
        (np.zeros((512, 640, 3), np.uint16), None, "one channel"),
    ],
)  # fmt: skip
def test_bad_input_skips_that_frame_with_a_reason_and_the_stream_goes_on(frame, telemetry, reason):
    first = next(iter(fly(SPEC)))
    pipeline = ThermalPipeline(PROFILE, "uas-1", CODEC, frame=ORIGIN)
    good = _telemetry(first)
    bad_tel = {**good, **telemetry} if telemetry else good
    if telemetry and "alt_m" not in telemetry:
        bad_tel.pop("alt_m")
    out = pipeline.process(first.pixels if frame is None else frame, bad_tel)
    assert out.skipped is not None
    assert reason in out.skipped
    assert out.commands == []
    # The next good frame goes through.
    after = pipeline.process(first.pixels, {**good, "t": good["t"] + 0.1})
    assert after.skipped is None
    assert after.detections > 0


def test_time_must_go_forward_and_a_bad_profile_is_refused():
    frames = list(itertools.islice(fly(SPEC), 2))
    pipeline = ThermalPipeline(PROFILE, "uas-1", CODEC, frame=ORIGIN)
    assert pipeline.process(frames[1].pixels, _telemetry(frames[1])).skipped is None
    late = pipeline.process(frames[0].pixels, _telemetry(frames[0]))
    assert late.skipped is not None
    assert "does not follow" in late.skipped
    with pytest.raises(ValidationFailedError, match="hfov_deg"):
        CameraProfile.parse({"name": "x", "width": 640, "height": 512, "hfov_deg": 400})
    with pytest.raises(ValidationFailedError, match=r"detector\.k_sigma"):
        CameraProfile.parse(
            {"name": "x", "width": 640, "height": 512, "hfov_deg": 40, "detector": {"k_sigma": 0}}
        )


# --- over HTTP: frames in, detections and audited thumbnails out --------------------------


def _query(frame: Any) -> dict[str, float]:
    return _telemetry(frame)


@pytest.fixture
def centre(server):
    from tests.auth import seed_liaison

    running = server()
    running.liaison = seed_liaison(running.settings)
    import httpx

    api = httpx.Client(base_url=running.http, headers=running.headers, timeout=30)
    body = {"id": "uas-wissant", "name": "UAS Wissant", "kind": "drone_thermal",
            "agency_id": "FR-GN"}  # fmt: skip
    assert api.post("/api/v1/sensors", json=body).status_code == 201
    running.api = api
    yield running
    api.close()


def test_frames_posted_over_http_become_detections_with_audited_thumbnails(centre):
    import httpx

    from tests.integration.test_joint_working import audit_rows

    api = centre.api
    written: list[str] = []
    for f in itertools.islice(fly(SPEC), 60):
        png = cv2.imencode(".png", f.pixels)[1].tobytes()
        r = api.post("/api/v1/sensors/uas-wissant/thermal", params=_query(f), content=png,
                     headers={"Content-Type": "image/png"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["skipped"] is None
        written += r.json()["written"]
    assert written
    dets = api.get("/api/v1/detections", params={"limit": 1000}).json()["items"]
    assert {d["id"] for d in dets} == set(written)
    assert all(d["sensor_id"] == "uas-wissant" for d in dets)
    chip = api.get(f"/api/v1/detections/{written[0]}/chip")
    assert chip.status_code == 200
    assert chip.headers["content-type"] == "image/png"
    img = cv2.imdecode(np.frombuffer(chip.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None
    assert img.shape == (64, 64)
    views = [r for r in audit_rows(centre) if r["action"] == "view"]
    assert views[-1]["target"] == f"detection/{written[0]}"
    assert views[-1]["details"]["imagery"] == "chip"
    # The liaison desk may not feed the French picture, nor see a French-only thumbnail.
    f = next(iter(fly(SPEC)))
    png = cv2.imencode(".png", f.pixels)[1].tobytes()
    base, liz = centre.http, centre.liaison
    r = httpx.post(f"{base}/api/v1/sensors/uas-wissant/thermal", params=_query(f),
                   content=png, headers=liz)  # fmt: skip
    assert r.status_code == 403
    assert httpx.get(f"{base}/api/v1/detections/{written[0]}/chip", headers=liz).status_code == 404


def test_a_bad_frame_over_http_is_skipped_and_writes_nothing(centre):
    api = centre.api
    f = next(iter(fly(SPEC)))
    r = api.post("/api/v1/sensors/uas-wissant/thermal", params=_query(f), content=b"not a png")
    assert r.status_code == 200
    assert "corrupt or unreadable frame" in r.json()["skipped"]
    r = api.post("/api/v1/sensors/uas-wissant/thermal", params={**_query(f), "lat": 200},
                 content=b"x")  # fmt: skip
    assert r.status_code == 422
    r = api.post("/api/v1/sensors/nowhere/thermal", params=_query(f), content=b"x")
    assert r.status_code == 404
    assert api.get("/api/v1/detections").json()["total"] == 0


def test_thumbnails_are_purged_after_the_imagery_retention_period(tmp_path):
    from datetime import UTC, datetime, timedelta

    from estran.adapters.chip_store import ChipStore

    store = ChipStore(tmp_path / "chips", retain_days=7)
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    store.put("det-old", b"old", now - timedelta(days=8))
    store.put("det-new", b"new", now - timedelta(days=1))
    store.put("../../escape", b"x", now)  # ids never become paths
    assert sorted(p.parent for p in (tmp_path / "chips").iterdir()) == [tmp_path / "chips"] * 3
    assert store.get("det-old", now) is None  # past retention: refused and removed
    assert store.get("det-new", now) == b"new"
    assert store.purge(now + timedelta(days=7, seconds=1)) == 2  # det-new and the third
    assert store.get("det-new", now) is None


def test_a_synthetic_flight_written_by_the_cli_replays_into_a_running_centre(centre, tmp_path):
    from click.testing import CliRunner

    from estran.cli.main import cli

    runner = CliRunner()
    out = tmp_path / "flight"
    r = runner.invoke(cli, ["thermal", "synth", "--seconds", "4", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert len(list((out / "frames").glob("*.png"))) == 40
    token = centre.headers["Authorization"].split()[1]
    r = runner.invoke(
        cli,
        ["thermal", "replay", str(out / "frames"), "--telemetry", str(out / "telemetry.csv"),
         "--sensor", "uas-wissant", "--url", centre.http, "--pace", "0"],
        env={"ESTRAN_TOKEN": token},
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "40 frames sent, 0 skipped" in r.output
    assert centre.api.get("/api/v1/detections").json()["total"] > 0
    # Without a token it says so, and sends nothing.
    args = ["thermal", "replay", str(out / "frames"), "--telemetry", str(out / "telemetry.csv")]
    r = runner.invoke(cli, [*args, "--sensor", "x"], env={"ESTRAN_TOKEN": ""})
    assert r.exit_code != 0
    assert "ESTRAN_TOKEN" in r.output


def test_a_dem_from_a_file_places_detections_on_the_terrain(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    from estran.adapters.dem import dem_ground
    from estran.domain.camera import Pose, pixel_to_ground

    # A DEM in WGS 84 around the origin: flat at 20 m, then a 35 m ridge north of 50.9055.
    path = tmp_path / "dem.tif"
    lat0, lon0, cell = 50.910, 1.685, 0.0001
    heights = np.full((100, 100), 20.0, dtype=np.float32)
    ridge = int((lat0 - 50.9055) / cell)
    heights[:ridge, :] = 35.0
    with rasterio.open(path, "w", driver="GTiff", width=100, height=100, count=1,
                       dtype="float32", crs="EPSG:4326",
                       transform=from_origin(lon0, lat0, cell, cell)) as ds:  # fmt: skip
        ds.write(heights, 1)
    ground = dem_ground(path, ORIGIN)
    assert ground(0.0, 0.0) == pytest.approx(20.0)
    assert ground(0.0, 120.0) == pytest.approx(35.0)
    # Looking north from 90 m above the ground under the drone (20 m): the ray meets the ridge
    # before it would meet the flat ground, and where a flat 20 m plane would put it first.
    pose = Pose(0.0, 0.0, 110.0, 0.0, -45.0, 0.0)
    cam = Intrinsics.from_fov(640, 512, 40.0)
    _, flat_n = pixel_to_ground(320, 256, pose, cam, 20.0)
    assert flat_n == pytest.approx(90.0)
    _, ridge_n = pixel_to_ground(320, 256, pose, cam, ground)
    assert ridge_n == pytest.approx(75.0, abs=0.5)  # 110 - 35 m below the camera, at 45°
    # The pipeline adds the ground under the drone to the height it reports.
    pipeline = ThermalPipeline(
        PROFILE, "uas-1", CODEC, frame=ORIGIN, dem=lambda f: dem_ground(path, f)
    )
    first = next(iter(fly(SPEC)))
    assert pipeline.process(first.pixels, _telemetry(first)).skipped is None
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(InvalidInputError, match="not a readable DEM"):
        dem_ground(tmp_path / "bad.tif", ORIGIN)


# --- a learned detector in place of the hot-spot stage ---------------------------------------


def _residual_model(path: Any, window: int = 21) -> None:
    """A tiny ONNX model (what a user would train, in its simplest form): the frame less its
    local mean, i.e. each pixel's contrast in kelvin."""
    import onnx
    from onnx import TensorProto, helper

    pad = window // 2
    graph = helper.make_graph(
        [
            helper.make_node("AveragePool", ["x"], ["mean"], kernel_shape=[window, window],
                             pads=[pad, pad, pad, pad], count_include_pad=0),
            helper.make_node("Sub", ["x", "mean"], ["score"]),
        ],
        "contrast",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, None, None])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, [1, 1, None, None])],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_a_users_onnx_model_finds_the_groups_through_the_same_pipeline(tmp_path):
    from estran.adapters.learned import OnnxFinder
    from estran.domain.thermal import DetectorParams

    path = tmp_path / "contrast.onnx"
    _residual_model(path)
    finder = OnnxFinder(path, threshold=6.0)  # kelvin of contrast
    cam = Intrinsics.from_fov(SPEC.width, SPEC.height, SPEC.hfov_deg)
    spec = FlightSpec(seconds=8)
    from estran.domain.thermal import Detector

    detector = Detector(cam, DetectorParams(), find=finder)
    frames = list(fly(spec))
    found = present = 0
    for f in frames:
        dets = detector.frame(f.pixels, f.reported)
        for t in f.truth:
            if t.cls == "group" and t.in_view and not t.edge:
                present += 1
                found += any(
                    d.cls == "group"
                    and np.hypot(d.east - t.east, d.north - t.north) <= max(6.0, 3 * d.semi_major_m)
                    for d in dets
                )
    assert present > 40
    assert found / present >= 0.9
    # The same model behind the HTTP path's pipeline.
    pipeline = ThermalPipeline(PROFILE, "uas-1", CODEC, frame=ORIGIN, find=finder)
    outs = [pipeline.process(f.pixels, _telemetry(f)) for f in frames[:30]]
    assert all(o.skipped is None for o in outs)
    assert sum(len(o.commands) for o in outs) > 0


def test_a_bad_model_is_refused_with_a_clear_error(tmp_path):
    from estran.adapters.learned import OnnxFinder

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="not a usable ONNX model"):
        OnnxFinder(bad)
    with pytest.raises(InvalidInputError, match="no model file"):
        OnnxFinder(tmp_path / "missing.onnx")


def test_one_flight_over_one_scene_makes_one_incident_graded_by_its_people_and_its_boat(tmp_path):
    """The README's flight (groups of people and a boat around one launch site, 130 m
    across) through the pipeline and fusion: one incident, not one per group, counting the
    groups' people together, a boat being prepared, and graded by that (issue 20)."""
    import asyncio
    import uuid

    from estran.bootstrap import build_services
    from estran.config import Settings
    from estran.domain.events import CommandIn
    from estran.services.fusion import FusionService

    pipeline = ThermalPipeline(PROFILE, "sim-UAS-WISSANT", CODEC, emit_s=2.0, frame=ORIGIN)
    commands: list[CommandIn] = []
    for f in fly(SPEC):
        ok, png = cv2.imencode(".png", f.pixels)
        assert ok
        commands += pipeline.process(png.tobytes(), _telemetry(f)).commands
    services = build_services(Settings(data_dir=tmp_path, terrain="off", fusion=False))
    fusion = FusionService(services.picture, place_of=lambda _lat, _lon: "near_launch_site",
                           new_id=lambda: uuid.uuid4().hex[:12], owner_agency="FR-GN")  # fmt: skip

    async def run() -> None:
        await services.ledger.start()
        sensor = {"id": "sim-UAS-WISSANT", "name": "UAS Wissant", "kind": "drone_thermal",
                  "agency_id": "FR-GN"}  # fmt: skip
        agency = {"id": "FR-GN", "name": "Gendarmerie", "nation": "FR", "kind": "gendarmerie"}
        await services.ledger.submit([CommandIn(type="agency.created", data=agency),
                                      CommandIn(type="sensor.created", data=sensor)],
                                     actor="t", source="t")  # fmt: skip
        for command in commands:
            (event,) = await services.ledger.submit([command], actor="sensor:uas",
                                                    source="thermal")  # fmt: skip
            concluded = fusion.react(event, services.picture, services.clock.now())
            if concluded:
                await services.ledger.submit(concluded, actor="system:fusion", source="fusion")
        await services.ledger.stop()

    asyncio.run(run())
    tracks = list(services.picture.all("track"))
    assert len({t["id"] for t in tracks}) >= 2  # several groups and the boat, tracked apart
    incidents = list(services.picture.all("incident"))
    assert len(incidents) == 1, [(i["type"], i["count"], i["position"]) for i in incidents]
    (incident,) = incidents
    people = sum(t.get("count") or 0 for t in tracks if t["class"] == "group_of_people")
    assert incident["count"] == people >= 15
    assert incident["type"] == "boat_being_prepared"
    assert incident["impact"] in ("high", "very_high")
    assert set(incident["track_ids"]) == {t["id"] for t in tracks}
    services.store.close()
