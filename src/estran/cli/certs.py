"""``estran certs``: the TAK gateway's CA, server certificate and client data packages."""

from __future__ import annotations

from pathlib import Path

import click

from estran.bootstrap import CertAuthority
from estran.cli.options import data_option, settings_from
from estran.cli.output import echo
from estran.domain.errors import EstranError
from estran.domain.messages import msg

__all__ = ["certs"]


@click.group()
def certs() -> None:
    """Certificates for CoT over TLS (ATAK, WinTAK, iTAK)."""


@certs.command("init")
@data_option
@click.option(
    "--host",
    "hosts",
    multiple=True,
    default=("localhost", "127.0.0.1"),
    show_default=True,
    help="Names and addresses clients reach the server by (repeat).",
)
@click.option("--force", is_flag=True, help="Replace an existing CA (every client re-enrols).")
def init_cmd(data_dir: Path | None, hosts: tuple[str, ...], force: bool) -> None:
    """Make the CA and the server certificate."""
    settings = settings_from(data_dir=data_dir)
    try:
        folder = CertAuthority(settings).init(list(hosts), force=force)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc
    echo(
        msg(
            "CA and server certificate in {folder}, for {hosts}",
            folder=folder,
            hosts=", ".join(hosts),
        ),
        err=True,
    )
    if CertAuthority.loopback_only(hosts):
        echo(
            msg(
                "warning: only this machine's loopback is named: phones cannot reach it. Run "
                "again with --host <the address phones reach> --force"
            ),
            err=True,
        )


@certs.command("client")
@data_option
@click.argument("name")
@click.option(
    "--host",
    default=None,
    help="Server address for the phone (default: the first one `certs init --host` named "
    "that phones can reach).",
)
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@click.option(
    "-o", "--out", type=click.Path(path_type=Path), default=None, help="Folder for the package."
)
def client_cmd(
    data_dir: Path | None, name: str, host: str | None, days: int, out: Path | None
) -> None:
    """Issue a client certificate and write its data package (zip) to import on a phone."""
    settings = settings_from(data_dir=data_dir)
    authority = CertAuthority(settings)
    try:
        server_host, warnings = authority.phone_host(host)
        package = authority.issue(name, server_host=server_host, out_dir=out, days=days)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc
    for warning in warnings:
        echo(msg("warning: {warning}", warning=warning), err=True)
    echo(str(package.package))
    echo(
        msg(
            "password for {name}'s certificate (shown once; type it when "
            "the phone imports the package): {password}",
            name=name,
            password=package.password,
        ),
        err=True,
    )


@certs.command("revoke")
@data_option
@click.argument("name")
def revoke_cmd(data_dir: Path | None, name: str) -> None:
    """Revoke a client's certificate: the TLS listener refuses it from the next connection."""
    settings = settings_from(data_dir=data_dir)
    try:
        serials = CertAuthority(settings).revoke(name)
    except EstranError as exc:
        raise click.ClickException(exc.message) from exc
    echo(
        msg(
            "revoked every certificate of {name} (serials {serials})",
            name=name,
            serials=", ".join(serials),
        ),
        err=True,
    )
