"""``estran simulate``: seasons of simulated nights, their figures and a plot."""

from __future__ import annotations

import csv
import json
import multiprocessing as mp
import tomllib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from estran.cli.options import data_option, settings_from
from estran.cli.output import echo
from estran.cli.progress import Progress
from estran.domain.errors import EstranError
from estran.domain.messages import msg
from estran.sim.scenario import DEFAULT_SCENARIO, Scenario, parse_scenario

__all__ = ["DEFAULT_SCENARIO", "load_scenario", "simulate_cmd"]


def shipped_scenario(name: str | None) -> Path | None:
    """A shipped scenario's file by name (``busy``), or the path given; None: the default."""
    if name is None:
        return None
    shipped = DEFAULT_SCENARIO.parent / f"{name}.toml"
    if "/" not in name and shipped.is_file():
        return shipped
    path = Path(name)
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in DEFAULT_SCENARIO.parent.glob("*.toml")))
        raise click.BadParameter(
            msg(
                "{name!r} is neither a shipped scenario ({names}) nor a file",
                name=name,
                names=names,
            )
        )
    return path


def load_scenario(path: Path | None) -> Scenario:
    path = path or DEFAULT_SCENARIO
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(msg("cannot read {path}: {exc}", path=path, exc=exc)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise click.ClickException(
            msg("{name} is not valid TOML: {exc}", name=path.name, exc=exc)
        ) from exc
    try:
        return parse_scenario(raw, path.name)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc


def _replicate(job: tuple[dict[str, Any], Path, int, int]) -> list[dict[str, Any]]:
    """One replication, in a worker process (the terrain comes from the disk cache)."""
    from estran.bootstrap import prepare_terrain
    from estran.config import Settings
    from estran.services.simulate import simulate
    from estran.sim.night import coast_from

    scenario_raw, data_dir, nights, seed = job
    scenario = Scenario.model_validate(scenario_raw)
    terrain = prepare_terrain(Settings(data_dir=data_dir))
    return [asdict(n) for n in simulate(scenario, coast_from(terrain), nights, seed)]


@click.command("simulate")
@data_option
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Scenario TOML (default: the shipped baseline).",
)
@click.option("--nights", type=click.IntRange(1, 3650), default=30, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--replications",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Seasons with seeds seed, seed+1, ...; run in parallel over the cores.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(path_type=Path),
    default=Path("simulation"),
    show_default=True,
    help="Folder for nights.csv, summary.json and season.png.",
)
def simulate_cmd(
    data_dir: Path | None,
    scenario_path: Path | None,
    nights: int,
    seed: int,
    replications: int,
    out: Path,
) -> None:
    """Run simulated nights offline and write the figures the agreement is judged by."""
    from estran.bootstrap import prepare_terrain
    from estran.services.simulate import simulate, summarise, wilson
    from estran.sim.night import NightResult, coast_from

    scenario = load_scenario(scenario_path)
    settings = settings_from(data_dir=data_dir)
    bar = Progress()
    terrain = prepare_terrain(settings, bar)
    runs: list[list[NightResult]] = []
    if replications == 1:
        runs.append(
            simulate(
                scenario,
                coast_from(terrain),
                nights,
                seed,
                progress=lambda i, n: bar(msg("night {i}/{n}", i=i, n=n), i / n),
            )
        )
    else:
        jobs = [
            (scenario.model_dump(), settings.data_dir, nights, seed + r)
            for r in range(replications)
        ]
        with mp.get_context("spawn").Pool(max(1, min(replications, mp.cpu_count()))) as pool:
            for i, nights_raw in enumerate(pool.imap(_replicate, jobs)):
                runs.append([NightResult(**n) for n in nights_raw])
                bar(msg("replication {i}/{n}", i=i + 1, n=replications), (i + 1) / replications)
    bar.close()
    out.mkdir(parents=True, exist_ok=True)
    with (out / "nights.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "replication",
                "night",
                "calm",
                "attempts",
                "detected",
                "intercepted",
                "launch_prevented",
                "intercepted_inland",
                "retries",
                "boats_seized",
                "deterred",
                "launched",
                "rescue_cases",
                "false_alarms",
            ]
        )
        for r, run in enumerate(runs):
            for n in run:
                writer.writerow(
                    [
                        r,
                        n.night,
                        int(n.calm),
                        n.attempts,
                        n.detected,
                        n.intercepted,
                        n.launch_prevented,
                        n.intercepted_inland,
                        n.retries,
                        n.boats_seized,
                        n.deterred,
                        n.launched,
                        n.rescue_cases,
                        n.false_alarms,
                    ]
                )
    per_run = [summarise(run) for run in runs]
    everything = summarise([n for run in runs for n in run])
    shares = [s["proportion_intercepted"] for s in per_run]
    if len(shares) > 1:
        from estran.services.plan_measure import season_interval

        # Inside [0, 1] with any number of seasons (Jeffreys with the seasons' design effect;
        # Student's t over two short seasons went below 0 and above 1).
        interval = season_interval([s["intercepted"] for s in per_run],
                                   [s["attempts"] for s in per_run])  # fmt: skip
        everything["replications"] = {
            "count": len(shares),
            "proportion_mean": sum(shares) / len(shares),
            "proportion_ci95": list(interval),
            "interval_method": "Jeffreys with the seasons' design effect",
        }
    everything["scenario"] = scenario.name
    (out / "summary.json").write_text(json.dumps(everything, indent=1))
    _plot(runs, out / "season.png", scenario.name)
    low, high = wilson(everything["intercepted"], everything["attempts"])
    echo(
        msg(
            "{attempts} attempts over {nights} nights x {replications}: "
            "{proportion_intercepted:.1%} intercepted (95 % CI "
            "{low:.1%}-{high:.1%}), {launched} launched, {rescue_cases} "
            "rescue cases; results in {out}/",
            attempts=everything["attempts"],
            nights=nights,
            replications=replications,
            proportion_intercepted=everything["proportion_intercepted"],
            low=low,
            high=high,
            launched=everything["launched"],
            rescue_cases=everything["rescue_cases"],
            out=out,
        )
    )


def _plot(runs: list[list[Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for run in runs[:20]:
        nights = [n.night for n in run]
        cum_att = [sum(x.attempts for x in run[: i + 1]) for i in range(len(run))]
        cum_int = [sum(x.interceptions for x in run[: i + 1]) for i in range(len(run))]
        share = [i / a if a else 0.0 for i, a in zip(cum_int, cum_att, strict=True)]
        top.plot(nights, share, alpha=0.7)
        bottom.bar(nights, [n.attempts for n in run], alpha=0.3, color="grey")
        bottom.bar(nights, [n.interceptions for n in run], alpha=0.5, color="tab:green")
    top.set_ylabel("share intercepted (cumulative)")
    top.set_ylim(0, 1)
    top.set_title(title)
    bottom.set_ylabel("attempts (grey), intercepted (green)")
    bottom.set_xlabel("night")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
