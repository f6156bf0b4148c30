"""PostgreSQL event store through psycopg 3: the multi-node path.

Same contract as the SQLite store. The writer takes a transaction-scoped advisory lock, so
several Estran nodes appending to one database still get one gap-free order; a commit with
the server's default ``synchronous_commit=on`` is durable before ``append`` returns. Reads
come from a small pool. Each store lives in its own PostgreSQL schema (``estran`` by default).

A node survives its database: every connection has a connect timeout, a statement timeout and
TCP keepalives with a user timeout, so a reset *or* a silent partition (TCP open, no data)
fails within a few seconds as ``StorageError`` (503), never hangs; the writer connection is
opened again on the next write once the link is back (a broken one is dropped, not rolled
back), and the read pool checks and replaces dead connections.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from estran.adapters.storage.audit_sql import append_audit_rows
from estran.adapters.storage.migrations import SCHEMA_VERSION, migrate
from estran.adapters.storage.watchdog import deadline
from estran.domain.errors import BehindError, StorageError
from estran.domain.events import Event
from estran.domain.messages import msg
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from estran.domain.audit import AuditRow
    from estran.ports import AuditBuilder

__all__ = ["PostgresEventStore"]

log = logging.getLogger(__name__)

_LOCK_KEY: Final = 0x657374_72616E  # "estran"
_INSERT: Final = (
    "INSERT INTO events (seq, event_id, type, kind, entity_id, received_at, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)"
)
_SAVE_CURSOR: Final = (
    "INSERT INTO cursors (name, seq, at) VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
    "SET seq = greatest(cursors.seq, excluded.seq), at = excluded.at"
)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CONNECT_TIMEOUT_S: Final = 3
STATEMENT_TIMEOUT_MS: Final = 5000
DEADLINE_S: Final = 6.0
"""The longest any one store call may wait on the database before its socket is cut."""
LINK_OPTIONS: Final = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 2,
    "keepalives_interval": 1,
    "keepalives_count": 2,
    "tcp_user_timeout": 4000,
}
"""libpq options that bound every wait on the network (a black hole is noticed in ~4 s)."""


class PostgresEventStore:
    name = "postgres"

    def __init__(
        self, dsn: str, *, schema: str = "estran", migrate_up_to: int = SCHEMA_VERSION
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"bad PostgreSQL schema name {schema!r}")
        self.schema = schema
        self.dsn = dsn
        options = f"-c search_path={schema} -c statement_timeout={STATEMENT_TIMEOUT_MS}"
        self._options = options
        self._writer_conn: psycopg.Connection[Any] | None = None
        self.on_audit_head: Callable[[int, str], None] | None = None
        """Told the audit trail's new head after a commit that audited (its anchor file)."""
        try:
            self._writer_conn = self._connect()
            # Nodes started together migrate one after the other (the others then find the
            # schema at its version): a session lock of its own, held only meanwhile.
            self._writer.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"migrate:{schema}",))
            self._writer.commit()
            try:
                self._writer.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
                self._writer.commit()
                migrate(
                    self._run,
                    self._transaction,
                    "postgres",
                    stamp(datetime.now(UTC)),
                    placeholder="%s",
                    up_to=migrate_up_to,
                )
            finally:
                self._writer.execute(
                    "SELECT pg_advisory_unlock(hashtext(%s))", (f"migrate:{schema}",)
                )
                self._writer.commit()
            self._pool = ConnectionPool(
                dsn,
                min_size=1,
                max_size=4,
                kwargs={"options": options, "autocommit": True, **LINK_OPTIONS},
                configure=lambda conn: set_json_loads(orjson.loads, conn),
                timeout=CONNECT_TIMEOUT_S + 1,
                reconnect_timeout=24 * 3600,
                open=True,
            )
        except psycopg.Error as exc:
            raise StorageError(msg("cannot open PostgreSQL event store: {exc}", exc=exc)) from exc

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(make_conninfo(self.dsn, options=self._options, **LINK_OPTIONS))

    @property
    def _writer(self) -> psycopg.Connection[Any]:
        """The writer connection, opened again if the last one broke."""
        conn = self._writer_conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
            self._writer_conn = None
            try:
                conn = self._writer_conn = self._connect()
            except psycopg.Error as exc:
                raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return conn

    def _after_failure(self) -> None:
        """Roll back where the connection still works; drop it where it does not."""
        conn = self._writer_conn
        if conn is None:
            return
        if conn.broken or conn.closed:
            with contextlib.suppress(Exception):
                conn.close()
            self._writer_conn = None
            return
        try:
            conn.rollback()
        except psycopg.Error:
            with contextlib.suppress(Exception):
                conn.close()
            self._writer_conn = None

    def _run(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cur = self._writer.execute(statement.encode(), params)
        return cur.fetchall() if cur.description else []

    def _transaction(self, body: Callable[[], None]) -> None:
        with self._writer.transaction():
            body()
        self._writer.commit()

    def schema_version(self) -> int:
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                row = conn.execute("SELECT max(version) FROM estran_schema").fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return int(row[0]) if row else 0

    def append(
        self,
        events: Sequence[Event],
        audit: AuditBuilder | None = None,
        *,
        after: int | None = None,
    ) -> list[Event]:
        """Append after the log's head; with ``after``, only if the head is still there
        (``BehindError`` otherwise, nothing written): how nodes sharing the log decide against
        the same state. Every commit notifies the other nodes (``watch``)."""
        chained: list[AuditRow] = []
        try:
            writer = self._writer
            with deadline(lambda: writer, DEADLINE_S), self._writer.transaction():
                self._writer.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                row = self._writer.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                start = int(row[0]) if row else 0
                if after is not None and after != start:
                    raise BehindError(start, after)
                stored = [e.with_seq(start + i) for i, e in enumerate(events, 1)]
                with self._writer.cursor() as cur:
                    cur.executemany(
                        _INSERT,
                        [
                            (
                                e.seq,
                                e.event_id,
                                e.type,
                                e.kind,
                                e.entity_id,
                                e.received_at,
                                e.to_json().decode(),
                            )
                            for e in stored
                        ],
                    )
                if audit is not None:
                    chained = append_audit_rows(self._writer, audit(stored), mark="%s")
                self._notify(stored[-1].seq)
            with deadline(lambda: writer, DEADLINE_S):
                self._writer.commit()
        except psycopg.Error as exc:
            self._after_failure()
            raise StorageError(
                msg("append of {n_events} events failed: {exc}", n_events=len(events), exc=exc)
            ) from exc
        if chained and self.on_audit_head is not None:
            self.on_audit_head(chained[-1].seq, chained[-1].hash)
        return stored

    def purge(self, keys: Sequence[tuple[str, str]], record: Event) -> Event:
        try:
            writer = self._writer
            with deadline(lambda: writer, DEADLINE_S), self._writer.transaction():
                self._writer.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                row = self._writer.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                stored = record.with_seq((int(row[0]) if row else 0) + 1)
                with self._writer.cursor() as cur:
                    cur.executemany(
                        "DELETE FROM events WHERE kind = %s AND entity_id = %s", list(keys)
                    )
                    cur.execute(
                        _INSERT,
                        (
                            stored.seq,
                            stored.event_id,
                            stored.type,
                            stored.kind,
                            stored.entity_id,
                            stored.received_at,
                            stored.to_json().decode(),
                        ),
                    )
                    cur.executemany(
                        "INSERT INTO purged (seq, kind, entity_id) VALUES (%s, %s, %s)",
                        [(stored.seq, k, i) for k, i in keys],
                    )
                self._notify(stored.seq)
            with deadline(lambda: writer, DEADLINE_S):
                self._writer.commit()
        except psycopg.Error as exc:
            self._after_failure()
            raise StorageError(
                msg("purge of {n_keys} records failed: {exc}", n_keys=len(keys), exc=exc)
            ) from exc
        return stored

    def _notify(self, seq: int) -> None:
        """Tell every listening node, at commit (PostgreSQL delivers NOTIFY then, in order)."""
        self._writer.execute("SELECT pg_notify(%s, %s)", (self._channel, str(seq)))

    @property
    def _channel(self) -> str:
        return f"estran_{self.schema}"

    def purged_keys(self, seq: int) -> list[tuple[str, str]]:
        """The records the purge logged at ``seq`` removed (a following node drops them)."""
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                rows = conn.execute(
                    "SELECT kind, entity_id FROM purged WHERE seq = %s", (seq,)
                ).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return [(str(k), str(i)) for k, i in rows]

    def watch(self, on_commit: Callable[[int], None]) -> Callable[[], None]:
        """Call ``on_commit(seq)`` (from a thread) whenever any node commits: LISTEN/NOTIFY as
        the wake-up. After every (re)connection it is called with 0, since notifications
        sent while not listening are lost: the caller then reads the log by seq, which is
        the truth. Returns a function that stops watching."""
        stop = threading.Event()

        def listen() -> None:
            while not stop.is_set():
                try:
                    with psycopg.connect(
                        make_conninfo(self.dsn, options=self._options, **LINK_OPTIONS),
                        autocommit=True,
                    ) as conn:
                        conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                        on_commit(0)
                        while not stop.is_set():
                            for note in conn.notifies(timeout=0.5):
                                with contextlib.suppress(ValueError):
                                    on_commit(int(note.payload))
                except psycopg.Error as exc:
                    log.warning("listening for other nodes' commits failed (%s); again", exc)
                    stop.wait(1.0)

        threading.Thread(target=listen, name="estran-follow", daemon=True).start()
        return stop.set

    def find(self, event_ids: Sequence[str]) -> dict[str, Event]:
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                rows = conn.execute(
                    "SELECT body FROM events WHERE event_id = ANY(%s)", (list(event_ids),)
                ).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return {e.event_id: e for e in (Event.from_dict(r[0]) for r in rows)}

    def read(
        self,
        after_seq: int = 0,
        *,
        until_received: str | None = None,
        entity_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        where = ["seq > %s"]
        params: list[Any] = [after_seq]
        if until_received is not None:
            where.append("received_at <= %s")
            params.append(until_received)
        if entity_id is not None:
            where.append("entity_id = %s")
            params.append(entity_id)
        if types:
            where.append("type = ANY(%s)")
            params.append(list(types))
        query = f"SELECT body FROM events WHERE {' AND '.join(where)} ORDER BY seq"  # noqa: S608
        if limit is not None:
            query += " LIMIT %s"
            params.append(limit)
        try:
            with (
                self._pool.connection() as conn,
                conn.transaction(),
                conn.cursor(name="estran_read") as cur,
            ):
                with deadline(lambda: conn, DEADLINE_S):
                    cur.execute(query.encode(), params)
                while True:
                    with deadline(lambda: conn, DEADLINE_S):
                        rows = cur.fetchmany(5000)
                    if not rows:
                        break
                    for (body,) in rows:
                        yield Event.from_dict(body)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("read failed: {exc}", exc=exc)) from exc

    def cursor(self, name: str) -> int | None:
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                row = conn.execute("SELECT seq FROM cursors WHERE name = %s", (name,)).fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return None if row is None else int(row[0])

    def save_cursor(self, name: str, seq: int) -> None:
        """On a pooled connection (autocommit): the writer connection is the ledger's."""
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                conn.execute(_SAVE_CURSOR, (name, seq, stamp(datetime.now(UTC))))
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc

    def last_seq(self) -> int:
        try:
            with self._pool.connection() as conn, deadline(lambda: conn, DEADLINE_S):
                row = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(msg("PostgreSQL unreachable: {exc}", exc=exc)) from exc
        return int(row[0]) if row else 0

    def drop(self) -> None:
        """Remove this store's schema and everything in it (tests and teardown)."""
        self._writer.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
        )
        self._writer.commit()

    def close(self) -> None:
        self._pool.close()
        if self._writer_conn is not None:
            with contextlib.suppress(Exception):
                self._writer_conn.close()
