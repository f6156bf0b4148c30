"""``estran demo``: the command centre with its embedded defaults and a live simulated night."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from estran.cli.options import settings_from, store_options
from estran.cli.output import echo
from estran.cli.serve import run_server
from estran.cli.simulate import load_scenario, shipped_scenario
from estran.domain.messages import msg

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["demo"]


@click.command()
@store_options
@click.option("--http-port", type=int, default=None, help="HTTP port (default 8080; 0 = any).")
@click.option(
    "--scenario",
    "scenario_name",
    default=None,
    help="A shipped scenario (`busy`: a busy night, the default, for a first look; "
    "`baseline`: a night as the simulation's sources have it; `hiding`: groups wait in hiding "
    "behind the beach and walk to it) or a scenario TOML file.",
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
    scenario_name: str | None,
    speed: float,
    seed: int,
) -> None:
    """Serve Estran and feed it a simulated night on the Côte d'Opale, accelerated."""
    from estran.app.demo import DemoDriver
    from estran.bootstrap import build_services

    scenario_path = shipped_scenario(scenario_name or "busy")
    scenario = load_scenario(scenario_path)
    from estran.services.demo_accounts import make_demo_accounts

    settings = settings_from(
        data_dir=data_dir,
        database_url=database_url,
        http_port=http_port,
        terrain="background",
        # Plain CoT on loopback, for a TAK client on this machine (anonymous: unclassified
        # data only); phones connect over TLS with certificates (`estran certs`).
        cot_tcp_port=8087,
        # The demo centre shares its picture with the British liaison desk, as the
        # arrangement intends; the product default is French-only until released.
        default_releasable_to=["FR", "GB"],
        scenario_file=scenario_path,  # the planner models the night being played
    )
    services = build_services(
        settings, extras=[lambda svc: DemoDriver(svc, scenario, speed=speed, seed=seed)]
    )
    foot = next((u.id for u in scenario.units if u.kind == "foot_patrol"), None)
    accounts = make_demo_accounts(services.identity, None if foot is None else f"sim-{foot}")
    echo(
        msg(
            "Demo: '{name}', {speed:g}x real time (a 10-hour night in "
            "{minutes:.0f} min).\nThrowaway demo accounts (new passwords each "
            "start; sign in with POST /api/v1/auth/login):",
            name=scenario.name,
            speed=speed,
            minutes=10 * 60 / speed,
        ),
        err=True,
    )
    for a in accounts:
        echo(
            f"  {a.username:<15} {a.password:<18} {a.role:<15} {a.agency_id:<14} {a.note}",
            err=True,
        )
    run_server(settings, services)
