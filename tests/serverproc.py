"""Start ``estran serve`` as a real process (for crash tests and benchmarks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


class ServerProcess:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        # Terrain is off unless a test asks for it: preparing it costs CPU the crash and load
        # tests measure against.
        self.env = {
            "ESTRAN_TERRAIN": "off",
            "ESTRAN_COT_TCP_PORT": "0",
            "ESTRAN_COT_TLS_PORT": "0",
            "ESTRAN_FUSION": "false",
            **os.environ,
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = data_dir.parent / f"{data_dir.name}-server.log"

    def start(self, timeout_s: float = 60) -> ServerProcess:
        from estran.config import Settings
        from tests.auth import seed_user

        seed_user(
            Settings(
                data_dir=self.data_dir,
                database_url=self.env.get("ESTRAN_DATABASE_URL"),
                database_schema=self.env.get("ESTRAN_DATABASE_SCHEMA", "estran"),
            )
        )
        offset = self.log.stat().st_size if self.log.exists() else 0
        self._log = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "estran",
                "serve",
                "--data",
                str(self.data_dir),
                "--http-port",
                "0",
            ],
            stdout=self._log,
            stderr=self._log,
            env=self.env,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
            ports = re.findall(r"Estran listening on http://127\.0\.0\.1:(\d+)", text)
            if ports and "Application startup complete" in text:
                self.port = int(ports[-1])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {text[-2000:]}")
            time.sleep(0.05)
        raise RuntimeError("server did not start in time")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown handler runs
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self._log.close()


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM (a clean shutdown), then SIGKILL if it has not ended in 15 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
