"""PostgreSQL event store through psycopg 3: the multi-node path.

Same contract as the SQLite store. The writer takes a transaction-scoped advisory lock, so
several Estran nodes appending to one database still get one gap-free order; a commit with
the server's default ``synchronous_commit=on`` is durable before ``append`` returns. Reads
come from a small pool. Each store lives in its own PostgreSQL schema (``estran`` by default).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson
import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool

from estran.adapters.storage.migrations import SCHEMA_VERSION, migrate
from estran.domain.errors import StorageError
from estran.domain.events import Event
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = ["PostgresEventStore"]

_LOCK_KEY: Final = 0x657374_72616E  # "estran"
_INSERT: Final = (
    "INSERT INTO events (seq, event_id, type, kind, entity_id, received_at, body) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)"
)
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresEventStore:
    name = "postgres"

    def __init__(
        self, dsn: str, *, schema: str = "estran", migrate_up_to: int = SCHEMA_VERSION
    ) -> None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"bad PostgreSQL schema name {schema!r}")
        self.schema = schema
        options = f"-c search_path={schema}"
        try:
            self._writer = psycopg.connect(dsn, options=options)
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
            self._pool = ConnectionPool(
                dsn,
                min_size=1,
                max_size=4,
                kwargs={"options": options, "autocommit": True},
                configure=lambda conn: set_json_loads(orjson.loads, conn),
                open=True,
            )
        except psycopg.Error as exc:
            raise StorageError(f"cannot open PostgreSQL event store: {exc}") from exc

    def _run(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        cur = self._writer.execute(statement.encode(), params)
        return cur.fetchall() if cur.description else []

    def _transaction(self, body: Callable[[], None]) -> None:
        with self._writer.transaction():
            body()
        self._writer.commit()

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT max(version) FROM estran_schema").fetchone()
        return int(row[0]) if row else 0

    def append(self, events: Sequence[Event]) -> list[Event]:
        try:
            with self._writer.transaction():
                self._writer.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                row = self._writer.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
                start = int(row[0]) if row else 0
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
            self._writer.commit()
        except psycopg.Error as exc:
            self._writer.rollback()
            raise StorageError(f"append of {len(events)} events failed: {exc}") from exc
        return stored

    def purge(self, keys: Sequence[tuple[str, str]], record: Event) -> Event:
        try:
            with self._writer.transaction():
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
            self._writer.commit()
        except psycopg.Error as exc:
            self._writer.rollback()
            raise StorageError(f"purge of {len(keys)} records failed: {exc}") from exc
        return stored

    def find(self, event_ids: Sequence[str]) -> dict[str, Event]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT body FROM events WHERE event_id = ANY(%s)", (list(event_ids),)
            ).fetchall()
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
                cur.itersize = 5000
                cur.execute(query.encode(), params)
                for (body,) in cur:
                    yield Event.from_dict(body)
        except psycopg.Error as exc:
            raise StorageError(f"read failed: {exc}") from exc

    def last_seq(self) -> int:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        return int(row[0]) if row else 0

    def drop(self) -> None:
        """Remove this store's schema and everything in it (tests and teardown)."""
        self._writer.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
        )
        self._writer.commit()

    def close(self) -> None:
        self._pool.close()
        self._writer.close()
