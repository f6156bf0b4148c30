"""In-memory stand-ins for the ports, for unit tests (``tests/contract/`` holds each to the
same suite as the real adapter, so a test on a fake says something about the real thing).

- ``MemorySecurityStore``: accounts, sessions and the chained audit trail in dicts;
- ``MemoryChipStore``: thumbnails with their time, under the same retention rule;
- ``MemoryPostCache``: post sets by terrain key and sites;
- ``NpyCodec``: frames and thumbnails as NumPy ``.npy`` bytes (no OpenCV);
- ``BrightestFinder``: one blob at the hottest pixel above a threshold (no model);
- ``PlaneProjector``: a local equirectangular plane (no pyproj), metres around an origin.
The event store's fake is ``adapters/storage/memory.py``; the clock's, ``FixedClock``
(``adapters/clock.py``).
"""

from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from estran.domain.audit import GENESIS, AuditRow, audit_hash
from estran.domain.errors import StorageError
from estran.domain.messages import msg
from estran.domain.thermal import Blob, DetectorParams, thumbnail

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from estran.domain.planning import PostSet
    from estran.domain.prepared import PreparedTerrain

__all__ = [
    "BrightestFinder",
    "MemoryChipStore",
    "MemoryPostCache",
    "MemorySecurityStore",
    "NpyCodec",
    "PlaneProjector",
]


_USER_REQUIRED: Final = (
    "username", "display_name", "role", "agency_id", "nation", "clearance", "created_at",
    "updated_at",
)  # fmt: skip
_USER_DEFAULTS: Final = {
    "sectors": None, "attached_unit": None, "access_until": None, "password_hash": None,
    "service": False, "disabled": False, "failed_logins": 0, "locked_until": None,
    "language": None,
}  # fmt: skip


class MemorySecurityStore:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.audit: list[AuditRow] = []
        self.anchor: tuple[int, str] | None = None
        self._lock = threading.Lock()

    def add_user(self, row: dict[str, Any]) -> None:
        with self._lock:
            if row["username"] in self.users:
                raise StorageError(
                    msg("user {username!r} already exists", username=row["username"])
                )
            missing = [k for k in _USER_REQUIRED if row.get(k) is None]
            unknown = set(row) - set(_USER_REQUIRED) - set(_USER_DEFAULTS)
            if missing or unknown:
                raise StorageError(
                    msg(
                        "user {username!r} refused: missing {missing}, unknown {unknown}",
                        username=row["username"],
                        missing=missing,
                        unknown=unknown,
                    )
                )
            self.users[row["username"]] = _USER_DEFAULTS | dict(row)

    def get_user(self, username: str) -> dict[str, Any] | None:
        found = self.users.get(username)
        return None if found is None else dict(found)

    def list_users(self) -> list[dict[str, Any]]:
        return [dict(self.users[k]) for k in sorted(self.users)]

    def update_user(self, username: str, **changes: Any) -> bool:
        with self._lock:
            if username not in self.users:
                return False
            unknown = set(changes) - set(_USER_REQUIRED) - set(_USER_DEFAULTS)
            if unknown:
                raise StorageError(
                    msg("no such account columns: {columns}", columns=sorted(unknown))
                )
            self.users[username].update(changes)
            return True

    def add_session(
        self, token_hash: str, username: str, kind: str, issued_at: str, expires_at: str
    ) -> None:
        self.sessions[token_hash] = {
            "token_hash": token_hash,
            "username": username,
            "kind": kind,
            "issued_at": issued_at,
            "expires_at": expires_at,
            "revoked": False,
        }

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        found = self.sessions.get(token_hash)
        return None if found is None else dict(found)

    def revoke_sessions(self, username: str, token_hash: str | None = None) -> int:
        n = 0
        for s in self.sessions.values():
            if s["username"] == username and token_hash in (None, s["token_hash"]):
                s["revoked"] = True
                n += 1
        return n

    def append_audit(self, rows: list[AuditRow]) -> list[AuditRow]:
        with self._lock:
            seq, prev = self.audit_head()
            stored = []
            for row in rows:
                seq += 1
                chained = AuditRow(**{**row.as_dict(), "seq": seq, "prev_hash": prev})
                prev = audit_hash(chained, prev)
                stored.append(AuditRow(**{**chained.as_dict(), "hash": prev}))
            self.audit.extend(stored)
            if stored:
                self.anchor = (stored[-1].seq, stored[-1].hash)
            return stored

    def read_audit(self, after: int = 0, limit: int | None = None) -> Iterator[AuditRow]:
        rows = [r for r in self.audit if r.seq > after]
        yield from rows if limit is None else rows[:limit]

    def audit_head(self) -> tuple[int, str]:
        return (self.audit[-1].seq, self.audit[-1].hash) if self.audit else (0, GENESIS)

    def read_anchor(self) -> tuple[int, str] | None:
        return self.anchor

    def close(self) -> None:
        pass


class MemoryChipStore:
    def __init__(self, retain_days: float) -> None:
        self.retain = timedelta(days=retain_days)
        self.chips: dict[str, tuple[bytes, datetime]] = {}

    def put(self, detection_id: str, png: bytes, now: datetime) -> None:
        self.chips[detection_id] = (bytes(png), now)

    def get(self, detection_id: str, now: datetime) -> bytes | None:
        found = self.chips.get(detection_id)
        if found is None:
            return None
        if now - found[1] > self.retain:
            del self.chips[detection_id]
            return None
        return found[0]

    def purge(self, now: datetime) -> int:
        due = [k for k, (_, at) in self.chips.items() if now - at > self.retain]
        for k in due:
            del self.chips[k]
        return len(due)


@dataclass
class MemoryPostCache:
    kept: dict[tuple[str, bytes], PostSet] = field(default_factory=dict)

    @staticmethod
    def _key(terrain: PreparedTerrain) -> tuple[str, bytes]:
        sites = np.array([[s.x, s.y] for s in terrain.sites], dtype=np.float64).tobytes()
        return terrain.key, sites

    def get(self, terrain: PreparedTerrain) -> PostSet | None:
        return self.kept.get(self._key(terrain))

    def put(self, terrain: PreparedTerrain, posts: PostSet) -> None:
        self.kept[self._key(terrain)] = posts


NPY_MAX_BYTES: Final = 8 * 1024 * 1024
NPY_CHIP_PX: Final = 64


class NpyCodec:
    """Frames as ``.npy`` bytes (``encode`` makes them); thumbnails the same way."""

    @staticmethod
    def encode(pixels: npt.NDArray[np.generic]) -> bytes:
        buf = io.BytesIO()
        np.save(buf, pixels, allow_pickle=False)
        return buf.getvalue()

    def decode(self, data: bytes | bytearray) -> npt.NDArray[np.generic]:
        if len(data) > NPY_MAX_BYTES:
            raise ValueError(f"frame larger than {NPY_MAX_BYTES} bytes")
        try:
            img: npt.NDArray[np.generic] = np.load(io.BytesIO(bytes(data)), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"corrupt or unreadable frame ({exc})") from exc
        if img.ndim == 3:
            img = img[:, :, 0]
        return img

    def chip(self, pixels: npt.NDArray[np.generic], u: float, v: float) -> bytes:
        return self.encode(thumbnail(pixels, u, v, NPY_CHIP_PX))


@dataclass(frozen=True)
class BrightestFinder:
    """One blob at the warm body around the hottest pixel (the centroid of what stands more
    than half as warm), if it stands ``excess`` counts above the median."""

    excess: float = 100.0

    def __call__(self, frame: npt.NDArray[np.generic], params: DetectorParams) -> list[Blob]:
        pixels = np.asarray(frame, dtype=np.float32)
        over = float(pixels.max() - np.median(pixels))
        if over < self.excess:
            return []
        rows, cols = np.nonzero(pixels > np.median(pixels) + over / 2.0)
        k = over * params.kelvin_per_count
        return [Blob(float(cols.mean()), float(rows.mean()), len(rows), k, 1.0, 1.0)]


@dataclass(frozen=True)
class PlaneProjector:
    """Metres east and north of (lon0, lat0) on a local plane: centimetres over kilometres."""

    lon0: float = 1.7
    lat0: float = 50.9
    crs: str = "local-plane"

    @property
    def _k(self) -> float:
        return math.cos(math.radians(self.lat0))

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * 111_320.0 * self._k, (lat - self.lat0) * 110_574.0

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / (111_320.0 * self._k), self.lat0 + y / 110_574.0

    def many_to_xy(
        self, lons: npt.NDArray[np.float64], lats: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return (lons - self.lon0) * 111_320.0 * self._k, (lats - self.lat0) * 110_574.0

    def many_to_lonlat(
        self, xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        return self.lon0 + xs / (111_320.0 * self._k), self.lat0 + ys / 110_574.0

    def geometry_to_xy(self, geom: Any) -> Any:
        from shapely import transform

        return transform(geom, lambda c: np.column_stack(self.many_to_xy(c[:, 0], c[:, 1])))

    def geometry_to_lonlat(self, geom: Any) -> Any:
        from shapely import transform

        return transform(geom, lambda c: np.column_stack(self.many_to_lonlat(c[:, 0], c[:, 1])))
