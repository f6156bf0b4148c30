"""Where groups wait before a launch (``domain/hiding.py``) and the chance of catching a group
whose detection hazard changes as it hides, walks and prepares (``within_stages``), each
against hand values or Monte Carlo."""

from __future__ import annotations

import numpy as np
import pytest

from estran.domain.coverage import Stages, Window, within_stages, within_time
from estran.domain.hiding import hiding_places
from estran.domain.launch_sites import LaunchSite
from estran.domain.terrain import Grid
from estran.domain.terrain import TerrainClass as T

CELL = 25.0


def _coast() -> np.ndarray:
    """200 x 200 cells of 25 m: sea to the north (rows < 40), the beach (40-50), the dunes'
    grass (51-60), farmland inland."""
    cls = np.full((200, 200), T.FARMLAND, dtype=np.uint8)
    cls[:40] = T.SEA
    cls[40:45] = T.WET_SAND
    cls[45:51] = T.DRY_SAND
    cls[51:61] = T.DUNE_GRASS
    return cls


def _grid(cls: np.ndarray) -> Grid:
    return Grid(cls, 0.0, 200 * CELL, CELL, "EPSG:2154")


def _site(row: int = 45, col: int = 100) -> LaunchSite:
    x, y = _grid(_coast()).centre(row, col)
    return LaunchSite(id="LS-001", name="Beach", x=x, y=y, road_m=500.0, track_m=200.0,
                      beach_width_m=100.0)  # fmt: skip


def test_a_wood_behind_the_dunes_beats_nearer_scrub_and_the_dunes_grass():
    cls = _coast()
    cls[70:80, 95:106] = T.WOODLAND  # 625 m inland
    cls[52:55, 95:106] = T.SCRUB  # 175 m inland
    site = _site()
    hides = hiding_places(_grid(cls), [site], [])
    assert hides.kind == ("woodland",)
    assert hides.cover[0] == 1.0
    d = float(hides.distance_to(np.array([[site.x, site.y]]))[0])
    assert 600.0 <= d <= 650.0
    cls[70:80, 95:106] = T.FARMLAND  # without the wood, the scrub
    hides = hiding_places(_grid(cls), [site], [])
    assert hides.kind == ("scrub",)
    assert hides.cover[0] == pytest.approx(0.7)


def test_a_bunker_nearer_than_the_wood_is_where_they_wait():
    cls = _coast()
    cls[70:80, 95:106] = T.WOODLAND
    site = _site()
    bunker = (site.x + 100.0, site.y - 280.0)
    hides = hiding_places(_grid(cls), [site], [bunker])
    assert hides.kind == ("bunker",)
    assert tuple(hides.xy[0]) == pytest.approx(bunker)
    far = (site.x, site.y - 1400.0)  # further than the wood: the wood
    assert hiding_places(_grid(cls), [site], [far]).kind == ("woodland",)


def test_never_on_the_beach_itself_and_at_the_beach_when_nothing_hides():
    cls = _coast()
    cls[51:61] = T.FARMLAND
    cls[46:49, 99:102] = T.WOODLAND  # a few trees within 100 m of the site
    site = _site()
    hides = hiding_places(_grid(cls), [site], [], min_m=150.0)
    assert hides.kind == ("beach",)
    assert tuple(hides.xy[0]) == (site.x, site.y)
    assert hides.cover[0] == 0.0
    assert hiding_places(_grid(cls), [site], [], min_m=25.0).kind == ("woodland",)


BEACH = Window.of(50 * 60.0, 20 * 60.0, 15 * 60.0, nodes=16)


def test_with_no_wait_and_no_walk_the_stages_are_the_beach_alone():
    stages = Stages.of(BEACH, 0.0, 0.0, np.zeros(2))
    h = np.array([[1 / 900, 1 / 900, 1 / 900], [0.0, 0.0, 1 / 300]])
    got = within_stages(h, np.array([300.0, 600.0]), stages)
    want = within_time(h[:, 2], np.array([300.0, 600.0]), BEACH)
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize(
    ("hide_h", "walk_h", "beach_h", "response"),
    [
        (1 / 3600, 1 / 600, 1 / 1200, 600.0),
        (0.0, 0.0, 1 / 600, 300.0),
        (1 / 900, 0.0, 0.0, 2400.0),
        (1 / 1800, 1 / 300, 1 / 900, 5000.0),
    ],
)
def test_catching_a_group_that_hides_walks_and_prepares_matches_monte_carlo(
    hide_h, walk_h, beach_h, response
):
    # Wait ~ N(90, 40) min clipped at 0, walk 12 min, preparation ~ N(50, 20) clipped at 5,
    # launch 15: detected at the first event of a hazard that changes at each stage, caught
    # when detection plus response comes before the boat is away.
    rng = np.random.default_rng(3)
    n = 400_000
    wait = np.maximum(0.0, rng.normal(5400.0, 2400.0, n))
    walk = 720.0
    beach = np.maximum(300.0, rng.normal(3000.0, 1200.0, n)) + 900.0
    # the time of detection, by inverting the piecewise-linear cumulative hazard
    e = rng.exponential(1.0, n)
    h1, h2 = hide_h * wait, walk_h * walk
    seen = np.full(n, np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = e < h1
        seen[first] = (e / hide_h)[first]
        second = ~first & (e < h1 + h2)
        seen[second] = (wait + (e - h1) / walk_h)[second]
        third = ~first & ~second & (beach_h > 0)
        seen[third] = (wait + walk + (e - h1 - h2) / beach_h)[third]
    mc = float(np.mean(seen + response < wait + walk + beach))
    stages = Stages.of(BEACH, 5400.0, 2400.0, np.array([walk]), nodes=32)
    got = float(within_stages(np.array([[hide_h, walk_h, beach_h]]), response, stages)[0])
    assert got == pytest.approx(mc, abs=0.01)


def test_a_longer_wait_under_watch_is_a_better_chance_and_a_slow_response_none():
    walk = np.array([600.0])
    h = np.array([[1 / 3600, 0.0, 0.0]])  # seen only while hiding
    short = within_stages(h, 600.0, Stages.of(BEACH, 1800.0, 0.0, walk))
    long = within_stages(h, 600.0, Stages.of(BEACH, 7200.0, 0.0, walk))
    assert 0.0 < float(short[0]) < float(long[0])
    assert float(within_stages(h, 1e7, Stages.of(BEACH, 7200.0, 0.0, walk))[0]) == 0.0
