"""Judging plans by simulation, and what it takes to double the proportion intercepted.

``evaluate`` plays every policy against the simulator's adaptive adversary over the same
seeds (common random numbers: replication ``r`` of every policy faces the same weather and the
same adversary's dice), and summarises each by its proportion intercepted per replication,
with a 95 % interval that stays in [0, 1] with any number of seasons (Jeffreys with the
seasons' design effect, ``plan_measure.season_interval``), the pooled Wilson interval, and the
attempts deterred (given up because of patrols seen near the beach: not interceptions)
counted apart.

``frontier`` asks how many more of each resource it takes to reach a target proportion: the
model (``Planner.expected``, scaled to what the simulator measured for the plan with today's
resources) ranks additions by gain per euro; the mix it settles on is then checked in the
simulator, and the search goes on while the simulator's interval says the target is not met.
"""

from __future__ import annotations

import math
import multiprocessing as mp
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import stats

from estran.domain.messages import msg
from estran.services.plan_measure import season_interval
from estran.services.planning import KINDS, Planner, Policy, scaled, with_extra
from estran.services.simulate import wilson
from estran.sim.night import Season, run_night

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from estran.domain.planning import PostSet
    from estran.sim.night import Coast
    from estran.sim.scenario import Scenario

__all__ = [
    "CURRENT",
    "FrontierResult",
    "PolicyResult",
    "SweepPoint",
    "evaluate",
    "frontier",
    "paired",
    "ratio",
    "sweep",
]

CURRENT = "current posts"
"""The scenario's own deployment (every unit at its station, every night): today's practice."""


@dataclass
class PolicyResult:
    name: str
    shares: list[float] = field(default_factory=list)  # proportion per replication
    attempts: int = 0
    intercepted: int = 0
    site_attempts: list[int] = field(default_factory=list)
    deterred: int = 0
    inland: int = 0  # of ``intercepted``: before the beach (found hiding or walking)
    retries: int = 0  # of ``attempts``: groups turned back earlier, trying again
    seized: int = 0  # of ``intercepted``: stopped by seizing the boat and engine hidden apart
    season_attempts: list[int] = field(default_factory=list)
    season_intercepted: list[int] = field(default_factory=list)
    learned: list[dict[str, Any]] = field(default_factory=list)  # per season, when learning

    @property
    def mean(self) -> float:
        return float(np.mean(self.shares)) if self.shares else 0.0

    @property
    def ci95(self) -> tuple[float, float]:
        """The 95 % interval of the proportion intercepted over the seasons: inside [0, 1]
        and meaningful with two seasons (``plan_measure.season_interval``)."""
        return season_interval(self.season_intercepted, self.season_attempts)

    @property
    def pooled(self) -> tuple[float, float]:
        return wilson(self.intercepted, self.attempts)

    def as_dict(self) -> dict[str, Any]:
        low, high = self.ci95
        plow, phigh = self.pooled
        return {
            "name": self.name,
            "proportion_mean": self.mean,
            "proportion_ci95": [low, high],
            "pooled_proportion": self.intercepted / self.attempts if self.attempts else 0.0,
            "pooled_ci95": [plow, phigh],
            "attempts": self.attempts,
            "intercepted": self.intercepted,
            "deterred": self.deterred,
            "deterred_share": self.deterred / self.attempts if self.attempts else 0.0,
            "intercepted_inland": self.inland,
            "retries": self.retries,
            "boats_seized": self.seized,
            "interval_method": "Jeffreys with the seasons' design effect",
            "replications": len(self.shares),
            "shares": self.shares,
            "site_attempts": self.site_attempts,
            "learned": self.learned,
        }


def paired(a: PolicyResult, b: PolicyResult) -> tuple[float, float, float]:
    """The mean difference in proportion, ``a`` minus ``b``, over replications that shared
    their seeds, with its 95 % interval (Student's t on the paired differences)."""
    d = np.asarray(a.shares) - np.asarray(b.shares)
    if len(d) < 2:
        return (float(d.mean()) if len(d) else 0.0, -1.0, 1.0)
    half = float(stats.t.ppf(0.975, len(d) - 1) * np.std(d, ddof=1) / math.sqrt(len(d)))
    return (float(d.mean()), float(d.mean()) - half, float(d.mean()) + half)


def ratio(a: PolicyResult, b: PolicyResult) -> tuple[float, float, float]:
    """``a``'s proportion over ``b``'s, with a 95 % interval: Student's t on the log of the
    per-replication ratios (replications that shared their seeds), back-transformed."""
    pairs = [(x, y) for x, y in zip(a.shares, b.shares, strict=True) if x > 0 and y > 0]
    whole = a.mean / b.mean if b.mean > 0 else math.inf
    if len(pairs) < 2:
        return (whole, 0.0, math.inf)
    logs = np.log([x / y for x, y in pairs])
    half = float(stats.t.ppf(0.975, len(logs) - 1) * np.std(logs, ddof=1) / math.sqrt(len(logs)))
    centre = float(logs.mean())
    return (whole, math.exp(centre - half), math.exp(centre + half))


class Played(NamedTuple):
    """One season under one policy."""

    attempts: int
    intercepted: int
    sites: list[int]  # attempts per site
    deterred: int
    learned: dict[str, Any] | None  # what a learning plan made of the organisers
    inland: int
    retries: int
    seized: int


"""One season: attempts, interceptions, attempts per site, attempts deterred, what a learning
plan learnt of the organisers by its end (``learned``; None for other policies), and the
interceptions made before the beach (groups found hiding or walking: ``HidingSpec``)."""


# --- workers ---------------------------------------------------------------------------------

_COAST: Coast | None = None


def _init_worker(load_coast: Callable[[], Coast]) -> None:
    """Load the terrain once per worker process (``load_coast`` comes from the composition
    root, ``bootstrap.CoastLoader``: picklable, and reads the disk cache)."""
    global _COAST
    _COAST = load_coast()


def _season(
    job: tuple[Scenario, Policy | None, int, int, int],
) -> Played:
    scenario, policy, nights, seed, stream = job
    coast = _COAST
    assert coast is not None  # noqa: S101 (set by the initialiser or the caller)
    return play(scenario, coast, policy, nights, seed, stream)


def learned(deploy: object) -> dict[str, Any] | None:
    """What a learning deployer (``MemoryPolicy`` with features) learnt of the organisers."""
    learner = getattr(deploy, "learner", None)
    if learner is None or learner.found == 0:
        return None
    fit = learner.fit()
    return {
        "weights": [float(v) for v in fit.weights],
        "sd": [float(v) for v in fit.sd],
        "memory": fit.memory,
        "watch_radius_m": fit.watch_radius_m,
        "tonight": fit.tonight,
        "found": fit.found,
    }


def play(
    scenario: Scenario, coast: Coast, policy: Policy | None, nights: int, seed: int, stream: int
) -> Played:
    """One season under ``policy`` (None: the scenario's own posts): attempts, interceptions,
    attempts per site, attempts deterred, what it learnt."""
    deploy = policy.deployer(stream) if policy is not None else None
    season = Season(scenario, coast, seed + stream, deploy=deploy)
    attempts = intercepted = deterred = inland = retries = seized = 0
    sites = np.zeros(len(coast.sites), dtype=np.int64)
    for _ in range(nights):
        res = run_night(season)
        attempts += res.attempts
        intercepted += res.interceptions
        deterred += res.deterred
        inland += res.intercepted_inland
        retries += res.retries
        seized += res.boats_seized
        if res.sites:
            sites += np.bincount(np.asarray(res.sites), minlength=len(sites))
    return Played(attempts, intercepted, [int(v) for v in sites], deterred, learned(deploy),
                  inland, retries, seized)  # fmt: skip


def _run(
    jobs: list[tuple[Scenario, Policy | None, int, int, int]],
    coast: Coast,
    workers: int,
    load_coast: Callable[[], Coast] | None,
    progress: Callable[[str, float], None] | None,
    label: Callable[[int], str],
) -> list[Played]:
    out: list[Played] = []
    if workers <= 1 or load_coast is None:
        global _COAST
        _COAST = coast
        for i, job in enumerate(jobs):
            out.append(_season(job))
            if progress is not None:
                progress(label(i), (i + 1) / len(jobs))
        return out
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(load_coast,)) as pool:
        for i, result in enumerate(pool.imap(_season, jobs)):
            out.append(result)
            if progress is not None:
                progress(label(i), (i + 1) / len(jobs))
    return out


def evaluate(
    scenario: Scenario,
    coast: Coast,
    policies: list[Policy | None],
    *,
    nights: int,
    replications: int,
    seed: int,
    workers: int = 1,
    load_coast: Callable[[], Coast] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[PolicyResult]:
    """Every policy (None: the scenario's own posts) over ``replications`` seasons of
    ``nights`` nights, seeds ``seed + r`` shared by all policies."""
    names = [CURRENT if p is None else p.name for p in policies]
    jobs = [(scenario, p, nights, seed, r) for p in policies for r in range(replications)]
    runs = _run(
        jobs, coast, workers, load_coast, progress,
        lambda i: msg("{name} {i}/{n}", name=names[i // replications],
                      i=i % replications + 1, n=replications),
    )  # fmt: skip
    results = []
    for k, name in enumerate(names):
        res = PolicyResult(name, site_attempts=[0] * len(coast.sites))
        for run in runs[k * replications : (k + 1) * replications]:
            res.inland += run.inland
            res.retries += run.retries
            res.seized += run.seized
            if run.learned is not None:
                res.learned.append(run.learned)
            res.shares.append(run.intercepted / run.attempts if run.attempts else 0.0)
            res.season_attempts.append(run.attempts)
            res.season_intercepted.append(run.intercepted)
            res.attempts += run.attempts
            res.intercepted += run.intercepted
            res.deterred += run.deterred
            res.site_attempts = [a + b for a, b in zip(res.site_attempts, run.sites, strict=True)]
        results.append(res)
    return results


# --- the plan's advantage as resources change --------------------------------------------------


@dataclass
class SweepPoint:
    """One resource level: today's posts, uniform and the plan, all with those resources."""

    factor: float
    resources: dict[str, int]
    current: PolicyResult
    uniform: PolicyResult
    planned: PolicyResult
    model: dict[str, float]  # the model's proportion for uniform and for the plan

    def as_dict(self) -> dict[str, Any]:
        over_uniform = ratio(self.planned, self.uniform)
        over_current = ratio(self.planned, self.current)
        return {
            "factor": self.factor,
            "resources": self.resources,
            "policies": [r.as_dict() for r in (self.current, self.uniform, self.planned)],
            "planned_over_uniform": over_uniform[0],
            "planned_over_uniform_ci95": list(over_uniform[1:]),
            "planned_over_current": over_current[0],
            "planned_over_current_ci95": list(over_current[1:]),
            "model": self.model,
        }


def sweep(
    scenario: Scenario,
    coast: Coast,
    posts: PostSet,
    factors: list[float],
    *,
    nights: int,
    replications: int,
    seed: int,
    workers: int = 1,
    load_coast: Callable[[], Coast] | None = None,
    progress: Callable[[str, float], None] | None = None,
    history: np.ndarray | None = None,
) -> list[SweepPoint]:
    """Today's posts, uniform and the plan with ``factor`` times the scenario's resources, for
    each factor, in the simulator on the same seeds: how the plan's advantage changes on a
    short-staffed night or a better-staffed one."""
    out: list[SweepPoint] = []
    for k, factor in enumerate(factors):
        sc = scaled(scenario, factor)
        planner = Planner(sc, coast, posts, history=history)
        x = planner.plan("qr").x
        uniform = planner.uniform()
        policies: list[Policy | None] = [
            None,
            planner.policy("uniform", uniform, fixed=False, seed=seed, spread=False),
            planner.policy("planned", x, fixed=False, seed=seed),
        ]

        def step(stage: str, frac: float, k: int = k, factor: float = factor) -> None:
            if progress is not None:
                progress(
                    msg("x{factor:g} resources: {stage}", factor=factor, stage=stage),
                    (k + frac) / len(factors),
                )

        current, uni, planned = evaluate(
            sc, coast, policies, nights=nights, replications=replications, seed=seed,
            workers=workers, load_coast=load_coast, progress=step,
        )  # fmt: skip
        counts = {r.kind: 0 for r in planner.types}
        for r in planner.types:
            counts[r.kind] += len(r.ids)
        model = {"uniform": planner.expected(uniform), "planned": planner.expected(x)}
        out.append(SweepPoint(factor, counts, current, uni, planned, model))
    return out


# --- the frontier -----------------------------------------------------------------------------


@dataclass
class FrontierResult:
    target: float
    baseline: PolicyResult
    today: PolicyResult  # the plan with today's resources
    calibration: float  # simulated / modelled proportion for the plan with today's resources
    curves: dict[str, list[tuple[int, float, float]]]  # kind -> (added, cost, proportion)
    path: list[tuple[dict[str, int], float, float]]  # greedy mixes: (added, cost, proportion)
    mix: dict[str, int] | None
    mix_cost: float | None
    checked: list[tuple[dict[str, int], PolicyResult]] = field(default_factory=list)

    @property
    def mix_result(self) -> PolicyResult | None:
        """The simulator's verdict on the mix found."""
        return next((r for m, r in reversed(self.checked) if m == self.mix), None)

    def as_dict(self) -> dict[str, Any]:
        found = self.mix_result
        return {
            "mix_result": found.as_dict() if found is not None else None,
            "target": self.target,
            "baseline": self.baseline.as_dict(),
            "plan_today": self.today.as_dict(),
            "calibration": self.calibration,
            "curves": {
                k: [{"added": a, "cost": c, "proportion": p} for a, c, p in v]
                for k, v in self.curves.items()
            },
            "path": [{"added": m, "cost": c, "proportion": p} for m, c, p in self.path],
            "mix": self.mix,
            "mix_cost_per_night": self.mix_cost,
            "checked": [{"added": m, **r.as_dict()} for m, r in self.checked],
        }


def _cost(mix: Mapping[str, int], costs: Mapping[str, float]) -> float:
    return float(sum(costs[k] * v for k, v in mix.items()))


def frontier(
    scenario: Scenario,
    coast: Coast,
    posts: PostSet,
    *,
    nights: int,
    replications: int,
    seed: int,
    baseline: str = "current",
    factor: float = 2.0,
    max_added: int = 30,
    curve_points: int = 8,
    checks: int = 4,
    workers: int = 1,
    load_coast: Callable[[], Coast] | None = None,
    progress: Callable[[str, float], None] | None = None,
    history: np.ndarray | None = None,
) -> FrontierResult:
    """The proportion intercepted against resources added, and the cheapest mix found that
    reaches ``factor`` times the ``baseline`` policy's (``current`` or ``uniform``)."""
    costs = scenario.planning.costs.model_dump()

    plans: dict[tuple[tuple[str, int], ...], tuple[Planner, Policy]] = {}

    def plan_for(mix: Mapping[str, int]) -> tuple[Planner, Policy]:
        """The planner and its plan for ``mix`` added, solved once per mix."""
        key = tuple(sorted((k, v) for k, v in mix.items() if v))
        if key not in plans:
            planner = Planner(with_extra(scenario, mix), coast, posts, history=history)
            x = planner.plan("qr").x
            plans[key] = (planner, planner.policy("planned", x, fixed=False, seed=seed))
        return plans[key]

    def simulate(mix: Mapping[str, int], label: str) -> PolicyResult:
        """The plan with ``mix`` added, in the simulator, on the same seeds."""
        (res,) = evaluate(
            with_extra(scenario, mix), coast, [plan_for(mix)[1]], nights=nights,
            replications=replications, seed=seed, workers=workers, load_coast=load_coast,
            progress=lambda stage, _frac: report(
                msg("{label}: {stage}", label=label, stage=stage), 0.9),
        )  # fmt: skip
        return res

    def report(stage: str, frac: float) -> None:
        if progress is not None:
            progress(stage, frac)

    today, plan_today = plan_for({})
    base_policy: Policy | None = None
    if baseline == "uniform":
        base_policy = today.policy("uniform", today.uniform(), fixed=False, seed=seed,
                                   spread=False)  # fmt: skip
    elif baseline != "current":
        raise ValueError(f"unknown baseline {baseline!r}: current or uniform")
    base, mine = evaluate(
        scenario, coast, [base_policy, plan_today], nights=nights, replications=replications,
        seed=seed, workers=workers, load_coast=load_coast,
        progress=lambda s, f: report(f"today: {s}", 0.3 * f),
    )  # fmt: skip
    target = factor * base.mean
    model_today = today.expected(plan_today.x)
    kappa = mine.mean / model_today if model_today > 0 else 1.0

    def predicted(mix: Mapping[str, int]) -> float:
        planner, policy = plan_for(mix)
        return min(1.0, kappa * planner.expected(policy.x))

    # One curve per kind: that kind alone added.
    curves: dict[str, list[tuple[int, float, float]]] = {}
    step = max(1, max_added // curve_points)
    total = len(KINDS) * (max_added // step + 1)
    done = 0
    for kind in KINDS:
        curves[kind] = []
        for added in range(0, max_added + 1, step):
            value = predicted({kind: added} if added else {})
            curves[kind].append((added, _cost({kind: added}, costs), value))
            done += 1
            report(f"frontier: {kind} +{added}", 0.3 + 0.3 * done / total)
    # The cheapest mix found: greedy by modelled gain per euro, then drop what is not needed;
    # then the simulator checks it. A mix counts only when its whole 95 % interval clears the
    # target; otherwise the model is recalibrated on that mix, the model's aim raised by the
    # interval's half-width, and the search goes on.
    mix = dict.fromkeys(KINDS, 0)
    value = min(1.0, kappa * model_today)
    path = [(dict(mix), 0.0, value)]
    checked: list[tuple[dict[str, int], PolicyResult]] = []
    found: dict[str, int] | None = None
    aim = target
    for _ in range(checks):
        while value < aim and sum(mix.values()) < max_added * len(KINDS):
            gains = []
            for kind in KINDS:
                if mix[kind] >= max_added:
                    continue
                trial = dict(mix, **{kind: mix[kind] + 1})
                v = predicted(trial)
                gains.append(((v - value) / costs[kind], kind, v))
            if not gains:
                break
            _, kind, value = max(gains)
            mix[kind] += 1
            path.append((dict(mix), _cost(mix, costs), value))
            report(f"searching: {_mix_label(mix)}", 0.6 + 0.25 * min(1.0, value / aim))
        for kind in sorted(KINDS, key=lambda k: -costs[k]):  # drop the dearest first
            while mix[kind] > 0:
                trial = dict(mix, **{kind: mix[kind] - 1})
                v = predicted(trial)
                if v < aim:
                    break
                mix, value = trial, v
        planner, policy = plan_for(mix)
        result = simulate(mix, f"checking {_mix_label(mix)}")
        checked.append((dict(mix), result))
        if result.ci95[0] >= target:
            found = dict(mix)
            break
        modelled = planner.expected(policy.x)
        kappa = result.mean / modelled if modelled > 0 else kappa
        value = min(1.0, kappa * modelled)
        aim = min(1.0, target + (result.mean - result.ci95[0]))
        if value >= aim:  # recalibrated, the model already thinks it enough: add one anyway
            value = aim - 1e-9
    if found is not None:
        found = _trim(found, target, checked, costs,
                      lambda m: simulate(m, f"trimming {_mix_label(m)}"))  # fmt: skip
    return FrontierResult(
        target=target,
        baseline=base,
        today=mine,
        calibration=kappa,
        curves=curves,
        path=path,
        mix=found,
        mix_cost=_cost(found, costs) if found is not None else None,
        checked=checked,
    )


def _trim(
    mix: dict[str, int],
    target: float,
    checked: list[tuple[dict[str, int], PolicyResult]],
    costs: Mapping[str, float],
    simulate: Callable[[dict[str, int]], PolicyResult],
) -> dict[str, int]:
    """Take resources off a mix the simulator passed, dearest kind first, while the simulator
    still passes it (its whole interval above the target): the model is only a guide. Each
    kind's least passing count is found by bisection (more never does worse)."""
    for kind in sorted(mix, key=lambda k: -costs[k]):
        low, high = 0, mix[kind]  # high passes; find the least that does
        while low < high:
            middle = (low + high) // 2
            trial = dict(mix, **{kind: middle})
            result = simulate(trial)
            checked.append((dict(trial), result))
            if result.ci95[0] >= target:
                high = middle
            else:
                low = middle + 1
        mix = dict(mix, **{kind: high})
    return mix


def _mix_label(mix: Mapping[str, int]) -> str:
    return ", ".join(f"+{v} {k}" for k, v in mix.items() if v) or "nothing added"
