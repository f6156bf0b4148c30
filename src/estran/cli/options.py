"""Options shared by several commands, and building Settings from them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from estran.config import Settings
from estran.domain.messages import msg

__all__ = ["data_option", "settings_from", "store_options"]

F = TypeVar("F", bound=Callable[..., Any])


def store_options(func: F) -> F:
    func = click.option(
        "--database-url",
        default=None,
        envvar="ESTRAN_DATABASE_URL",
        help="PostgreSQL URL; default is SQLite in --data.",
    )(func)
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Data directory (default: $ESTRAN_DATA_DIR or ./estran-data).",
    )(func)


data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Data directory (default: $ESTRAN_DATA_DIR or ./estran-data).",
)
"""``--data`` alone, for commands that work on the data directory but not the event store."""


def settings_from(**overrides: Any) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise click.UsageError(msg("bad settings: {exc}", exc=exc)) from exc
