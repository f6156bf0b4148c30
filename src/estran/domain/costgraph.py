"""Cost graphs over a pace raster, and the coarse level precomputed from the fine one.

A *pace* raster holds seconds per metre for one profile (``inf`` where it cannot go). Moves
join a cell to its 16 neighbours (the 8 adjacent cells and the 8 knight's moves, as GRASS
``r.cost -k``), so that a lattice path is within 2.8 % of the straight line in any direction
instead of 8 %. A move costs its length times the mean pace of the cells it crosses, and is
refused if any cell it crosses or cuts the corner of is impassable: a vehicle cannot slip
diagonally between two trees.

The coarse level (``CoarseLevel``) cuts the raster into blocks of ``factor`` x ``factor``
cells. Each block's *representative* is its fastest cell nearest the centre (a road or track
cell when there is one). Edges join representatives of adjacent blocks with the exact fine
travel time between them, found by one multi-source Dijkstra over many disjoint 3 x 3-block
neighbourhoods at once, and of knight-offset blocks with the line integral of pace along the
straight segment. Costs are symmetric, so one search from a target gives every unit's time
to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

__all__ = [
    "MOVES",
    "CoarseLevel",
    "Graph",
    "build_coarse",
    "lattice_graph",
    "segment_cost",
    "shortest",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Progress = Callable[[float], None]


@dataclass(frozen=True)
class _Move:
    dr: int
    dc: int
    crossed: tuple[tuple[int, int], ...]  # cells whose mean pace is charged (endpoints incl.)
    guards: tuple[tuple[int, int], ...]  # cells that must be passable (corners cut)

    @property
    def length(self) -> float:
        return math.hypot(self.dr, self.dc)


MOVES: Final = (
    _Move(0, 1, ((0, 0), (0, 1)), ()),
    _Move(1, 0, ((0, 0), (1, 0)), ()),
    _Move(1, 1, ((0, 0), (1, 1)), ((0, 1), (1, 0))),
    _Move(1, -1, ((0, 0), (1, -1)), ((0, -1), (1, 0))),
    _Move(1, 2, ((0, 0), (0, 1), (1, 1), (1, 2)), ()),
    _Move(2, 1, ((0, 0), (1, 0), (1, 1), (2, 1)), ()),
    _Move(2, -1, ((0, 0), (1, 0), (1, -1), (2, -1)), ()),
    _Move(1, -2, ((0, 0), (0, -1), (1, -1), (1, -2)), ()),
)
"""The forward half of the 16-neighbourhood; each move is also taken backwards."""


def _move_slices(
    move: _Move, h: int, w: int
) -> tuple[tuple[int, int, int, int], list[tuple[int, int]]] | None:
    """Row/col ranges of the source cells of ``move`` within an h x w raster."""
    c_lo = max(0, -min(dc for _, dc in (*move.crossed, *move.guards)))
    c_hi = w - max(0, max(dc for _, dc in (*move.crossed, *move.guards)))
    r_hi = h - move.dr
    if r_hi <= 0 or c_hi <= c_lo:
        return None
    return (0, r_hi, c_lo, c_hi), [*move.crossed, *move.guards]


def lattice_graph(pace: F32, cell_m: float, extra_nodes: int = 0) -> tuple[I64, I64, F64]:
    """Directed edges (both ways) of the 16-neighbourhood over ``pace`` (..., h, w).

    A leading batch axis makes disjoint copies: node ids run ``k*h*w + r*w + c``.
    Returns (sources, targets, seconds).
    """
    if pace.ndim == 2:
        pace = pace[None]
    k, h, w = pace.shape
    ids = np.arange(k * h * w, dtype=np.int64).reshape(k, h, w)
    srcs: list[I64] = []
    dsts: list[I64] = []
    costs: list[F64] = []
    for move in MOVES:
        found = _move_slices(move, h, w)
        if found is None:
            continue
        (r0, r1, c0, c1), _ = found

        def view(dr: int, dc: int, r0: int = r0, r1: int = r1, c0: int = c0, c1: int = c1) -> F32:
            return pace[:, r0 + dr : r1 + dr, c0 + dc : c1 + dc]

        total = np.zeros((k, r1 - r0, c1 - c0), dtype=np.float64)
        for dr, dc in move.crossed:
            total += view(dr, dc)
        cost = total * (move.length * cell_m / len(move.crossed))
        ok = np.isfinite(cost)
        for dr, dc in move.guards:
            ok &= np.isfinite(view(dr, dc))
        a = ids[:, r0:r1, c0:c1][ok]
        b = ids[:, r0 + move.dr : r1 + move.dr, c0 + move.dc : c1 + move.dc][ok]
        c = cost[ok]
        srcs += [a, b]
        dsts += [b, a]
        costs += [c, c]
    return np.concatenate(srcs), np.concatenate(dsts), np.concatenate(costs)


@dataclass(frozen=True, eq=False)
class Graph:
    """A CSR graph of ``n`` nodes plus one empty super-source slot (node ``n``)."""

    n: int
    indptr: npt.NDArray[np.int32]
    indices: npt.NDArray[np.int32]
    data: F64

    @classmethod
    def from_edges(cls, n: int, edges: tuple[I64, I64, F64]) -> Graph:
        src, dst, cost = edges
        # Every (src, dst) pair occurs once, so the COO -> CSR conversion needs no
        # duplicate summing (which would also sort: a third of the time of a small search).
        m = csr_matrix((cost, (src, dst)), shape=(n + 1, n + 1))
        return cls(
            n,
            m.indptr.astype(np.int32, copy=False),
            m.indices.astype(np.int32, copy=False),
            m.data.astype(np.float64, copy=False),
        )

    @property
    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.indices.nbytes + self.data.nbytes)

    def search(
        self,
        sources: I64,
        seeds: F64 | None = None,
        limit: float = np.inf,
    ) -> tuple[F64, npt.NDArray[np.int32]]:
        """Dijkstra from ``sources``, or from the super-source at ``seeds`` seconds to each.

        With seeds, node ``n`` is the super-source and is the predecessor of the nodes it
        seeded. Returns (seconds, predecessor) over the ``n`` nodes.
        """
        if seeds is None:
            graph = csr_matrix((self.data, self.indices, self.indptr), shape=(self.n + 1,) * 2)
            start: I64 | int = sources
        else:
            indptr = self.indptr.copy()
            indptr[-1] += len(sources)
            graph = csr_matrix(
                (
                    np.concatenate([self.data, np.maximum(seeds, 1e-9)]),
                    np.concatenate([self.indices, sources.astype(np.int32)]),
                    indptr,
                ),
                shape=(self.n + 1,) * 2,
            )
            start = self.n
        dist, pred, _ = dijkstra(
            graph,
            directed=True,
            indices=start,
            min_only=True,
            return_predecessors=True,
            limit=limit,
        )
        return dist[: self.n], pred[: self.n]


def shortest(
    n_nodes: int,
    edges: tuple[I64, I64, F64],
    sources: I64,
    seeds: F64 | None = None,
    limit: float = np.inf,
) -> tuple[F64, npt.NDArray[np.int32]]:
    """One-off Dijkstra over ``edges``; see ``Graph.search``."""
    return Graph.from_edges(n_nodes, edges).search(sources, seeds, limit)


def segment_cost(
    pace: F32,
    u0: npt.ArrayLike,
    v0: npt.ArrayLike,
    u1: npt.ArrayLike,
    v1: npt.ArrayLike,
    cell_m: float,
) -> F64:
    """Exact line integral of pace along straight segments, vectorised.

    Coordinates are continuous raster positions in cells: ``u`` down from the top edge, ``v``
    right from the left edge (the centre of cell (r, c) is (r + 0.5, c + 0.5)). Every cell a
    segment passes through is charged for the length inside it, found from the segment's
    crossings of the grid lines; ``inf`` where any of those cells is impassable or off the
    raster. So a segment with a finite cost touches no impassable cell, corners included.
    """
    u0, v0, u1, v1 = (np.atleast_1d(np.asarray(a, dtype=np.float64)) for a in (u0, v0, u1, v1))
    n = u0.size
    if n == 0:
        return np.zeros(0)
    du, dv = u1 - u0, v1 - v0
    length = np.hypot(du, dv) * cell_m

    def crossings(a0: F64, d: F64) -> F64:
        lo = np.floor(np.minimum(a0, a0 + d))
        span = int(np.max(np.ceil(np.abs(d)))) + 2
        k = lo[:, None] + 1 + np.arange(span)[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (k - a0[:, None]) / d[:, None]
        ok = (t > 0) & (t < 1) & np.isfinite(t)
        out: F64 = np.where(ok, t, 1.0)
        return out

    ts = np.concatenate(
        [np.zeros((n, 1)), crossings(u0, du), crossings(v0, dv), np.ones((n, 1))], axis=1
    )
    ts.sort(axis=1)
    piece = np.diff(ts, axis=1)
    mid = (ts[:, 1:] + ts[:, :-1]) / 2
    rows = np.floor(u0[:, None] + du[:, None] * mid).astype(np.int64)
    cols = np.floor(v0[:, None] + dv[:, None] * mid).astype(np.int64)
    h, w = pace.shape
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    found = np.full(rows.shape, np.inf)
    found[inside] = pace[rows[inside], cols[inside]]
    used = piece > 0
    charged = np.where(used, found, 0.0) * piece
    with np.errstate(invalid="ignore"):  # inf x 0 for zero-length segments, replaced below
        total: F64 = charged.sum(axis=1) * length
    blocked = (used & ~np.isfinite(found)).any(axis=1)
    total[blocked] = np.inf
    # A segment of zero length costs nothing where it stands, if it can stand there.
    still = length == 0
    total[still] = np.where(np.isfinite(found[still, 0]), 0.0, np.inf)
    return total


@dataclass(frozen=True, eq=False)
class CoarseLevel:
    """Blocks of ``factor`` cells, their representative cells, and the graph joining them.

    ``path_keys``/``path_starts``/``path_cells`` keep, for each coarse edge whose best fine
    route is not the straight segment, that route's fine cells (flat indices, from the block
    with the lower id to the other), so routes are drawn as travelled, never through a wood.
    """

    factor: int
    shape: tuple[int, int]  # coarse rows, cols
    rep_row: I64  # fine row of each block's representative, -1 where none (coarse shape)
    rep_col: I64
    graph: Graph
    to_rep: F32  # fine raster: seconds between a cell and its block's representative
    path_keys: I64  # sorted a * n_nodes + b, a < b
    path_starts: I64  # len(path_keys) + 1 offsets into path_cells
    path_cells: I64

    @property
    def n_nodes(self) -> int:
        return self.shape[0] * self.shape[1]

    def block_of(self, row: int, col: int) -> int:
        return (row // self.factor) * self.shape[1] + col // self.factor

    def edge_path(self, a: int, b: int) -> I64 | None:
        """Fine cells (flat) from block ``a``'s representative to ``b``'s; None if straight."""
        lo, hi = min(a, b), max(a, b)
        key = lo * self.n_nodes + hi
        i = int(np.searchsorted(self.path_keys, key))
        if i >= len(self.path_keys) or self.path_keys[i] != key:
            return None
        cells = self.path_cells[self.path_starts[i] : self.path_starts[i + 1]]
        return cells if a == lo else cells[::-1]

    @property
    def nbytes(self) -> int:
        arrays = (self.rep_row, self.rep_col, self.to_rep, self.path_keys, self.path_starts)
        return self.graph.nbytes + sum(a.nbytes for a in arrays) + self.path_cells.nbytes


def _representatives(pace: F32, f: int) -> tuple[I64, I64]:
    h, w = pace.shape
    hc, wc = -(-h // f), -(-w // f)
    padded = np.full((hc * f, wc * f), np.inf, dtype=np.float32)
    padded[:h, :w] = pace
    blocks = padded.reshape(hc, f, wc, f).transpose(0, 2, 1, 3).reshape(hc, wc, f * f)
    lr, lc = np.divmod(np.arange(f * f), f)
    centre = (f - 1) / 2
    # Fastest cell first; among equals, the one nearest the block centre.
    nudge = np.hypot(lr - centre, lc - centre) * 1e-6
    score = blocks + nudge.astype(np.float32)
    best = np.argmin(score, axis=2)
    valid = np.isfinite(np.take_along_axis(blocks, best[..., None], axis=2)[..., 0])
    rows = np.arange(hc)[:, None] * f + best // f
    cols = np.arange(wc)[None, :] * f + best % f
    rep_row = np.where(valid, rows, -1).astype(np.int64)
    rep_col = np.where(valid, cols, -1).astype(np.int64)
    return rep_row, rep_col


_ADJACENT: Final = ((0, 1), (1, 0), (1, 1), (1, -1))
_KNIGHT: Final = ((1, 2), (2, 1), (2, -1), (1, -2))
_AROUND: Final = tuple((di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0))


def build_coarse(
    pace: F32, cell_m: float, factor: int = 8, chunk: int = 400, progress: Progress | None = None
) -> CoarseLevel:
    """Precompute the coarse level of one profile's pace raster."""
    f = factor
    h, w = pace.shape
    rep_row, rep_col = _representatives(pace, f)
    hc, wc = rep_row.shape
    valid = rep_row >= 0
    padded = np.full((hc * f + 2 * f, wc * f + 2 * f), np.inf, dtype=np.float32)
    padded[f : f + h, f : f + w] = pace
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3 * f, 3 * f))[::f, ::f]
    local_r = np.where(valid, rep_row % f, 0)
    local_c = np.where(valid, rep_col % f, 0)
    side = 3 * f
    n_local = side * side

    adjacent = np.full((3, 3, hc, wc), np.inf, dtype=np.float64)
    to_rep = np.full((hc * f, wc * f), np.inf, dtype=np.float32)
    fine_paths: dict[tuple[int, int], I64] = {}  # (from block, to block) -> fine cells
    todo_i, todo_j = np.nonzero(valid)
    for start in range(0, len(todo_i), chunk):
        ci, cj = todo_i[start : start + chunk], todo_j[start : start + chunk]
        k = len(ci)
        patches = np.ascontiguousarray(windows[ci, cj])
        edges = lattice_graph(patches, cell_m)
        src = np.arange(k) * n_local + (f + local_r[ci, cj]) * side + (f + local_c[ci, cj])
        dist, pred = shortest(k * n_local, edges, src.astype(np.int64))
        dist3 = dist.reshape(k, side, side)
        ends = np.full((k, len(_AROUND)), -1, dtype=np.int64)
        for d, (di, dj) in enumerate(_AROUND):
            ni, nj = ci + di, cj + dj
            inside = (ni >= 0) & (ni < hc) & (nj >= 0) & (nj < wc)
            ni_c, nj_c = np.clip(ni, 0, hc - 1), np.clip(nj, 0, wc - 1)
            ok = inside & valid[ni_c, nj_c]
            pr = (1 + di) * f + local_r[ni_c, nj_c]
            pc = (1 + dj) * f + local_c[ni_c, nj_c]
            got = dist3[np.arange(k), pr, pc]
            adjacent[1 + di, 1 + dj, ci, cj] = np.where(ok, got, np.inf)
            ends[:, d] = np.where(
                ok & np.isfinite(got), np.arange(k) * n_local + pr * side + pc, -1
            )
        # Walk every neighbour's predecessor chain back to the source, all at once.
        steps = [ends]
        cur = ends
        while (cur >= 0).any():
            nxt = np.where(cur >= 0, pred[np.maximum(cur, 0)], -1).astype(np.int64)
            nxt[nxt < 0] = -1
            steps.append(nxt)
            cur = nxt
        chain = np.stack(steps, axis=2)  # (k, 8, steps): neighbour rep ... source rep, then -1
        copy = np.arange(k)[:, None, None]
        local = chain - copy * n_local
        fr = (ci[:, None, None] - 1) * f + local // side
        fc = (cj[:, None, None] - 1) * f + local % side
        flat = np.where(chain >= 0, fr * w + fc, -1)
        for kk in range(k):
            a = int(ci[kk] * wc + cj[kk])
            for d, (di, dj) in enumerate(_AROUND):
                if ends[kk, d] < 0:
                    continue
                cells = flat[kk, d]
                b = int((ci[kk] + di) * wc + cj[kk] + dj)
                fine_paths[(a, b)] = cells[cells >= 0][::-1].copy()  # from a's rep to b's
        centre = dist3[:, f : 2 * f, f : 2 * f].astype(np.float32)
        rows = ci[:, None, None] * f + np.arange(f)[None, :, None]
        cols = cj[:, None, None] * f + np.arange(f)[None, None, :]
        to_rep[rows, cols] = centre
        if progress is not None:
            progress(min(1.0, (start + k) / max(1, len(todo_i))))

    ids = np.arange(hc * wc, dtype=np.int64).reshape(hc, wc)
    srcs: list[I64] = []
    dsts: list[I64] = []
    costs: list[F64] = []
    kept: dict[int, I64] = {}
    n_nodes = hc * wc
    for di, dj in (*_ADJACENT, *_KNIGHT):
        i0, i1 = 0, hc - di
        j0, j1 = max(0, -dj), wc - max(0, dj)
        if i1 <= i0 or j1 <= j0:
            continue
        a_ok = valid[i0:i1, j0:j1] & valid[i0 + di : i1 + di, j0 + dj : j1 + dj]
        ai, aj = np.nonzero(a_ok)
        ai, aj = ai + i0, aj + j0
        bi, bj = ai + di, aj + dj
        line = segment_cost(
            pace,
            rep_row[ai, aj] + 0.5,
            rep_col[ai, aj] + 0.5,
            rep_row[bi, bj] + 0.5,
            rep_col[bi, bj] + 0.5,
            cell_m,
        )
        if (di, dj) in _ADJACENT:
            there = adjacent[1 + di, 1 + dj, ai, aj]
            back = adjacent[1 - di, 1 - dj, bi, bj]
            fine = np.minimum(there, back)
            cost = np.minimum(fine, line)
            for e in np.nonzero(fine < line)[0]:
                a, b = int(ids[ai[e], aj[e]]), int(ids[bi[e], bj[e]])
                path = fine_paths[(a, b)] if there[e] <= back[e] else fine_paths[(b, a)][::-1]
                lo, hi = min(a, b), max(a, b)
                kept[lo * n_nodes + hi] = path if a == lo else path[::-1]
        else:
            cost = line
        ok = np.isfinite(cost)
        a, b, c = ids[ai, aj][ok], ids[bi, bj][ok], cost[ok]
        srcs += [a, b]
        dsts += [b, a]
        costs += [c, c]
    edges = (
        np.concatenate(srcs) if srcs else np.zeros(0, np.int64),
        np.concatenate(dsts) if dsts else np.zeros(0, np.int64),
        np.concatenate(costs) if costs else np.zeros(0),
    )
    graph = Graph.from_edges(n_nodes, edges)
    keys = np.array(sorted(kept), dtype=np.int64)
    lengths = np.array([len(kept[int(key)]) for key in keys], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    cells = (
        np.concatenate([kept[int(key)] for key in keys]).astype(np.int64)
        if len(keys)
        else np.zeros(0, np.int64)
    )
    return CoarseLevel(
        f, (hc, wc), rep_row, rep_col, graph, to_rep[:h, :w].copy(), keys, starts, cells
    )
