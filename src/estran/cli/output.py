"""What the CLI writes for people, in its user's language (``estran.i18n.cli_language``:
``ESTRAN_LANGUAGE``, else the POSIX locale, ``fr_FR.UTF-8`` being French)."""

from __future__ import annotations

import os
from typing import Any

import click

from estran.i18n import cli_language, translate

__all__ = ["echo", "localize"]


def localize(text: Any) -> Any:
    """``text`` in the CLI's language (a message by its template; anything else as it is)."""
    return translate(text, cli_language(dict(os.environ))) if isinstance(text, str) else text


def echo(message: Any = None, **kwargs: Any) -> None:
    """``click.echo`` in the CLI's language."""
    click.echo(localize(message), **kwargs)
