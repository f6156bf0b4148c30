"""One suite, every security store: the in-memory fake, SQLite, and PostgreSQL over a real
connection (skipped with the reason when no server answers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from estran.adapters.fakes import MemorySecurityStore
from estran.adapters.security_store import SecurityStore
from estran.domain.audit import GENESIS, AuditRow, audit_hash
from estran.domain.errors import StorageError
from estran.ports import SecurityStore as SecurityStorePort
from tests.marks import POSTGRES_URL, needs_postgres


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=needs_postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SecurityStorePort]:
    if request.param == "memory":
        yield MemorySecurityStore()
        return
    if request.param == "sqlite":
        real = SecurityStore.for_data_dir(tmp_path)
    else:
        schema = f"estran_sec_contract_{uuid.uuid4().hex[:10]}"
        real = SecurityStore.for_postgres(POSTGRES_URL, schema, tmp_path)
    try:
        yield real
    finally:
        if request.param == "postgres":
            real.execute_raw(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        real.close()


def user(name: str, **extra: object) -> dict[str, object]:
    return {
        "username": name,
        "display_name": name.title(),
        "password_hash": "x",
        "role": "operator",
        "agency_id": "FR-GN",
        "nation": "FR",
        "clearance": "OFFICIAL",
        "created_at": "2026-11-30T21:00:00.000000Z",
        "updated_at": "2026-11-30T21:00:00.000000Z",
        **extra,
    }


def row(action: str) -> AuditRow:
    return AuditRow(0, "2026-11-30T21:00:00.000000Z", "u:test", action, None, True, "r", "",
                    None, {"n": action})  # fmt: skip


def test_accounts_are_added_read_listed_in_name_order_and_updated(store):
    store.add_user(user("zoe"))
    store.add_user(user("alice"))
    assert [u["username"] for u in store.list_users()] == ["alice", "zoe"]
    got = store.get_user("alice")
    assert got is not None
    assert (got["role"], got["agency_id"]) == ("operator", "FR-GN")
    assert store.update_user("alice", disabled=True) is True
    assert store.get_user("alice")["disabled"]
    assert store.update_user("nobody", disabled=True) is False
    assert store.get_user("nobody") is None


def test_a_name_is_taken_once(store):
    store.add_user(user("bob"))
    with pytest.raises(StorageError):
        store.add_user(user("bob"))
    assert len(store.list_users()) == 1


def test_an_incomplete_account_is_refused_for_what_it_is_not_as_a_taken_name(store):
    incomplete = user("dave")
    del incomplete["updated_at"]
    with pytest.raises(StorageError) as refused:
        store.add_user(incomplete)
    assert "already exists" not in refused.value.message
    assert store.get_user("dave") is None
    fresh = store.get_user  # and a later, complete add succeeds
    store.add_user(user("dave"))
    assert fresh("dave") is not None


def test_sessions_are_kept_and_revoked_one_or_all(store):
    store.add_user(user("carol"))
    for t in ("t1", "t2", "t3"):
        store.add_session(t, "carol", "web", "2026-11-30T21:00:00Z", "2026-12-01T21:00:00Z")
    assert store.get_session("t1")["username"] == "carol"
    assert not store.get_session("t1")["revoked"]
    assert store.revoke_sessions("carol", "t1") == 1
    assert store.get_session("t1")["revoked"]
    assert not store.get_session("t2")["revoked"]
    assert store.revoke_sessions("carol") == 3
    assert store.get_session("nope") is None


def test_the_audit_trail_is_a_hash_chain_read_in_order(store):
    assert store.audit_head() == (0, GENESIS)
    first = store.append_audit([row("a"), row("b")])
    second = store.append_audit([row("c")])
    assert [r.seq for r in first + second] == [1, 2, 3]
    prev = GENESIS
    for r in store.read_audit():
        assert r.prev_hash == prev
        assert r.hash == audit_hash(r, prev)
        prev = r.hash
    assert store.audit_head() == (3, prev)
    assert [r.action for r in store.read_audit(after=1)] == ["b", "c"]
    assert [r.action for r in store.read_audit(after=0, limit=2)] == ["a", "b"]
    assert next(iter(store.read_audit(after=2))).details == {"n": "c"}
