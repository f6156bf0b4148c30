"""Thumbnail chips of thermal detections, on disk, kept for the imagery retention period.

One PNG per detection (``<data_dir>/chips/<detection id>.png``), written atomically; its age is
its file time, set from the clock when written. ``get`` refuses a chip past retention (and
removes it); ``purge`` removes every one that is due. Viewing is audited by the HTTP layer.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from estran.adapters.private_files import private_dir

__all__ = ["ChipStore"]


class ChipStore:
    def __init__(self, folder: Path, retain_days: float) -> None:
        self.folder = folder
        self.retain = timedelta(days=retain_days)

    def _path(self, detection_id: str) -> Path:
        # Ids are validated upstream; the file name is a hash so no id can escape the folder.
        return self.folder / f"{hashlib.sha256(detection_id.encode()).hexdigest()[:32]}.png"

    def put(self, detection_id: str, png: bytes, now: datetime) -> None:
        private_dir(self.folder)  # thermal thumbnails: personal-data adjacent, 0700
        fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(png)
            stamp = now.timestamp()
            os.utime(tmp, (stamp, stamp))
            Path(tmp).replace(self._path(detection_id))
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, detection_id: str, now: datetime) -> bytes | None:
        path = self._path(detection_id)
        try:
            if now.timestamp() - path.stat().st_mtime > self.retain.total_seconds():
                path.unlink(missing_ok=True)
                return None
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def purge(self, now: datetime) -> int:
        """Remove every chip past retention; how many."""
        if not self.folder.is_dir():
            return 0
        cutoff = now.timestamp() - self.retain.total_seconds()
        removed = 0
        for path in self.folder.glob("*.png"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
