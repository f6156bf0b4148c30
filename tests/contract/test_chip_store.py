"""Every chip store (the fake, the folder) keeps a thumbnail until the imagery retention
period ends, and no longer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from estran.adapters.chip_store import ChipStore
from estran.adapters.fakes import MemoryChipStore
from estran.ports import ChipStore as ChipStorePort

T0 = datetime(2026, 11, 30, 22, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "folder"])
def chips(request: pytest.FixtureRequest, tmp_path: Path) -> ChipStorePort:
    if request.param == "memory":
        return MemoryChipStore(retain_days=2)
    return ChipStore(tmp_path / "chips", retain_days=2)


def test_a_thumbnail_is_read_back_until_its_retention_ends(chips):
    chips.put("det-1", b"\x89PNG one", T0)
    assert chips.get("det-1", T0 + timedelta(days=1)) == b"\x89PNG one"
    assert chips.get("det-1", T0 + timedelta(days=2, seconds=1)) is None
    assert chips.get("det-1", T0) is None  # gone once seen past retention
    assert chips.get("never", T0) is None


def test_a_later_put_replaces_and_the_purge_removes_only_what_is_due(chips):
    chips.put("old", b"a", T0)
    chips.put("new", b"b", T0 + timedelta(days=1))
    chips.put("new", b"c", T0 + timedelta(days=1))
    assert chips.purge(T0 + timedelta(days=2, hours=1)) == 1
    assert chips.get("new", T0 + timedelta(days=2, hours=1)) == b"c"
    assert chips.purge(T0 + timedelta(days=2, hours=1)) == 0
