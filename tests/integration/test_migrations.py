from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from estran.adapters.storage.migrations import SCHEMA_VERSION
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.domain.errors import SchemaVersionError
from estran.domain.events import Event
from tests.marks import POSTGRES_URL


def _v1_event(seq: int) -> Event:
    return Event(
        seq,
        f"old-event-{seq:04d}",
        "unit.created",
        "unit",
        f"u{seq}",
        "2025-06-01T00:00:00.000000Z",
        "2025-06-01T00:00:00.000000Z",
        "a",
        "s",
        {},
        {},
    )


def test_a_data_directory_made_by_the_first_schema_still_opens(tmp_path: Path):
    path = tmp_path / "events.sqlite3"
    old = SqliteEventStore(path, migrate_up_to=1)
    conn = sqlite3.connect(path)
    conn.execute(
        "INSERT INTO events (seq, event_id, type, entity_id, received_at, body) "
        "VALUES (1, 'old-event-0001', 'unit.created', 'u1', ?, ?)",
        ("2025-06-01T00:00:00.000000Z", _v1_event(1).to_json()),
    )
    conn.commit()
    conn.close()
    old.close()

    store = SqliteEventStore(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert [e.event_id for e in store.read()] == ["old-event-0001"]
    kind = sqlite3.connect(path).execute("SELECT kind FROM events").fetchone()[0]
    assert kind == "unit"
    store.close()


def test_a_data_directory_from_a_newer_estran_is_refused_untouched(tmp_path: Path):
    path = tmp_path / "events.sqlite3"
    SqliteEventStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO estran_schema VALUES (99, 'future', 'x')")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaVersionError) as err:
        SqliteEventStore(path)
    assert err.value.found == 99


@pytest.mark.postgres
def test_a_postgres_store_made_by_the_first_schema_is_migrated(pg_schema: str):
    from estran.adapters.storage.postgres import PostgresEventStore

    old = PostgresEventStore(POSTGRES_URL, schema=pg_schema, migrate_up_to=1)
    old._writer.execute(
        "INSERT INTO events (seq, event_id, type, entity_id, received_at, body) "
        "VALUES (1, 'old-event-0001', 'unit.created', 'u1', %s, %s::jsonb)",
        ("2025-06-01T00:00:00.000000Z", _v1_event(1).to_json().decode()),
    )
    old._writer.commit()
    old.close()
    store = PostgresEventStore(POSTGRES_URL, schema=pg_schema)
    assert store.schema_version() == SCHEMA_VERSION
    assert [e.entity_id for e in store.read()] == ["u1"]
    store.close()
