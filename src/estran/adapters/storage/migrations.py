"""Versioned schema migrations shared by the SQLite and PostgreSQL event stores.

Each migration has a version, a name and the statements for each dialect. A store opens by
applying, in one transaction each, the migrations its database has not seen; a database at
a newer version than this code knows is refused (``SchemaVersionError``), never altered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from estran.domain.errors import SchemaVersionError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate"]

Dialect = Literal["sqlite", "postgres"]


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sqlite: tuple[str, ...]
    postgres: tuple[str, ...]


MIGRATIONS: Final = (
    Migration(
        1,
        "event log",
        sqlite=(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
            "type TEXT NOT NULL, entity_id TEXT NOT NULL, received_at TEXT NOT NULL, "
            "body BLOB NOT NULL)",
        ),
        postgres=(
            "CREATE TABLE events (seq BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, "
            "type TEXT NOT NULL, entity_id TEXT NOT NULL, received_at TEXT NOT NULL, "
            "body JSONB NOT NULL)",
        ),
    ),
    Migration(
        2,
        "kind column, time and entity indexes",
        sqlite=(
            "ALTER TABLE events ADD COLUMN kind TEXT",
            "UPDATE events SET kind = substr(type, 1, instr(type, '.') - 1)",
            "CREATE INDEX events_received_at ON events (received_at)",
            "CREATE INDEX events_entity ON events (kind, entity_id)",
        ),
        postgres=(
            "ALTER TABLE events ADD COLUMN kind TEXT",
            "UPDATE events SET kind = split_part(type, '.', 1)",
            "CREATE INDEX events_received_at ON events (received_at)",
            "CREATE INDEX events_entity ON events (kind, entity_id)",
        ),
    ),
    Migration(
        3,
        "the audit trail beside the events (one transaction for a change and its audit row)",
        sqlite=(
            "CREATE TABLE IF NOT EXISTS audit (seq INTEGER NOT NULL PRIMARY KEY, "
            "at VARCHAR(40) NOT NULL, actor VARCHAR(160) NOT NULL, action VARCHAR(64) NOT NULL, "
            "target VARCHAR(300), allowed BOOLEAN NOT NULL, rule VARCHAR(64) NOT NULL, "
            "reason TEXT NOT NULL, justification TEXT, details TEXT NOT NULL, "
            "prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL)",
            "CREATE TABLE IF NOT EXISTS audit_head (id INTEGER NOT NULL PRIMARY KEY, "
            "seq BIGINT NOT NULL, hash VARCHAR(64) NOT NULL)",
        ),
        postgres=(
            "CREATE TABLE IF NOT EXISTS audit (seq BIGSERIAL PRIMARY KEY, "
            "at VARCHAR(40) NOT NULL, actor VARCHAR(160) NOT NULL, action VARCHAR(64) NOT NULL, "
            "target VARCHAR(300), allowed BOOLEAN NOT NULL, rule VARCHAR(64) NOT NULL, "
            "reason TEXT NOT NULL, justification TEXT, details TEXT NOT NULL, "
            "prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL)",
            "CREATE TABLE IF NOT EXISTS audit_head (id SERIAL PRIMARY KEY, "
            "seq BIGINT NOT NULL, hash VARCHAR(64) NOT NULL)",
        ),
    ),
    Migration(
        4,
        "which records a purge removed (for the nodes that follow the log)",
        sqlite=(
            "CREATE TABLE purged (seq INTEGER NOT NULL, kind TEXT NOT NULL, "
            "entity_id TEXT NOT NULL)",
            "CREATE INDEX purged_seq ON purged (seq)",
        ),
        postgres=(
            "CREATE TABLE purged (seq BIGINT NOT NULL, kind TEXT NOT NULL, "
            "entity_id TEXT NOT NULL)",
            "CREATE INDEX purged_seq ON purged (seq)",
        ),
    ),
    Migration(
        5,
        "where each once-per-centre reactor is in the log (resumed by the next leader)",
        sqlite=(
            "CREATE TABLE cursors (name TEXT NOT NULL PRIMARY KEY, seq INTEGER NOT NULL, "
            "at TEXT NOT NULL)",
        ),
        postgres=(
            "CREATE TABLE cursors (name TEXT NOT NULL PRIMARY KEY, seq BIGINT NOT NULL, "
            "at TEXT NOT NULL)",
        ),
    ),
)
SCHEMA_VERSION: Final = MIGRATIONS[-1].version

_META_DDL: Final = (
    "CREATE TABLE IF NOT EXISTS estran_schema (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, applied_at TEXT NOT NULL)"
)


def migrate(
    execute: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]],
    transaction: Callable[[Callable[[], None]], None],
    dialect: Dialect,
    now: str,
    *,
    placeholder: str,
    up_to: int = SCHEMA_VERSION,
) -> int:
    """Bring the schema to ``up_to``; returns the version found before migrating."""

    def create_meta() -> None:
        execute(_META_DDL, ())

    transaction(create_meta)
    rows = execute("SELECT coalesce(max(version), 0) FROM estran_schema", ())
    found = int(rows[0][0])
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(found, SCHEMA_VERSION)
    for migration in MIGRATIONS:
        if found < migration.version <= up_to:

            def apply(m: Migration = migration) -> None:
                for statement in getattr(m, dialect):
                    execute(statement, ())
                insert = (
                    "INSERT INTO estran_schema (version, name, applied_at) VALUES "  # noqa: S608
                    f"({placeholder}, {placeholder}, {placeholder})"
                )
                execute(insert, (m.version, m.name, now))

            transaction(apply)
    return found
