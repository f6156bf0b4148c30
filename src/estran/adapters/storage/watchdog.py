"""A deadline on a blocking database call: past it, the connection's socket is shut down from
a timer thread, so the call fails at once (``OperationalError``) instead of waiting for ever.

TCP keepalives and ``tcp_user_timeout`` notice a peer that vanished, but not one that keeps
acknowledging and never answers (a stuck proxy, a hung server, a silent partition behind a
middlebox); ``statement_timeout`` cannot help when the statement never reaches the server.
The watchdog bounds every wait on the client's side.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["cut", "deadline"]


def cut(conn: Any) -> None:
    """Shut the connection's socket down (both ways); the driver sees it closed."""
    if conn is None:
        return
    try:
        fd = conn.pgconn.socket
    except Exception:  # already closed, or not a psycopg connection
        return
    with contextlib.suppress(OSError):
        dup = socket.socket(fileno=os.dup(fd))
        try:
            dup.shutdown(socket.SHUT_RDWR)
        finally:
            dup.close()


def _cut_all(found: Any) -> None:
    for conn in found if isinstance(found, list | tuple | set) else [found]:
        cut(conn)


@contextmanager
def deadline(connection: Callable[[], Any], seconds: float) -> Iterator[None]:
    """Within the block, the connection ``connection()`` returns (or each of a list) is cut
    after ``seconds``."""
    timer = threading.Timer(seconds, lambda: _cut_all(connection()))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
