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
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from estran.domain.planning import Game, presence, remember

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MemoryTracker",
    "Organisers",
    "place_against",
    "place_foreseen",
    "place_greedy",
    "watchers",
]

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


def _greedy(game: Game, gain: Callable[[Posts, F64, F64], F64], sees: F64 | None = None) -> Posts:
    """Each resource in turn on the free post of its type with the largest ``gain(free,
    missed, counted)``: ``missed`` is each site's chance that an attempt there is not
    intercepted by what stands already (the fixed sensors included), ``counted`` what the
    organisers would see of it per site (``sees`` (posts, sites), summed; zero without)."""
    missed = 1.0 - game.fixed
    counted = np.zeros(game.sites)
    left = game.counts.astype(np.intp).copy()
    taken = np.zeros(game.posts, dtype=bool)
    chosen: list[int] = []
    for _ in range(int(left.sum())):
        free = _free(game, taken, left)
        if len(free) == 0:
            break
        best = int(free[int(np.argmax(gain(free, missed, counted)))])
        chosen.append(best)
        taken[best] = True
        left[game.post_type[best]] -= 1
        missed = missed * (1.0 - game.q[best])
        if sees is not None:
            counted = counted + sees[best]
    return np.asarray(chosen, dtype=np.intp)


def place_greedy(game: Game, want: F64) -> Posts:
    """Each resource in turn on the free post of its type that adds most to the expected
    interceptions of attempts spread as ``want`` (per site: counts or probabilities), posts
    and the fixed sensors (``game.base``) combined as independent chances."""
    if want.shape != (game.sites,) or np.any(want < 0):
        raise ValueError("want must give one non-negative weight per site")

    def gain(free: Posts, missed: F64, _counted: F64) -> F64:
        out: F64 = game.q[free] @ (want * missed)
        return out

    return _greedy(game, gain)


def place_against(
    game: Game, organisers: Organisers, memory: F64, sees: F64 | npt.NDArray[np.bool_]
) -> Posts:
    """Tonight's deployment against ``organisers`` who remember ``memory`` (per site) and see
    the share ``organisers.tonight`` of where the units stand (``sees``: ``watchers`` of the
    posts, or how many of a beat's stops they see, ``route_watchers``): greedy on the
    expected interceptions ``sum_i p_i(D) c_i(D)``, where ``p(D)`` is
    their response to what they would see of deployment ``D``."""
    share = organisers.tonight
    if share == 0.0:
        return place_greedy(game, organisers.probabilities(memory))

    def gain(free: Posts, missed: F64, counted: F64) -> F64:  # counted: units they would see
        seen_now = np.minimum(1.0, organisers.presence_weight * (counted + sees[free]))
        p = organisers.probabilities((1.0 - share) * memory + share * seen_now)
        out: F64 = (p * (1.0 - missed * (1.0 - game.q[free]))).sum(axis=1)
        return out

    return _greedy(game, gain, sees.astype(np.float64))


def place_foreseen(
    game: Game,
    sees: F64,
    answer: Callable[[F64], npt.NDArray[np.intp]],
    also: tuple[Posts, ...] = (),
) -> Posts:
    """Placement for the clairvoyant reference when the organisers see tonight's posts:
    ``sees`` (posts, sites) is what they would see of a unit at each post, ``answer`` maps
    (k, sites) of what they see to (k, attempts), the sites tonight's attempts then go to.
    Greedy: each resource in turn goes to the free post of its type that intercepts most of
    the attempts as they will be *with it there* (they may move away from it). Greedy is
    myopic here (a post that drives them off is worth more once the others stand), so the
    reference also weighs the placements ``also`` (e.g. what a planner that knows them would
    do) against the same attempts, keeps whichever intercepts most and improves it by moving
    one resource at a time while that gains (``_improve_foreseen``)."""
    greedy = _greedy_foreseen(game, sees, answer)
    candidates = [greedy, *also]
    caught = [_foreseen_catch(game, sees, answer, c) for c in candidates]
    return _improve_foreseen(game, sees, answer, candidates[int(np.argmax(caught))])


def _improve_foreseen(
    game: Game,
    sees: F64,
    answer: Callable[[F64], npt.NDArray[np.intp]],
    chosen: Posts,
    passes: int = 2,
) -> Posts:
    """Local search: move one resource at a time to the free post of its type where the
    deployment intercepts most of tonight's attempts (as they answer it), while any move
    gains; at most ``passes`` sweeps over the resources."""
    chosen = chosen.copy()
    best = _foreseen_catch(game, sees, answer, chosen)
    for _ in range(passes):
        moved = False
        for i in range(len(chosen)):
            others = np.delete(chosen, i)
            taken = np.zeros(game.posts, dtype=bool)
            taken[others] = True
            free = np.flatnonzero(~taken & (game.post_type == game.post_type[chosen[i]]))
            missed = (1.0 - game.fixed) * np.prod(1.0 - game.q[others], axis=0)
            gain = _catch_with(game, sees, answer, free, missed, sees[others].sum(axis=0))
            j = int(np.argmax(gain))
            if gain[j] > best + 1e-9:
                chosen[i], best, moved = free[j], float(gain[j]), True
        if not moved:
            break
    return chosen


def _foreseen_catch(
    game: Game, sees: F64, answer: Callable[[F64], npt.NDArray[np.intp]], chosen: Posts
) -> float:
    """The expected interceptions of tonight's attempts facing the deployment ``chosen``."""
    went = answer(sees[chosen].sum(axis=0)[None, :])[0]
    missed = (1.0 - game.fixed) * np.prod(1.0 - game.q[chosen], axis=0)
    return float((1.0 - missed[went]).sum())


def _catch_with(
    game: Game,
    sees: F64,
    answer: Callable[[F64], npt.NDArray[np.intp]],
    free: Posts,
    missed: F64,
    counted: F64,
) -> F64:
    """For each post in ``free``: tonight's expected interceptions with one more unit there,
    beside what stands (``missed`` per site, what they see of it ``counted``), the attempts
    going where they go facing it."""
    went = answer(counted[None, :] + sees[free])  # (free, attempts)
    after = missed[went] * (1.0 - np.take_along_axis(game.q[free], went, axis=1))
    out: F64 = (1.0 - after).sum(axis=1)
    return out


def _greedy_foreseen(game: Game, sees: F64, answer: Callable[[F64], npt.NDArray[np.intp]]) -> Posts:
    def gain(free: Posts, missed: F64, counted: F64) -> F64:
        return _catch_with(game, sees, answer, free, missed, counted)

    return _greedy(game, gain, sees)


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


# --- learning the organisers from what is seen ------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """The organisers' weights fitted from where groups were found, with their uncertainty.

    ``weights``: (cover, road, aversion to what they remember), on the log-odds scale of their
    choice (their quantal response's rationality times each taste); ``covariance``: Laplace's
    approximation (the inverse of the log-posterior's curvature at the optimum); ``memory``,
    ``watch_radius_m`` and ``tonight`` (the share of tonight's deployment they see): the
    hypothesis of the grid that explains the sightings best."""

    weights: F64
    covariance: F64
    memory: float
    watch_radius_m: float
    found: int
    log_posterior: float
    tonight: float = 0.0

    @property
    def sd(self) -> F64:
        out: F64 = np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))
        return out

    def samples(self, n: int, rng: np.random.Generator) -> F64:
        """``n`` weight vectors from the approximate posterior (the plausible set)."""
        out: F64 = rng.multivariate_normal(self.weights, self.covariance, size=n)
        return out


def fit_choice(
    features: F64,
    memories: F64,
    found: F64,
    detect: F64,
    prior_mean: F64,
    prior_sd: float,
    iterations: int = 30,
) -> tuple[F64, F64, float]:
    """Maximum a posteriori weights of the organisers' choice from the groups found.

    ``features`` (sites, k): what they like in a site; ``memories`` (nights, sites): what they
    remembered of us each night; ``found`` (nights, sites): groups found; ``detect`` (nights,
    sites): our chance of finding a group there that night (> 0). The groups found on a night
    are a multinomial sample of sites with chance proportional to ``exp(z) detect``,
    ``z = features @ w[:k] - w[k] memory``; the total found cancels (so how many attempts
    there were need not be known). The log-likelihood is concave in ``w``, the Gaussian prior
    (``prior_mean``, ``prior_sd``) keeps it so: Newton's method with step halving. Returns the
    weights, their covariance (Laplace) and the log-posterior."""
    nights, sites = found.shape
    k = features.shape[1]
    if memories.shape != (nights, sites) or detect.shape != (nights, sites):
        raise ValueError("memories, found and detect must all be (nights, sites)")
    if features.shape[0] != sites or prior_mean.shape != (k + 1,) or prior_sd <= 0:
        raise ValueError("features must be (sites, k) and the prior (k + 1) weights, sd > 0")
    x = np.concatenate(
        [np.broadcast_to(features, (nights, sites, k)), -memories[:, :, None]], axis=2
    )  # (nights, sites, k + 1)
    log_d = np.log(np.clip(detect, 1e-6, 1.0))
    total = found.sum(axis=1)
    precision = 1.0 / prior_sd**2

    def evaluate(w: F64) -> tuple[float, F64, F64]:
        z = x @ w + log_d
        z -= z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        pi = np.exp(z - log_norm[:, None])
        value = float((found * z).sum() - (total * log_norm).sum())
        value -= 0.5 * precision * float(((w - prior_mean) ** 2).sum())
        mean_x = np.einsum("ns,nsk->nk", pi, x)
        grad = np.einsum("ns,nsk->k", found, x) - total @ mean_x - precision * (w - prior_mean)
        centred = x - mean_x[:, None, :]
        hess = -np.einsum("n,ns,nsk,nsl->kl", total, pi, centred, centred)
        hess -= precision * np.eye(k + 1)
        return value, grad, hess

    w = prior_mean.astype(np.float64).copy()
    value, grad, hess = evaluate(w)
    for _ in range(iterations):
        step = np.linalg.solve(hess, -grad)
        scale = 1.0
        while scale > 1e-4:
            trial = w + scale * step
            v, g, h = evaluate(trial)
            if v >= value - 1e-12:
                break
            scale /= 2
        else:
            break
        converged = abs(v - value) < 1e-9
        w, value, grad, hess = trial, v, g, h
        if converged:
            break
    covariance = np.asarray(np.linalg.inv(-hess), dtype=np.float64)
    return w, covariance, value


@dataclass
class Learner:
    """Learns the organisers night by night from what the defender knows and sees.

    For each hypothesis of their memory and watch radius (a small grid), it keeps what they
    would remember of our nights (``MemoryTracker``'s rule) and what they would have seen of
    each night's own deployment; a hypothesis also says how much of tonight they see
    (``tonights``: what they face is their memory blended with that share of tonight). Each
    refit (``fit``) finds, for every hypothesis, the weights that best explain the groups
    found (``fit_choice``, the scenario's organisers as the prior) and keeps the most probable
    hypothesis; a share of tonight other than the scenario's must earn its extra parameter
    (Schwarz's penalty, half the log of the groups found), since on nights whose deployment
    resembles the last ones memory and tonight explain the sightings alike."""

    prior: Organisers
    features: F64
    site_xy: F64
    prior_sd: float = 2.0
    memories: tuple[float, ...] = (0.3, 0.5, 0.7, 0.9)
    radii_m: tuple[float, ...] = (1000.0, 2000.0, 4000.0)
    tonights: tuple[float, ...] = (0.0, 0.5, 1.0)
    _seen: dict[tuple[float, float], F64] = field(init=False)
    _history: dict[tuple[float, float], list[F64]] = field(init=False)
    _present: dict[float, list[F64]] = field(init=False)
    _found: list[F64] = field(init=False)
    _detect: list[F64] = field(init=False)

    def __post_init__(self) -> None:
        grid = [(m, r) for m in self.memories for r in self.radii_m]
        self._seen = {h: np.zeros(len(self.site_xy)) for h in grid}
        self._history = {h: [] for h in grid}
        self._present = {r: [] for r in self.radii_m}
        self._found, self._detect = [], []

    @property
    def prior_weights(self) -> F64:
        """The scenario's organisers as weights: its value is ``features @ (cover, road)``
        (without a history blend) times the rationality, the aversion likewise."""
        p = self.prior
        taste = np.linalg.lstsq(self.features, p.value, rcond=None)[0]
        return np.concatenate([p.rationality * taste, [p.rationality * p.coverage_weight]])

    def night(self, stood_xy: F64, found: F64, detect: F64, expected: F64) -> None:
        """One more night: where our units stood, the groups found per site, our chance of
        finding one at each site, and the attempts the current model expected there."""
        present = {
            r: presence(self.site_xy, stood_xy.reshape(-1, 2), radius_m=r,
                        weight=self.prior.presence_weight)
            for r in self.radii_m
        }  # fmt: skip
        for r, p in present.items():
            self._present[r].append(np.minimum(p, 1.0))
        for (m, r), seen in self._seen.items():
            self._history[(m, r)].append(seen.copy())
            tonight = present[r]
            share = np.divide(found, np.maximum(found, np.maximum(expected, 1e-9)))
            observed = np.clip(tonight + np.where(found > 0, share, 0.0), 0.0, 1.0)
            self._seen[(m, r)] = remember(seen, observed, m)
        self._found.append(found)
        self._detect.append(detect)

    @property
    def found(self) -> int:
        return int(sum(f.sum() for f in self._found))

    def fit(self) -> Fit:
        """The most probable hypothesis and its weights, from every night so far."""
        found = np.array(self._found)
        detect = np.array(self._detect)
        penalty = 0.5 * np.log(max(self.found, 1))
        best: Fit | None = None
        best_score = -np.inf
        for (m, r), history in self._history.items():
            remembered, present = np.array(history), np.array(self._present[r])
            for s in self.tonights:
                faced = (1.0 - s) * remembered + s * present
                w, cov, value = fit_choice(self.features, faced, found, detect,
                                           self.prior_weights, self.prior_sd)  # fmt: skip
                score = value - (penalty if s != self.prior.tonight else 0.0)
                if score > best_score:
                    best, best_score = Fit(w, cov, m, r, self.found, value, s), score
        assert best is not None  # noqa: S101 (the grid is never empty)
        return best

    def organisers(self, fit: Fit) -> Organisers:
        """The organisers ``fit`` describes (their memory of us is ``seen(fit)``)."""
        k = self.features.shape[1]
        return Organisers(
            value=self.features @ fit.weights[:k], rationality=1.0,
            coverage_weight=max(0.0, float(fit.weights[k])), memory=fit.memory,
            watch_radius_m=fit.watch_radius_m, presence_weight=self.prior.presence_weight,
            tonight=fit.tonight,
        )  # fmt: skip

    def seen(self, fit: Fit) -> F64:
        """What the organisers ``fit`` describes remember of us now."""
        return self._seen[(fit.memory, fit.watch_radius_m)]
