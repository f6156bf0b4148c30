"""The planner's candidate posts and real travel times, built once per terrain and kept by a
``PostCache`` (``adapters/plan_store.py`` on disk; a dict in tests).

Building them asks the travel engine for every ground post's time to every launch site
(about 9 s on the Côte d'Opale), so ``posts_for`` asks the cache first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from estran.domain.messages import msg
from estran.domain.planning import PostSet
from estran.domain.travel import UnitAt
from estran.services.planning import GROUND_PROFILE
from estran.sim.night import coast_from

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.domain.prepared import PreparedTerrain
    from estran.ports import PostCache
    from estran.sim.night import Coast

__all__ = ["build_posts", "posts_for"]


def posts_for(
    terrain: PreparedTerrain,
    cache: PostCache,
    progress: Callable[[str, float], None] | None = None,
) -> PostSet:
    """The posts for ``terrain``'s sites: from ``cache`` when it holds them, else built and
    kept there."""
    posts = cache.get(terrain)
    if posts is None:
        posts = build_posts(coast_from(terrain), progress)
        cache.put(terrain, posts)
    return posts


def build_posts(coast: Coast, progress: Callable[[str, float], None] | None = None) -> PostSet:
    """Candidate posts along the coast and real travel times from each ground post to each
    launch site (one engine call per site, every ground post at once)."""
    site_xy = np.array([[s.x, s.y] for s in coast.sites], dtype=np.float64)
    n = len(site_xy)
    mid = (site_xy[:-1] + site_xy[1:]) / 2.0 if n > 1 else site_xy.copy()
    for k, (x, y) in enumerate(mid):  # a midpoint across a bay may be at sea: come ashore
        ashore = coast.engine.resolve(float(x), float(y))
        if not isinstance(ashore, str) and ashore.snapped_m > 0:
            mid[k] = (ashore.x, ashore.y)
    mid_site = np.arange(len(mid), dtype=np.intp)
    xy = dict.fromkeys(GROUND_PROFILE, mid) | {"drone": site_xy}
    site_of = dict.fromkeys(GROUND_PROFILE, mid_site) | {"drone": np.arange(n, dtype=np.intp)}
    eta = {k: np.full((len(mid), n), np.inf) for k in GROUND_PROFILE}
    units = [
        UnitAt(f"{k}|{p}", GROUND_PROFILE[k], float(x), float(y))
        for k in GROUND_PROFILE
        for p, (x, y) in enumerate(mid)
    ]
    for j, (sx, sy) in enumerate(site_xy):
        target = coast.engine.resolve(float(sx), float(sy))
        if not isinstance(target, str):
            for e in coast.engine.eta(target, units):
                if e.reachable and e.eta_s is not None:
                    kind, p = e.unit_id.split("|")
                    eta[kind][int(p), j] = e.eta_s
        if progress is not None:
            progress(msg("travel times to site {i}/{n}", i=j + 1, n=n), (j + 1) / n)
    return PostSet(site_xy, xy, site_of, eta)
