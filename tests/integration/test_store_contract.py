"""One suite, every event store: memory (the fake), SQLite, and PostgreSQL over a real
connection (skipped with the reason when no server answers)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from estran.adapters.storage.memory import MemoryEventStore
from estran.adapters.storage.migrations import SCHEMA_VERSION
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.domain.events import Event
from estran.ports import EventStore
from tests.marks import POSTGRES_URL, needs_postgres


def ev(
    n: int, *, entity: str = "u1", received: str | None = None, type_: str = "unit.updated"
) -> Event:
    return Event(
        0,
        f"event-{n:06d}",
        type_,
        type_.split(".")[0],
        entity,
        "2026-11-24T22:00:00Z",
        received or f"2026-11-24T22:{n // 60:02d}:{n % 60:02d}.000000Z",
        "actor",
        "test",
        {"classification": "OFFICIAL"},
        {"n": n},
    )


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=needs_postgres)])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], EventStore]]:
    opened: list[EventStore] = []
    schema = f"estran_contract_{abs(hash(request.node.name)) % 10**10}"

    def factory() -> EventStore:
        if request.param == "memory":
            store: EventStore = opened[0] if opened else MemoryEventStore()
        elif request.param == "sqlite":
            store = SqliteEventStore(tmp_path / "events.sqlite3")
        else:
            from estran.adapters.storage.postgres import PostgresEventStore

            store = PostgresEventStore(POSTGRES_URL, schema=schema)
        opened.append(store)
        return store

    yield factory
    if request.param == "postgres" and opened:
        opened[-1].drop()  # type: ignore[attr-defined]
    for store in opened:
        store.close()


def test_append_assigns_gap_free_sequence_numbers_in_order(open_store):
    store = open_store()
    first = store.append([ev(1), ev(2)])
    second = store.append([ev(3)])
    assert [e.seq for e in first + second] == [1, 2, 3]
    assert store.last_seq() == 3
    assert [e.data["n"] for e in store.read()] == [1, 2, 3]


def test_events_survive_closing_and_reopening_the_store(open_store):
    store = open_store()
    store.append([ev(i) for i in range(1, 101)])
    store.close()
    again = open_store()
    assert again.last_seq() == 100
    assert [e.event_id for e in again.read()] == [f"event-{i:06d}" for i in range(1, 101)]
    (nxt,) = again.append([ev(101)])
    assert nxt.seq == 101


def test_a_failed_append_writes_nothing(open_store):
    store = open_store()
    store.append([ev(1)])
    with pytest.raises(Exception):  # noqa: B017, PT011 (each adapter raises StorageError)
        store.append([ev(2), ev(1)])  # second has a duplicate event_id
    assert store.last_seq() == 1
    assert [e.event_id for e in store.read()] == ["event-000001"]


def test_read_filters_by_seq_time_entity_type_and_limit(open_store):
    store = open_store()
    store.append([ev(1), ev(2, entity="u2"), ev(3, type_="incident.created", entity="i1"), ev(4)])
    assert [e.seq for e in store.read(2)] == [3, 4]
    assert [e.seq for e in store.read(until_received="2026-11-24T22:00:02.000000Z")] == [1, 2]
    assert [e.seq for e in store.read(entity_id="u1")] == [1, 4]
    assert [e.seq for e in store.read(types=["incident.created"])] == [3]
    assert [e.seq for e in store.read(limit=2)] == [1, 2]


def test_find_returns_stored_events_by_id(open_store):
    store = open_store()
    store.append([ev(1), ev(2)])
    found = store.find(["event-000002", "missing-000"])
    assert list(found) == ["event-000002"]
    assert found["event-000002"].seq == 2


def test_the_store_reports_its_schema_version(open_store):
    assert open_store().schema_version() == SCHEMA_VERSION


def test_reads_run_beside_appends_from_other_threads(open_store):
    store = open_store()
    store.append([ev(i) for i in range(1, 11)])
    seen: list[int] = []

    def reader() -> None:
        for _ in range(20):
            seen.append(sum(1 for _ in store.read()))

    thread = threading.Thread(target=reader)
    thread.start()
    for i in range(11, 61):
        store.append([ev(i)])
    thread.join()
    assert seen == sorted(seen)
    assert store.last_seq() == 60


def test_a_reactor_cursor_is_saved_never_moves_back_and_survives_a_reopen(open_store):
    store = open_store()
    assert store.cursor("rescue") is None
    store.save_cursor("rescue", 7)
    store.save_cursor("rescue", 3)  # a late save from a node that led before: ignored
    store.save_cursor("fusion", 2)
    assert (store.cursor("rescue"), store.cursor("fusion")) == (7, 2)
    if not isinstance(store, MemoryEventStore):
        store.close()
        store = open_store()
    assert store.cursor("rescue") == 7
