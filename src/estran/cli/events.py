"""``estran events export|import|verify``: the event log as JSON Lines, and its hash chain."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from estran.bootstrap import open_store
from estran.cli.options import settings_from, store_options
from estran.cli.output import echo
from estran.domain.errors import EstranError
from estran.domain.messages import msg
from estran.services.transfer import export_events, import_events

__all__ = ["events"]


@click.group()
def events() -> None:
    """Export or import the event log (JSON Lines, one event a line)."""


@events.command("export")
@store_options
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="File to write (default: standard output).",
)
@click.option("--after", type=int, default=0, help="Only events after this seq.")
def export_cmd(
    data_dir: Path | None, database_url: str | None, output: Path | None, after: int
) -> None:
    """Write every event (after --after) in order."""
    store = open_store(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        if output is None:
            count = export_events(store, sys.stdout.buffer, after=after)
        else:
            with output.open("wb") as out:
                count = export_events(store, out, after=after)
    finally:
        store.close()
    echo(msg("exported {count} events", count=count), err=True)


@events.command("import")
@store_options
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_cmd(data_dir: Path | None, database_url: str | None, source: Path) -> None:
    """Append the events of SOURCE; the whole file is checked first, and nothing is written
    if any line is bad. Events already present (same event_id) are skipped.

    Import into a data directory whose server is stopped; a running server takes new events
    through POST /api/v1/events.
    """
    store = open_store(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        with source.open("rb") as lines:
            result = import_events(store, lines)
    except EstranError as exc:
        detail = "".join(f"\n  {d}" for d in exc.details[:10])
        raise click.ClickException(
            msg("{message}{detail}\nnothing was imported", message=exc.message, detail=detail)
        ) from exc
    finally:
        store.close()
    echo(
        msg(
            "imported {imported} events, skipped {skipped} already present",
            imported=result.imported,
            skipped=result.skipped,
        ),
        err=True,
    )


@events.command("verify")
@store_options
def verify_cmd(data_dir: Path | None, database_url: str | None) -> None:
    """Recompute the event log's hash chain and check it against every checkpoint the audit
    trail holds since the latest purge; exit 1 naming each break found."""
    from estran.bootstrap import open_security_store
    from estran.services.eventchain import verify_events

    settings = settings_from(data_dir=data_dir, database_url=database_url)
    store = open_store(settings)
    security = open_security_store(settings)
    try:
        result = verify_events(store, security.read_audit())
    finally:
        security.close()
        store.close()
    if result.ok:
        echo(
            msg(
                "event log intact: {events} events, {checkpoints} checkpoints agree",
                events=result.events,
                checkpoints=result.checkpoints,
            )
        )
        return
    for problem in result.problems:
        echo(msg("BROKEN: {problem}", problem=problem), err=True)
    raise SystemExit(1)
