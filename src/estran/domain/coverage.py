"""The coverage model: what each possible post does for each launch site (pure, numpy).

A post is a place a resource spends its shift: a foot patrol's beat, a buggy's or a 4x4's
staging point, a drone's orbit. An attempt at a site is intercepted when it is *detected* and
a unit *arrives before the boat is away* (preparation plus launch). With a constant chance per
minute of detection (a hazard ``h``) and a response time ``R``, the chance for one attempt is

    P(intercept) = E_W [ 1 - exp(-h * max(0, W - R)) ],   W = preparation + launch

averaged over the scenario's preparation time (normal, clipped at 5 min as in the simulator)
by quadrature over its quantiles. What sets ``h`` and ``R``:

- **a drone's orbit**: a scan every ``drone_scan_s`` while airborne (flight / (flight + swap)),
  each seeing a group with ``p0 exp(-d / range)``, less what woods and scrub hide, less the
  weather; within the orbit's radius only. ``R`` is the typical ground response.
- **a ground post**: the patrol comes upon a group within its roaming radius at ``patrol_p``
  a minute and answers itself: ``R`` is the tasking delay plus its real travel time over the
  terrain (the ETA engine). A post within the adversary's abandon radius of a site *deters*
  rather than intercepts there (the group walks away): no interception.
- **fixed sensors** (cameras, a surveillance aircraft) give each site a *base* coverage that no
  deployment changes.

A resource on a shift covers only the attempts that fall in its hours (``shift_share``).
Posts add up at a site, capped at certainty (the compact security-game model); the simulator
then checks the plan with every interaction the model leaves out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "Stages",
    "Window",
    "drone_hazard",
    "patrol_hazard",
    "shift_share",
    "within_stages",
    "within_time",
]

F64 = npt.NDArray[np.float64]


def _normal_nodes(nodes: int) -> F64:
    """The standard normal's quantiles at the midpoints of ``nodes`` equal-probability bins."""
    normal = NormalDist()
    return np.array([normal.inv_cdf((k + 0.5) / nodes) for k in range(nodes)])


@dataclass(frozen=True)
class Window:
    """The time, in seconds, a group takes from arriving to being away, as quadrature nodes."""

    seconds: F64
    weights: F64

    @classmethod
    def of(cls, prep_mean_s: float, prep_sd_s: float, launch_s: float, nodes: int = 64) -> Window:
        """Equal-probability nodes (the midpoint rule in probability): robust to the kinks
        that clipping and ``max(0, W - R)`` put in the integrand, where Gauss-Hermite is not."""
        prep = np.maximum(300.0, prep_mean_s + prep_sd_s * _normal_nodes(nodes))
        return cls(prep + launch_s, np.full(nodes, 1.0 / nodes))


@dataclass(frozen=True)
class Stages:
    """A group's time ashore in stages when it hides first (``HidingSpec``): waiting in
    hiding, walking to the beach, at the beach (preparing, then launching). ``seconds`` is
    (sites, nodes, 3): each stage's duration at each quadrature node (the wait and the
    preparation drawn apart, the walk the site's own); ``weights`` (nodes,)."""

    seconds: F64
    weights: F64

    @classmethod
    def of(
        cls, beach: Window, wait_mean_s: float, wait_sd_s: float, walk_s: F64, nodes: int = 16
    ) -> Stages:
        wait = np.maximum(0.0, wait_mean_s + wait_sd_s * _normal_nodes(nodes))
        # every (wait, beach) pair: the product rule over the two independent draws
        w_wait, w_beach = np.meshgrid(wait, beach.seconds, indexing="ij")
        weights = np.outer(np.full(nodes, 1.0 / nodes), beach.weights).ravel()
        n, k = len(walk_s), w_wait.size
        seconds = np.empty((n, k, 3))
        seconds[:, :, 0] = w_wait.ravel()[None, :]
        seconds[:, :, 1] = np.asarray(walk_s, dtype=np.float64)[:, None]
        seconds[:, :, 2] = w_beach.ravel()[None, :]
        return cls(seconds, weights)


def within_stages(hazard_s: F64, response_s: F64 | float, stages: Stages) -> F64:
    """``within_time`` for a group whose detection hazard changes from stage to stage:
    ``hazard_s`` (..., sites, 3) per second in each stage; the group is caught when it is
    detected early enough for a response of ``response_s`` (..., sites) to arrive before its
    boat is away, wherever it is by then (the unit is guided onto it)."""
    hazard = np.asarray(hazard_s, dtype=np.float64)
    shape = hazard.shape[:-1]  # (..., sites)
    h = hazard.reshape(-1, *hazard.shape[-2:])  # (rows, sites, 3)
    r = np.broadcast_to(np.asarray(response_s, dtype=np.float64), shape).reshape(h.shape[:-1])
    d = stages.seconds  # (sites, nodes, 3)
    start = np.cumsum(d, axis=-1) - d
    total = d.sum(axis=-1)
    out = np.empty(h.shape[:-1])
    for i in range(0, len(h), 8):  # a few rows at a time: (rows, sites, nodes, 3) is large
        slack = np.maximum(0.0, total - r[i : i + 8, :, None])  # (rows, sites, nodes)
        slack = np.where(np.isfinite(slack), slack, 0.0)
        exposed = np.clip(slack[..., None] - start, 0.0, d)  # time detectable in each stage
        lam = (h[i : i + 8, :, None, :] * exposed).sum(axis=-1)
        out[i : i + 8] = (1.0 - np.exp(-lam)) @ stages.weights
    result: F64 = out.reshape(shape)
    return result


def within_time(hazard_s: F64, response_s: F64 | float, window: Window) -> F64:
    """The chance of detection early enough for a response of ``response_s`` to arrive before
    the boat is away, for detection hazards ``hazard_s`` (per second); broadcasts."""
    h = np.asarray(hazard_s, dtype=np.float64)[..., None]
    r = np.asarray(response_s, dtype=np.float64)[..., None]
    slack = np.maximum(0.0, window.seconds - r)
    slack = np.where(np.isfinite(slack), slack, 0.0)
    out: F64 = (1.0 - np.exp(-h * slack)) @ window.weights
    return out


def drone_hazard(
    dist_m: F64,
    cover: F64,
    *,
    p0: float,
    range_m: float,
    radius_m: float,
    scan_s: float,
    airborne: float,
    hides: float | F64,
    weather: float,
) -> F64:
    """Detection hazard per second of a drone orbiting at ``dist_m`` from a group."""
    p = p0 * np.exp(-dist_m / range_m) * (1.0 - hides * cover) * weather
    p = np.clip(p, 0.0, 1.0 - 1e-12)
    out: F64 = np.where(dist_m <= radius_m, -np.log1p(-p) / scan_s * airborne, 0.0)
    return out


def patrol_hazard(dist_m: F64, *, roam_m: float, p_minute: float | F64, weather: float) -> F64:
    """Detection hazard per second of a patrol roaming around a post ``dist_m`` away (its
    chance a minute may differ from place to place: a group in hiding is harder to notice)."""
    if isinstance(p_minute, float | int):
        hazard: float | F64 = -math.log1p(-min(1.0 - 1e-12, p_minute * weather)) / 60.0
    else:
        hazard = -np.log1p(-np.minimum(1.0 - 1e-12, p_minute * weather)) / 60.0
    out: F64 = np.where(dist_m <= roam_m, hazard, 0.0)
    return out


def shift_share(start_h: float, end_h: float, night_start_h: float, night_hours: float) -> float:
    """The share of the night's attempts that fall within a shift (attempts spread evenly over
    the night; a shift that wraps past midnight is handled)."""
    start = (start_h - night_start_h) % 24.0
    length = (end_h - start_h) % 24.0 or 24.0
    end = start + length
    covered = max(0.0, min(end, night_hours) - min(start, night_hours))
    if end > 24.0:  # wraps round to the night's start
        covered += max(0.0, min(end - 24.0, night_hours))
    return min(1.0, covered / night_hours)
