"""Security-game solve time against problem size: the strong Stackelberg equilibrium (MILP by
HiGHS, then the exact LP for the attacked site) and the SUQR commitment, for games with up to
1,000 launch sites along a coast and 60 resources of 3 types (30 foot patrols, 20 buggies,
10 drones), each type with a candidate post at every site. Target: 500 sites and 60
resources in under 2 s. Writes bench/out/planning-solve-time.png.

    uv run python -m bench.bench_planning [--quick] [--coast]

``--coast`` adds the real Côte d'Opale: the coverage model's cost, the plan's solve time, and
a paired evaluation by simulation against the uniform baseline and today's posts.
``--panel`` times issue 21's evaluation: the whole panel (today's posts, four baselines, the
three plans and the oracle) over 20 seasons of 60 nights, target under 2 minutes, and reports
the plan's oracle gap closure and its ratio to today's posts.

    uv run python -m bench.bench_planning --panel [--seed 1201] [--scenario FILE] [--beats]

``--beats`` lets the plans also send patrols on beats and drones over orbit sequences
(issue 21, item 4): the panel's time with the larger game, and what it gains.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import line
from estran.domain.planning import Game, sample, solve_sse, solve_sse_milp, solve_suqr

OUT = Path(__file__).parent / "out"
# Reach along the coast (km) and interception probability at the post, per type: a foot
# patrol covers its own beach well, a buggy a stretch, a drone a long stretch but it only
# finds and guides (lower probability).
REACH_KM = np.array([1.5, 4.0, 8.0])
P_AT_POST = np.array([0.8, 0.7, 0.45])
COUNTS = np.array([30, 20, 10])


def coast_game(sites: int, rng: np.random.Generator, coast_km: float = 60.0) -> Game:
    at = np.sort(rng.uniform(0, coast_km, sites))
    post_type = np.repeat(np.arange(3), sites)
    post_at = np.tile(at, 3)
    reach = REACH_KM[post_type][:, None]
    dist = np.abs(post_at[:, None] - at[None, :])
    q = np.where(dist < reach, P_AT_POST[post_type][:, None] * (1 - dist / reach), 0.0)
    # Over a coast this long, a site's posts together can pass certainty: scale each post's
    # contribution so the sum a site can receive stays below 1 (independent patrols overlap).
    q = q / np.maximum(1.0, q.sum(axis=0) / 0.95)[None, :]
    value = rng.gamma(2.0, 2.0, sites)  # a few hot spots, many quiet beaches
    return Game(
        q=q,
        post_type=post_type.astype(np.intp),
        counts=COUNTS.astype(np.intp),
        att_covered=-0.5 * value,
        att_uncovered=value,
        def_covered=np.zeros(sites),
        def_uncovered=-value,
    )


def _settings() -> Any:
    import tempfile

    from estran.config import Settings

    cache = Path(tempfile.gettempdir()) / "estran-bench-terrain"
    return Settings(data_dir=cache / "data", terrain_cache_dir=cache)


def panel(
    replications: int,
    nights: int,
    seed: int,
    scenario_path: Path | None = None,
    *,
    beats: bool = False,
) -> None:
    """Issue 21's evaluation, timed: every policy of ``estran plan evaluate`` (without the
    informed reference) over ``replications`` seasons of ``nights`` nights on the cores."""
    import os

    from estran.bootstrap import CoastLoader, planning_kit
    from estran.cli.simulate import load_scenario
    from estran.services.plan_eval import evaluate
    from estran.services.plan_measure import gap_closure
    from estran.services.planning import NIGHTLY, ORACLE, Planner
    from estran.sim.night import coast_from

    settings = _settings()
    kit = planning_kit(settings)  # the coverage model, once, cached on disk for the workers
    sea = coast_from(kit.terrain)
    scenario = load_scenario(scenario_path)
    if beats:
        scenario = scenario.model_copy(update={
            "planning": scenario.planning.model_copy(update={"beats": True})})  # fmt: skip
    planner = Planner(scenario, sea, kit.posts)
    started = time.perf_counter()
    policies = [None, *planner.policies(seed), planner.oracle(seed)]
    results = evaluate(scenario, sea, policies, nights=nights, replications=replications,
                       seed=seed, workers=os.cpu_count() or 1,
                       load_coast=CoastLoader.of(settings))  # fmt: skip
    took = time.perf_counter() - started
    # The 2-minute target is the shipped baseline's; a scenario given (``hiding.toml``: groups
    # hide and walk, found somewhere new each time) is timed without one.
    line(f"the whole panel, {len(policies)} policies x {replications} seasons of {nights} "
         f"nights, {scenario.name}{' with beats' if beats else ''} (s)", took, "s",
         None if scenario_path or beats else 120.0,
         higher_is_better=False)  # fmt: skip
    by = {r.name: r for r in results}
    best = max(results[:5], key=lambda r: r.mean)
    gc = gap_closure(by[NIGHTLY].shares, best.shares, by[ORACLE].shares, best_name=best.name)
    print(f"    plan {by[NIGHTLY].mean:.1%}, {best.name} {best.mean:.1%}, oracle "
          f"{by[ORACLE].mean:.1%}; GC {gc.value:.2f} (95 %: {gc.low or float('nan'):.2f} to "
          f"{gc.high or float('nan'):.2f})")  # fmt: skip
    line("oracle gap closure of the plan", gc.value, "", 0.5)
    line("the plan / today's posts (ratio)", by[NIGHTLY].mean / results[0].mean, "x", 2.0)


def coast(replications: int, nights: int) -> None:
    """The real coast: the coverage model's cost, the plan's solve time, and a short paired
    evaluation against the uniform baseline and today's posts (the full report with every
    baseline is ``estran plan evaluate``)."""
    from estran.bootstrap import CoastLoader, prepare_terrain
    from estran.cli.simulate import load_scenario
    from estran.services.plan_eval import evaluate, paired
    from estran.services.planning import Planner
    from estran.services.posts import build_posts
    from estran.sim.night import coast_from

    settings = _settings()
    terrain = prepare_terrain(settings)
    sea = coast_from(terrain)
    scenario = load_scenario(None)
    started = time.perf_counter()
    posts = build_posts(sea)
    line(f"coverage model: ETAs from {sum(len(v) for v in posts.eta_s.values())} ground posts to "
         f"{len(sea.sites)} sites (s)", time.perf_counter() - started, "s")  # fmt: skip
    started = time.perf_counter()
    planner = Planner(scenario, sea, posts)
    line("the game from the coverage model (ms)", (time.perf_counter() - started) * 1000, "ms")
    for method in ("sse", "qr"):
        started = time.perf_counter()
        planner.plan(method)
        line(f"plan '{method}' on the real coast, {planner.game.posts} posts, "
             f"{int(planner.game.counts.sum())} resources (ms)",
             (time.perf_counter() - started) * 1000, "ms")  # fmt: skip
    pols = {p.name: p for p in planner.policies(seed=1)}
    started = time.perf_counter()
    results = evaluate(scenario, sea, [None, pols["uniform"], pols["planned"]],
                       nights=nights, replications=replications, seed=1, workers=2,
                       load_coast=CoastLoader.of(settings))  # fmt: skip
    took = time.perf_counter() - started
    line("simulated nights a second, 2 processes", 3 * nights * replications / took, "nights/s")
    current, uniform, planned = results
    for r in results:
        lo, hi = r.ci95
        print(f"    {r.name:<14} {r.mean:6.1%}  95 % {lo:.1%}-{hi:.1%}  ({r.attempts} attempts)")
    line("planned / uniform, same resources (ratio)", planned.mean / uniform.mean, "x", 1.5)
    d, lo, hi = paired(planned, uniform)
    print(f"    planned minus uniform, paired: {100 * d:+.1f} pts ({100 * lo:+.1f} to "
          f"{100 * hi:+.1f})")  # fmt: skip
    line("planned / today's posts, same resources (ratio)", planned.mean / current.mean, "x", 2.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--coast", action="store_true", help="Also the real coast (minutes).")
    parser.add_argument(
        "--panel",
        action="store_true",
        help="Only issue 21's evaluation panel, 20 seasons of 60 nights, timed.",
    )
    parser.add_argument("--seed", type=int, default=1201)
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="With --panel: a scenario file (default: the shipped baseline).",
    )
    parser.add_argument(
        "--beats", action="store_true", help="With --panel: plans may use beats and orbits."
    )
    args = parser.parse_args()
    if args.panel:
        panel(replications=20, nights=60, seed=args.seed, scenario_path=args.scenario,
              beats=args.beats)  # fmt: skip
        return
    sizes = [50, 100, 200, 500] if args.quick else [50, 100, 200, 300, 500, 750, 1000]
    rng = np.random.default_rng(5)
    rows = []
    for n in sizes:
        game = coast_game(n, rng)
        started = time.perf_counter()
        sse = solve_sse(game)
        sse_s = time.perf_counter() - started
        started = time.perf_counter()
        solve_suqr(game, start=sse.x)
        suqr_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(100):
            sample(game, sse.x, rng)
        sample_ms = (time.perf_counter() - started) * 10
        target = 2000.0 if n == 500 else None
        line(f"SSE, {n} sites, {game.posts} posts, 60 resources (ms)", sse_s * 1000, "ms",
             target, higher_is_better=False)  # fmt: skip
        print(f"    ({sse.method}; mean coverage {sse.coverage.mean():.2f})")
        milp_s = float("nan")
        if n <= 200:  # the one-MILP reference, for comparison (17 s at 500 sites)
            started = time.perf_counter()
            reference = solve_sse_milp(game)
            milp_s = time.perf_counter() - started
            assert abs(reference.defender_utility - sse.defender_utility) < 1e-6
            line(f"  same equilibrium by one MILP, {n} sites (ms)", milp_s * 1000, "ms")
        line(f"SUQR from the SSE, {n} sites (ms)", suqr_s * 1000, "ms")
        rows.append((n, game.posts, sse_s, suqr_s, sample_ms, milp_s))
        line(f"one sampled deployment, {n} sites (ms)", sample_ms, "ms")
    OUT.mkdir(exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ns = [r[0] for r in rows]
    ax.plot(ns, [r[2] for r in rows], "o-", label="strong Stackelberg equilibrium (bounded LPs)")
    ax.plot(ns, [r[5] for r in rows], "^:", label="the same by one MILP (reference)")
    ax.plot(ns, [r[3] for r in rows], "s-", label="SUQR commitment (gradient)")
    ax.axhline(2.0, color="grey", ls="--", lw=1, label="target at 500 sites: 2 s")
    ax.set_xlabel("launch sites (posts: 3 per site; 60 resources of 3 types)")
    ax.set_ylabel("solve time (s)")
    ax.set_title("Planner solve time against problem size")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / "planning-solve-time.png", dpi=110)
    print(f"plot: {OUT / 'planning-solve-time.png'}")
    if args.coast:
        coast(replications=4 if args.quick else 8, nights=20 if args.quick else 40)


if __name__ == "__main__":
    main()
