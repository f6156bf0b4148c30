"""``estran plan``: tonight's deployment, its evaluation by simulation, and the frontier."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import numpy as np

from estran.cli.options import data_option, settings_from
from estran.cli.output import echo
from estran.cli.progress import Progress
from estran.cli.simulate import load_scenario
from estran.domain.messages import msg

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.config import Settings
    from estran.domain.planning import PostSet
    from estran.domain.prepared import PreparedTerrain
    from estran.services.plan_eval import PolicyResult
    from estran.services.planning import Planner
    from estran.sim.scenario import Scenario

__all__ = ["plan", "read_history", "simulation_options"]

F = TypeVar("F", bound="Callable[..., Any]")

MAX_HISTORY_BYTES = 4 * 1024 * 1024

scenario_option = click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Scenario TOML (default: the shipped baseline).",
)
history_option = click.option(
    "--history",
    "history_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="CSV of attempts seen per launch site (columns site_id,attempts): site values lean "
    "towards where attempts were seen.",
)
out_option = click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("plan"),
    show_default=True,
    help="Folder for the report and its plots.",
)


def simulation_options(*, nights: int, replications: int) -> Callable[[F], F]:
    """The options of a judgement by simulation: how long, how many seasons, which seeds."""

    def wrap(func: F) -> F:
        for option in reversed([
            click.option("--nights", type=click.IntRange(1, 3650), default=nights,
                         show_default=True, help="Nights in each simulated season."),
            click.option("--replications", type=click.IntRange(2, 1000), default=replications,
                         show_default=True, help="Seasons per policy (seeds seed, seed+1, ...)."),
            click.option("--seed", type=int, default=1, show_default=True),
            click.option("--workers", type=click.IntRange(1, 256), default=None,
                         help="Processes (default: one per core)."),
        ]):  # fmt: skip
            func = option(func)
        return func

    return wrap


@click.group()
def plan() -> None:
    """Deployment plans against an adversary who watches and adapts."""


def read_history(path: Path, site_ids: list[str]) -> np.ndarray:
    """Attempts per site from a CSV (site_id,attempts); unknown ids and bad counts refused."""
    if path.stat().st_size > MAX_HISTORY_BYTES:
        raise click.ClickException(
            msg(
                "{name} is larger than {MAX_HISTORY_BYTES} bytes",
                name=path.name,
                MAX_HISTORY_BYTES=MAX_HISTORY_BYTES,
            )
        )
    index = {s: i for i, s in enumerate(site_ids)}
    counts = np.zeros(len(site_ids))
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                sid, raw = row.get("site_id"), row.get("attempts")
                if sid not in index:
                    raise click.ClickException(
                        msg(
                            "{name} line {line}: unknown site {sid!r}",
                            name=path.name,
                            line=line,
                            sid=sid,
                        )
                    )
                try:
                    n = float(raw or "")
                except ValueError:
                    n = -1.0
                if not (0 <= n <= 1e6):
                    raise click.ClickException(
                        msg(
                            "{name} line {line}: attempts must be a count, not {raw!r}",
                            name=path.name,
                            line=line,
                            raw=raw,
                        )
                    )
                counts[index[sid]] += n
    except (UnicodeDecodeError, csv.Error) as exc:
        raise click.ClickException(
            msg("{name}: not a CSV of site_id,attempts ({exc})", name=path.name, exc=exc)
        ) from exc
    return counts


def _setup(
    data_dir: Path | None, scenario_path: Path | None, history_path: Path | None, bar: Progress
) -> tuple[Settings, Scenario, PreparedTerrain, PostSet, np.ndarray | None]:
    from estran.bootstrap import planning_kit

    scenario = load_scenario(scenario_path)
    settings = settings_from(data_dir=data_dir)
    kit = planning_kit(settings, bar)
    terrain, posts = kit.terrain, kit.posts
    history = read_history(history_path, [s.id for s in terrain.sites]) if history_path else None
    return settings, scenario, terrain, posts, history


def _workers(requested: int | None, jobs: int) -> int:
    return max(1, min(jobs, requested or mp.cpu_count()))


@plan.command("tonight")
@data_option
@scenario_option
@history_option
@click.option(
    "--method",
    type=click.Choice(["qr", "sse"]),
    default="qr",
    show_default=True,
    help="qr: against the scenario's boundedly rational adversary; sse: a perfect one.",
)
@click.option("--seed", type=int, default=None, help="Seed for tonight's draw (default: fresh).")
@out_option
def tonight_cmd(
    data_dir: Path | None,
    scenario_path: Path | None,
    history_path: Path | None,
    method: str,
    seed: int | None,
    out: Path,
) -> None:
    """Tonight's deployment: drawn from the randomised plan, each post explained."""
    from estran.cli.plan_plots import coverage_map
    from estran.services.planning import Planner, tonight
    from estran.sim.night import coast_from

    bar = Progress()
    _, scenario, terrain, posts, history = _setup(data_dir, scenario_path, history_path, bar)
    planner = Planner(scenario, coast_from(terrain), posts, history=history)
    bar(msg("solving the game"), 0.9)
    strategy = planner.plan(method)
    result = tonight(planner, strategy, np.random.default_rng(seed), terrain.projector.to_lonlat)
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "tonight.json").write_text(json.dumps(result, indent=1))
    coverage_map(planner, strategy.x, terrain, out / "coverage-map.png", "Tonight's plan")
    echo(
        msg(
            "plan ({method}): expected proportion {drawn_proportion:.1%} "
            "over nights drawn from it (model proportion "
            "{model_proportion:.1%})",
            method=strategy.method,
            drawn_proportion=result["drawn_proportion"],
            model_proportion=result["model_proportion"],
        )
    )
    for post in result["posts"]:
        where = f"{post['lat']:.4f},{post['lon']:.4f}" if post.get("post") is not None else "-"
        echo(f"  {post['unit_id']:<20} {where:<18} {post['why']}")
    echo(msg("written to {out}/", out=out))


def _policies(planner: Planner, seed: int) -> list[Any]:
    return [None, *planner.policies(seed)]


BASELINES = ("current posts", "uniform", "evenly spaced", "hotspot", "best fixed")
"""The baseline panel the plan is judged against (issue 21): today's posts and four more."""


def played_scenario(planning: Scenario, truth_path: Path | None) -> Scenario:
    """What the simulator plays: ``--truth-scenario``'s organisers (and where they hide),
    weather, sea and sensors with our own forces (units, drones, cameras, aircraft: those we
    know) from the planning scenario; the planning scenario itself without one. The planner
    never reads it."""
    if truth_path is None:
        return planning
    truth = load_scenario(truth_path)
    return truth.model_copy(update={
        "units": planning.units, "drones": planning.drones, "cameras": planning.cameras,
        "aircraft": planning.aircraft, "night_start_h": planning.night_start_h,
        "night_end_h": planning.night_end_h, "planning": planning.planning,
    })  # fmt: skip


@plan.command("evaluate")
@data_option
@scenario_option
@history_option
@click.option(
    "--truth-scenario",
    "truth_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Scenario the simulator plays (its organisers, weather, sea, sensors) while the plan "
    "and every baseline are built from --scenario only: what if the organisers behave "
    "otherwise than we assume?",
)
@click.option(
    "--resources",
    "factor",
    type=click.FloatRange(0.1, 5.0),
    default=1.0,
    show_default=True,
    help="Times the scenario's units and drones (0.5: a short-staffed night), for the plan, "
    "every baseline and the oracle alike.",
)
@click.option(
    "--informed",
    is_flag=True,
    help="Also play a reference told the organisers the simulator plays (never tonight's "
    "sites): the gap closure a planner that learnt them perfectly would reach.",
)
@click.option(
    "--beats",
    is_flag=True,
    help="Let the plans (and best fixed, and the oracle) also send a patrol on a beat between "
    "two posts, or a drone over two orbits in turn (the scenario's planning.beats).",
)
@click.option(
    "--match",
    is_flag=True,
    help="Also find the resources uniform and best fixed would need to match the plan "
    "(played at 1.25, 1.5, 2, 2.5 and 3 times the resources until they do).",
)
@simulation_options(nights=60, replications=10)
@out_option
def evaluate_cmd(
    data_dir: Path | None,
    scenario_path: Path | None,
    history_path: Path | None,
    truth_path: Path | None,
    factor: float,
    informed: bool,
    beats: bool,
    match: bool,
    nights: int,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path,
) -> None:
    """The plan against the baseline panel and a clairvoyant reference in the simulator:
    proportions intercepted, the oracle gap closure, attempts deterred (and, with --match,
    the resources the baselines would need to match the plan)."""
    from estran.bootstrap import CoastLoader
    from estran.cli.plan_plots import adversary_shift, coverage_map, learned_weights, proportions
    from estran.services.plan_eval import evaluate, paired
    from estran.services.plan_measure import gap_closure
    from estran.services.planning import INFORMED, NIGHTLY, ORACLE, Planner, scaled
    from estran.sim.night import coast_from

    bar = Progress()
    settings, scenario, terrain, posts, history = _setup(data_dir, scenario_path, history_path, bar)
    scenario = scaled(scenario, factor)
    if beats:
        scenario = scenario.model_copy(update={
            "planning": scenario.planning.model_copy(update={"beats": True})})  # fmt: skip
    coast = coast_from(terrain)
    planner = Planner(scenario, coast, posts, history=history)
    bar(msg("solving the game"), 0.0)
    played = played_scenario(scenario, truth_path)
    policies = [*_policies(planner, seed), planner.oracle(seed)]
    if informed:  # told the organisers the simulator plays: a reference, not a plan
        told = Planner(played, coast, posts, history=history)
        policies.append(told.nightly(INFORMED, seed=seed, learn=False))
    results = evaluate(
        played, coast, policies, nights=nights, replications=replications, seed=seed,
        workers=_workers(workers, len(policies) * replications),
        load_coast=CoastLoader.of(settings), progress=bar,
    )  # fmt: skip
    bar.close()
    by = {r.name: r for r in results}
    plan_x = next(p.x for p in policies if p is not None and p.name == "planned")
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "truth_scenario": played.name if truth_path is not None else None,
        "nights": nights,
        "replications": replications,
        "seed": seed,
        "resources": _resources(scenario),
        "beats": len(planner.beats),  # candidate beats and orbit sequences (0: posts only)
        "policies": [r.as_dict() for r in results],
        "plan_model_proportion": planner.expected(plan_x),
    }
    plans = ("planned", NIGHTLY)
    verdicts: dict[str, dict[str, dict[str, Any]]] = {}
    for mine in plans:
        verdicts[mine] = {}
        for r in results:
            if r.name == mine:
                continue
            diff, lo, hi = paired(by[mine], r)
            verdicts[mine][r.name] = {
                "ratio": by[mine].mean / r.mean if r.mean else None,
                "separated": by[mine].ci95[0] > r.ci95[1],
                "paired_difference": diff,
                "paired_difference_ci95": [lo, hi],
            }
    report["planned_against"] = verdicts["planned"]
    report["nightly_against"] = verdicts[NIGHTLY]
    best = max((by[n] for n in BASELINES if n in by), key=lambda r: r.mean)
    closures = {
        mine: gap_closure(by[mine].shares, best.shares, by[ORACLE].shares, best_name=best.name)
        for mine in (*plans, INFORMED)
        if mine in by
    }
    report["gap_closure"] = {mine: gc.as_dict() for mine, gc in closures.items()}
    report["oracle"] = "greedy placement knowing tonight's attempt sites (a reference, not a plan)"
    if INFORMED in by:
        report["informed"] = (
            "the plan over nights told the organisers the simulator plays, never tonight's "
            "sites (a reference, not a plan): the gap closure's ceiling without clairvoyance"
        )
    learnt = _learned_lines(by[NIGHTLY].learned, scenario, played)
    report["learned"] = by[NIGHTLY].learned
    matched: list[str] = []
    if match:

        def play_scaled(name: str, more: float) -> float:
            bigger = scaled(scenario, more)
            bar(msg("{name} with {n} units and drones", name=name, n=_resources(bigger)), 0.0)
            policy = next(p for p in Planner(bigger, coast, posts, history=history).policies(seed)
                          if p.name == name)  # fmt: skip
            (res,) = evaluate(
                played_scenario(bigger, truth_path), coast, [policy], nights=nights,
                replications=replications, seed=seed, workers=_workers(workers, replications),
                load_coast=CoastLoader.of(settings), progress=bar,
            )  # fmt: skip
            return res.mean

        report["resources_to_match"], matched = _match_resources(
            by, NIGHTLY, report["resources"], play_scaled,
            lambda m: _resources(scaled(scenario, m)),
        )  # fmt: skip
        bar.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    proportions(results, out / "proportions.png", scenario.name)
    if by[NIGHTLY].learned:
        learned_weights(by[NIGHTLY].learned, _weights(scenario), _weights(played),
                        out / "learned-weights.png", played.name)  # fmt: skip
    coverage_map(planner, plan_x, terrain, out / "coverage-map.png", "The plan")
    adversary_shift(results, planner, out / "adversary-shift.png")

    def _gc_line(mine: str) -> str:
        gc = closures[mine]
        bounds = (
            "unbounded: the oracle is not clearly better than the best baseline"
            if gc.low is None or gc.high is None
            else f"{gc.low:.2f} to {gc.high:.2f}"
        )
        return (f"- **{mine}**: oracle gap closure **{gc.value:.2f}** (95 %: {bounds}); "
                f"{100 * gc.plan_minus_best:+.1f} pts over {gc.best}, the oracle "
                f"{100 * gc.oracle_minus_best:+.1f} pts")  # fmt: skip

    informed_note = (
        ["", f"*{INFORMED}*: the plan over nights told the organisers the simulator plays "
         "(tastes, memory, watch radius), never where tonight's attempts will be: what a "
         "planner that learnt them perfectly could reach, the ceiling of the gap closure for "
         "anyone not clairvoyant."]
        if INFORMED in by else []
    )  # fmt: skip
    truth_line = (
        [f"The simulator played **{played.name}** ({truth_path.name}); the plan and every "
         f"baseline were built from **{scenario.name}** only.", ""]
        if truth_path is not None else []
    )  # fmt: skip
    beats_note = (
        [f"Beats: the plans, best fixed and the oracle could also send a patrol on a beat "
         f"between two posts or a drone over two orbits in turn ({len(planner.beats)} "
         "candidates beside the posts); uniform, evenly spaced and hotspot stay on posts.", ""]
        if planner.beats else []
    )  # fmt: skip
    # Columns the played scenario calls for, each with the note that explains it: (shown,
    # note, heading, cell).
    optional: list[tuple[bool, str, str, Callable[[PolicyResult], str]]] = [
        (played.hiding.on,  # groups hide behind the beach: how many were stopped before it
         "Stopped before the beach: interceptions of groups found in hiding or on their walk "
         "to the beach (the scenario's groups hide first).", "stopped before the beach",
         lambda r: f"{r.inland} ({r.inland / max(r.intercepted, 1):.0%} of interceptions)"),
        (played.adversary.retry_probability > 0,  # attempts differ from policy to policy
         "Tried again: attempts by groups turned back (deterred or stopped) on an earlier "
         "night, counted among the attempts: a policy that turns more back faces more of them "
         "(each night's own attempts are the same for every policy).", "tried again",
         lambda r: f"{r.retries} ({r.retries / max(r.attempts, 1):.0%})"),
        (played.adversary.boat_ahead_minutes > 0,  # some attempts stop with their boat seized
         "Boats seized: attempts stopped by seizing the boat and engine hidden at the beach "
         "ahead of the group (counted among the interceptions).", "boats seized",
         lambda r: f"{r.seized} ({r.seized / max(r.intercepted, 1):.0%} of interceptions)"),
    ]  # fmt: skip
    notes = [line for shown, note, *_ in optional if shown for line in (note, "")]
    columns = [(heading, cell) for shown, _, heading, cell in optional if shown]
    lines = [
        f"# Plan evaluation: {scenario.name}",
        "",
        f"{replications} seasons of {nights} nights per policy, seeds {seed}-"
        f"{seed + replications - 1} shared by every policy; "
        f"{_resources(scenario)} units and drones.",
        "",
        *truth_line,
        f"Best baseline: {best.name} ({best.mean:.1%}); oracle (knows tonight's sites, greedy "
        f"placement): {by[ORACLE].mean:.1%}. Oracle gap closure "
        "GC = (P_plan - P_best) / (P_oracle - P_best), Fieller's 95 % interval over paired "
        "seasons:",
        "",
        *[_gc_line(mine) for mine in closures],
        *informed_note,
        "",
        "Intervals of proportions: Jeffreys with the seasons' design effect (inside [0, 1]). "
        "Deterred: attempts given up because of patrols seen near the beach, not counted as "
        "interceptions.",
        "",
        *beats_note,
        *notes,
        "| policy | proportion intercepted | 95 % interval | attempts | deterred | "
        + "".join(f"{heading} | " for heading, _ in columns)
        + "planned / this | intervals apart | planned minus this, paired (95 %) | "
        "planned nightly / this | intervals apart | "
        "planned nightly minus this, paired (95 %) |",
        "| --- | ---: | --- | ---: | ---: | "
        + "---: | " * len(columns)
        + "---: | --- | --- | ---: | --- | --- |",
    ]
    for r in results:
        cells = [r.name, f"{r.mean:.1%}", "{:.1%}-{:.1%}".format(*r.ci95), str(r.attempts),
                 f"{r.deterred} ({r.deterred / max(r.attempts, 1):.0%})"]  # fmt: skip
        cells += [cell(r) for _, cell in columns]
        for mine in plans:
            v = verdicts[mine].get(r.name)
            if not v:
                cells += ["-", "-", "-"]
                continue
            d = float(v["paired_difference"])
            dlo, dhi = (float(e) for e in v["paired_difference_ci95"])
            cells += [
                f"{v['ratio']:.2f}" if v["ratio"] else "-",
                "yes" if v["separated"] else "no",
                f"{100 * d:+.1f} pts ({100 * dlo:+.1f} to {100 * dhi:+.1f})",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *learnt, *matched]
    lines += ["", "![proportions](proportions.png)", "![coverage](coverage-map.png)",
              "![shift](adversary-shift.png)"]  # fmt: skip
    if by[NIGHTLY].learned:
        lines.append("![learnt](learned-weights.png)")
    lines.append("")
    (out / "report.md").write_text("\n".join(lines))
    table = next(i for i, line in enumerate(lines) if line.startswith("| policy"))
    echo("\n".join(lines[4 : table + 2 + len(results)]))
    echo(msg("report in {out}/", out=out))


MATCH_FACTORS = (1.25, 1.5, 2.0, 2.5, 3.0)


def _match_resources(
    by: dict[str, Any],
    mine: str,
    resources: int,
    play: Callable[[str, float], float],
    count: Callable[[float], int],
) -> tuple[dict[str, Any], list[str]]:
    """The resources uniform and best fixed need to match ``mine``: each played at more
    resources (``MATCH_FACTORS``, ``play(name, factor)``) until it reaches the plan's mean,
    the crossing interpolated (``resources_to_match``). The report's entry and its lines."""
    from estran.services.plan_measure import resources_to_match

    target = float(by[mine].mean)
    entry: dict[str, Any] = {"plan": mine, "target": target, "resources": resources}
    lines = ["## What the baselines would need to match the plan", "",
             f"The plan reaches {target:.1%} with {resources} units and drones; each baseline "
             "played with more of every kind (the same seasons):", "",
             "| baseline | resources | proportion |", "| --- | ---: | ---: |"]  # fmt: skip
    for name in ("uniform", "best fixed"):
        curve = [(resources, float(by[name].mean))]
        for factor in MATCH_FACTORS:
            if curve[-1][1] >= target:
                break
            curve.append((count(factor), play(name, factor)))
        need = resources_to_match(curve, target)
        entry[name] = {"curve": curve, "needs": need,
                       "times": None if need is None else need / resources}  # fmt: skip
        lines += [f"| {name} | {n} | {p:.1%} |" for n, p in curve]
        lines.append(
            f"| **{name} needs** | **{need:.0f}** ({need / resources:.2f} times) | |"
            if need is not None else
            f"| **{name} needs** | more than {curve[-1][0]} | |"
        )  # fmt: skip
    return entry, lines


def _resources(sc: Scenario) -> int:
    """The units and drones a scenario deploys."""
    return len(sc.units) + len(sc.drones)


def _weights(sc: Scenario) -> list[float]:
    """A scenario's organisers as the learner's weights (cover, road, aversion: log-odds)."""
    a = sc.adversary
    return [a.rationality * a.cover_weight, a.rationality * a.road_weight,
            a.rationality * a.coverage_weight]  # fmt: skip


def _learned_lines(learned: list[dict[str, Any]], assumed: Scenario, played: Scenario) -> list[str]:
    """The report's account of what the plan learnt of the organisers, season by season,
    against what the planning scenario assumed and what the simulator played."""
    if not learned:
        return []
    w = np.array([x["weights"] for x in learned])
    sd = np.array([x["sd"] for x in learned])

    rows = [
        "## What the plan learnt of the organisers",
        "",
        f"From the groups it found (median {int(np.median([x['found'] for x in learned]))} a "
        "season), fitted by maximum a posteriori (the planning scenario as the prior, Laplace's "
        "interval) at each season's end; mean over seasons (spread between seasons), the "
        "posterior's own sd, what was assumed, what the simulator played:",
        "",
        "| weight (log-odds) | learnt | between seasons | posterior sd | assumed | played |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    names = ("taste for cover", "taste for a road", "aversion to what they saw of us")
    want, got = _weights(assumed), _weights(played)
    for k, name in enumerate(names):
        rows.append(f"| {name} | {w[:, k].mean():.2f} | {w[:, k].std():.2f} | "
                    f"{sd[:, k].mean():.2f} | {want[k]:.2f} | {got[k]:.2f} |")  # fmt: skip
    for key, attr, label, fmt in (
        ("memory", "memory", "memory (weight of older nights)", "{:.1f}"),
        ("watch_radius_m", "watch_radius_m", "watch radius (m)", "{:.0f}"),
        ("tonight", "sees_tonight", "share of tonight's deployment they see", "{:.1f}"),
    ):
        values = [x[key] for x in learned]
        common = max(set(values), key=values.count)
        rows.append(f"| {label} | {fmt.format(common)} (in {values.count(common)} of "
                    f"{len(values)} seasons) | | | "
                    f"{fmt.format(getattr(assumed.adversary, attr))} | "
                    f"{fmt.format(getattr(played.adversary, attr))} |")  # fmt: skip
    return rows


@plan.command("frontier")
@data_option
@scenario_option
@history_option
@click.option(
    "--baseline",
    type=click.Choice(["current", "uniform"]),
    default="current",
    show_default=True,
    help="Whose proportion to multiply: today's posts or uniform.",
)
@click.option("--factor", type=click.FloatRange(1.0, 10.0), default=2.0, show_default=True)
@click.option("--max-added", type=click.IntRange(1, 200), default=20, show_default=True)
@simulation_options(nights=40, replications=6)
@out_option
def frontier_cmd(
    data_dir: Path | None,
    scenario_path: Path | None,
    history_path: Path | None,
    baseline: str,
    factor: float,
    max_added: int,
    nights: int,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path,
) -> None:
    """What it takes to multiply the proportion intercepted (double it by default)."""
    from estran.bootstrap import CoastLoader
    from estran.cli.plan_plots import frontier_plot
    from estran.services.plan_eval import frontier
    from estran.sim.night import coast_from

    bar = Progress()
    settings, scenario, terrain, posts, history = _setup(data_dir, scenario_path, history_path, bar)
    result = frontier(
        scenario, coast_from(terrain), posts, nights=nights, replications=replications,
        seed=seed, baseline=baseline, factor=factor, max_added=max_added,
        workers=_workers(workers, 2 * replications),
        load_coast=CoastLoader.of(settings), progress=bar, history=history,
    )  # fmt: skip
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "frontier.json").write_text(json.dumps(result.as_dict(), indent=1))
    frontier_plot(result, out / "frontier.png", scenario.name)
    lo, hi = result.baseline.ci95
    echo(
        msg(
            "baseline ({baseline}): {mean:.1%} ({lo:.1%}-{hi:.1%}); "
            "target x{factor:g}: {target:.1%}; the plan with today's "
            "resources: {mean2:.1%}",
            baseline=baseline,
            mean=result.baseline.mean,
            lo=lo,
            hi=hi,
            factor=factor,
            target=result.target,
            mean2=result.today.mean,
        )
    )
    if result.mix is None:
        echo(msg("no mix within +{max_added} of each kind reaches the target", max_added=max_added))
    else:
        checked = result.mix_result
        assert checked is not None  # noqa: S101 (a mix is only found once checked)
        clo, chi = checked.ci95
        added = ", ".join(f"+{v} {k}" for k, v in result.mix.items() if v) or "nothing"
        echo(
            msg(
                "cheapest mix found: {added} ({mix_cost:,.0f} EUR a night): "
                "{mean:.1%} in the simulator ({clo:.1%}-{chi:.1%})",
                added=added,
                mix_cost=result.mix_cost,
                mean=checked.mean,
                clo=clo,
                chi=chi,
            )
        )
    echo(msg("frontier in {out}/", out=out))


def _factors(_ctx: click.Context, _param: click.Parameter, value: str) -> list[float]:
    try:
        factors = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(
            msg("a comma-separated list of numbers, not {value!r}", value=value)
        ) from None
    if not factors or len(factors) > 20 or not all(0.05 <= f <= 5.0 for f in factors):
        raise click.BadParameter(msg("1 to 20 factors, each between 0.05 and 5"))
    return sorted(set(factors))


@plan.command("sweep")
@data_option
@scenario_option
@history_option
@click.option(
    "--factors",
    callback=_factors,
    default="0.25,0.5,0.75,1,1.5",
    show_default=True,
    help="Multiples of the scenario's resources of each kind (0.5: a short-staffed night).",
)
@simulation_options(nights=60, replications=6)
@out_option
def sweep_cmd(
    data_dir: Path | None,
    scenario_path: Path | None,
    history_path: Path | None,
    factors: list[float],
    nights: int,
    replications: int,
    seed: int,
    workers: int | None,
    out: Path,
) -> None:
    """The plan against uniform and today's posts as the resources on duty change."""
    from estran.bootstrap import CoastLoader
    from estran.cli.plan_plots import sweep_plot
    from estran.services.plan_eval import ratio, sweep
    from estran.sim.night import coast_from

    bar = Progress()
    settings, scenario, terrain, posts, history = _setup(data_dir, scenario_path, history_path, bar)
    points = sweep(
        scenario, coast_from(terrain), posts, factors, nights=nights,
        replications=replications, seed=seed, workers=_workers(workers, 3 * replications),
        load_coast=CoastLoader.of(settings), progress=bar, history=history,
    )  # fmt: skip
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    report = {
        "scenario": scenario.name,
        "nights": nights,
        "replications": replications,
        "seed": seed,
        "points": [p.as_dict() for p in points],
    }
    (out / "sweep.json").write_text(json.dumps(report, indent=1))
    sweep_plot(points, out / "sweep.png", scenario.name)
    lines = [
        f"# The plan's advantage as resources change: {scenario.name}",
        "",
        f"{replications} seasons of {nights} nights per policy and resource level, seeds "
        f"{seed}-{seed + replications - 1} shared by every policy.",
        "",
        "| resources | on duty | today's posts | uniform | planned | planned / uniform | "
        "planned / today's posts |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in points:
        cells = [f"x{p.factor:g}", str(sum(p.resources.values()))]
        for r in (p.current, p.uniform, p.planned):
            lo, hi = (min(1.0, max(0.0, v)) for v in r.ci95)
            cells.append(f"{r.mean:.1%} ({lo:.1%}-{hi:.1%})")
        for base in (p.uniform, p.current):
            mid, lo, hi = ratio(p.planned, base)
            cells.append(f"{mid:.2f} ({lo:.2f}-{hi:.2f})")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "![sweep](sweep.png)", ""]
    (out / "report.md").write_text("\n".join(lines))
    echo("\n".join(lines[4:]))
    echo(msg("report in {out}/", out=out))
