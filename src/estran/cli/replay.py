"""``estran replay --at TIME``: the picture as it was known at a past moment."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click
import orjson

from estran.bootstrap import open_store, rebuild
from estran.cli.options import settings_from, store_options
from estran.cli.output import echo
from estran.domain.messages import msg
from estran.domain.records import KINDS
from estran.domain.timefmt import parse_stamp, stamp

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

__all__ = ["replay"]


@click.command()
@store_options
@click.option("--at", "at", required=True, help="ISO 8601 time with a zone, e.g. 2026-11-24T23:00Z")
@click.option("--json", "as_json", is_flag=True, help="Print the records as JSON.")
def replay(data_dir: Path | None, database_url: str | None, at: str, as_json: bool) -> None:
    """Print the picture as the centre knew it at --at."""
    try:
        moment: datetime = parse_stamp(at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from exc
    store = open_store(settings_from(data_dir=data_dir, database_url=database_url))
    try:
        picture = rebuild(store, until_received=stamp(moment))
    finally:
        store.close()
    if as_json:
        echo(
            orjson.dumps(
                {"at": stamp(moment), "seq": picture.seq, "records": picture.snapshot()}
            ).decode()
        )
        return
    echo(msg("Picture at {moment} (after event {seq})", moment=stamp(moment), seq=picture.seq))
    for kind, spec in KINDS.items():
        records = picture.snapshot([kind])[kind]
        echo(f"  {spec.plural}: {len(records)}")
        for r in records[:50]:
            label = r.get("callsign") or r.get("name") or r.get(spec.type_field or "id", "")
            status = r.get("status", "")
            pos = r.get("position")
            where = f" at {pos['lat']:.5f},{pos['lon']:.5f}" if pos else ""
            echo(f"    {r['id']}  {label}  {status}{where}")
        if len(records) > 50:
            echo(msg("    ... {n} more", n=len(records) - 50))
