"""Planning over nights against organisers who remember (a green security game): pure numpy.

The simulated organisers (``sim/night.py``) do not see tonight's draw: they pick tonight's
sites by quantal response to what they *remember* of the nights before (the patrols and drones
they saw within ``watch_radius_m`` of a beach, and the share of their attempts there that were
found), and see at most a share ``tonight`` of tonight's deployment. Against such an
adversary, committing to a randomised deployment (the Stackelberg plan) throws points away:
the defender can *predict* the organisers' memory from its own past deployments and
detections, hence where they will go tonight, and place its resources where the attempts will
be (Fang, Stone and Tambe 2015, "When security games go green"; the planning setting of
"Green Security Games" with a lagging adversary).

- ``Organisers``: the adversary model the planner holds (fitted or assumed): site values,
  rationality, aversion to coverage seen, memory, watch radius, presence weight and the share
  of tonight's deployment they see.
- ``place_greedy``: each resource in turn to the free post that adds most expected
  interceptions of attempts distributed as ``want`` (posts combined as independent chances).
  The objective is monotone submodular in the posts manned, so greedy is within ``1 - 1/e``
  of the best placement. The evaluation's clairvoyant oracle uses it with tonight's actual
  sites; the memory plan with the predicted distribution.
- ``place_against``: the same when the organisers see a share of tonight's deployment: each
  step scores every free post by the whole objective, the organisers' response to what they
  would see included (then randomising would pay only in proportion to that share).
- ``MemoryTracker``: the defender's running estimate of the organisers' memory, from what it
  knows (where its units stood) and what it saw (detections per site).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from estran.domain.planning import Game, presence, remember

__all__ = ["MemoryTracker", "Organisers", "place_against", "place_greedy", "watchers"]

F64 = npt.NDArray[np.float64]
Posts = npt.NDArray[np.intp]


@dataclass(frozen=True)
class Organisers:
    """The organisers as the planner models them: ``p(site) ∝ exp(rationality (value -
    coverage_weight seen))`` where ``seen`` is their memory blended with the share ``tonight``
    of tonight's deployment they see."""

    value: F64
    rationality: float
    coverage_weight: float
    memory: float
    watch_radius_m: float
    presence_weight: float
    tonight: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.memory <= 1.0 or not 0.0 <= self.tonight <= 1.0:
            raise ValueError("memory and the share seen tonight must lie in [0, 1]")
        if self.rationality < 0 or self.coverage_weight < 0 or self.presence_weight < 0:
            raise ValueError("rationality, coverage weight and presence weight must be >= 0")

    def probabilities(self, seen: F64) -> F64:
        """Where they go, facing ``seen`` (per site, 0..1; rows of sites for a batch)."""
        z = self.rationality * (self.value - self.coverage_weight * seen)
        z = z - z.max(axis=-1, keepdims=True)
        p = np.exp(z)
        out: F64 = p / p.sum(axis=-1, keepdims=True)
        return out


def watchers(site_xy: F64, post_xy: F64, radius_m: float) -> npt.NDArray[np.bool_]:
    """(posts, sites): whether organisers at a site would see a unit standing at the post."""
    d = np.hypot(
        post_xy[:, None, 0] - site_xy[None, :, 0], post_xy[:, None, 1] - site_xy[None, :, 1]
    )
    return np.asarray(d < radius_m)


def _free(game: Game, taken: npt.NDArray[np.bool_], left: npt.NDArray[np.intp]) -> Posts:
    return np.flatnonzero(~taken & (left[game.post_type] > 0))


def place_greedy(game: Game, want: F64) -> Posts:
    """Each resource in turn on the free post of its type that adds most to the expected
    interceptions of attempts spread as ``want`` (per site: counts or probabilities), posts
    and the fixed sensors (``game.base``) combined as independent chances."""
    if want.shape != (game.sites,) or np.any(want < 0):
        raise ValueError("want must give one non-negative weight per site")
    missed = 1.0 - game.fixed  # chance each site's attempt is not intercepted
    left = game.counts.astype(np.intp).copy()
    taken = np.zeros(game.posts, dtype=bool)
    chosen: list[int] = []
    for _ in range(int(left.sum())):
        free = _free(game, taken, left)
        if len(free) == 0:
            break
        gain = game.q[free] @ (want * missed)
        best = int(free[int(np.argmax(gain))])
        chosen.append(best)
        taken[best] = True
        left[game.post_type[best]] -= 1
        missed = missed * (1.0 - game.q[best])
    return np.asarray(chosen, dtype=np.intp)


def place_against(
    game: Game, organisers: Organisers, memory: F64, sees: npt.NDArray[np.bool_]
) -> Posts:
    """Tonight's deployment against ``organisers`` who remember ``memory`` (per site) and see
    the share ``organisers.tonight`` of where the units stand (``sees``: ``watchers`` of the
    posts): greedy on the expected interceptions ``sum_i p_i(D) c_i(D)``, where ``p(D)`` is
    their response to what they would see of deployment ``D``."""
    share = organisers.tonight
    if share == 0.0:
        return place_greedy(game, organisers.probabilities(memory))
    missed = 1.0 - game.fixed
    counted = np.zeros(game.sites)  # units and drones they would see, per site
    left = game.counts.astype(np.intp).copy()
    taken = np.zeros(game.posts, dtype=bool)
    chosen: list[int] = []
    for _ in range(int(left.sum())):
        free = _free(game, taken, left)
        if len(free) == 0:
            break
        seen_now = np.minimum(1.0, organisers.presence_weight * (counted + sees[free]))
        p = organisers.probabilities((1.0 - share) * memory + share * seen_now)
        value = (p * (1.0 - missed * (1.0 - game.q[free]))).sum(axis=1)
        best = int(free[int(np.argmax(value))])
        chosen.append(best)
        taken[best] = True
        left[game.post_type[best]] -= 1
        missed = missed * (1.0 - game.q[best])
        counted = counted + sees[best]
    return np.asarray(chosen, dtype=np.intp)


@dataclass
class MemoryTracker:
    """The defender's estimate of what the organisers remember, night after night.

    What they remember of a night is the presence they saw (computed exactly from where our
    units stood, ``presence``) plus, per site, the share of their attempts there that were
    found. We do not know how many attempts there were, only how many we found: the share is
    estimated as found / max(found, expected attempts there), the expectation from the model's
    own prediction for that night."""

    organisers: Organisers
    site_xy: F64
    seen: F64 = field(init=False)

    def __post_init__(self) -> None:
        self.seen = np.zeros(len(self.site_xy))

    def predict(self) -> F64:
        """Where the organisers go tonight if they see nothing of tonight's deployment."""
        return self.organisers.probabilities(self.seen)

    def update(self, stood_xy: F64, found: F64, expected_attempts: F64) -> None:
        """After a night: where every unit and drone stood (metres, (n, 2)), how many groups
        were found at each site, and how many attempts the model expected there."""
        org = self.organisers
        tonight = presence(self.site_xy, stood_xy.reshape(-1, 2), radius_m=org.watch_radius_m,
                           weight=org.presence_weight)  # fmt: skip
        share = np.divide(found, np.maximum(found, np.maximum(expected_attempts, 1e-9)))
        observed = np.clip(tonight + np.where(found > 0, share, 0.0), 0.0, 1.0)
        self.seen = remember(self.seen, observed, org.memory)
