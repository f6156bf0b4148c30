"""The travel-time engine: every unit's time to one location, and the route it would take.

Pure computation over the terrain raster (metres, no I/O). For one target the engine runs, per
profile, a reverse Dijkstra from the target (costs are symmetric, so the time *from* a cell to
the target is the time from the target to the cell):

1. **Fine window.** Around the target, a window of the full-resolution raster (25 m, the 16-
   neighbourhood). Walking profiles search from the target. Vehicle profiles search from a
   super-source joined to every drivable cell at *its walking time to the target plus the
   dismount time*: the best place to leave the vehicle falls out of the search, which is
   exactly "drive as close as it can, then walk the rest".
2. **Coarse level.** Beyond the window, the precomputed coarse graph (blocks of 8 x 8 cells,
   see ``costgraph``), seeded with the fine times at the block representatives inside the
   window. A unit far away gets the coarse time to its block plus the exact time between its
   cell and its block's representative.
3. **Straight line.** When the straight segment from unit to target is passable in one mode,
   its line integral is a candidate too: on open ground it removes the lattice's direction
   bias, so a uniform plain gives the analytic time.

Air profiles fly a straight line after their launch delay, within their endurance (there and
back). Fields are cached per target cell (LRU), so re-ranking for the same incident is cheap.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from estran.domain.costgraph import CoarseLevel, Graph, build_coarse, lattice_graph, segment_cost
from estran.domain.messages import msg
from estran.domain.mobility import AirProfile, GroundProfile, Mobility, pace_table
from estran.domain.terrain import OUTSIDE, Grid, TerrainClass
from estran.domain.travel_types import Eta, Leg, Target, UnitAt, no_eta, reason_for

__all__ = [
    "Eta",
    "Leg",
    "Target",
    "TravelEngine",
    "UnitAt",
]

F64 = npt.NDArray[np.float64]
I32 = npt.NDArray[np.int32]
Progress = Callable[[str, float], None]

_NO_PRED: Final = -9999


@dataclass(eq=False)
class _Field:
    """One profile's times to one target: fine window and coarse level."""

    profile: str
    window: tuple[int, int, int, int]  # r0, c0, h, w
    fine_dist: F64
    fine_pred: I32
    coarse_dist: F64
    coarse_pred: I32
    walker: str | None = None  # vehicles: the walking profile's field name


@dataclass(eq=False)
class _Cand:
    """A ground unit's candidate first steps, before their line integrals are known."""

    unit: UnitAt
    profile: GroundProfile
    name: str
    fld: _Field
    block: int
    note: str
    on_foot: bool
    rows: npt.NDArray[np.intp]
    cols: npt.NDArray[np.intp]
    base: F64
    kinds: npt.NDArray[np.int8]
    refs: npt.NDArray[np.int64]
    snap: Leg | None = None  # from the reported fix to the drivable cell it was moved to


@dataclass(eq=False)
class _Fields:
    target: Target
    by_profile: dict[str, _Field] = field(default_factory=dict)


class TravelEngine:
    """Precomputes the coarse levels at construction; then answers ``rank`` and ``eta``."""

    def __init__(
        self,
        grid: Grid,
        mobility: Mobility,
        *,
        factor: int = 8,
        window_cells: int = 32,
        max_eta_s: float = 7200.0,
        snap_m: float = 500.0,
        straight_max_m: float = 5000.0,
        cache_size: int = 64,
        coarse: dict[str, CoarseLevel] | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.grid = grid
        self.mobility = mobility
        self.window_cells = window_cells
        self.max_eta_s = max_eta_s
        self.snap_m = snap_m
        self.straight_max_m = straight_max_m
        self._cache: OrderedDict[tuple[int, int], _Fields] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.pace: dict[str, npt.NDArray[np.float32]] = {}
        self.coarse: dict[str, CoarseLevel] = {}
        walkers = [p for p in mobility.ground.values() if not p.is_vehicle]
        if not walkers:
            raise ValueError("mobility needs at least one walking ground profile")
        self.primary_walker = walkers[0].name
        names = sorted(mobility.ground, key=lambda n: mobility.ground[n].is_vehicle)
        for i, name in enumerate(names):
            pace = pace_table(mobility.ground[name])[grid.classes]
            self.pace[name] = pace
            if coarse is not None and name in coarse:
                self.coarse[name] = coarse[name]
                continue

            def report(frac: float, name: str = name, i: int = i) -> None:
                if progress is not None:
                    progress(msg("coarse level {name}", name=name), (i + frac) / len(names))

            self.coarse[name] = build_coarse(pace, grid.cell_m, factor, progress=report)

    # --- targets ------------------------------------------------------------------------

    def resolve(self, x: float, y: float) -> Target | str:
        """The target cell for (x, y), snapped to reachable ground; or why there is none.

        Returns a string reason (``"outside"`` or ``"unreachable:<terrain>"``) on failure.
        """
        cell = self.grid.cell_of(x, y)
        if cell is None or self.grid.classes[cell] == OUTSIDE:
            return "outside"
        row, col = cell
        terrain = TerrainClass(int(self.grid.classes[cell])).label
        pace = self.pace[self.primary_walker]
        if np.isfinite(pace[row, col]):
            cx, cy = self.grid.centre(row, col)
            return Target(row, col, cx, cy, (x, y), 0.0, terrain, None)
        radius = math.ceil(self.snap_m / self.grid.cell_m)
        r0, c0 = max(0, row - radius), max(0, col - radius)
        r1 = min(self.grid.shape[0], row + radius + 1)
        c1 = min(self.grid.shape[1], col + radius + 1)
        blocked = ~np.isfinite(pace[r0:r1, c0:c1])
        if blocked.all():
            return f"unreachable:{terrain}"
        _, (ir, ic) = ndimage.distance_transform_edt(blocked, return_indices=True)
        nr, nc = int(ir[row - r0, col - c0]) + r0, int(ic[row - r0, col - c0]) + c0
        nx, ny = self.grid.centre(nr, nc)
        moved = math.dist((x, y), (nx, ny))
        if moved > self.snap_m:
            return f"unreachable:{terrain}"
        new_terrain = TerrainClass(int(self.grid.classes[nr, nc])).label
        note = msg(
            "the point is on {terrain}, where no unit can go; times are to the nearest "
            "reachable point, {moved:.0f} m away on {new_terrain}",
            terrain=terrain,
            moved=moved,
            new_terrain=new_terrain,
        )
        return Target(nr, nc, nx, ny, (x, y), moved, new_terrain, note)

    # --- fields -------------------------------------------------------------------------

    def _window(self, target: Target) -> tuple[int, int, int, int]:
        wc = self.window_cells
        rows, cols = self.grid.shape
        r0, c0 = max(0, target.row - wc), max(0, target.col - wc)
        r1, c1 = min(rows, target.row + wc + 1), min(cols, target.col + wc + 1)
        return r0, c0, r1 - r0, c1 - c0

    def _coarse_seeds(
        self, name: str, window: tuple[int, int, int, int], fine_dist: F64
    ) -> tuple[F64, I32]:
        level = self.coarse[name]
        r0, c0, h, w = window
        f = level.factor
        bi0, bj0 = r0 // f, c0 // f
        bi1, bj1 = (r0 + h - 1) // f + 1, (c0 + w - 1) // f + 1
        rr = level.rep_row[bi0:bi1, bj0:bj1]
        cc = level.rep_col[bi0:bi1, bj0:bj1]
        inside = (rr >= r0) & (rr < r0 + h) & (cc >= c0) & (cc < c0 + w)
        bi, bj = np.nonzero(inside)
        local = (rr[bi, bj] - r0) * w + (cc[bi, bj] - c0)
        seeds = fine_dist[local]
        ok = np.isfinite(seeds)
        blocks = ((bi + bi0) * level.shape[1] + (bj + bj0))[ok].astype(np.int64)
        dist, pred = level.graph.search(blocks, seeds[ok], limit=self.max_eta_s)
        return dist, pred

    def _fields(self, target: Target) -> _Fields:
        key = (target.row, target.col)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        fields = _Fields(target)
        window = self._window(target)
        r0, c0, h, w = window
        n = h * w
        t_local = np.array([(target.row - r0) * w + (target.col - c0)], dtype=np.int64)
        cell_m = self.grid.cell_m
        ground = self.mobility.ground
        for name in sorted(ground, key=lambda k: ground[k].is_vehicle):
            profile = ground[name]
            pace = self.pace[name][r0 : r0 + h, c0 : c0 + w]
            graph = Graph.from_edges(n, lattice_graph(pace, cell_m))
            if profile.walk_profile is None:
                dist, pred = graph.search(t_local)
            else:
                walk = fields.by_profile[profile.walk_profile].fine_dist
                drivable = np.isfinite(pace.ravel()) & np.isfinite(walk)
                nodes = np.nonzero(drivable)[0].astype(np.int64)
                seeds = walk[nodes] + profile.dismount_s
                seeds[nodes == t_local[0]] = 0.0
                dist, pred = graph.search(nodes, seeds)
            cdist, cpred = self._coarse_seeds(name, window, dist)
            fields.by_profile[name] = _Field(
                name, window, dist, pred, cdist, cpred, profile.walk_profile
            )
        with self._lock:
            self._cache[key] = fields
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return fields

    # --- routes -------------------------------------------------------------------------

    def _fine_chain(self, fld: _Field, local: int) -> tuple[list[int], int | None]:
        """Local cells from ``local`` following predecessors; and the seeded cell, if any."""
        n = len(fld.fine_dist)
        chain = [local]
        node = local
        while True:
            prev = int(fld.fine_pred[node])
            if prev == _NO_PRED:
                return chain, None
            if prev == n:
                return chain, node
            chain.append(prev)
            node = prev

    def _cells(self, fld: _Field, locals_: list[int]) -> tuple[npt.NDArray[np.intp], ...]:
        r0, c0, _, w = fld.window
        rows, cols = np.divmod(np.asarray(locals_, dtype=np.intp), w)
        return rows + r0, cols + c0

    def _points(self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]) -> F64:
        """Cell centres along a lattice path, without the vertices inside straight runs."""
        if len(rows) > 2:
            dr, dc = np.diff(rows), np.diff(cols)
            turn = (dr[1:] != dr[:-1]) | (dc[1:] != dc[:-1])
            keep = np.concatenate([[True], turn, [True]])
            rows, cols = rows[keep], cols[keep]
        xs, ys = self.grid.centres(rows, cols)
        return np.column_stack([xs, ys])

    def _classes(self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]) -> tuple[str, ...]:
        """The (at most three) commonest classes under these cells, commonest first."""
        counts = np.bincount(self.grid.classes[rows, cols], minlength=256)[:OUTSIDE]
        order = np.argsort(-counts, kind="stable")[:3]
        return tuple(TerrainClass(int(c)).label for c in order if counts[c] > 0)

    def _finish_fine(
        self,
        fields: _Fields,
        fld: _Field,
        local: int,
        head: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]] | None,
        total_s: float,
    ) -> tuple[Leg, ...]:
        """Legs from window cell ``local`` to the target, after the ``head`` cells."""
        profile = self.mobility.ground[fld.profile]
        res = self.grid.cell_m
        chain, seeded = self._fine_chain(fld, local)
        rows, cols = self._cells(fld, chain)
        if head is not None:
            rows, cols = np.concatenate([head[0], rows]), np.concatenate([head[1], cols])
        mode = "walk" if fld.walker is None else "drive"
        first = Leg(mode, self._points(rows, cols), total_s, res, self._classes(rows, cols))
        if fld.walker is None:
            return (first,)
        assert seeded is not None  # noqa: S101 (vehicle fields are always seeded)
        walker = fields.by_profile[fld.walker]
        walk_s = float(walker.fine_dist[seeded])
        if walk_s <= 0.0:
            return (first,)
        walk_chain, _ = self._fine_chain(walker, seeded)
        wr, wc = self._cells(walker, walk_chain)
        drive_s = max(0.0, total_s - walk_s - profile.dismount_s)
        return (
            Leg("drive", first.points, drive_s, res, first.classes),
            Leg(
                "walk",
                self._points(wr, wc),
                walk_s + profile.dismount_s,
                res,
                self._classes(wr, wc),
            ),
        )

    def _coarse_route(
        self, fields: _Fields, fld: _Field, unit: UnitAt, block: int, total_s: float
    ) -> tuple[Leg, ...]:
        level = self.coarse[fld.profile]
        nodes = [block]
        node = block
        stop = level.n_nodes
        pred = fld.coarse_pred
        while True:
            prev = int(pred[node])
            if prev in (stop, _NO_PRED):
                break
            nodes.append(prev)
            node = prev
        # The fine cells travelled: each coarse edge as its stored route, or straight.
        width = self.grid.shape[1]
        flat: list[int] = []
        own = self.grid.cell_of(unit.x, unit.y)
        if own is not None and level.block_of(*own) == block:
            rep = (int(level.rep_row.flat[block]), int(level.rep_col.flat[block]))
            u, v = self._uv(unit.x, unit.y)
            straight = segment_cost(
                self.pace[fld.profile], u, v, rep[0] + 0.5, rep[1] + 0.5, self.grid.cell_m
            )
            if not np.isfinite(straight[0]):
                flat.extend(self._local_path(fld.profile, own, rep)[:-1])
        chain = np.asarray(nodes, dtype=np.int64)
        reps = level.rep_row.ravel()[chain] * width + level.rep_col.ravel()[chain]
        a, b = chain[:-1], chain[1:]
        keys = np.minimum(a, b) * level.n_nodes + np.maximum(a, b)
        idx = np.searchsorted(level.path_keys, keys)
        if len(level.path_keys):
            idx_c = np.minimum(idx, len(level.path_keys) - 1)
            found = (idx < len(level.path_keys)) & (level.path_keys[idx_c] == keys)
        else:
            found = np.zeros(len(keys), dtype=bool)
        # Interleave, without a Python loop: each hop's start representative, then the
        # interior of its stored fine route (reversed when travelled the other way).
        n_hops = len(a)
        idx_f = np.where(found, idx, 0)
        ps, pe = (
            level.path_starts[idx_f],
            level.path_starts[np.minimum(idx_f + 1, len(level.path_starts) - 1)],
        )
        inner = np.where(found, np.maximum(pe - ps - 2, 0), 0)
        counts = 1 + inner
        pos = (np.cumsum(counts) - counts).astype(np.int64)
        cells = np.empty(int(counts.sum()), dtype=np.int64)
        cells[pos] = reps[:n_hops]
        if inner.any():
            hop = np.repeat(np.arange(n_hops), inner)
            first = np.repeat(np.cumsum(inner) - inner, inner)
            k = np.arange(len(hop)) - first
            forward = a[hop] < b[hop]
            src = np.where(forward, ps[hop] + 1 + k, pe[hop] - 2 - k)
            cells[pos[hop] + 1 + k] = level.path_cells[src]
        flat_cells = np.concatenate([np.asarray(flat, dtype=np.int64), cells])
        last = nodes[-1]
        rows, cols = np.divmod(flat_cells.astype(np.intp), width)
        r0, c0, _, w = fld.window
        local = int((int(level.rep_row.flat[last]) - r0) * w + (int(level.rep_col.flat[last]) - c0))
        legs = self._finish_fine(fields, fld, local, (rows, cols), total_s)
        head_leg = legs[0]
        coarse = Leg(
            head_leg.mode,
            np.vstack([[unit.x, unit.y], head_leg.points]),
            head_leg.seconds,
            float(level.factor) * self.grid.cell_m,
            head_leg.classes,
        )
        return (coarse, *legs[1:])

    def _nearest_passable(
        self, name: str, row: int, col: int, radius: int
    ) -> tuple[int, int] | None:
        rows, cols = self.grid.shape
        r0, c0 = max(0, row - radius), max(0, col - radius)
        block = self.pace[name][r0 : min(rows, row + radius + 1), c0 : min(cols, col + radius + 1)]
        rr, cc = np.nonzero(np.isfinite(block))
        if len(rr) == 0:
            return None
        i = int(np.argmin((rr + r0 - row) ** 2 + (cc + c0 - col) ** 2))
        return int(rr[i] + r0), int(cc[i] + c0)

    def _local_path(self, name: str, start: tuple[int, int], end: tuple[int, int]) -> list[int]:
        """Fine cells (flat) of the best route between two nearby cells, by a local search."""
        f = self.coarse[name].factor
        rows, cols = self.grid.shape
        r0 = max(0, min(start[0], end[0]) - 2 * f)
        c0 = max(0, min(start[1], end[1]) - 2 * f)
        r1 = min(rows, max(start[0], end[0]) + 2 * f + 1)
        c1 = min(cols, max(start[1], end[1]) + 2 * f + 1)
        w = c1 - c0
        pace = self.pace[name][r0:r1, c0:c1]
        graph = Graph.from_edges(pace.size, lattice_graph(pace, self.grid.cell_m))
        source = np.array([(end[0] - r0) * w + (end[1] - c0)], dtype=np.int64)
        _, pred = graph.search(source)
        node = (start[0] - r0) * w + (start[1] - c0)
        out = []
        while node != _NO_PRED and node >= 0:
            r, c = divmod(int(node), w)
            out.append((r + r0) * cols + (c + c0))
            node = int(pred[node])
        return out

    # --- answers ------------------------------------------------------------------------

    def _uv(self, x: float, y: float) -> tuple[float, float]:
        """Continuous raster position (cells from the top and left edges) of (x, y)."""
        g = self.grid
        return (g.top_y - y) / g.cell_m, (x - g.left_x) / g.cell_m

    def _from_unit(
        self, name: str, unit: UnitAt, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
    ) -> F64:
        """Seconds from the unit's exact position straight to each of these cells' centres."""
        u, v = self._uv(unit.x, unit.y)
        n = len(rows)
        return segment_cost(
            self.pace[name], np.full(n, u), np.full(n, v), rows + 0.5, cols + 0.5, self.grid.cell_m
        )

    def _straight(self, name: str, target: Target, x: float, y: float) -> float:
        u, v = self._uv(x, y)
        cost = segment_cost(
            self.pace[name], u, v, target.row + 0.5, target.col + 0.5, self.grid.cell_m
        )
        return float(cost[0])

    def _candidates(self, fields: _Fields, unit: UnitAt, profile: GroundProfile) -> _Cand | Eta:
        target = fields.target
        cell = self.grid.cell_of(unit.x, unit.y)
        if cell is None or self.grid.classes[cell] == OUTSIDE:
            return no_eta(unit, "the unit's position is outside the terrain area")
        row, col = cell
        name = profile.name
        on_foot = False
        note = ""
        snap: Leg | None = None
        if not np.isfinite(self.pace[name][row, col]) and profile.is_vehicle:
            # A position fix a few metres off the track: start from the nearest drivable cell.
            moved = self._nearest_passable(name, row, col, radius=2)
            if moved is not None:
                row, col = moved
                x, y = self.grid.centre(row, col)
                moved_m = math.dist((unit.x, unit.y), (x, y))
                note = msg(" (position moved {moved_m:.0f} m to drivable ground)", moved_m=moved_m)
                # Getting there is not free: charged at the slowest pace the vehicle drives.
                pace = self.pace[name]
                snap = Leg(
                    "drive",
                    np.array([[unit.x, unit.y], [x, y]]),
                    moved_m * float(pace[np.isfinite(pace)].max()),
                    self.grid.cell_m,
                    (TerrainClass(int(self.grid.classes[cell])).label,),
                )
                unit = UnitAt(unit.unit_id, unit.profile, x, y)
        if not np.isfinite(self.pace[name][row, col]):
            if profile.walk_profile is None:
                terrain = TerrainClass(int(self.grid.classes[cell])).label
                return no_eta(
                    unit,
                    msg(
                        "{label} cannot stand on {terrain} where it is",
                        label=profile.label,
                        terrain=terrain,
                    ),
                )
            name, on_foot = profile.walk_profile, True
        fld = fields.by_profile[name]
        r0, c0, h, w = fld.window
        level = self.coarse[name]
        f = level.factor
        hc, wc = level.shape
        # Candidate first steps, straight from the exact position (one line integral each):
        # to a neighbouring cell of the fine window, then the lattice ("lattice"); to a nearby
        # block's representative, then the coarse level ("coarse"); to the centre of its own
        # cell, then the precomputed route to its own block's representative ("own"); and to
        # the target itself ("straight").
        rows_l: list[npt.NDArray[np.intp]] = []
        cols_l: list[npt.NDArray[np.intp]] = []
        base_l: list[F64] = []
        kind_l: list[npt.NDArray[np.int8]] = []
        ref_l: list[npt.NDArray[np.int64]] = []
        if r0 <= row < r0 + h and c0 <= col < c0 + w:
            nr, nc = np.mgrid[row - 1 : row + 2, col - 1 : col + 2]
            nr, nc = nr.ravel(), nc.ravel()
            ok = (nr >= r0) & (nr < r0 + h) & (nc >= c0) & (nc < c0 + w)
            nr, nc = nr[ok], nc[ok]
            locs = ((nr - r0) * w + (nc - c0)).astype(np.int64)
            rows_l.append(nr)
            cols_l.append(nc)
            base_l.append(fld.fine_dist[locs])
            kind_l.append(np.zeros(len(locs), np.int8))
            ref_l.append(locs)
        bi, bj = np.mgrid[row // f - 2 : row // f + 3, col // f - 2 : col // f + 3]
        bi, bj = bi.ravel(), bj.ravel()
        ok = (bi >= 0) & (bi < hc) & (bj >= 0) & (bj < wc)
        bi, bj = bi[ok], bj[ok]
        blocks = (bi * wc + bj).astype(np.int64)
        ok = (level.rep_row[bi, bj] >= 0) & np.isfinite(fld.coarse_dist[blocks])
        bi, bj, blocks = bi[ok], bj[ok], blocks[ok]
        rows_l.append(level.rep_row[bi, bj].astype(np.intp))
        cols_l.append(level.rep_col[bi, bj].astype(np.intp))
        base_l.append(fld.coarse_dist[blocks])
        kind_l.append(np.ones(len(blocks), np.int8))
        ref_l.append(blocks)
        block = level.block_of(row, col)
        rows_l.append(np.array([row], np.intp))
        cols_l.append(np.array([col], np.intp))
        base_l.append(np.array([float(fld.coarse_dist[block]) + float(level.to_rep[row, col])]))
        kind_l.append(np.array([2], np.int8))
        ref_l.append(np.array([block], np.int64))
        near = math.dist((unit.x, unit.y), (target.x, target.y)) <= self.straight_max_m
        if near and (fld.walker is None or np.isfinite(self.pace[name][target.row, target.col])):
            rows_l.append(np.array([target.row], np.intp))
            cols_l.append(np.array([target.col], np.intp))
            base_l.append(np.zeros(1))
            kind_l.append(np.array([3], np.int8))
            ref_l.append(np.array([-1], np.int64))
        return _Cand(
            unit=unit,
            profile=profile,
            name=name,
            fld=fld,
            block=block,
            note=note,
            on_foot=on_foot,
            rows=np.concatenate(rows_l),
            cols=np.concatenate(cols_l),
            base=np.concatenate(base_l),
            kinds=np.concatenate(kind_l),
            refs=np.concatenate(ref_l),
            snap=snap,
        )

    def _finish(self, fields: _Fields, cand: _Cand, lines: F64) -> Eta:
        """The best candidate first step, and the route behind it."""
        target, unit, profile, fld = fields.target, cand.unit, cand.profile, cand.fld
        totals = cand.base + lines
        kinds, refs = cand.kinds, cand.refs
        # Prefer, among equal times, the straight line, then the fine lattice.
        order = np.lexsort((np.choose(kinds, [1, 2, 3, 0]), totals))
        i = int(order[0])
        best = float(totals[i])
        method = ("lattice", "coarse", "coarse", "straight")[int(kinds[i])]
        start_local = int(refs[i]) if kinds[i] == 0 else -1
        start_block = int(refs[i]) if kinds[i] in (1, 2) else cand.block
        straight_best = bool(kinds[i] == 3)
        legs: tuple[Leg, ...] = ()
        if not np.isfinite(best) or best > self.max_eta_s:
            why = (
                msg("no route over the terrain within {max:.0f} min", max=self.max_eta_s / 60)
                if not np.isfinite(best)
                else msg(
                    "more than {max:.0f} min away ({min:.0f} min)",
                    max=self.max_eta_s / 60,
                    min=best / 60,
                )
            )
            return no_eta(unit, msg("{label}: {why}", label=profile.label, why=why))
        mode = "walk" if fld.walker is None else "drive"
        if straight_best:
            pts = ((unit.x, unit.y), (target.x, target.y))
            sr, sc = self._sample_cells(pts)
            legs = (Leg(mode, np.asarray(pts), best, self.grid.cell_m, self._classes(sr, sc)),)
        elif method == "lattice":
            legs = self._finish_fine(fields, fld, start_local, None, best)
            legs = (legs[0].prepend(unit.x, unit.y), *legs[1:])
        else:
            legs = self._coarse_route(fields, fld, unit, start_block, best)
        if cand.snap is not None:
            legs, best = (cand.snap, *legs), best + cand.snap.seconds
        label = msg(
            "{label}{note}{foot}",
            label=profile.label,
            note=cand.note,
            foot=msg(" (crew on foot: vehicle off drivable ground)") if cand.on_foot else "",
        )
        return Eta(unit.unit_id, profile.name, True, best, legs, reason_for(label, legs), method)

    def _sample_cells(
        self, pts: tuple[tuple[float, float], ...]
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        (x0, y0), (x1, y1) = pts[0], pts[-1]
        n = max(2, int(math.dist(pts[0], pts[-1]) / self.grid.cell_m) + 1)
        t = np.linspace(0.0, 1.0, n)
        g = self.grid
        rows = np.floor((g.top_y - (y0 + (y1 - y0) * t)) / g.cell_m).astype(np.intp)
        cols = np.floor((x0 + (x1 - x0) * t - g.left_x) / g.cell_m).astype(np.intp)
        keep = (rows >= 0) & (rows < g.shape[0]) & (cols >= 0) & (cols < g.shape[1])
        return rows[keep], cols[keep]

    def _air(self, target: Target, unit: UnitAt, profile: AirProfile) -> Eta:
        d = math.dist((unit.x, unit.y), (target.x, target.y))
        flight = d / profile.cruise_ms
        if 2 * flight > profile.endurance_s:
            return no_eta(
                unit,
                msg(
                    "{label}: {km:.1f} km away, there and back ({min:.0f} min) exceeds its "
                    "{endurance:.0f} min endurance",
                    label=profile.label,
                    km=d / 1000,
                    min=2 * flight / 60,
                    endurance=profile.endurance_s / 60,
                ),
            )
        eta = profile.launch_s + flight
        pts = ((unit.x, unit.y), (target.x, target.y))
        leg = Leg("fly", np.asarray(pts), flight, 0.0)
        reason = msg(
            "{label}: launch {launch:.0f} s, flies {km:.1f} km straight at {kmh:.0f} km/h",
            label=profile.label,
            launch=profile.launch_s,
            km=d / 1000,
            kmh=profile.cruise_kmh,
        )
        return Eta(unit.unit_id, profile.name, True, eta, (leg,), reason, "air")

    def eta(self, target: Target, units: Iterable[UnitAt]) -> list[Eta]:
        """Each unit's time to ``target``, fastest first; unreachable units last."""
        fields = self._fields(target)
        out: list[Eta] = []
        cands: list[_Cand] = []
        for unit in units:
            profile = self.mobility.ground.get(unit.profile) or self.mobility.air.get(unit.profile)
            if profile is None:
                out.append(
                    no_eta(unit, msg("no mobility profile {profile!r}", profile=unit.profile))
                )
            elif isinstance(profile, AirProfile):
                out.append(self._air(target, unit, profile))
            else:
                found = self._candidates(fields, unit, profile)
                if isinstance(found, Eta):
                    out.append(found)
                else:
                    cands.append(found)
        # One vectorised line integral per profile for every unit's candidate first steps.
        for name in {c.name for c in cands}:
            group = [c for c in cands if c.name == name]
            u = np.concatenate(
                [np.full(len(c.rows), self._uv(c.unit.x, c.unit.y)[0]) for c in group]
            )
            v = np.concatenate(
                [np.full(len(c.rows), self._uv(c.unit.x, c.unit.y)[1]) for c in group]
            )
            r = np.concatenate([c.rows for c in group]) + 0.5
            k = np.concatenate([c.cols for c in group]) + 0.5
            # The long straight lines to the target apart from the short first steps, so that
            # the short ones are not padded to the long ones' number of grid crossings.
            far = np.concatenate([c.kinds == 3 for c in group])
            lines = np.empty(len(r))
            for sel in (far, ~far):
                if sel.any():
                    lines[sel] = segment_cost(
                        self.pace[name], u[sel], v[sel], r[sel], k[sel], self.grid.cell_m
                    )
            start = 0
            for c in group:
                n = len(c.rows)
                out.append(self._finish(fields, c, lines[start : start + n]))
                start += n
        out.sort(key=lambda e: (not e.reachable, e.eta_s if e.eta_s is not None else 0.0))
        return out

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def nbytes(self) -> int:
        total = self.grid.classes.nbytes
        for pace in self.pace.values():
            total += pace.nbytes
        for level in self.coarse.values():
            total += level.to_rep.nbytes + level.graph.nbytes + level.rep_row.nbytes * 2
        return int(total)
