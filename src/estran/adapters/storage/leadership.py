"""Who runs the once-per-centre work: one node at a time (the ``Leadership`` port).

- ``SoleLeadership``: a centre of one node (SQLite, memory) always leads.
- ``PostgresLeadership``: the nodes sharing one PostgreSQL log contend for a **session
  advisory lock** on a connection of their own. PostgreSQL grants it to one session at a time
  and frees it the moment that session ends: a node killed (SIGKILL, a crash) closes its
  socket and the lock is free at once; a node cut off silently is dropped by the server's TCP
  keepalives (set on the session: idle 1 s, 1 s apart, 2 probes), so the lock is free within
  about 3 s; behind a proxy (which answers keepalives itself) the session, no longer
  checked, is idle and ended by ``idle_session_timeout`` after 5 s, and a node that finds its
  own stale session holding the lock ends it at once. The holder checks its hold every half
  second on the same connection (a statement bounded by the same timeouts as the store's):
  the moment the check fails it stops leading, before the server can have freed the lock for
  another node. What two leaders might still
  both submit in that instant is made harmless by the reactors' idempotency keys.

The holder's name is its connection's ``application_name`` (``estran-leader:<node>``), so
``pg_stat_activity`` and every node's ``/api/v1/health`` say who leads.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import Any, Final

import psycopg
from psycopg.conninfo import make_conninfo

from estran.adapters.storage.postgres import DEADLINE_S, LINK_OPTIONS
from estran.adapters.storage.watchdog import deadline

__all__ = ["PostgresLeadership", "SoleLeadership", "lock_key"]

log = logging.getLogger(__name__)

_SESSION: Final = (
    "-c tcp_keepalives_idle=1 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2 "
    "-c statement_timeout=3000 -c idle_session_timeout=5000"
)
"""The lock session's own limits: the server drops a peer that stopped answering (keepalives)
and a session left idle 5 s (the holder checks every 0.5 s; a session whose node is gone
behind a proxy, which answers the keepalives for it, goes idle and is ended)."""
_HOLDER: Final = (
    "SELECT a.application_name, a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
    "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database "
    "WHERE datname = current_database())"
)
_PREFIX: Final = "estran-leader:"


def lock_key(schema: str) -> int:
    """The advisory lock of the centre whose log is in ``schema`` (a positive bigint)."""
    digest = hashlib.sha256(f"estran-leader:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class SoleLeadership:
    """A centre of one node: it always leads."""

    def __init__(self, node: str = "local") -> None:
        self.node = node

    def try_acquire(self) -> bool:
        return True

    def check(self) -> bool:
        return True

    def holder(self) -> str | None:
        return self.node

    def release(self) -> None:
        pass


class PostgresLeadership:
    def __init__(self, dsn: str, *, schema: str, node: str) -> None:
        self.dsn = dsn
        self.node = node
        self.key = lock_key(schema)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False

    def _connect(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._drop()
            conninfo = make_conninfo(
                self.dsn,
                options=_SESSION,
                application_name=f"{_PREFIX}{self.node}"[:63],
                **LINK_OPTIONS,
            )
            conn = self._conn = psycopg.connect(conninfo, autocommit=True)
        return conn

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return self.check()
        try:
            conn = self._connect()
            with deadline(lambda: conn, DEADLINE_S):
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("cannot contend for leadership: %s", exc)
            self._drop()
            return False
        self._held = bool(row and row[0])
        return self._held

    def check(self) -> bool:
        if not self._held:
            return False
        conn = self._conn
        if conn is None:
            self._held = False
            return False
        try:
            with deadline(lambda: conn, DEADLINE_S):
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() AND classid = %s AND objid = %s",
                    (self.key >> 32, self.key & 0xFFFFFFFF),
                ).fetchone()
        except psycopg.Error as exc:
            log.error("lost the link that holds leadership (%s): stepping down", exc)
            self._drop()
            return False
        if not (row and row[0]):
            log.error("the leadership lock is no longer held: stepping down")
            self._held = False
        return self._held

    def holder(self) -> str | None:
        """Who holds the lock. A session of *this* node's name that is not this connection
        is this node's own from before its link broke (the server has not noticed yet, e.g.
        behind a proxy): it is ended, so the node can lead again at its next try."""
        try:
            conn = self._connect()
            with deadline(lambda: conn, DEADLINE_S):
                row = conn.execute(_HOLDER, (self.key >> 32, self.key & 0xFFFFFFFF)).fetchone()
                if row is None:
                    return None
                name, pid = str(row[0]), int(row[1])
                if name == f"{_PREFIX}{self.node}"[:63] and pid != conn.info.backend_pid:
                    log.warning("ending this node's own stale leadership session (pid %d)", pid)
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        except psycopg.Error:
            self._drop()
            return None
        return name.removeprefix(_PREFIX) if name.startswith(_PREFIX) else name

    def release(self) -> None:
        """Give the lock up (if held) and close the connection."""
        if self._held and self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        self._drop()
