"""``/api/v1/stream``: a snapshot (or the missed events), then every change in seq order.

Messages (JSON text frames)::

    {"type": "snapshot", "seq": S, "records": {"units": [...], ...}}   on a fresh connect
    {"type": "events", "events": [{"seq": n, ...}, ...]}              in seq order, no gaps

Connect with ``?since=N`` (the last seq you hold) to get exactly what you missed instead of
a snapshot. A subscriber whose queue overflows is closed with code 4008 and a reason that
says where to resume; a bad ``since`` closes with 4400.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from estran.adapters.web.errors import WS_CLOSE
from estran.domain.errors import ResumeError, SlowConsumerError
from estran.domain.records import KINDS
from estran.ports import EventStore
from estran.services.hub import Frame, Subscriber

__all__ = ["build_stream_router"]

_BACKLOG_PAGE: Final = 2000
_LINGER_BELOW: Final = 32
_HEAD: Final = b'{"type":"events","events":['


def _events_frame(frames: list[Frame]) -> str:
    return (_HEAD + b",".join(f for _, f in frames) + b"]}").decode()


def _read_page(store: EventStore, after: int, head: int) -> list[Frame]:
    return [(e.seq, e.to_json()) for e in store.read(after, limit=min(_BACKLOG_PAGE, head - after))]


async def _send_backlog(ws: WebSocket, sub: Subscriber, since: int, head: int) -> None:
    svc = ws.app.state.services
    position = since
    while position < head:
        page = await asyncio.to_thread(_read_page, svc.store, position, head)
        if not page:
            return
        await ws.send_text(_events_frame(page))
        position = sub.delivered_seq = page[-1][0]


async def _pump(ws: WebSocket, sub: Subscriber, after: int, linger_s: float) -> None:
    last = after
    while True:
        frames = await sub.take()
        if linger_s > 0 and len(frames) < _LINGER_BELOW:
            # Wait a moment for more: fewer, fuller frames cost the server (and 50 clients)
            # far less CPU at a thousand events a second, for a bounded added delay.
            await asyncio.sleep(linger_s)
            frames += sub.take_nowait()
        frames = [f for f in frames if f[0] > last]
        if frames:
            await ws.send_text(_events_frame(frames))
            last = sub.delivered_seq = frames[-1][0]


def build_stream_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.websocket("/stream")
    async def stream(ws: WebSocket) -> None:
        svc = ws.app.state.services
        await ws.accept()
        raw_since = ws.query_params.get("since")
        head = svc.picture.seq
        since = head if raw_since is None else int(raw_since) if raw_since.isdigit() else -1
        sub = svc.hub.subscribe(
            svc.settings.stream_max_messages,
            svc.settings.stream_max_bytes,
            delivered_seq=max(since, 0),
        )
        try:
            if raw_since is None:
                snapshot = svc.picture.snapshot()
                await ws.send_text(
                    orjson.dumps(
                        {
                            "type": "snapshot",
                            "seq": head,
                            "records": {KINDS[k].plural: v for k, v in snapshot.items()},
                        }
                    ).decode()
                )
            else:
                if not 0 <= since <= head:
                    raise ResumeError(since, head)
                await _send_backlog(ws, sub, since, head)
            await _serve(ws, sub, head)
        except (SlowConsumerError, ResumeError) as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    ws.close(code=WS_CLOSE[type(exc)], reason=exc.message[:120]), timeout=2
                )
        except WebSocketDisconnect:
            pass
        finally:
            svc.hub.unsubscribe(sub)

    return router


async def _serve(ws: WebSocket, sub: Subscriber, head: int) -> None:
    linger_s = ws.app.state.services.settings.stream_linger_ms / 1000
    pump = asyncio.create_task(_pump(ws, sub, head, linger_s))
    overflow = asyncio.create_task(sub.failed())
    listen = asyncio.create_task(_drain_client(ws))
    done, pending = await asyncio.wait(
        {pump, overflow, listen}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    errors = [task.exception() for task in done]  # retrieve every one, so none is left unread
    if overflow in done:
        raise overflow.result()
    for exc in errors:
        if exc is not None:
            raise exc


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
