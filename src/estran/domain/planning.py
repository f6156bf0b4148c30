"""Security games for tonight's deployment: pure (no I/O), numpy and SciPy's HiGHS.

The defender commits to a randomised deployment of resources to *posts* (a foot patrol's
beat, a buggy's staging point, a drone's orbit); the adversary watches it and picks the launch
site that suits them best. In the compact form each post ``p`` intercepts an attempt at site
``i`` with probability ``Q[p, i]`` when manned, ``x[p]`` is the probability that it is manned
(its marginal), and a site's coverage is ``c_i = min(1, sum_p Q[p, i] x[p])`` (coverage adds up
to certainty: the usual linear model of compact security games; exact when a site's posts
never together exceed 1, an upper bound on ``1 - prod(1 - Q x)`` otherwise).

- ``solve_sse``: the strong Stackelberg equilibrium (planned coverage is exact: a site's posts
  never add up past certainty in the plan) (the adversary best-responds, ties broken in
  the defender's favour) as one mixed-integer LP (the ERASER formulation, Kiekintveld et al.
  2009) solved by HiGHS through ``scipy.optimize.milp``.
- ``solve_suqr``: the defender's best commitment against a boundedly rational adversary who
  picks sites with SUQR probabilities (Nguyen et al. 2013), by projected gradient ascent from
  the equilibrium.
- ``sample``: a concrete deployment drawn from the marginals with exactly the resources there
  are (systematic "comb" sampling per resource type): each post is manned with probability
  ``x[p]`` exactly, and which posts are manned tonight cannot be predicted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

__all__ = [
    "SUQR_WEIGHTS",
    "Game",
    "PostSet",
    "Strategy",
    "best_responses",
    "drawn_coverage",
    "presence",
    "remember",
    "sample",
    "solve_sse",
    "solve_sse_milp",
    "solve_suqr",
    "suqr_probabilities",
]

F64 = npt.NDArray[np.float64]

SUQR_WEIGHTS = (-9.85, 0.37, 0.15)
"""SUQR weights (coverage, reward, penalty) fitted on human subjects by Nguyen et al. (2013)."""


@dataclass(frozen=True)
class PostSet:
    """Candidate posts and what the terrain says about them (metres, seconds).

    Ground posts stand between neighbouring launch sites (a staging point that watches both
    and, at ~350 m, does not scare a group off either); drone orbits are centred on sites.
    ``eta_s[kind]`` is (posts of that kind, sites): the real travel time, ``inf`` where the
    engine finds no way (or more than two hours).
    """

    site_xy: F64
    xy: dict[str, F64]
    site_of: dict[str, npt.NDArray[np.intp]]
    eta_s: dict[str, F64]


@dataclass(frozen=True)
class Game:
    """A security game in compact form.

    ``q``: (posts, sites) interception probabilities; ``post_type``: each post's resource type;
    ``counts``: resources of each type; payoffs per site for the attacker and the defender when
    the site is covered (the attempt is intercepted) or not.
    """

    q: F64
    post_type: npt.NDArray[np.intp]
    counts: npt.NDArray[np.intp]
    att_covered: F64
    att_uncovered: F64
    def_covered: F64
    def_uncovered: F64
    post_cap: F64 | None = None  # most resources at one post (default 1)
    base: F64 | None = None  # coverage no deployment changes (fixed cameras, an aircraft)

    def __post_init__(self) -> None:
        posts, sites = self.q.shape
        if self.post_type.shape != (posts,):
            raise ValueError("post_type must give one type per post")
        if np.any(self.post_type < 0) or np.any(self.post_type >= len(self.counts)):
            raise ValueError("post_type refers to an unknown resource type")
        for name in ("att_covered", "att_uncovered", "def_covered", "def_uncovered"):
            if getattr(self, name).shape != (sites,):
                raise ValueError(f"{name} must give one payoff per site")
        if np.any(self.q < 0) or np.any(self.q > 1):
            raise ValueError("interception probabilities must lie in [0, 1]")
        if np.any(self.att_covered > self.att_uncovered):
            raise ValueError("an attacker must not prefer being intercepted")
        if np.any(self.def_covered < self.def_uncovered):
            raise ValueError("a defender must prefer intercepting")
        if self.base is not None and (
            self.base.shape != (sites,) or np.any(self.base < 0) or np.any(self.base > 1)
        ):
            raise ValueError("base coverage must give one probability in [0, 1] per site")

    @property
    def sites(self) -> int:
        return int(self.q.shape[1])

    @property
    def posts(self) -> int:
        return int(self.q.shape[0])

    @property
    def cap(self) -> F64:
        return np.ones(self.posts) if self.post_cap is None else self.post_cap

    @cached_property
    def fixed(self) -> F64:
        """Each site's coverage with no post manned."""
        return np.zeros(self.sites) if self.base is None else self.base

    @cached_property
    def headroom(self) -> F64:
        """How much coverage the posts can add at each site before certainty."""
        return 1.0 - self.fixed

    @cached_property
    def q_sites(self) -> sparse.csr_matrix:
        """``Q`` transposed, sparse: one row per site (the LPs' coverage rows)."""
        return sparse.csr_matrix(self.q.T)

    @cached_property
    def type_rows(self) -> sparse.csr_matrix:
        """One row per resource type, a 1 for each of its posts (the count constraints)."""
        m = self.posts
        return sparse.csr_matrix(
            (np.ones(m), (self.post_type, np.arange(m))), shape=(len(self.counts), m)
        )

    def coverage(self, x: F64) -> F64:
        """Each site's coverage for post marginals ``x`` (additive, capped: the LPs' model)."""
        return np.minimum(1.0, self.fixed + x @ self.q)

    @cached_property
    def hazard(self) -> F64:
        """``-log(1 - Q)``: each post's interception as a hazard, so that posts combine as
        independent chances (``1 - prod(1 - q)``) by adding."""
        out: F64 = -np.log1p(-np.minimum(self.q, 0.999))
        return out

    def coverage_independent(self, x: F64) -> F64:
        """Each site's coverage with posts as independent chances, each weighted by how often
        it is manned: ``1 - (1 - base) exp(-sum_p x_p h_p)``, below the additive model."""
        out: F64 = 1.0 - (1.0 - self.fixed) * np.exp(-(x @ self.hazard))
        return out

    def attacker(self, c: F64) -> F64:
        return c * self.att_covered + (1 - c) * self.att_uncovered

    def defender(self, c: F64) -> F64:
        return c * self.def_covered + (1 - c) * self.def_uncovered


@dataclass(frozen=True)
class Strategy:
    """A mixed deployment: post marginals, site coverage, and what it is worth."""

    x: F64
    coverage: F64
    defender_utility: float
    attacker_utility: float
    target: int | None  # the site an equilibrium adversary attacks (None: a distribution)
    method: str
    attack_probabilities: F64 = field(default_factory=lambda: np.zeros(0))


def best_responses(game: Game, c: F64, tol: float = 1e-7) -> npt.NDArray[np.intp]:
    """The sites an attacker best-responds with, given coverage ``c``."""
    u = game.attacker(c)
    return np.flatnonzero(u >= u.max() - tol)


def solve_sse_milp(game: Game) -> Strategy:
    """The strong Stackelberg equilibrium, as one MILP (ERASER) solved by HiGHS: exact, and
    the reference ``solve_sse`` is tested against; slow past a few hundred sites."""
    n, m = game.sites, game.posts
    types = len(game.counts)
    d_a = game.att_covered - game.att_uncovered  # <= 0
    d_d = game.def_covered - game.def_uncovered  # >= 0
    span = float(
        max(np.ptp(np.r_[game.att_covered, game.att_uncovered]),
            np.ptp(np.r_[game.def_covered, game.def_uncovered]), 1.0)
    )  # fmt: skip
    big = 2.0 * span + 1.0
    # Variables: x (m) | c (n) | a (n, binary) | d | k
    nv = m + 2 * n + 2
    ix, ia, idd = 0, m + n, m + 2 * n
    rows: list[sparse.spmatrix] = []
    lo: list[F64] = []
    hi: list[F64] = []
    eye = sparse.identity(n, format="csr")
    zeros_nm = sparse.csr_matrix((n, m))
    # c_i = sum_p Q[p, i] x_p exactly (with c_i <= 1 by its bounds: a site is never planned
    # past certainty). An inequality here would let the solver pretend a site is less covered
    # than it is, and so steer the adversary it predicts.
    rows.append(sparse.hstack([-game.q_sites, eye, sparse.csr_matrix((n, n)),
                               sparse.csr_matrix((n, 2))]))  # fmt: skip
    lo.append(game.fixed)
    hi.append(game.fixed)
    # sum_{p of type r} x_p <= counts[r]
    rows.append(sparse.hstack([game.type_rows, sparse.csr_matrix((types, 2 * n + 2))]))
    lo.append(np.full(types, -np.inf))
    hi.append(game.counts.astype(float))
    # d - c_i dD_i + M a_i <= M + Udu_i
    rows.append(sparse.hstack([zeros_nm, sparse.diags(-d_d), big * eye, _col(np.ones(n)),
                               sparse.csr_matrix((n, 1))]))  # fmt: skip
    lo.append(np.full(n, -np.inf))
    hi.append(big + game.def_uncovered)
    # Uau_i <= k - c_i dA_i <= M (1 - a_i) + Uau_i
    rows.append(sparse.hstack([zeros_nm, sparse.diags(-d_a), sparse.csr_matrix((n, n)),
                               sparse.csr_matrix((n, 1)), _col(np.ones(n))]))  # fmt: skip
    lo.append(game.att_uncovered.astype(float))
    hi.append(np.full(n, np.inf))
    rows.append(sparse.hstack([zeros_nm, sparse.diags(-d_a), big * eye,
                               sparse.csr_matrix((n, 1)), _col(np.ones(n))]))  # fmt: skip
    lo.append(np.full(n, -np.inf))
    hi.append(big + game.att_uncovered)
    # exactly one site is attacked
    rows.append(sparse.hstack([sparse.csr_matrix((1, m + n)), _col(np.ones(n)).T,
                               sparse.csr_matrix((1, 2))]))  # fmt: skip
    lo.append(np.ones(1))
    hi.append(np.ones(1))
    a = sparse.vstack(rows, format="csr")
    lb = np.r_[np.zeros(m), np.zeros(n), np.zeros(n), -big * 2, -big * 2]
    ub = np.r_[game.cap, np.ones(n), np.ones(n), big * 2, big * 2]
    integrality = np.zeros(nv)
    integrality[ia : ia + n] = 1
    objective = np.zeros(nv)
    objective[idd] = -1.0
    res = milp(
        objective,
        constraints=LinearConstraint(a, np.concatenate(lo), np.concatenate(hi)),
        bounds=Bounds(lb, ub),
        integrality=integrality,
        options={"mip_rel_gap": 1e-9, "presolve": True},
    )
    if res.x is None:
        raise RuntimeError(f"the equilibrium could not be computed: {res.message}")
    target = int(np.argmax(res.x[ia : ia + n]))
    settled = _settle(game, target)
    x = settled if settled is not None else np.clip(res.x[ix : ix + m], 0.0, game.cap)
    c = game.coverage(x)
    return Strategy(
        x=x,
        coverage=c,
        defender_utility=float(game.defender(c)[target]),
        attacker_utility=float(game.attacker(c)[target]),
        target=target,
        method="sse-milp-highs",
    )


def solve_sse(game: Game) -> Strategy:
    """The strong Stackelberg equilibrium, exactly, by bounding over attacked sites.

    Whatever the defender commits to, the adversary's best site is worth at least ``k*``, the
    least the defender can hold every site down to (one LP). So an attacked site ``t`` has
    coverage at most what holds it to ``k*``, which caps the defender's utility there: an
    upper bound per site, in closed form. Sites are tried best bound first, each with the LP
    that makes it the adversary's best response and is best for the defender (no big-M), until
    no remaining bound beats the best found. Usually one or a few LPs."""
    n = game.sites
    k_star = _minimax(game)
    d_a = game.att_covered - game.att_uncovered  # < 0 where a post can matter
    with np.errstate(divide="ignore", invalid="ignore"):
        c_cap = np.where(d_a < 0, (k_star - game.att_uncovered) / d_a, 1.0)
    c_cap = np.clip(c_cap, game.fixed, 1.0)
    reachable = game.q.sum(axis=0) > 0
    c_cap = np.where(reachable, c_cap, game.fixed)
    bound = game.defender(c_cap)
    can_be_attacked = game.attacker(game.fixed) >= k_star - 1e-9
    order = [int(t) for t in np.argsort(-bound) if can_be_attacked[t]]
    best: tuple[float, int, F64] | None = None
    solved = 0
    for t in order:
        if best is not None and bound[t] <= best[0] + 1e-12:
            break
        x = _settle(game, t)
        solved += 1
        if x is None:
            continue
        value = float(game.defender(game.coverage(x))[t])
        if best is None or value > best[0] + 1e-12:
            best = (value, t, x)
    if best is None:
        raise RuntimeError("no site can be made the adversary's best response")
    value, t, x = best
    c = game.coverage(x)
    return Strategy(
        x=x,
        coverage=c,
        defender_utility=value,
        attacker_utility=float(game.attacker(c)[t]),
        target=t,
        method=f"sse-bounded-lps ({solved} of {n} sites solved)",
    )


def _minimax(game: Game) -> float:
    """The least, over commitments, of the adversary's best site's worth (one LP)."""
    n, m = game.sites, game.posts
    d_a = game.att_covered - game.att_uncovered
    qt = game.q_sites
    # variables x (m), k: d_a_i (b_i + (Q^T x)_i) - k <= -Uau_i; per-type counts;
    # b + Q^T x <= 1
    a_att = sparse.hstack([sparse.diags(d_a) @ qt, -_col(np.ones(n))])
    a = sparse.vstack(
        [a_att, sparse.hstack([game.type_rows, sparse.csr_matrix((len(game.counts), 1))]),
         sparse.hstack([qt, sparse.csr_matrix((n, 1))])], format="csr"
    )  # fmt: skip
    b = np.concatenate([-game.attacker(game.fixed), game.counts.astype(float), game.headroom])
    cost = np.zeros(m + 1)
    cost[-1] = 1.0
    bounds = [*zip(np.zeros(m), game.cap, strict=True), (None, None)]
    res = linprog(cost, A_ub=a, b_ub=b, bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"the minimax LP failed: {res.message}")
    return float(res.x[-1])


def _col(v: F64) -> sparse.csr_matrix:
    """A column vector as a sparse matrix."""
    return sparse.csr_matrix(np.asarray(v, float).reshape(-1, 1))


def _settle(game: Game, t: int) -> F64 | None:
    """With site ``t`` attacked, the LP (no big-M) for the coverage that makes ``t`` a best
    response and is best for the defender, to the LP's precision; None if ``t`` cannot be."""
    n, m = game.sites, game.posts
    d_a = game.att_covered - game.att_uncovered
    d_d = game.def_covered - game.def_uncovered
    # Variables x (m). c = Q^T x. U_a(j) - U_a(t) <= 0 for every j; sum per type <= count;
    # Q^T x <= 1; maximise dD_t c_t.
    qt = game.q_sites
    row_t = qt[t]
    a_att = sparse.diags(d_a) @ qt - _col(np.ones(n)) @ (d_a[t] * row_t)
    at_fixed = game.attacker(game.fixed)
    b_att = at_fixed[t] - at_fixed
    res = linprog(
        -d_d[t] * row_t.toarray().ravel(),
        A_ub=sparse.vstack([a_att, game.type_rows, qt], format="csr"),
        b_ub=np.concatenate([b_att, game.counts.astype(float), game.headroom]),
        bounds=list(zip(np.zeros(m), game.cap, strict=True)),
        method="highs",
    )
    return None if res.status != 0 else np.clip(res.x, 0.0, game.cap)


def suqr_probabilities(game: Game, c: F64, weights: tuple[float, float, float]) -> F64:
    """The chance the adversary picks each site, by SUQR: softmax of w1 c + w2 R + w3 P."""
    w1, w2, w3 = weights
    z = w1 * c + w2 * game.att_uncovered + w3 * game.att_covered
    z = np.exp(z - z.max())
    return np.asarray(z / z.sum(), dtype=np.float64)


def solve_suqr(
    game: Game,
    weights: tuple[float, float, float] = SUQR_WEIGHTS,
    *,
    start: F64 | None = None,
    iterations: int = 400,
    independent: bool = False,
) -> Strategy:
    """The defender's best commitment against an SUQR adversary (a local optimum from
    ``start``, by default the equilibrium's marginals), by projected gradient ascent. With
    ``independent``, posts combine as independent chances (``Game.coverage_independent``)
    instead of adding up to a cap: closer to the truth where many posts overlap."""
    x = (solve_sse(game).x if start is None else start).astype(float).copy()
    x = _project(x, game)
    step = 0.5
    best_x, best_u = x, _suqr_value(game, x, weights, independent)
    for _ in range(iterations):
        grad = _suqr_gradient(game, x, weights, independent)
        cand = _project(x + step * grad, game)
        u = _suqr_value(game, cand, weights, independent)
        if u >= best_u - 1e-12:
            x, best_x, best_u = cand, cand, u
            step = min(step * 1.2, 10.0)
        else:
            step *= 0.5
            if step < 1e-8:
                break
    c = game.coverage_independent(best_x) if independent else game.coverage(best_x)
    p = suqr_probabilities(game, c, weights)
    return Strategy(
        x=best_x,
        coverage=c,
        defender_utility=float(p @ game.defender(c)),
        attacker_utility=float(p @ game.attacker(c)),
        target=None,
        method="suqr-gradient" + (" (independent posts)" if independent else ""),
        attack_probabilities=p,
    )


def _suqr_value(game: Game, x: F64, w: tuple[float, float, float], indep: bool) -> float:
    c = game.coverage_independent(x) if indep else game.coverage(x)
    return float(suqr_probabilities(game, c, w) @ game.defender(c))


def _suqr_gradient(game: Game, x: F64, w: tuple[float, float, float], indep: bool) -> F64:
    if indep:
        c = game.coverage_independent(x)
        p = suqr_probabilities(game, c, w)
        ud = game.defender(c)
        dc = p * (game.def_covered - game.def_uncovered + w[0] * (ud - p @ ud))
        return np.asarray(game.hazard @ (dc * (1.0 - c)), dtype=np.float64)
    raw = game.fixed + x @ game.q
    c = np.minimum(1.0, raw)
    p = suqr_probabilities(game, c, w)
    ud = game.defender(c)
    dud = game.def_covered - game.def_uncovered
    value = p @ ud
    # d value / d c_i = p_i (dUd_i + w1 (Ud_i - value))
    dc = p * (dud + w[0] * (ud - value))
    dc = np.where(raw < 1.0, dc, np.minimum(dc, 0.0))  # capped sites gain nothing more
    return np.asarray(game.q @ dc, dtype=np.float64)


def _project(x: F64, game: Game) -> F64:
    """The nearest marginals that respect each post's cap and each type's count."""
    out = np.clip(x, 0.0, game.cap)
    for r, count in enumerate(game.counts):
        idx = np.flatnonzero(game.post_type == r)
        v = x[idx]
        cap = game.cap[idx]
        if np.clip(v, 0, cap).sum() <= count:
            out[idx] = np.clip(v, 0, cap)
            continue
        lo, hi = v.min() - cap.max(), v.max()
        for _ in range(60):  # bisection on the shift: sum(clip(v - t)) = count
            t = (lo + hi) / 2
            if np.clip(v - t, 0, cap).sum() > count:
                lo = t
            else:
                hi = t
        out[idx] = np.clip(v - hi, 0, cap)
    return out


def sample(
    game: Game, x: F64, rng: np.random.Generator, *, spread: bool = False
) -> npt.NDArray[np.intp]:
    """Posts manned tonight, drawn so that post ``p`` is manned with probability ``x[p]``
    exactly and no type uses more resources than it has (comb sampling: one uniform offset,
    then every integer step along the cumulative marginals).

    The comb runs over each type's posts in a random order by default; with ``spread`` it
    runs in the posts' own order (along the coast, when posts are numbered so): the marginals
    are the same, but the resources of a type never bunch up, as a duty officer spreads them."""
    chosen: list[int] = []
    for r in range(len(game.counts)):
        idx = np.flatnonzero(game.post_type == r)
        if len(idx) == 0:
            continue
        # A random order, so that pairs of posts are not always manned together; or the
        # coast's order, so that a type's resources are spaced out along it.
        order = idx if spread else rng.permutation(idx)
        probs = np.clip(x[order], 0.0, 1.0)
        cum = np.concatenate([[0.0], np.cumsum(probs)])
        u = rng.random()
        teeth = np.arange(u, cum[-1], 1.0)
        picks = np.searchsorted(cum, teeth, side="right") - 1
        chosen.extend(int(order[k]) for k in picks)
    return np.array(sorted(chosen), dtype=np.intp)


def drawn_coverage(
    game: Game, x: F64, rng: np.random.Generator, *, draws: int = 1000, spread: bool = True
) -> F64:
    """Each site's coverage averaged over ``draws`` deployments drawn by ``sample``: what the
    plan's nights give on average. A post is manned all night or not at all, so a randomised
    plan covers less than ``coverage_independent`` says (which weighs each post's hazard by
    how often it is manned; the gap is Jensen's); a pure one exactly as much."""
    if draws < 1:
        raise ValueError("draws must be at least 1")
    log_miss = np.log1p(-np.minimum(game.q, 0.999))
    missed = np.zeros(game.sites)
    for _ in range(draws):
        missed += np.exp(log_miss[sample(game, x, rng, spread=spread)].sum(axis=0))
    out: F64 = 1.0 - (1.0 - game.fixed) * missed / draws
    return out


def presence(site_xy: F64, seen_xy: F64, *, radius_m: float, weight: float) -> F64:
    """What organisers at each site make of the units and drones they saw within ``radius_m``
    (metres, both arrays (n, 2)): ``weight`` for each one, at most 1."""
    if len(seen_xy) == 0:
        return np.zeros(len(site_xy))
    d = np.hypot(
        site_xy[:, None, 0] - seen_xy[None, :, 0], site_xy[:, None, 1] - seen_xy[None, :, 1]
    )
    out: F64 = np.minimum(1.0, weight * (d < radius_m).sum(axis=1))
    return out


def remember(seen: F64, tonight: F64, decay: float) -> F64:
    """The organisers' memory after one more night: older nights weigh ``decay`` each."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError("decay must lie in [0, 1]")
    out: F64 = decay * seen + (1.0 - decay) * tonight
    return out
