"""``estran serve``: run the command centre's server."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING, Any

import click
import uvicorn

from estran.app.web.app import create_app
from estran.cli.options import settings_from, store_options
from estran.cli.output import echo
from estran.domain.messages import msg

if TYPE_CHECKING:
    from estran.bootstrap import Services
    from estran.config import Settings

__all__ = ["run_server", "serve", "server_config"]


def server_config(settings: Settings, app: Any, **overrides: Any) -> uvicorn.Config:
    """The HTTP server's configuration (the tests' servers use it too)."""
    options: dict[str, Any] = {
        "log_level": settings.log_level,
        "ws": "websockets-sansio",
        "ws_max_size": 64 * 1024,
        # Compressing each stream frame once per subscriber cost more of the server's CPU
        # than anything else at 50 subscribers (issue 18's profile); on by choice for thin
        # links (a liaison office over a VPN), off by default.
        "ws_per_message_deflate": settings.stream_compression,
        "access_log": False,
        "lifespan": "on",
        "loop": "uvloop",
        # X-Forwarded-For is believed only from the proxies named in ESTRAN_TRUSTED_PROXIES;
        # uvicorn's own default trusts any client on 127.0.0.1, who could then pose as any
        # address (and dodge the sign-in throttle, or forge the audit trail's client).
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": list(settings.trusted_proxies) or None,
        **overrides,
    }
    return uvicorn.Config(app, **options)


def run_server(settings: Settings, services: Services | None = None) -> None:
    """Bind, announce the addresses, and serve until interrupted."""
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.http_port))
    port = sock.getsockname()[1]
    config = server_config(settings, create_app(settings, services))
    server = uvicorn.Server(config)
    echo(
        msg(
            "Estran listening on http://{host}:{port}  (API docs: http://{host}:{port}/api/docs)",
            host=settings.host,
            port=port,
        ),
        err=True,
    )
    if settings.cot_tcp_port is not None:
        echo(
            f"TAK clients: plain CoT (anonymous) on "
            f"tcp://{settings.cot_plain_host}:{settings.cot_tcp_port or '(any)'}"
            + (
                f", TLS on {settings.cot_tls_port} (needs `estran certs init`)"
                if settings.cot_tls_port is not None
                else ""
            ),
            err=True,
        )
    # uvloop sets TCP_NODELAY on accepted sockets; plain asyncio here left responses waiting
    # 40 ms on delayed ACKs (headers and body go out as two segments).
    server.run(sockets=[sock])


@click.command()
@store_options
@click.option("--host", default=None, help="Bind address (default 127.0.0.1).")
@click.option("--http-port", type=int, default=None, help="HTTP port (default 8080; 0 = any).")
@click.option(
    "--cot-port",
    type=int,
    default=None,
    help="Plain CoT over TCP on loopback (opt-in, e.g. 8087): anonymous, unclassified only.",
)
@click.option(
    "--federation",
    default=None,
    metavar="NATS_URL",
    help="Federate with the partner nation's centre over NATS JetStream (needs --centre).",
)
@click.option("--centre", default=None, help="This centre's name (e.g. FR-CCI-COQUELLES).")
@click.option(
    "--nation", default=None, help="This centre's nation (default FR; GB for the UK's centre)."
)
def serve(
    data_dir: str | None,
    database_url: str | None,
    host: str | None,
    http_port: int | None,
    cot_port: int | None,
    federation: str | None,
    centre: str | None,
    nation: str | None,
) -> None:
    """Serve the REST API, the live stream, and the TAK gateway (CoT over TCP and TLS)."""
    settings = settings_from(
        data_dir=data_dir,
        database_url=database_url,
        host=host,
        http_port=http_port,
        cot_tcp_port=cot_port,
        federation_url=federation,
        centre=centre,
        nation=nation,
    )
    run_server(settings)
