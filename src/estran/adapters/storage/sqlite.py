"""SQLite event store: the embedded default. One file, WAL, one writer, durable commits.

Writes come from the services' single writer thread (``BEGIN IMMEDIATE`` plus a lock make a
second writer wait rather than corrupt anything); ``synchronous=FULL`` makes a commit
durable before ``append`` returns. Reads use one connection per thread, which WAL lets run
beside the writer.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import orjson

from estran.adapters.private_files import private_file
from estran.adapters.storage.audit_sql import append_audit_rows
from estran.adapters.storage.migrations import SCHEMA_VERSION, migrate
from estran.domain.errors import BehindError, StorageError
from estran.domain.events import Event
from estran.domain.messages import msg
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from estran.domain.audit import AuditRow
    from estran.ports import AuditBuilder

__all__ = ["SqliteEventStore"]

_INSERT: Final = (
    "INSERT INTO events (seq, event_id, type, kind, entity_id, received_at, body) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_FETCH: Final = 2000
_SAVE_CURSOR: Final = (
    "INSERT INTO cursors (name, seq, at) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
    "SET seq = max(cursors.seq, excluded.seq), at = excluded.at"
)


class SqliteEventStore:
    name = "sqlite"

    def __init__(self, path: Path, *, migrate_up_to: int = SCHEMA_VERSION) -> None:
        self.path = path
        private_file(path)  # 0600: its WAL and shared-memory files take the same mode
        try:
            self._writer = self._connect()
            self._writer.execute("PRAGMA journal_mode=WAL")
            migrate(
                self._run,
                self._transaction,
                "sqlite",
                stamp(datetime.now(UTC)),
                placeholder="?",
                up_to=migrate_up_to,
            )
            row = self._writer.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
        except sqlite3.Error as exc:
            raise StorageError(
                msg("cannot open event store {path}: {exc}", path=path, exc=exc)
            ) from exc
        self._seq: int = int(row[0])
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.on_audit_head: Callable[[int, str], None] | None = None
        """Told the audit trail's new head after a commit that audited (its anchor file)."""

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _run(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        return self._writer.execute(sql, params).fetchall()

    def _transaction(self, body: Callable[[], None]) -> None:
        self._writer.execute("BEGIN IMMEDIATE")
        try:
            body()
        except BaseException:
            self._writer.execute("ROLLBACK")
            raise
        self._writer.execute("COMMIT")

    def schema_version(self) -> int:
        return int(self._reader().execute("SELECT max(version) FROM estran_schema").fetchone()[0])

    def append(
        self,
        events: Sequence[Event],
        audit: AuditBuilder | None = None,
        *,
        after: int | None = None,
    ) -> list[Event]:
        with self._lock:
            start = self._seq
            if after is not None and after != start:
                raise BehindError(start, after)
            stored = [e.with_seq(start + i) for i, e in enumerate(events, 1)]
            rows = [
                (e.seq, e.event_id, e.type, e.kind, e.entity_id, e.received_at, e.to_json())
                for e in stored
            ]
            chained: list[AuditRow] = []

            def insert() -> None:
                self._writer.executemany(_INSERT, rows)
                if audit is not None:
                    chained.extend(append_audit_rows(self._writer, audit(stored), mark="?"))

            try:
                self._transaction(insert)
            except sqlite3.Error as exc:
                raise StorageError(
                    msg("append of {n_rows} events failed: {exc}", n_rows=len(rows), exc=exc)
                ) from exc
            self._seq = start + len(stored)
            if chained and self.on_audit_head is not None:
                self.on_audit_head(chained[-1].seq, chained[-1].hash)
            return stored

    def purge(self, keys: Sequence[tuple[str, str]], record: Event) -> Event:
        with self._lock:
            stored = record.with_seq(self._seq + 1)
            row = (
                stored.seq,
                stored.event_id,
                stored.type,
                stored.kind,
                stored.entity_id,
                stored.received_at,
                stored.to_json(),
            )

            def delete_then_record() -> None:
                self._writer.executemany(
                    "DELETE FROM events WHERE kind = ? AND entity_id = ?", list(keys)
                )
                self._writer.execute(_INSERT, row)
                self._writer.executemany(
                    "INSERT INTO purged (seq, kind, entity_id) VALUES (?, ?, ?)",
                    [(stored.seq, k, i) for k, i in keys],
                )

            try:
                self._transaction(delete_then_record)
            except sqlite3.Error as exc:
                raise StorageError(
                    msg("purge of {n_keys} records failed: {exc}", n_keys=len(keys), exc=exc)
                ) from exc
            self._seq = stored.seq
            return stored

    def purged_keys(self, seq: int) -> list[tuple[str, str]]:
        """The records the purge logged at ``seq`` removed."""
        rows = (
            self._reader()
            .execute("SELECT kind, entity_id FROM purged WHERE seq = ?", (seq,))
            .fetchall()
        )
        return [(str(k), str(i)) for k, i in rows]

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            self._readers.append(conn)
        return conn

    def find(self, event_ids: Sequence[str]) -> dict[str, Event]:
        found: dict[str, Event] = {}
        ids = list(event_ids)
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for (body,) in self._reader().execute(
                f"SELECT body FROM events WHERE event_id IN ({marks})",  # noqa: S608
                chunk,
            ):
                event = Event.from_json(body)
                found[event.event_id] = event
        return found

    def read(
        self,
        after_seq: int = 0,
        *,
        until_received: str | None = None,
        entity_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        where = ["seq > ?"]
        params: list[Any] = [after_seq]
        if until_received is not None:
            where.append("received_at <= ?")
            params.append(until_received)
        if entity_id is not None:
            where.append("entity_id = ?")
            params.append(entity_id)
        if types:
            where.append(f"type IN ({','.join('?' * len(types))})")
            params.extend(types)
        sql = f"SELECT body FROM events WHERE {' AND '.join(where)} ORDER BY seq"  # noqa: S608
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        try:
            cursor = self._reader().execute(sql, params)
            while rows := cursor.fetchmany(_FETCH):
                for (body,) in rows:
                    yield Event.from_dict(orjson.loads(body))
        except sqlite3.Error as exc:
            raise StorageError(msg("read failed: {exc}", exc=exc)) from exc

    def cursor(self, name: str) -> int | None:
        row = self._reader().execute("SELECT seq FROM cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def save_cursor(self, name: str, seq: int) -> None:
        with self._lock:
            try:
                self._writer.execute(_SAVE_CURSOR, (name, seq, stamp(datetime.now(UTC))))
            except sqlite3.Error as exc:
                raise StorageError(
                    msg("saving the cursor of {name} failed: {exc}", name=name, exc=exc)
                ) from exc

    def last_seq(self) -> int:
        return self._seq

    def close(self) -> None:
        for conn in self._readers:
            conn.close()
        self._writer.close()
