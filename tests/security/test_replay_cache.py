"""``/picture?at=`` no longer replays the whole log at each call (Low item): a past picture is
served from the nearest cached one plus the events after it, equal to a full rebuild, and
emptied by a purge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from estran.adapters.storage.memory import MemoryEventStore
from estran.bootstrap import rebuild
from estran.domain.events import Event
from estran.domain.picture import Picture
from estran.domain.timefmt import stamp
from estran.services.replay import Replay

T0 = datetime(2026, 11, 25, 20, tzinfo=UTC)


def _events(n: int) -> list[Event]:
    out = []
    for i in range(1, n + 1):
        at = stamp(T0 + timedelta(seconds=i))
        verb = "created" if i % 10 == 1 else "updated"
        uid = f"u{(i - 1) // 10}"
        data = (
            {"callsign": uid, "kind": "foot_patrol", "agency_id": "FR-GN"}
            if verb == "created"
            else {"position": {"lat": 50.9 + i * 1e-5, "lon": 1.7}}
        )
        out.append(Event(0, f"e{i:08d}", f"unit.{verb}", "unit", uid, at, at, "t", "t",
                         {"releasable_to": ["FR"]}, data))  # fmt: skip
    return out


def test_low_a_past_picture_reads_only_the_events_after_the_nearest_cached_one():
    store = MemoryEventStore()
    store.append(_events(20_000))
    live = rebuild(store)
    replay = Replay(store, live, every=2000)
    moments = [stamp(T0 + timedelta(seconds=s)) for s in (15_000, 15_100, 15_200, 16_000)]
    first = replay.at(moments[0])
    assert replay.rebuilt_events == 15_000
    for moment in moments[1:]:
        got = replay.at(moment)
        assert got.records == rebuild(store, until_received=moment).records
    # Each later step read about the events since the last one, not 15,000 again.
    assert replay.rebuilt_events < 15_000 + 2_000
    assert first.records == rebuild(store, until_received=moments[0]).records
    earlier = replay.at(stamp(T0 + timedelta(seconds=3_000)))  # from a checkpoint on the way
    assert (
        earlier.records
        == rebuild(store, until_received=stamp(T0 + timedelta(seconds=3000))).records
    )
    assert replay.rebuilt_events < 15_000 + 2_000 + 2_000


def test_low_a_purge_empties_the_replay_cache():
    store = MemoryEventStore()
    store.append(_events(100))
    live = rebuild(store)
    replay = Replay(store, live)
    moment = stamp(T0 + timedelta(seconds=90))
    assert "u0" in replay.at(moment).records["unit"]
    live.records["purge"]["purge-1"] = {"id": "purge-1"}  # a purge happened
    before = replay.rebuilt_events
    replay.at(moment)
    assert replay.rebuilt_events - before == 90  # rebuilt from nothing, not from the cache
    assert isinstance(replay.at(moment), Picture)
