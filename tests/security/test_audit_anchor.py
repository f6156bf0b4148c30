"""The audit trail against someone with write access to its database (Low item): deleting
every row, or cutting the tail and moving the head back to match, is found by the head kept
outside the database (the anchor file beside it, and the one each handover prints)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from estran.adapters.security_store import SecurityStore
from estran.cli.main import cli
from estran.services.audit import AuditTrail, verify


@pytest.fixture
def trail(tmp_path: Path):
    store = SecurityStore.for_data_dir(tmp_path)
    audit = AuditTrail(store, lambda: datetime(2026, 11, 25, 22, tzinfo=UTC))
    audit.write([audit.row(f"user:u{i}", "view", target=f"incident/i{i}") for i in range(10)])
    yield store, tmp_path
    audit.close()
    store.close()


def test_low_deleting_every_row_and_the_head_is_found(trail):
    store, _ = trail
    assert verify(store).ok
    store.execute_raw("DELETE FROM audit")
    store.execute_raw("DELETE FROM audit_head")
    result = verify(store)
    assert not result.ok
    assert any("deleted" in p for p in result.problems), result.problems


def test_low_a_cut_tail_with_the_head_moved_back_is_found(trail):
    store, _ = trail
    kept = list(store.read_audit())[5]
    store.execute_raw("DELETE FROM audit WHERE seq > 6")
    store.execute_raw(f"UPDATE audit_head SET seq = 6, hash = '{kept.hash}'")  # noqa: S608
    result = verify(store)
    assert not result.ok
    assert any("moved back" in p for p in result.problems), result.problems


def test_low_a_handovers_anchor_finds_it_even_without_the_anchor_file(trail):
    store, folder = trail
    seq, digest = store.audit_head()
    (folder / "audit-anchor.json").unlink()
    store.execute_raw("DELETE FROM audit")
    store.execute_raw("DELETE FROM audit_head")
    assert verify(store).ok  # nothing outside the database: nothing to compare with
    result = CliRunner().invoke(
        cli, ["audit", "verify", "--data", str(folder), "--anchor", f"{seq}:{digest}"]
    )
    assert result.exit_code == 1
    assert "moved back" in result.output
