"""``estran thermal``: synthetic flights, and replaying a recorded flight into the centre."""

from __future__ import annotations

import csv
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from estran.cli.options import settings_from
from estran.cli.output import echo, localize
from estran.domain.messages import msg

if TYPE_CHECKING:
    from collections.abc import Iterator

    from estran.config import Settings

__all__ = ["thermal"]

TELEMETRY_FIELDS = ("t", "lat", "lon", "alt_m", "yaw_deg", "pitch_deg", "roll_deg")
FRAME_SUFFIXES = {".png", ".tif", ".tiff"}


@click.group()
def thermal() -> None:
    """Drone thermal video: synthetic flights with ground truth, and replay into Estran."""


@thermal.command("synth")
@click.option("--seconds", type=click.FloatRange(1, 600), default=40.0, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--lat", type=click.FloatRange(-90, 90), default=50.905, show_default=True)
@click.option("--lon", type=click.FloatRange(-180, 180), default=1.690, show_default=True)
@click.option("-o", "--out", type=click.Path(path_type=Path), default=Path("flight"),
              show_default=True)  # fmt: skip
def synth_cmd(seconds: float, seed: int, lat: float, lon: float, out: Path) -> None:
    """Write a synthetic flight: 16-bit PNG frames, telemetry.csv, and truth.json."""
    import cv2

    from estran.domain.camera import LocalFrame
    from estran.sim.thermal_flight import FlightSpec, fly

    origin = LocalFrame(lat, lon)
    spec = FlightSpec(seconds=seconds, seed=seed)
    (out / "frames").mkdir(parents=True, exist_ok=True)
    truth: list[dict[str, Any]] = []
    with (out / "telemetry.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(TELEMETRY_FIELDS)
        total = int(spec.seconds * spec.fps)
        with click.progressbar(fly(spec), length=total, label=localize(msg("rendering"))) as frames:
            for fr in frames:
                cv2.imwrite(str(out / "frames" / f"{fr.index:05d}.png"), fr.pixels)
                flat, flon = origin.to_latlon(fr.reported.east, fr.reported.north)
                r = fr.reported
                writer.writerow([f"{fr.t:.3f}", f"{flat:.8f}", f"{flon:.8f}", f"{r.alt:.2f}",
                                 f"{r.yaw:.3f}", f"{r.pitch:.3f}", f"{r.roll:.3f}"])  # fmt: skip
                truth.append({"frame": fr.index, "things": [
                    {"id": t.id, "class": t.cls, "count": t.count, "edge": t.edge,
                     "in_view": t.in_view,
                     "lat_lon": origin.to_latlon(t.east, t.north)}
                    for t in fr.truth if t.cls != "person"]})  # fmt: skip
    (out / "truth.json").write_text(json.dumps(truth))
    echo(
        msg(
            "{n_truth} frames in {out}/frames, telemetry in {out}/telemetry.csv",
            n_truth=len(truth),
            out=out,
        )
    )


def read_telemetry(path: Path) -> list[dict[str, float]]:
    """Per-frame telemetry (CSV with a header naming the fields); a bad row is named."""
    rows: list[dict[str, float]] = []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(TELEMETRY_FIELDS[:-1]) - set(reader.fieldnames or [])
        if missing:
            raise click.ClickException(
                msg(
                    "{name}: no column {columns}",
                    name=path.name,
                    columns=", ".join(sorted(missing)),
                )
            )
        for line, row in enumerate(reader, start=2):
            try:
                rows.append({k: float(row[k]) for k in TELEMETRY_FIELDS if row.get(k) not in
                             (None, "")})  # fmt: skip
            except ValueError as exc:
                raise click.ClickException(
                    msg("{name} line {line}: {exc}", name=path.name, line=line, exc=exc)
                ) from exc
    return rows


def frames_of(source: Path) -> Iterator[bytes]:
    """Encoded frames from a folder of images (in name order) or a video OpenCV can read."""
    import cv2
    import numpy as np

    if source.is_dir():
        for path in sorted(p for p in source.iterdir() if p.suffix.lower() in FRAME_SUFFIXES):
            yield path.read_bytes()
        return
    video = cv2.VideoCapture(str(source))
    if not video.isOpened():
        raise click.ClickException(
            msg("{source}: not a folder of frames nor a readable video", source=source)
        )
    try:
        while True:
            ok, img = video.read()
            if not ok:
                break
            gray = img[:, :, 0] if img.ndim == 3 else img
            yield cv2.imencode(".png", np.ascontiguousarray(gray))[1].tobytes()
    finally:
        video.release()


def configured_url(settings: Settings) -> str:
    """The HTTP address of the centre ``settings`` describe, as a client on this machine
    reaches it (a wildcard bind address is reached on loopback)."""
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port or 8080}"


@thermal.command("replay")
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--telemetry",
    "telemetry_path",
    required=True,
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="CSV: t, lat, lon, alt_m, yaw_deg, pitch_deg[, roll_deg]; one row a frame.",
)
@click.option("--sensor", required=True, help="The drone's thermal sensor id in Estran.")
@click.option(
    "--url",
    default=None,
    help="The centre (default: the one this CLI is configured for, ESTRAN_HOST and "
    "ESTRAN_HTTP_PORT, else http://127.0.0.1:8080).",
)
@click.option("--pace", type=click.FloatRange(0, 1000), default=1.0, show_default=True,
              help="1: the flight's own pace; 0: as fast as the centre takes them.")  # fmt: skip
def replay_cmd(
    source: Path, telemetry_path: Path, sensor: str, url: str | None, pace: float
) -> None:
    """Replay a recorded flight (frames and telemetry) into a running centre.

    The token comes from $ESTRAN_TOKEN (never from the command line, where others can see it).
    """
    url = url or configured_url(settings_from())
    token = os.environ.get("ESTRAN_TOKEN")
    if not token:
        raise click.ClickException(msg("set ESTRAN_TOKEN to a token that may create detections"))
    telemetry = read_telemetry(telemetry_path)
    started = time.monotonic()
    sent = skipped = written = 0
    target = f"{url.rstrip('/')}/api/v1/sensors/{urllib.parse.quote(sensor, safe='')}/thermal"
    for data, tel in zip(frames_of(source), telemetry, strict=False):
        if pace > 0:
            wait = started + tel["t"] / pace - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        request = urllib.request.Request(  # noqa: S310 (the operator's own centre)
            f"{target}?{urllib.parse.urlencode(tel)}", data=data, method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise click.ClickException(
                msg(
                    "frame {sent}: {code} {body!r}", sent=sent, code=exc.code, body=exc.read()[:300]
                )
            ) from exc
        except urllib.error.URLError as exc:
            raise click.ClickException(
                msg("cannot reach {url}: {reason}", url=url, reason=exc.reason)
            ) from exc
        sent += 1
        if body.get("skipped"):
            skipped += 1
            echo(body["skipped"], err=True)
        written += len(body.get("written", []))
    echo(
        msg(
            "{sent} frames sent, {skipped} skipped, {written} detections written",
            sent=sent,
            skipped=skipped,
            written=written,
        )
    )
