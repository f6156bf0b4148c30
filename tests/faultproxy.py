"""A TCP proxy the test owns, between Estran and a real service, to inject network faults
without touching the shared service: ``reset`` (connections cut, new ones refused),
``blackhole`` (connections accepted and held, nothing forwarded: a silent partition) and
``restore``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any


class FaultProxy:
    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 5432) -> None:
        self.target = (target_host, target_port)
        self.mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._pairs: set[tuple[Any, Any]] = set()
        self._held: set[Any] = set()
        ready = threading.Event()
        self.port = 0

        async def main() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            ready.set()

        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(main(), self._loop)
        ready.wait(5)

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "reset":
            writer.transport.abort()
            return
        if self.mode == "blackhole":
            self._held.add(writer)
            return  # accepted, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    if self.mode == "blackhole":
                        continue  # swallowed: the other side waits for ever
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._pairs.discard(pair)

    def _call(self, fn: Any) -> None:
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(5)

    def reset(self) -> None:
        """Cut every connection now and refuse new ones."""

        def cut() -> None:
            self.mode = "reset"
            for a, b in list(self._pairs):
                a.transport.abort()
                b.transport.abort()
            self._pairs.clear()

        self._call(cut)

    def blackhole(self) -> None:
        """Keep connections open but forward nothing, and hold new ones unanswered."""
        self._call(lambda: setattr(self, "mode", "blackhole"))

    def restore(self) -> None:
        """Pass traffic again; connections held or swallowed during a black hole are cut (their
        protocol state is lost), so clients reconnect."""

        def heal() -> None:
            was = self.mode
            self.mode = "pass"
            for w in list(self._held):
                w.transport.abort()
            self._held.clear()
            if was == "blackhole":
                for a, b in list(self._pairs):
                    a.transport.abort()
                    b.transport.abort()
                self._pairs.clear()

        self._call(heal)

    def close(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for a, b in list(self._pairs):
                a.transport.abort()
                b.transport.abort()
            for w in list(self._held):
                w.transport.abort()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
