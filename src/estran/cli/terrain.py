"""``estran terrain``: prepare, import, inspect and draw the area's terrain."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from estran.bootstrap import TerrainKit
from estran.cli.options import data_option, settings_from
from estran.cli.output import echo
from estran.cli.progress import Progress
from estran.domain.errors import EstranError
from estran.domain.messages import msg

__all__ = ["terrain"]


@click.group()
def terrain() -> None:
    """The area's terrain: land cover, launch sites and travel-time graphs."""


@terrain.command("prepare")
@data_option
def prepare_cmd(data_dir: Path | None) -> None:
    """Generate (or load) the terrain and precompute travel graphs; print a summary."""
    settings = settings_from(data_dir=data_dir)
    bar = Progress()
    try:
        t = TerrainKit(settings).prepare(bar)
    except EstranError as exc:
        bar.close()
        raise click.ClickException(exc.message) from exc
    bar.close()
    summary: dict[str, Any] = {
        "area": t.area.name,
        "source": t.source,
        "cells": t.grid.shape,
        "cell_m": t.grid.cell_m,
        "classes": t.grid.class_counts(),
        "launch_sites": len(t.sites),
        "from_cache": t.from_cache,
        "prepared_s": round(t.prepared_s, 2),
        "memory_mb": round(t.engine.nbytes / 2**20, 1),
    }
    echo(json.dumps(summary, indent=2))


@terrain.command("import")
@data_option
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--mapping",
    type=click.Choice(["auto", "worldcover", "corine", "osm"]),
    default="auto",
    show_default=True,
    help="Legend of the file: ESA WorldCover or CORINE rasters, OSM-tagged vectors.",
)
def import_cmd(data_dir: Path | None, file: Path, mapping: str) -> None:
    """Import real land cover (GeoTIFF, GeoJSON or GeoPackage) over the default terrain."""
    settings = settings_from(data_dir=data_dir)
    bar = Progress()
    try:
        summary = TerrainKit(settings).import_landcover(file, mapping, bar)
    except EstranError as exc:
        bar.close()
        raise click.ClickException(exc.message) from exc
    bar.close()
    echo(json.dumps(summary, indent=2))


@terrain.command("sites")
@data_option
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def sites_cmd(data_dir: Path | None, file: Path) -> None:
    """Import a catalogue of launch sites (GeoJSON points) in place of the generated one."""
    settings = settings_from(data_dir=data_dir)
    try:
        count = TerrainKit(settings).import_sites(file)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc
    echo(msg("{count} launch sites imported", count=count), err=True)


@terrain.command("render")
@data_option
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=Path("terrain.png"),
    show_default=True,
)
@click.option(
    "--step", type=click.IntRange(1, 64), default=2, show_default=True, help="Cells a pixel."
)
def render_cmd(data_dir: Path | None, output: Path, step: int) -> None:
    """Draw the terrain classes to a PNG (legend colours as on the web map)."""
    settings = settings_from(data_dir=data_dir)
    bar = Progress()
    TerrainKit(settings).render(output, step, bar)
    bar.close()
    echo(str(output), file=sys.stdout)
