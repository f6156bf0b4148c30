"""A lean HTTP/1.1 keep-alive load generator and a WebSocket subscriber pool.

Lean on purpose: on a 2-core machine a heavy client steals the server's CPU and the figures
measure the client. Requests are pre-encoded; responses are parsed only for status and length.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import orjson
from tests.auth import AUTH


def encode_post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Authorization: {AUTH['Authorization']}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    body = await reader.readexactly(length)
    return status, body


async def closed_loop(
    port: int, make_body: Callable[[int], bytes], connections: int, duration_s: float
) -> dict[str, float]:
    """Each connection sends its next request as soon as the last is answered."""
    counts = {"requests": 0, "errors": 0}
    latencies: list[float] = []
    deadline = time.perf_counter() + duration_s

    async def worker(k: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = 0
        while time.perf_counter() < deadline:
            request = encode_post("/api/v1/events", make_body(k * 10_000_000 + n))
            n += 1
            t = time.perf_counter()
            writer.write(request)
            status, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - t)
            counts["requests" if status == 201 else "errors"] += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "requests": counts["requests"],
        "errors": counts["errors"],
        "elapsed_s": elapsed,
        "req_p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else 0,
        "req_p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0,
    }


async def open_loop(
    port: int,
    make_body: Callable[[int], bytes],
    rate_per_s: float,
    duration_s: float,
    connections: int = 8,
) -> dict[str, float]:
    """Requests at a fixed rate, spread over connections, whatever the answers' pace."""
    interval = 1.0 / rate_per_s
    total = int(rate_per_s * duration_s)
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(connections)]
    queues: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in conns]
    errors = 0

    async def sender(i: int) -> None:
        nonlocal errors
        reader, writer = conns[i]
        while (request := await queues[i].get()) is not None:
            writer.write(request)
            status, _ = await _read_response(reader)
            errors += status != 201
        writer.close()

    tasks = [asyncio.create_task(sender(i)) for i in range(connections)]
    start = time.perf_counter()
    for n in range(total):
        target = start + n * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queues[n % connections].put_nowait(encode_post("/api/v1/events", make_body(n)))
    for q in queues:
        q.put_nowait(None)
    await asyncio.gather(*tasks)
    return {"requests": total, "errors": errors, "elapsed_s": time.perf_counter() - start}


def subscriber_pool(port: int, n: int, expect_events: int, out: str, ready: str) -> None:
    """Run in its own process: n subscribers; records now - received_at for every event.

    The measuring process collects no garbage while it measures (``gc.disable``): a full
    collection here, over the frames it keeps, would stall all fifty clients at once and
    be counted as the server's delay."""
    import gc

    import websockets

    gc.disable()

    from estran.domain.timefmt import parse_stamp

    async def one(lat: list[float]) -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/api/v1/stream", additional_headers=AUTH, max_size=2**26
        ) as ws:
            orjson.loads(await ws.recv())  # snapshot
            got = 0
            while got < expect_events:
                message = orjson.loads(await asyncio.wait_for(ws.recv(), 60))
                now = time.time()
                events = message["events"]
                # The oldest event of each frame: the worst delay in that frame.
                lat.append(now - parse_stamp(events[0]["received_at"]).timestamp())
                got += len(events)

    async def main() -> None:
        lat: list[float] = []
        tasks = [asyncio.create_task(one(lat)) for _ in range(n)]
        await asyncio.sleep(2)
        with open(ready, "w") as f:  # noqa: ASYNC230 (a flag file, once)
            f.write("ready")
        await asyncio.gather(*tasks)
        with open(out, "w") as f:  # noqa: ASYNC230
            json.dump(lat, f)

    asyncio.run(main())
