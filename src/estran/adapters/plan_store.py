"""The planner's candidate posts and travel times, cached on disk beside the terrain.

Building them asks the travel engine for every ground post's time to every launch site
(about 9 s on the Côte d'Opale); the cache is keyed on the terrain's own key and the sites, so
new land cover, mobility profiles or an imported site catalogue rebuild it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np

from estran.services.planning import PostSet, build_posts
from estran.services.simulate import coast_from

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.adapters.terrain_store import PreparedTerrain
    from estran.config import Settings

__all__ = ["load_posts"]

log = logging.getLogger(__name__)

POSTS_VERSION: Final = "posts-2"


def _path(terrain: PreparedTerrain, settings: Settings) -> Path:
    h = hashlib.sha256(f"{POSTS_VERSION}:{terrain.key}".encode())
    h.update(np.array([[s.x, s.y] for s in terrain.sites], dtype=np.float64).tobytes())
    cache_dir = settings.terrain_cache_dir or settings.data_dir / "terrain-cache"
    return cache_dir / f"posts-{h.hexdigest()[:24]}.npz"


def load_posts(
    terrain: PreparedTerrain,
    settings: Settings,
    progress: Callable[[str, float], None] | None = None,
) -> PostSet:
    """The posts for ``terrain``'s sites, from the cache when it holds them."""
    path = _path(terrain, settings)
    if path.is_file():
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
    posts = build_posts(coast_from(terrain), progress)
    arrays: dict[str, np.ndarray] = {"site_xy": posts.site_xy, "kinds": np.array(list(posts.xy))}
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
    return posts
