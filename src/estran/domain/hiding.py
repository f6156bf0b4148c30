"""Where groups wait before a launch: the hiding places behind each beach (pure, numpy).

Groups are brought to the coast hours before a boat is ready and wait out of sight, in a wood,
a thicket of scrub, the dunes' grass or an old bunker, then walk the last stretch to the beach
when the boat is being made ready (``docs/simulation.md``). For each launch site this finds the
place a group would wait: the best-hiding cell inland within ``radius_m`` of the beach (woods
and bunkers hide best, then scrub, then the dunes' grass), nearer being better when cover is
equal, and never on the beach itself (at least ``min_m`` from it). A site with no such cover
behind it has its group wait at the beach (``walk`` is then nothing).

What a hiding place hides is a share of a group's thermal signature (0..1, as
``site_appeal``'s cover): thermal cameras see through a wood's canopy only in part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from estran.domain.terrain import TerrainClass as T

if TYPE_CHECKING:
    from estran.domain.launch_sites import LaunchSite
    from estran.domain.terrain import Grid

__all__ = ["HIDE_COVER", "HidingPlaces", "hiding_places"]

F64 = npt.NDArray[np.float64]

HIDE_COVER: dict[int, float] = {
    T.WOODLAND: 1.0,
    T.SCRUB: 0.7,
    T.DUNE_GRASS: 0.4,
}
"""How well a cell of each class hides a waiting group (a bunker: 1, like a wood)."""

BUNKER_COVER = 1.0


@dataclass(frozen=True)
class HidingPlaces:
    """One hiding place per launch site, in the terrain's metres."""

    xy: F64  # (sites, 2)
    cover: F64  # (sites,), the share of a group's signature it hides
    kind: tuple[str, ...]  # woodland, scrub, dunes, bunker, or beach (none found)

    def distance_to(self, site_xy: F64) -> F64:
        """(sites,): how far each hiding place is from its beach, straight."""
        out: F64 = np.hypot(*(self.xy - site_xy).T)
        return out


def hiding_places(
    grid: Grid,
    sites: list[LaunchSite],
    bunkers: list[tuple[float, float]],
    *,
    radius_m: float = 1500.0,
    min_m: float = 150.0,
) -> HidingPlaces:
    """Each site's hiding place: the cell (or bunker) within ``radius_m`` and at least
    ``min_m`` away that scores best on cover x (1 - distance / (2 radius))."""
    cls = grid.classes
    cover_of = np.zeros(256, dtype=np.float64)
    for code, hides in HIDE_COVER.items():
        cover_of[code] = hides
    rad = max(1, int(radius_m // grid.cell_m))
    rows, cols = grid.shape
    xy: list[tuple[float, float]] = []
    cover: list[float] = []
    kind: list[str] = []
    names = {T.WOODLAND: "woodland", T.SCRUB: "scrub", T.DUNE_GRASS: "dunes"}
    bxy = np.asarray(bunkers, dtype=np.float64).reshape(-1, 2)

    def score(value: F64 | float, d: F64) -> F64:
        """Cover x (1 - d / (2 radius)) within reach, -1 elsewhere."""
        ok = (d >= min_m) & (d <= radius_m) & (np.asarray(value) > 0)
        out: F64 = np.where(ok, value * (1.0 - d / (2.0 * radius_m)), -1.0)
        return out

    for s in sites:
        best = (0.0, s.x, s.y, "beach", 0.0)
        at = grid.cell_of(s.x, s.y)
        if at is not None:
            r, c = at
            r0, r1 = max(0, r - rad), min(rows, r + rad + 1)
            c0, c1 = max(0, c - rad), min(cols, c + rad + 1)
            window = cls[r0:r1, c0:c1]
            rr, cc = np.mgrid[r0:r1, c0:c1]
            xs, ys = grid.centres(rr.ravel(), cc.ravel())
            d = np.hypot(xs - s.x, ys - s.y)
            value = cover_of[window.ravel()]
            scores = score(value, d)
            k = int(np.argmax(scores))
            if scores[k] > 0:
                code = int(window.ravel()[k])
                best = (float(scores[k]), float(xs[k]), float(ys[k]), names[T(code)],
                        float(value[k]))  # fmt: skip
        if len(bxy):
            scores = score(BUNKER_COVER, np.hypot(bxy[:, 0] - s.x, bxy[:, 1] - s.y))
            k = int(np.argmax(scores))
            if scores[k] > best[0]:
                best = (float(scores[k]), float(bxy[k, 0]), float(bxy[k, 1]), "bunker",
                        BUNKER_COVER)  # fmt: skip
        _, x, y, name, hides = best
        xy.append((x, y))
        kind.append(name)
        cover.append(hides)
    return HidingPlaces(
        np.asarray(xy, dtype=np.float64).reshape(-1, 2), np.asarray(cover), tuple(kind)
    )
