"""``estran demo`` shows the job at once (issue 20): started as a newcomer would (the busy
night, its default 60x), within 2 minutes of wall time the picture has a detection, an
incident, a unit moving to a task and a rescue case, and health says which simulated night
and hour it is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.auth import AUTH, seed_user

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(240)]


def test_the_busy_demo_night_shows_the_rhythm_of_a_night_within_two_minutes(tmp_path: Path):
    from estran.config import Settings

    data = tmp_path / "demo"
    seed_user(Settings(data_dir=data))
    log_path = tmp_path / "demo.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "estran", "demo", "--data", str(data),
             "--http-port", "0"],
            stdout=log, stderr=log,
            env={**os.environ, "ESTRAN_COT_TCP_PORT": "0", "ESTRAN_COT_TLS_PORT": "0"},
        )  # fmt: skip
        try:
            port = 0
            while not port:
                assert time.monotonic() - started < 60, log_path.read_text()[-2000:]
                found = re.findall(r"listening on http://127\.0\.0\.1:(\d+)", log_path.read_text())
                port = int(found[-1]) if found else 0
                time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            seen: dict[str, float] = {}
            wanted = {"detection", "incident", "unit moving to a task", "rescue case"}
            while set(seen) != wanted and time.monotonic() - started < 120:
                time.sleep(1.0)
                try:
                    answer = httpx.get(f"{base}/api/v1/picture", headers=AUTH, timeout=10)
                except httpx.HTTPError:
                    continue
                if answer.status_code != 200:
                    continue
                picture = {k: list(v.values()) if isinstance(v, dict) else v
                           for k, v in answer.json()["records"].items()}  # fmt: skip
                at = time.monotonic() - started
                if picture.get("detections"):
                    seen.setdefault("detection", at)
                if picture.get("incidents"):
                    seen.setdefault("incident", at)
                if any(u.get("status") == "en_route" for u in picture.get("units", [])) and any(
                    t.get("status") in ("en_route", "on_scene", "done")
                    for t in picture.get("tasks", [])
                ):
                    seen.setdefault("unit moving to a task", at)
                if picture.get("rescue_cases"):
                    seen.setdefault("rescue case", at)
            health = httpx.get(f"{base}/api/v1/health", headers=AUTH, timeout=10).json()
        finally:
            proc.terminate()
            proc.wait(30)
    assert set(seen) == wanted, (seen, log_path.read_text()[-3000:])
    assert health["demo"]["scenario"] == "Côte d'Opale, a busy night"
    assert re.fullmatch(r"\d\d:\d\d", health["demo"]["time"] or "")
