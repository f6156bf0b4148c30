"""The garbage collector's governor (issue 18: full collections stalled every stream)."""

from __future__ import annotations

import asyncio
import gc

from estran.services.collector import NEVER, YOUNG, Collector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_installing_freezes_start_up_and_leaves_old_generations_to_the_schedule():
    before = gc.get_threshold()
    collector = Collector(300.0, lambda: 0)
    collector.install()
    try:
        assert gc.get_threshold() == (YOUNG, NEVER, NEVER)
        assert gc.get_freeze_count() > 0
    finally:
        collector.uninstall()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_zero_leaves_python_alone():
    before = gc.get_threshold()
    collector = Collector(0, lambda: 0)
    collector.install()
    assert gc.get_threshold() == before
    assert not collector.installed


async def test_the_scheduled_collection_frees_cycles_at_a_quiet_moment_and_reports_its_pause():
    busy = iter(range(10**9))
    quiet_after = 3
    calls = 0

    def activity() -> int:
        nonlocal calls
        calls += 1
        return next(busy) if calls <= quiet_after else 10**9

    collector = Collector(0.2, activity, quiet_s=0.01)
    collector.install()
    try:
        for _ in range(200):
            _Cycle()  # garbage only the cyclic collector can free
        task = asyncio.create_task(collector.run_forever())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if collector.collections:
                break
        task.cancel()
        assert collector.collections >= 1
        assert calls > quiet_after  # it waited for the activity to stop first
        assert collector.freed >= 200
        status = collector.status()
        assert status["governed"] is True
        assert status["last_pause_ms"] is not None
        assert status["max_pause_ms"] >= status["last_pause_ms"]
    finally:
        collector.uninstall()
