"""The event log's hash chain (Low item): checkpoints in the anchored audit trail pin every
event up to them; an edit, a deletion or an insertion is found, a purge is not a break."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from estran.adapters.security_store import SecurityStore
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.domain.events import Event
from estran.domain.timefmt import stamp
from estran.services.audit import AuditTrail
from estran.services.eventchain import EventChain, verify_events

T0 = datetime(2026, 11, 25, 20, tzinfo=UTC)


def _event(i: int) -> Event:
    at = stamp(T0 + timedelta(seconds=i))
    data = {"log": "duty", "role": "op", "text": f"line {i}"}
    return Event(0, f"e{i:08d}", "log_entry.created", "log_entry", f"log-{i}", at, at, "t", "t",
                 {"releasable_to": ["FR"]}, data)  # fmt: skip


@pytest.fixture
async def world(tmp_path):
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    security = SecurityStore.for_data_dir(tmp_path)
    audit = AuditTrail(security, lambda: T0)
    store.append([_event(i) for i in range(1, 51)])
    chain = EventChain(store, audit)
    await chain.checkpoint()
    yield store, security, audit, chain, tmp_path / "events.sqlite3"
    audit.close()
    security.close()
    store.close()


def _raw(path, sql: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()


async def test_low_an_intact_log_verifies_against_its_checkpoints(world):
    store, security, _audit, chain, _ = world
    store.append([_event(i) for i in range(51, 61)])
    await chain.checkpoint()
    result = verify_events(store, security.read_audit())
    assert result.ok, result.problems
    assert (result.events, result.checkpoints) == (60, 2)


@pytest.mark.parametrize(
    "tamper",
    [
        "UPDATE events SET body = CAST(replace(CAST(body AS TEXT), 'line 7', 'line 8') AS BLOB)"
        " WHERE seq = 7",
        "DELETE FROM events WHERE seq = 20",
        'UPDATE events SET body = CAST(replace(CAST(body AS TEXT), \'"actor":"t"\', '
        '\'"actor":"x"\') AS BLOB) WHERE seq = 3',
        "DELETE FROM events WHERE seq = 50",
    ],
)
async def test_low_an_edited_or_deleted_event_is_found(world, tamper):
    store, security, _audit, _chain, path = world
    _raw(path, tamper)
    result = verify_events(store, security.read_audit())
    assert not result.ok


async def test_low_a_purge_followed_by_its_checkpoint_is_no_break(world):
    store, security, _audit, chain, path = world
    store.purge([("log_entry", "log-5")], Event(0, "purge-event-1", "purge.created", "purge",
                "purge-1", stamp(T0), stamp(T0), "system", "retention", {"releasable_to": ["FR"]},
                {"removed": {"log_entry": 1}, "rules_days": {}, "reason": "test"}))  # fmt: skip
    assert not verify_events(store, security.read_audit()).ok  # before its checkpoint
    await chain.checkpoint(after_purge=True)
    assert verify_events(store, security.read_audit()).ok
    _raw(path, "DELETE FROM events WHERE seq = 30")
    assert not verify_events(store, security.read_audit()).ok
