"""Every post cache (the fake, the folder) gives back what was put for a terrain and its
sites, and nothing for another terrain or another site catalogue."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from estran.adapters.fakes import MemoryPostCache
from estran.adapters.plan_store import DiskPostCache
from estran.domain.planning import PostSet
from estran.ports import PostCache


def terrain(key: str, *sites: tuple[float, float]) -> Any:
    return SimpleNamespace(key=key, sites=[SimpleNamespace(x=x, y=y) for x, y in sites])


POSTS = PostSet(
    site_xy=np.array([[0.0, 0.0], [100.0, 0.0]]),
    xy={"foot_patrol": np.array([[50.0, 0.0]]), "drone": np.array([[0.0, 0.0], [100.0, 0.0]])},
    site_of={"foot_patrol": np.array([0]), "drone": np.array([0, 1])},
    eta_s={"foot_patrol": np.array([[40.0, np.inf]])},
)


@pytest.fixture(params=["memory", "folder"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> PostCache:
    return MemoryPostCache() if request.param == "memory" else DiskPostCache(tmp_path / "c")


def test_posts_come_back_equal_for_the_same_terrain_and_sites(cache):
    t = terrain("k1", (0.0, 0.0), (100.0, 0.0))
    assert cache.get(t) is None
    cache.put(t, POSTS)
    got = cache.get(terrain("k1", (0.0, 0.0), (100.0, 0.0)))
    assert got is not None
    assert np.array_equal(got.site_xy, POSTS.site_xy)
    for k in POSTS.xy:
        assert np.array_equal(got.xy[k], POSTS.xy[k])
        assert np.array_equal(got.site_of[k], POSTS.site_of[k])
    assert list(got.eta_s) == ["foot_patrol"]
    assert np.array_equal(got.eta_s["foot_patrol"], POSTS.eta_s["foot_patrol"])


def test_another_terrain_or_site_catalogue_misses(cache):
    cache.put(terrain("k1", (0.0, 0.0), (100.0, 0.0)), POSTS)
    assert cache.get(terrain("k2", (0.0, 0.0), (100.0, 0.0))) is None
    assert cache.get(terrain("k1", (0.0, 0.0), (101.0, 0.0))) is None


def test_an_unreadable_cache_file_is_a_miss_not_an_error(tmp_path: Path):
    cache = DiskPostCache(tmp_path)
    t = terrain("k1", (0.0, 0.0))
    cache.put(t, POSTS)
    (path,) = tmp_path.glob("posts-*.npz")
    path.write_bytes(b"not a zip")
    assert cache.get(t) is None
