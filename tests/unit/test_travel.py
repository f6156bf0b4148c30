"""The travel-time engine on small synthetic terrains whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from estran.adapters.terrain_store import load_mobility
from estran.domain.costgraph import Graph, lattice_graph
from estran.domain.mobility import pace_table
from estran.domain.terrain import Grid
from estran.domain.terrain import TerrainClass as T
from estran.domain.travel import Leg, TravelEngine, UnitAt

CELL = 25.0
MOBILITY = load_mobility(None)
FOOT_PACE = 3.6 / MOBILITY.ground["foot"].speeds_kmh["farmland"]


def grid_of(classes: np.ndarray) -> Grid:
    rows = classes.shape[0]
    return Grid(classes.astype(np.uint8), 0.0, rows * CELL, CELL, "EPSG:2154")


def engine_for(classes: np.ndarray, **kw) -> TravelEngine:
    kw.setdefault("window_cells", 24)
    return TravelEngine(grid_of(classes), MOBILITY, **kw)


def at(grid: Grid, row: float, col: float) -> tuple[float, float]:
    return grid.left_x + (col + 0.5) * CELL, grid.top_y - (row + 0.5) * CELL


def target(engine: TravelEngine, row: int, col: int):
    t = engine.resolve(*at(engine.grid, row, col))
    assert not isinstance(t, str)
    return t


def densify(leg: Leg, step_m: float = 5.0) -> list[tuple[float, float]]:
    out = []
    for (x0, y0), (x1, y1) in zip(leg.points, leg.points[1:], strict=False):
        n = max(1, int(math.dist((x0, y0), (x1, y1)) / step_m))
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(n)]
    out.append(leg.points[-1])
    return out


@pytest.fixture(scope="module")
def plain() -> TravelEngine:
    return engine_for(np.full((200, 200), T.FARMLAND), window_cells=24)


@pytest.fixture(scope="module")
def plain_lattice_only() -> TravelEngine:
    return engine_for(np.full((200, 200), T.FARMLAND), window_cells=24, straight_max_m=0.0)


BEARINGS = [0, 9, 13.3, 22.5, 30, 36.9, 45, 58, 71, 90, 127, 181, 233, 310]


@pytest.mark.parametrize("distance_m", [300.0, 900.0, 2000.0])
def test_on_uniform_ground_a_walk_takes_the_analytic_time(plain, distance_m):
    tgt = target(plain, 100, 100)
    for bearing in BEARINGS:
        b = math.radians(bearing)
        x, y = tgt.x + distance_m * math.sin(b), tgt.y + distance_m * math.cos(b)
        (eta,) = plain.eta(tgt, [UnitAt("u", "foot", x, y)])
        analytic = distance_m * FOOT_PACE
        assert eta.eta_s == pytest.approx(analytic, rel=0.02), (bearing, eta.method)


def test_the_lattice_alone_stays_within_its_direction_bound(plain_lattice_only):
    eng = plain_lattice_only
    tgt = target(eng, 100, 100)
    errors = []
    for distance_m in (400.0, 1000.0, 2200.0):  # inside the window, and on the coarse level
        for bearing in BEARINGS:
            b = math.radians(bearing)
            x, y = tgt.x + distance_m * math.sin(b), tgt.y + distance_m * math.cos(b)
            (eta,) = eng.eta(tgt, [UnitAt("u", "foot", x, y)])
            assert eta.eta_s is not None
            errors.append(eta.eta_s / (math.dist((x, y), (tgt.x, tgt.y)) * FOOT_PACE) - 1)
    # The 16-neighbourhood's worst case is 2.75 %; the coarse level adds block offsets.
    assert max(errors) < 0.05
    assert min(errors) > -0.01
    assert float(np.mean(errors)) < 0.03


def test_etas_grow_with_distance(plain):
    tgt = target(plain, 100, 100)
    units = [UnitAt(f"u{d}", "foot", tgt.x + d, tgt.y + d / 3) for d in range(100, 2400, 150)]
    etas = {e.unit_id: e.eta_s for e in plain.eta(tgt, units)}
    ordered = [etas[u.unit_id] for u in units]
    assert ordered == sorted(ordered)
    assert len(set(ordered)) == len(ordered)


def test_walking_through_scrub_is_slower_than_along_a_track():
    classes = np.full((120, 120), T.SCRUB)
    classes[60, :] = T.TRACK  # a track running east-west through the scrub
    eng = engine_for(classes)
    tgt = target(eng, 60, 60)
    on_track = UnitAt("track", "foot", *at(eng.grid, 60, 100))
    in_scrub = UnitAt("scrub", "foot", *at(eng.grid, 20, 60))
    result = {e.unit_id: e.eta_s or math.nan for e in eng.eta(tgt, [on_track, in_scrub])}
    legs = {e.unit_id: e.legs for e in eng.eta(tgt, [on_track, in_scrub])}
    assert result["scrub"] > result["track"]
    speeds = MOBILITY.ground["foot"].speeds_kmh
    expected_ratio = speeds["track"] / speeds["scrub"]
    assert result["scrub"] / result["track"] == pytest.approx(expected_ratio, rel=0.05)
    assert "track" in legs["track"][0].classes


def test_a_buggy_never_drives_through_woodland():
    classes = np.full((160, 160), T.FARMLAND)
    classes[30:130, 70:90] = T.WOODLAND  # a wood between the buggy and the target
    eng = engine_for(classes, window_cells=40)
    tgt = target(eng, 80, 120)
    buggy = UnitAt("b", "buggy", *at(eng.grid, 80, 30))
    (eta,) = eng.eta(tgt, [buggy])
    assert eta.reachable
    drive = [leg for leg in eta.legs if leg.mode == "drive"]
    assert drive
    for leg in drive:
        for x, y in densify(leg):
            assert eng.grid.class_at(x, y) != T.WOODLAND
    # It goes round the wood rather than through: longer than the straight line.
    assert sum(leg.length_m for leg in eta.legs) > 1.1 * math.dist(
        (buggy.x, buggy.y), (tgt.x, tgt.y)
    )


def test_the_walk_leg_starts_where_the_buggy_must_stop():
    classes = np.full((140, 140), T.FARMLAND)
    classes[40:100, 60:120] = T.WOODLAND  # the target is 300 m deep in a wood
    eng = engine_for(classes, window_cells=50)
    tgt = target(eng, 70, 100)
    (eta,) = eng.eta(tgt, [UnitAt("b", "buggy", *at(eng.grid, 70, 10))])
    drive, walk = eta.legs
    assert (drive.mode, walk.mode) == ("drive", "walk")
    assert tuple(drive.points[-1]) == tuple(walk.points[0])
    stop = eng.grid.cell_of(*drive.points[-1])
    assert stop is not None
    assert eng.grid.classes[stop] != T.WOODLAND
    # The buggy stops at the edge of the wood: a woodland cell is next to where it stops.
    r, c = stop
    assert (eng.grid.classes[r - 1 : r + 2, c - 1 : c + 2] == T.WOODLAND).any()
    assert walk.classes[0] == "woodland"
    # Walking 300 m through the wood, plus dismounting, is most of the time.
    walk_min = 300 * 3.6 / MOBILITY.ground["foot"].speeds_kmh["woodland"]
    assert walk.seconds >= walk_min
    assert eta.eta_s == pytest.approx(drive.seconds + walk.seconds, rel=1e-6)


def test_far_units_go_through_the_coarse_level_close_to_the_exact_time():
    rng = np.random.default_rng(7)
    classes = rng.choice(
        [T.FARMLAND, T.FARMLAND, T.SCRUB, T.DUNE_GRASS, T.TRACK], size=(160, 160)
    ).astype(np.uint8)
    eng = engine_for(classes, window_cells=16, straight_max_m=0.0)
    tgt = target(eng, 80, 80)
    # The exact answer: one Dijkstra over the whole fine raster.
    pace = pace_table(MOBILITY.ground["foot"])[classes]
    graph = Graph.from_edges(pace.size, lattice_graph(pace, CELL))
    exact, _ = graph.search(np.array([80 * 160 + 80]))
    errors = []
    for r, c in [(5, 5), (150, 20), (20, 150), (155, 155), (80, 10)]:
        (eta,) = eng.eta(tgt, [UnitAt("u", "foot", *at(eng.grid, r, c))])
        assert eta.method == "coarse"
        errors.append(eta.eta_s / exact[r * 160 + c] - 1)
    assert max(abs(e) for e in errors) < 0.08
    assert abs(float(np.mean(errors))) < 0.05


def test_a_drone_flies_straight_after_launch_within_endurance(plain):
    tgt = target(plain, 100, 100)
    drone = MOBILITY.air["drone"]
    near = UnitAt("near", "drone", tgt.x + 3000, tgt.y + 4000)
    (eta,) = plain.eta(tgt, [near])
    assert eta.eta_s == pytest.approx(drone.launch_s + 5000 / drone.cruise_ms)
    assert eta.legs[0].mode == "fly"
    far_m = drone.endurance_s * drone.cruise_ms  # there and back would take twice endurance
    (gone,) = plain.eta(tgt, [UnitAt("far", "drone", tgt.x + far_m, tgt.y)])
    assert not gone.reachable
    assert "endurance" in gone.reason


def test_results_are_ranked_fastest_first_with_unreachable_last(plain):
    tgt = target(plain, 100, 100)
    units = [
        UnitAt("slow", "foot", tgt.x + 2000, tgt.y),
        UnitAt("fast", "buggy", tgt.x + 2000, tgt.y),
        UnitAt("nowhere", "submarine", tgt.x, tgt.y),
        UnitAt("off-map", "foot", -10_000.0, -10_000.0),
    ]
    ranked = plain.eta(tgt, units)
    assert [e.unit_id for e in ranked[:2]] == ["fast", "slow"]
    assert {e.unit_id for e in ranked[2:]} == {"nowhere", "off-map"}
    assert all(not e.reachable for e in ranked[2:])
    assert "outside" in ranked[-1].reason or "outside" in ranked[-2].reason


def test_a_target_in_the_sea_snaps_to_the_nearest_reachable_ground():
    classes = np.full((100, 100), T.SEA)
    classes[:, 60:] = T.DRY_SAND
    eng = engine_for(classes)
    near_shore = eng.resolve(*at(eng.grid, 50, 55))
    assert not isinstance(near_shore, str)
    assert near_shore.col == 60
    assert near_shore.snapped_m == pytest.approx(5 * CELL, abs=1)
    assert near_shore.note is not None
    assert "sea" in near_shore.note
    assert eng.resolve(*at(eng.grid, 50, 5)) == "unreachable:sea"
    assert eng.resolve(-500.0, -500.0) == "outside"


def test_a_foot_patrol_cannot_start_in_the_sea():
    classes = np.full((100, 100), T.FARMLAND)
    classes[:, :20] = T.SEA
    eng = engine_for(classes)
    (eta,) = eng.eta(target(eng, 50, 60), [UnitAt("swimmer", "foot", *at(eng.grid, 50, 5))])
    assert not eta.reachable
    assert "sea" in eta.reason


def test_fields_are_cached_per_target_cell(plain):
    plain.cache_clear()
    tgt = target(plain, 60, 60)
    units = [UnitAt("u", "foot", tgt.x + 500, tgt.y)]
    first = plain.eta(tgt, units)
    assert len(plain._cache) == 1
    again = plain.eta(tgt, units)
    assert [(e.unit_id, e.eta_s) for e in again] == [(e.unit_id, e.eta_s) for e in first]
    assert len(plain._cache) == 1


# --- properties over random terrains ------------------------------------------------------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from estran.domain.costgraph import segment_cost  # noqa: E402

LAND = [T.FARMLAND, T.SCRUB, T.WOODLAND, T.TRACK, T.DRY_SAND, T.MARSH, T.WATER, T.ROAD]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    classes=arrays(np.uint8, (36, 36), elements=st.sampled_from(LAND)),
    spots=st.lists(st.tuples(st.integers(0, 35), st.integers(0, 35)), min_size=2, max_size=6),
)
@example(  # a buggy on farmland, moved to drivable ground: that move used to cost nothing
    classes=np.full((36, 36), T.FARMLAND, np.uint8), spots=[(11, 0), (0, 0), (29, 0)]
)
def test_no_route_is_faster_than_physics_allows_or_enters_forbidden_ground(classes, spots):
    eng = engine_for(classes, window_cells=10)
    tr, tc = spots[0]
    tgt = eng.resolve(*at(eng.grid, tr, tc))
    if isinstance(tgt, str):
        return
    units = [
        UnitAt(f"u{i}", ("foot", "buggy", "four_by_four")[i % 3], *at(eng.grid, r + 0.3, c - 0.2))
        for i, (r, c) in enumerate(spots[1:])
    ]
    for eta in eng.eta(tgt, units):
        if not eta.reachable:
            continue
        profile = MOBILITY.ground[eta.profile]
        fastest = max([*profile.speeds_kmh.values(), *MOBILITY.ground["foot"].speeds_kmh.values()])
        unit = next(u for u in units if u.unit_id == eta.unit_id)
        crow = math.dist((unit.x, unit.y), (tgt.x, tgt.y))
        assert eta.eta_s is not None
        assert eta.eta_s >= crow * 3.6 / fastest * (1 - 1e-6)
        assert eta.eta_s == pytest.approx(sum(leg.seconds for leg in eta.legs), rel=1e-6)
        legs = eta.legs
        if "position moved" in eta.reason:
            # A fix just off the track counts as on it, but the move is charged (above) and
            # shown as its own first leg: only that leg may start on undrivable ground.
            assert math.dist(legs[0].points[0], (unit.x, unit.y)) < 1e-6
            assert legs[0].seconds > 0
            legs = legs[1:]
        for leg in legs:
            allowed = profile if leg.mode == "drive" else MOBILITY.ground["foot"]
            for x, y in densify(leg, step_m=1.0):
                code = eng.grid.class_at(x, y)
                assert T(code).label in allowed.speeds_kmh, (eta.unit_id, leg.mode, T(code))


@settings(max_examples=60, deadline=None)
@given(
    pace=arrays(np.float32, (12, 12), elements=st.sampled_from([0.5, 1.0, 2.0, np.inf])),
    ends=st.tuples(*[st.floats(0.01, 11.99) for _ in range(4)]),
)
def test_the_line_integral_matches_fine_sampling(pace, ends):
    u0, v0, u1, v1 = ends
    exact = float(segment_cost(pace, u0, v0, u1, v1, 1.0)[0])
    t = (np.arange(20_000) + 0.5) / 20_000
    rows = np.floor(u0 + (u1 - u0) * t).astype(int)
    cols = np.floor(v0 + (v1 - v0) * t).astype(int)
    samples = pace[rows, cols].astype(np.float64)
    length = math.hypot(u1 - u0, v1 - v0)
    if np.isinf(samples).any():
        assert exact == math.inf
    elif math.isfinite(exact):
        assert exact == pytest.approx(samples.mean() * length, rel=2e-3, abs=1e-3)
