"""``python -m estran``: the same CLI as the ``estran`` command."""

from estran.cli.main import cli

__all__: list[str] = []

if __name__ == "__main__":
    cli()
