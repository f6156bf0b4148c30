from __future__ import annotations

import asyncio

import pytest

from estran.domain.errors import SlowConsumerError
from estran.domain.events import Event
from estran.services.hub import Hub


def _event(seq: int, size: int = 10) -> Event:
    return Event(
        seq,
        f"evt{seq:08d}",
        "unit.updated",
        "unit",
        "u1",
        "t",
        "t",
        "a",
        "s",
        {},
        {"pad": "x" * size},
    )


async def test_subscribers_receive_every_event_in_order():
    hub = Hub()
    sub = hub.subscribe(100, 10**6)
    hub.publish([_event(1), _event(2)])
    hub.publish([_event(3)])
    frames = await sub.take()
    assert [seq for seq, _ in frames] == [1, 2, 3]


async def test_a_subscriber_over_its_message_bound_is_cut_off_and_told_where_to_resume():
    hub = Hub()
    slow = hub.subscribe(5, 10**6)
    fast = hub.subscribe(100, 10**6)
    hub.publish([_event(1), _event(2)])
    assert [s for s, _ in await slow.take()] == [1, 2]
    slow.delivered_seq = 2  # what the stream does once the frames are sent
    hub.publish([_event(i) for i in range(3, 10)])
    with pytest.raises(SlowConsumerError) as err:
        await slow.take()
    assert err.value.last_seq == 2
    assert len(await fast.take()) == 9


async def test_a_subscriber_over_its_byte_bound_is_cut_off():
    hub = Hub()
    sub = hub.subscribe(1000, 2000)
    hub.publish([_event(i, size=500) for i in range(1, 6)])
    with pytest.raises(SlowConsumerError):
        await sub.take()


async def test_take_waits_for_the_next_event():
    hub = Hub()
    sub = hub.subscribe(10, 10**6)
    waiter = asyncio.create_task(sub.take())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    hub.publish([_event(7)])
    assert [s for s, _ in await asyncio.wait_for(waiter, 1)] == [7]


async def test_a_subscriber_filter_sees_only_what_it_accepts():
    hub = Hub()
    sub = hub.subscribe(10, 10**6, accepts=lambda e: e.seq % 2 == 0)
    hub.publish([_event(i) for i in range(1, 6)])
    assert [s for s, _ in await sub.take()] == [2, 4]


def test_take_nowait_returns_what_is_pending_and_then_nothing():
    hub = Hub()
    sub = hub.subscribe(100, 10**6)
    assert sub.take_nowait() == []
    hub.publish([_event(1), _event(2)])
    assert [seq for seq, _ in sub.take_nowait()] == [1, 2]
    assert sub.take_nowait() == []


def test_take_nowait_reports_an_overflow():
    hub = Hub()
    sub = hub.subscribe(2, 10**6)
    hub.publish([_event(1), _event(2), _event(3)])
    with pytest.raises(SlowConsumerError):
        sub.take_nowait()


async def test_a_subscribers_own_filter_runs_when_it_takes_not_when_the_writer_publishes():
    """Issue 18: fifty readers' marking checks must not sit on the writer's publish path."""
    hub = Hub()
    calls: list[int] = []

    def transform(event: Event, frame: bytes) -> bytes | None:
        calls.append(event.seq)
        return frame if event.seq % 2 else None

    sub = hub.subscribe(100, 10**6, transform=transform)
    hub.publish([_event(i) for i in range(1, 6)])
    assert calls == []  # the writer only queued the shared frames
    assert [s for s, _ in await sub.take()] == [1, 3, 5]
    assert calls == [1, 2, 3, 4, 5]
