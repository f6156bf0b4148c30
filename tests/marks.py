"""Skip conditions, in one place (as rasterio keeps them)."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get(
    "ESTRAN_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_reason() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means: no server to test against
        return f"no PostgreSQL at {POSTGRES_URL} ({type(exc).__name__}: {exc})"
    return None


POSTGRES_SKIP_REASON = _postgres_reason()
needs_postgres = pytest.mark.skipif(
    POSTGRES_SKIP_REASON is not None, reason=POSTGRES_SKIP_REASON or ""
)

NATS_URL = os.environ.get("ESTRAN_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_reason() -> str | None:
    import socket
    from urllib.parse import urlsplit

    where = urlsplit(NATS_URL)
    try:
        with socket.create_connection((where.hostname, where.port or 4222), timeout=2) as sock:
            sock.settimeout(2)
            if not sock.recv(4096).startswith(b"INFO "):
                return f"{NATS_URL} answers, but not as a NATS server"
    except OSError as exc:
        return f"no NATS at {NATS_URL} ({type(exc).__name__}: {exc})"
    return None


NATS_SKIP_REASON = _nats_reason()
needs_nats = pytest.mark.skipif(NATS_SKIP_REASON is not None, reason=NATS_SKIP_REASON or "")

CHROMIUM = os.environ.get("ESTRAN_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_SKIP_REASON = (
    None
    if os.path.exists(CHROMIUM)
    else f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; .ci/run installs it)"
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM_SKIP_REASON is not None, reason=CHROMIUM_SKIP_REASON or ""
)
# Chromium as root in a container, with no network beyond loopback: no sandbox, no GPU, and
# none of the background connections it would otherwise try at every start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
