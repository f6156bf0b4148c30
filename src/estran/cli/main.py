"""``estran``: the command-line entry point. Each command lives in its own module."""

from __future__ import annotations

import click

from estran import __version__
from estran.cli.certs import certs
from estran.cli.demo import demo
from estran.cli.events import events
from estran.cli.plan import plan
from estran.cli.replay import replay
from estran.cli.serve import serve
from estran.cli.simulate import simulate_cmd
from estran.cli.terrain import terrain
from estran.cli.thermal import thermal
from estran.cli.users import audit, purge, users

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="estran")
def cli() -> None:
    """Estran: the joint coastal-operations centre for the Côte d'Opale."""


cli.add_command(serve)
cli.add_command(events)
cli.add_command(replay)
cli.add_command(terrain)
cli.add_command(certs)
cli.add_command(simulate_cmd)
cli.add_command(demo)
cli.add_command(plan)
cli.add_command(thermal)
cli.add_command(users)
cli.add_command(audit)
cli.add_command(purge)
