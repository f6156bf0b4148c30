"""Secrets on disk (item 14) and certificate revocation (item 7)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from estran.adapters.certs import init_ca, is_revoked, issue_client, revoke
from estran.adapters.security_store import SecurityStore
from estran.adapters.storage.sqlite import SqliteEventStore
from estran.domain.events import Event


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _open_umask():
    """The attack: a machine whose umask lets everyone read new files (022 or worse)."""
    import os

    old = os.umask(0o002)
    yield
    os.umask(old)


def test_7_revoking_a_name_revokes_every_certificate_ever_issued_to_it(tmp_path):
    folder = tmp_path / "certs"
    init_ca(folder, ["127.0.0.1"])
    first = issue_client(folder, "phone", server_host="127.0.0.1", tls_port=8089,
                         out_dir=tmp_path / "a")  # fmt: skip
    second = issue_client(folder, "phone", server_host="127.0.0.1", tls_port=8089,
                          out_dir=tmp_path / "b")  # fmt: skip
    other = issue_client(folder, "other", server_host="127.0.0.1", tls_port=8089,
                         out_dir=tmp_path / "c")  # fmt: skip
    assert first.serial != second.serial
    assert sorted(revoke(folder, "phone")) == sorted([first.serial, second.serial])
    assert is_revoked(folder, first.serial)
    assert is_revoked(folder, second.serial)
    assert not is_revoked(folder, other.serial)


def test_14_the_event_store_its_wal_and_the_security_database_are_private(tmp_path):
    data = tmp_path / "data"
    store = SqliteEventStore(data / "events.sqlite3")
    store.append([Event(0, "e1", "agency.created", "agency", "FR-GN", "2026-11-25T00:00:00.000000Z",
                        "2026-11-25T00:00:00.000000Z", "t", "t", {"releasable_to": ["FR"]},
                        {"name": "GN", "nation": "FR", "kind": "gendarmerie"})])  # fmt: skip
    security = SecurityStore.for_data_dir(data)
    try:
        for name in ("events.sqlite3", "events.sqlite3-wal", "events.sqlite3-shm"):
            assert (data / name).exists(), name
            assert mode(data / name) == 0o600, (name, oct(mode(data / name)))
        assert mode(data) == 0o700
    finally:
        security.close()
        store.close()


def test_14_ca_keys_client_keys_and_data_packages_are_private_with_random_passwords(tmp_path):
    folder = tmp_path / "certs"
    init_ca(folder, ["127.0.0.1"])
    out = tmp_path / "clients"
    one = issue_client(folder, "one", server_host="127.0.0.1", tls_port=8089, out_dir=out)
    two = issue_client(folder, "two", server_host="127.0.0.1", tls_port=8089, out_dir=out)
    assert mode(folder) == 0o700
    assert mode(out) == 0o700
    for path in (folder / "ca.key", folder / "server.key", out / "one.key", one.package):
        assert mode(path) == 0o600, (path, oct(mode(path)))
    assert one.password != two.password
    assert "atakatak" not in (one.password, two.password)
