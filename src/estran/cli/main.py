"""``estran``: the command-line entry point. Each command lives in its own module, imported
only when that command runs: ``estran --help`` loads none of them (their one-line help is
kept here, and a test holds it equal to each command's own)."""

from __future__ import annotations

import importlib
from typing import Final

import click

from estran import __version__

__all__ = ["COMMANDS", "cli"]

COMMANDS: Final = {
    "audit": ("estran.cli.users", "audit",
              "The audit trail: verify its hash chain, or show its rows."),
    "certs": ("estran.cli.certs", "certs",
              "Certificates for CoT over TLS (ATAK, WinTAK, iTAK)."),
    "demo": ("estran.cli.demo", "demo",
             "Serve Estran and feed it a simulated night on the Côte d'Opale, accelerated."),
    "events": ("estran.cli.events", "events",
               "Export or import the event log (JSON Lines, one event a line)."),
    "plan": ("estran.cli.plan", "plan",
             "Deployment plans against an adversary who watches and adapts."),
    "purge": ("estran.cli.users", "purge",
              "Run the retention purge now (the server also runs it on a schedule)."),
    "replay": ("estran.cli.replay", "replay",
               "Print the picture as the centre knew it at --at."),
    "serve": ("estran.cli.serve", "serve", "Serve the REST API, the live stream, and the TAK "
              "gateway (CoT over TCP and TLS)."),
    "simulate": ("estran.cli.simulate", "simulate_cmd",
                 "Run simulated nights offline and write the figures the agreement is judged by."),
    "terrain": ("estran.cli.terrain", "terrain",
                "The area's terrain: land cover, launch sites and travel-time graphs."),
    "thermal": ("estran.cli.thermal", "thermal", "Drone thermal video: synthetic flights with "
                "ground truth, and replay into Estran."),
    "users": ("estran.cli.users", "users",
              "Accounts: there is no default one; the first administrator is made here."),
}  # fmt: skip
"""name -> (module, attribute, the first paragraph of its help)."""


class _LazyGroup(click.Group):
    """Commands imported on first use (click's "lazily loading subcommands" pattern), the
    group's help written from ``COMMANDS`` without importing any."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        command: click.Command = getattr(importlib.import_module(entry[0]), entry[1])
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:  # its message in the user's language
            from estran.cli.output import localize  # imported here: not for --help

            exc.message = localize(exc.message)
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = [(n, click.utils.make_default_short_help(COMMANDS[n][2], limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="estran")
def cli() -> None:
    """Estran: the joint coastal-operations centre for the Côte d'Opale."""
