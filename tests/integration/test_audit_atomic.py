"""An acknowledged change is audited, or not committed (issue 18, item 8): the ledger writes a
change's audit rows in the transaction of its events, in the one database that holds both.
If the audit row cannot be written, the change is refused with 503 and nothing is stored; a
2xx means stored *and* audited."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from estran.adapters.security_store import SecurityStore
from estran.services.audit import verify
from tests import factories
from tests.auth import AUTH

pytestmark = pytest.mark.integration


def _raw(path, sql: str) -> None:
    conn = sqlite3.connect(path, timeout=10)
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_change_whose_audit_row_cannot_be_written_is_not_committed(server):
    running = server()
    db = running.settings.data_dir / "events.sqlite3"
    api = httpx.Client(base_url=running.http, headers=AUTH, timeout=30)
    assert api.post("/api/v1/units", json=factories.unit("A", id="u-a")).status_code == 201
    _raw(db, "ALTER TABLE audit RENAME TO audit_away")  # the audit trail cannot be written
    r = api.post("/api/v1/units", json=factories.unit("B", id="u-b"))
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "storage_error"
    assert api.get("/api/v1/units/u-b").status_code == 404  # nothing was stored
    _raw(db, "ALTER TABLE audit_away RENAME TO audit")
    assert api.post("/api/v1/units", json=factories.unit("B", id="u-b")).status_code == 201
    api.close()
    store = SecurityStore.for_data_dir(running.settings.data_dir)
    try:
        rows = [r for r in store.read_audit() if r.action == "change"]
        assert [r.target for r in rows] == ["unit/u-a", "unit/u-b"]
        assert verify(store).ok
    finally:
        store.close()


def test_every_committed_change_by_a_person_has_its_audit_row_with_its_seqs(server):
    running = server()
    api = httpx.Client(base_url=running.http, headers=AUTH, timeout=30)
    seqs = []
    for i in range(5):
        r = api.post("/api/v1/units", json=factories.unit(f"U{i}", id=f"u{i}"))
        assert r.status_code == 201
        seqs.append(r.json()["version"])
    r = api.patch("/api/v1/units/u0", json={"marking": {"releasable_to": ["FR", "GB"]}},
                  headers={"X-Justification": "joint patrol"})  # fmt: skip
    assert r.status_code == 200
    api.close()
    store = SecurityStore.for_data_dir(running.settings.data_dir)
    try:
        rows = list(store.read_audit())
    finally:
        store.close()
    audited = {s for r in rows if r.action == "change" for s in r.details["seqs"]}
    assert set(seqs) <= audited
    (release,) = [r for r in rows if r.action == "release"]
    assert release.justification == "joint patrol"
    assert release.target == "unit/u0"
