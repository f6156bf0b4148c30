"""The planner's candidate posts and travel times, cached on disk beside the terrain (the
``PostCache`` port; ``services/posts.py`` builds them on a miss).

Building them takes about 9 s on the Côte d'Opale; the cache is keyed on the terrain's own key
and the sites, so new land cover, mobility profiles or an imported site catalogue rebuild it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from estran.domain.planning import PostSet

if TYPE_CHECKING:
    from estran.config import Settings
    from estran.domain.prepared import PreparedTerrain

__all__ = ["DiskPostCache"]

log = logging.getLogger(__name__)

POSTS_VERSION: Final = "posts-2"


class DiskPostCache:
    """Post sets as ``.npz`` files in a folder, one per terrain and site catalogue."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_settings(cls, settings: Settings) -> DiskPostCache:
        return cls(settings.terrain_cache_dir or settings.data_dir / "terrain-cache")

    def _path(self, terrain: PreparedTerrain) -> Path:
        h = hashlib.sha256(f"{POSTS_VERSION}:{terrain.key}".encode())
        h.update(np.array([[s.x, s.y] for s in terrain.sites], dtype=np.float64).tobytes())
        return self.folder / f"posts-{h.hexdigest()[:24]}.npz"

    def get(self, terrain: PreparedTerrain) -> PostSet | None:
        """The cached posts for ``terrain``, or None (absent or unreadable: rebuild)."""
        path = self._path(terrain)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                kinds = [str(k) for k in z["kinds"]]
                return PostSet(
                    site_xy=z["site_xy"],
                    xy={k: z[f"xy:{k}"] for k in kinds},
                    site_of={k: z[f"site:{k}"] for k in kinds},
                    eta_s={k: z[f"eta:{k}"] for k in kinds if f"eta:{k}" in z},
                )
        except (OSError, ValueError, KeyError) as exc:
            log.warning("post cache %s unreadable (%s); rebuilding", path.name, exc)
            return None

    def put(self, terrain: PreparedTerrain, posts: PostSet) -> None:
        """Keep ``posts`` for ``terrain`` (atomically: a reader sees the old file or the new)."""
        path = self._path(terrain)
        arrays: dict[str, np.ndarray] = {
            "site_xy": posts.site_xy,
            "kinds": np.array(list(posts.xy)),
        }
        for k in posts.xy:
            arrays[f"xy:{k}"] = posts.xy[k]
            arrays[f"site:{k}"] = posts.site_of[k]
        for k, eta in posts.eta_s.items():
            arrays[f"eta:{k}"] = eta
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)  # type: ignore[arg-type]
            Path(tmp).replace(path)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
            raise
