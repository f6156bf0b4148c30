"""Background tasks the services run: stopping them the one way."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["cancel_and_wait"]


log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None] | None]) -> None:
    """Cancel every task, then wait for each to end. A task that had already failed, or fails
    on its way out, is logged with its traceback: nothing dies silently."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("background task %s had failed", task.get_name())
