"""The app in this process, no socket: a synchronous ``httpx.Client`` whose transport hands
each request to ``httpx.ASGITransport`` on an event loop of its own (one thread), with the
app's lifespan run there; for the REST, auth and error-shape tests. WebSocket back-pressure,
TLS, CoT and crash tests keep real sockets (``RunningServer``, ``ServerProcess``)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import httpx

__all__ = ["in_process_client"]


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class _SyncASGI(httpx.BaseTransport):
    def __init__(self, app: Any, runner: _LoopThread, client: tuple[str, int]) -> None:
        self.asgi = httpx.ASGITransport(app=app, client=client)
        self.runner = runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        body = request.read()

        async def call() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
            forwarded = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
            response = await self.asgi.handle_async_request(forwarded)
            content = await response.aread()
            return response.status_code, response.headers.raw, content

        status, headers, content = self.runner.run(call())
        return httpx.Response(status, headers=headers, content=content, request=request)


@contextlib.contextmanager
def in_process_client(app: Any, headers: dict[str, str]) -> Iterator[httpx.Client]:
    """An ``httpx.Client`` on ``app``, its lifespan entered for the client's life."""
    runner = _LoopThread()
    stack = contextlib.AsyncExitStack()
    runner.run(stack.enter_async_context(app.router.lifespan_context(app)))
    try:
        transport = _SyncASGI(app, runner, ("127.0.0.1", 50_000))
        with httpx.Client(
            transport=transport, base_url="http://127.0.0.1", headers=headers, timeout=10
        ) as client:
            yield client
    finally:
        runner.run(stack.aclose())
        runner.close()
