from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from itertools import count

import pytest

from estran.adapters.clock import FixedClock
from estran.adapters.storage.memory import MemoryEventStore
from estran.domain.errors import StorageError, UnknownReferenceError
from estran.domain.events import CommandIn, Event
from estran.domain.markings import Marking
from estran.domain.picture import Picture
from estran.services.hub import Hub
from estran.services.ledger import Ledger
from tests import factories

AGENCY = CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"})


class FailingStore(MemoryEventStore):
    def __init__(self) -> None:
        super().__init__()
        self.fail = False

    def append(self, events, audit=None, *, after=None):
        if self.fail:
            raise StorageError("disk full")
        return super().append(events, audit, after=after)


@pytest.fixture
async def ledger():
    ids = count(1)
    store = FailingStore()
    led = Ledger(
        store,
        Picture(),
        Hub(),
        FixedClock(datetime(2026, 11, 24, 22, tzinfo=UTC)),
        default_marking=Marking(),
        max_future_skew_s=300,
        new_id=lambda: f"gen{next(ids):08d}",
    )
    await led.start()
    yield led
    await led.stop()


async def test_concurrent_requests_are_committed_together_in_one_order(ledger):
    await ledger.submit([AGENCY], actor="a", source="s")
    commits_before = ledger.commits
    results = await asyncio.gather(
        *(
            ledger.submit(
                [CommandIn(type="unit.created", data=factories.unit(f"U{i}", id=f"u{i}"))],
                actor="a",
                source="s",
            )
            for i in range(50)
        )
    )
    seqs = sorted(r[0].seq for r in results)
    assert seqs == list(range(2, 52))
    assert ledger.commits - commits_before < 50  # group commit merged them
    assert [e.seq for e in ledger.store.read()] == list(range(1, 52))
    assert ledger.picture.seq == 51


async def test_a_bad_request_is_refused_whole_and_does_not_affect_its_neighbours(ledger):
    await ledger.submit([AGENCY], actor="a", source="s")
    good = ledger.submit(
        [CommandIn(type="unit.created", data=factories.unit(id="ok"))], actor="a", source="s"
    )
    bad = ledger.submit(
        [
            CommandIn(type="unit.created", data=factories.unit(id="half")),
            CommandIn(type="unit.created", data=factories.unit(id="bad", agency_id="XX")),
        ],
        actor="a",
        source="s",
    )
    results = await asyncio.gather(good, bad, return_exceptions=True)
    assert isinstance(results[0], list)
    assert isinstance(results[1], UnknownReferenceError)
    assert ledger.picture.get("unit", "ok") is not None
    assert ledger.picture.get("unit", "half") is None
    assert ledger.store.last_seq() == 2


async def test_a_batch_may_create_then_update_the_same_record(ledger):
    events = await ledger.submit(
        [
            AGENCY,
            CommandIn(type="unit.created", data=factories.unit(id="u")),
            CommandIn(type="unit.updated", entity_id="u", data={"status": "tasked"}),
        ],
        actor="a",
        source="s",
    )
    assert [e.seq for e in events] == [1, 2, 3]
    assert ledger.picture.get("unit", "u")["status"] == "tasked"


async def test_a_retry_with_the_same_event_id_returns_the_original_and_writes_nothing(ledger):
    await ledger.submit([AGENCY], actor="a", source="s")
    cmd = CommandIn(type="unit.created", data=factories.unit(id="u"), event_id="retry-0001")
    (first,) = await ledger.submit([cmd], actor="a", source="s")
    (again,) = await ledger.submit([cmd], actor="a", source="s")
    assert again == first
    assert ledger.store.last_seq() == 2


async def test_a_storage_failure_is_reported_and_leaves_the_picture_unchanged(ledger):
    await ledger.submit([AGENCY], actor="a", source="s")
    sub = ledger.hub.subscribe(100, 10**6)
    ledger.store.fail = True
    with pytest.raises(StorageError):
        await ledger.submit(
            [CommandIn(type="unit.created", data=factories.unit(id="u"))], actor="a", source="s"
        )
    assert ledger.picture.get("unit", "u") is None
    assert sub.pending == 0
    ledger.store.fail = False
    (event,) = await ledger.submit(
        [CommandIn(type="unit.created", data=factories.unit(id="u"))], actor="a", source="s"
    )
    assert event.seq == 2


async def test_subscribers_see_committed_events_before_the_caller_is_answered(ledger):
    sub = ledger.hub.subscribe(100, 10**6)
    (event,) = await ledger.submit([AGENCY], actor="a", source="s")
    frames = await asyncio.wait_for(sub.take(), 1)
    assert Event.from_json(frames[0][1]) == event


async def test_a_persons_change_is_audited_in_its_commit_and_estrans_own_is_not(ledger):
    from estran.domain.markings import Classification
    from estran.domain.policy import Principal, Role

    await ledger.submit([AGENCY], actor="system:bootstrap", source="estran")
    assert ledger.store.audit_rows == []  # Estran's own writes are not a person's change
    who = Principal("user:amelie", Role.COMMANDER, "FR-GN", "FR", Classification.OFFICIAL)
    (event,) = await ledger.submit(
        [CommandIn(type="unit.created", data=factories.unit("U1", id="u1"))],
        actor="user:amelie", source="http:127.0.0.1", principal=who,
    )  # fmt: skip
    (row,) = ledger.store.audit_rows
    assert (row.actor, row.action, row.target) == ("user:amelie", "change", "unit/u1")
    assert (row.details["first_seq"], row.details["last_seq"]) == (event.seq, event.seq)
    assert row.seq == 1
    assert row.hash
