"""While the coverage model is prepared, how far it is (the Plan tab shows it; issue 20)."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from estran.services.plan_service import PlanService


async def test_the_preparation_reports_its_progress_then_ready():
    half = threading.Event()
    go_on = threading.Event()

    def posts_for(terrain: Any, progress: Any) -> str:
        progress("travel times to site 5/10", 0.5)
        half.set()
        go_on.wait(10)
        progress("travel times to site 10/10", 1.0)
        return "posts"

    terrain = SimpleNamespace(terrain=lambda: "the terrain")
    svc = PlanService(terrain, None, None, None, posts_for, lambda: datetime.now(UTC))  # type: ignore[arg-type]
    assert svc.status()["coverage_model"] == "waiting for the terrain"
    warm = asyncio.create_task(svc.warm())
    await asyncio.to_thread(half.wait, 10)
    during = svc.status()
    assert during["coverage_model"] == "preparing"
    assert during["progress"] == 0.5
    assert during["elapsed_s"] is not None
    go_on.set()
    for _ in range(200):
        if svc.status()["coverage_model"] == "ready":
            break
        await asyncio.sleep(0.02)
    done = svc.status()
    assert done["coverage_model"] == "ready"
    assert done["progress"] == 1.0
    assert done["prepared_in_s"] is not None
    assert done["elapsed_s"] is None
    warm.cancel()
