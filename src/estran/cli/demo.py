"""``estran demo``: the command centre with its embedded defaults and a live simulated night."""

from __future__ import annotations

from pathlib import Path

import click

from estran.cli.options import settings_from, store_options
from estran.cli.serve import run_server
from estran.cli.simulate import load_scenario

__all__ = ["demo"]


@click.command()
@store_options
@click.option("--http-port", type=int, default=None, help="HTTP port (default 8080; 0 = any).")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Scenario TOML (default: the shipped baseline).",
)
@click.option(
    "--speed",
    type=click.FloatRange(1, 3600),
    default=60.0,
    show_default=True,
    help="Simulated seconds per real second.",
)
@click.option("--seed", type=int, default=1, show_default=True)
def demo(
    data_dir: Path | None,
    database_url: str | None,
    http_port: int | None,
    scenario_path: Path | None,
    speed: float,
    seed: int,
) -> None:
    """Serve Estran and feed it a simulated night on the Côte d'Opale, accelerated."""
    from estran.adapters.demo import DemoDriver
    from estran.bootstrap import build_services

    scenario = load_scenario(scenario_path)
    settings = settings_from(
        data_dir=data_dir, database_url=database_url, http_port=http_port, terrain="background"
    )
    services = build_services(settings)
    services.extras.append(DemoDriver(services, scenario, speed=speed, seed=seed))
    click.echo(
        f"Demo: '{scenario.name}', {speed:g}x real time (a 10-hour night in "
        f"{10 * 60 / speed:.0f} min). No accounts yet: the server stays on loopback "
        "(identities and roles arrive with the joint-working issue).",
        err=True,
    )
    run_server(settings, services)
