"""Accounts, sessions and the audit trail, in SQLite (embedded) or PostgreSQL (multi-node).

One SQLAlchemy Core module for both databases (``docs/DESIGN.md`` says why Core here while
the event log keeps its hand-tuned drivers): the tables are small and written rarely, so one
portable definition beats two dialect copies. Blocking: callers run it in a worker thread.

The audit trail is append-only and hash-chained: each row's hash covers its content and the
previous row's hash, and the chain's head is kept in ``audit_head``, so an edit, a deletion,
a reordering or a cut tail is found by ``verify``.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
import weakref
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from estran.adapters.private_files import private_file, write_private
from estran.adapters.storage.watchdog import deadline
from estran.domain.audit import GENESIS, AuditRow, audit_hash
from estran.domain.errors import StorageError
from estran.domain.messages import msg

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

ANCHOR_FILE = "audit-anchor.json"
LEGACY_FILE = "security.sqlite3"

__all__ = ["ANCHOR_FILE", "SecurityStore"]

P = ParamSpec("P")
R = TypeVar("R")

_meta = sa.MetaData()

users = sa.Table(
    "users",
    _meta,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("display_name", sa.String(128), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("agency_id", sa.String(128), nullable=False),
    sa.Column("nation", sa.String(3), nullable=False),
    sa.Column("clearance", sa.String(32), nullable=False),
    sa.Column("sectors", sa.Text, nullable=True),
    sa.Column("attached_unit", sa.String(128), nullable=True),
    sa.Column("access_until", sa.String(40), nullable=True),
    sa.Column("password_hash", sa.Text, nullable=True),
    sa.Column("service", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
    sa.Column("locked_until", sa.String(40), nullable=True),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
)

sessions = sa.Table(
    "sessions",
    _meta,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("issued_at", sa.String(40), nullable=False),
    sa.Column("expires_at", sa.String(40), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)

audit = sa.Table(
    "audit",
    _meta,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(160), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", sa.String(300), nullable=True),
    sa.Column("allowed", sa.Boolean, nullable=False),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("justification", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

audit_head = sa.Table(
    "audit_head",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


_DEADLINE_S = 6.0


def _storage(func: Callable[P, R]) -> Callable[P, R]:
    """A database failure becomes ``StorageError`` (503, "storage_error"), never a 500; and
    no call waits on PostgreSQL longer than ``_DEADLINE_S`` (past it, the engine's connections
    are cut: the link is gone for all of them)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store = args[0]
        assert isinstance(store, SecurityStore)  # noqa: S101 (a method of the store)
        try:
            if not store._networked:  # SQLite: no link to lose, no watchdog thread to start
                return func(*args, **kwargs)
            with deadline(lambda: list(store._conns), _DEADLINE_S):
                return func(*args, **kwargs)
        except StorageError:
            raise
        except SQLAlchemyError as exc:
            raise StorageError(msg("the security store is unreachable: {exc}", exc=exc)) from exc

    return wrapper


class SecurityStore:
    """Users, sessions and the audit trail behind one SQLAlchemy engine."""

    def __init__(self, url: str, *, schema: str | None = None, anchor: Path | None = None) -> None:
        self.url = url
        self.schema = schema
        self.anchor = anchor
        """A file outside the database holding the chain's latest head (``audit-anchor.json``):
        deleting every row, or moving the head back, no longer passes ``verify``."""
        connect_args: dict[str, Any] = {}
        options: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": 10}
        else:
            # Every wait on the network is bounded (a reset or a silent partition answers 503
            # within seconds, never hangs a sign-in), as for the event store.
            connect_args = {
                "connect_timeout": 3, "keepalives": 1, "keepalives_idle": 2,
                "keepalives_interval": 1, "keepalives_count": 2, "tcp_user_timeout": 4000,
                "options": "-c statement_timeout=5000",
            }  # fmt: skip
            options = {"pool_timeout": 4}
        engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True, **options)
        self._conns: weakref.WeakSet[Any] = weakref.WeakSet()
        self._networked = not url.startswith("sqlite")
        if not url.startswith("sqlite"):

            @sa.event.listens_for(engine, "connect")
            def _remember(conn: Any, _: Any) -> None:
                self._conns.add(conn)

        if url.startswith("sqlite"):

            @sa.event.listens_for(engine, "connect")
            def _pragmas(conn: Any, _: Any) -> None:
                conn.isolation_level = None  # transactions are begun below, not by pysqlite
                cur = conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=FULL")
                cur.execute("PRAGMA busy_timeout=10000")
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _begin(conn: Any) -> None:
                # One database holds the events and the audit trail: take the write lock at
                # the start, so the event writer and this store queue for it (busy_timeout)
                # instead of one failing on a lock upgrade.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        if schema is not None:
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            engine = engine.execution_options(schema_translate_map={None: schema})
        self.engine = engine
        self._lock = threading.Lock()
        try:
            _meta.create_all(self.engine)
            self._upgrade()
        except SQLAlchemyError as exc:
            raise StorageError(msg("cannot open the security store: {exc}", exc=exc)) from exc

    def _upgrade(self) -> None:
        """Columns added since a store was made: an account's language (the watch floor and
        the API's messages in French or English)."""
        with self.engine.begin() as conn:
            have = {c["name"] for c in sa.inspect(conn).get_columns("users", schema=self.schema)}
            if "language" not in have:
                table = f'"{self.schema}".users' if self.schema else "users"
                conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN language VARCHAR(8)"))

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> SecurityStore:
        """Accounts, sessions and the audit trail in the event store's own database
        (``events.sqlite3``, 0600), so a change and its audit row share one transaction. A
        data directory from before keeps its rows: ``security.sqlite3`` is adopted once."""
        path = private_file(data_dir / "events.sqlite3")
        store = cls(f"sqlite:///{path}", anchor=data_dir / ANCHOR_FILE)
        legacy = data_dir / LEGACY_FILE
        if legacy.exists():
            store._adopt(legacy)
        return store

    def _adopt(self, legacy: Path) -> None:
        """Copy a legacy ``security.sqlite3`` into this database (if this one has no rows yet)
        and set it aside as ``security.sqlite3.adopted``."""
        main = self.url.removeprefix("sqlite:///")
        conn = sqlite3.connect(main, isolation_level=None, timeout=10)
        try:
            conn.execute("ATTACH DATABASE ? AS legacy", (str(legacy),))
            conn.execute("BEGIN IMMEDIATE")
            users_n = conn.execute("SELECT count(*) FROM main.users").fetchone()[0]
            audit_n = conn.execute("SELECT count(*) FROM main.audit").fetchone()[0]
            if users_n == 0 and audit_n == 0:
                for table in ("users", "sessions", "audit", "audit_head"):
                    conn.execute(f"INSERT INTO main.{table} SELECT * FROM legacy.{table}")  # noqa: S608
            conn.execute("COMMIT")
            conn.execute("DETACH DATABASE legacy")
        finally:
            conn.close()
        legacy.rename(legacy.with_name(LEGACY_FILE + ".adopted"))

    @classmethod
    def for_postgres(
        cls, database_url: str, schema: str, data_dir: Path | None = None
    ) -> SecurityStore:
        url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        anchor = None if data_dir is None else data_dir / f"{schema}-{ANCHOR_FILE}"
        return cls(url, schema=schema, anchor=anchor)

    def read_anchor(self) -> tuple[int, str] | None:
        """The head as last written outside the database (None: no anchor kept, or none yet)."""
        if self.anchor is None or not self.anchor.exists():
            return None
        try:
            body = orjson.loads(self.anchor.read_bytes())
            return int(body["seq"]), str(body["hash"])
        except (OSError, ValueError, KeyError, TypeError):
            return (-1, "unreadable")

    def advance_anchor(self, seq: int, digest: str) -> None:
        """Move the anchor forward to ``(seq, digest)`` (the event store calls this after a
        commit that audited)."""
        with self._lock:
            self._write_anchor(seq, digest)

    def _write_anchor(self, seq: int, digest: str) -> None:
        if self.anchor is None:
            return
        # Only ever forward: a process that committed earlier never moves the anchor back.
        current = self.read_anchor()
        if current is not None and current[0] >= seq:
            return
        tmp = self.anchor.with_suffix(".tmp")
        write_private(tmp, orjson.dumps({"seq": seq, "hash": digest}))
        tmp.replace(self.anchor)

    def close(self) -> None:
        self.engine.dispose()

    # --- users ----------------------------------------------------------------------------

    def add_user(self, row: dict[str, Any]) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(users.insert().values(**row))
        except IntegrityError as exc:
            if self.get_user(row["username"]) is not None:
                raise StorageError(
                    msg("user {username!r} already exists", username=row["username"])
                ) from exc
            raise StorageError(
                msg("user {username!r} refused: {orig}", username=row["username"], orig=exc.orig)
            ) from exc

    @_storage
    def get_user(self, username: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(users.select().where(users.c.username == username)).mappings()
            found = row.first()
        return None if found is None else dict(found)

    @_storage
    def list_users(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(users.select().order_by(users.c.username)).mappings().all()
        return [dict(r) for r in rows]

    @_storage
    def update_user(self, username: str, **changes: Any) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                users.update().where(users.c.username == username).values(**changes)
            )
        return bool(result.rowcount)

    # --- sessions -------------------------------------------------------------------------

    @_storage
    def add_session(
        self, token_hash: str, username: str, kind: str, issued_at: str, expires_at: str
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sessions.insert().values(
                    token_hash=token_hash,
                    username=username,
                    kind=kind,
                    issued_at=issued_at,
                    expires_at=expires_at,
                    revoked=False,
                )
            )

    @_storage
    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            found = (
                conn.execute(sessions.select().where(sessions.c.token_hash == token_hash))
                .mappings()
                .first()
            )
        return None if found is None else dict(found)

    @_storage
    def revoke_sessions(self, username: str, token_hash: str | None = None) -> int:
        query = sessions.update().where(sessions.c.username == username)
        if token_hash is not None:
            query = query.where(sessions.c.token_hash == token_hash)
        with self.engine.begin() as conn:
            return int(conn.execute(query.values(revoked=True)).rowcount)

    # --- audit ----------------------------------------------------------------------------

    @_storage
    def append_audit(self, rows: list[AuditRow]) -> list[AuditRow]:
        """Chain and store ``rows`` in one transaction; returns them with seq and hashes."""
        for attempt in range(20):
            try:
                with self._lock, self.engine.begin() as conn:
                    head = conn.execute(
                        audit_head.select().where(audit_head.c.id == 1).with_for_update()
                    ).first()
                    seq, prev = (int(head.seq), str(head.hash)) if head else (0, GENESIS)
                    stored: list[AuditRow] = []
                    for row in rows:
                        seq += 1
                        chained = AuditRow(**{**row.as_dict(), "seq": seq, "prev_hash": prev})
                        digest = audit_hash(chained, prev)
                        chained = AuditRow(**{**chained.as_dict(), "hash": digest})
                        stored.append(chained)
                        prev = digest
                    conn.execute(
                        audit.insert(),
                        [
                            {**r.as_dict(), "details": orjson.dumps(r.details).decode()}
                            for r in stored
                        ],
                    )
                    if head is None:
                        conn.execute(audit_head.insert().values(id=1, seq=seq, hash=prev))
                    else:
                        conn.execute(
                            audit_head.update()
                            .where(audit_head.c.id == 1)
                            .values(seq=seq, hash=prev)
                        )
                if stored:
                    with self._lock:
                        self._write_anchor(stored[-1].seq, stored[-1].hash)
                return stored
            except IntegrityError:
                # Another process (the CLI beside a running server) appended first: re-chain.
                if attempt == 19:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def read_audit(self, after: int = 0, limit: int | None = None) -> Iterator[AuditRow]:
        query = audit.select().where(audit.c.seq > after).order_by(audit.c.seq)
        if limit is not None:
            query = query.limit(limit)
        try:
            with self.engine.connect() as conn:
                for r in conn.execute(query).mappings():
                    yield AuditRow(**{**dict(r), "details": orjson.loads(r["details"])})
        except SQLAlchemyError as exc:
            raise StorageError(msg("the security store is unreachable: {exc}", exc=exc)) from exc

    @_storage
    def audit_head(self) -> tuple[int, str]:
        with self.engine.connect() as conn:
            head = conn.execute(audit_head.select().where(audit_head.c.id == 1)).first()
        return (int(head.seq), str(head.hash)) if head else (0, GENESIS)

    @_storage
    def execute_raw(self, sql: str, params: dict[str, Any] | None = None) -> None:
        """Run raw SQL (tests that tamper with the trail, on purpose)."""
        with self.engine.begin() as conn:
            conn.execute(sa.text(sql), params or {})
