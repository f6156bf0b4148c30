"""Benchmark of the CoT relay across two nodes of one centre (issue 19, part 1): prints figures
and their ratio to the issue's targets.

    uv run python bench/bench_relay_nodes.py           # about 2 minutes here
    uv run python bench/bench_relay_nodes.py --quick

Two ``estran serve`` nodes on the loopback PostgreSQL (a fresh schema, dropped after) relay CoT
to each other over the loopback NATS (``ESTRAN_RELAY_URL``). Plain TCP clients, raw sockets:
- one sender on node A, five receivers (two on A, three on B), positions at 1,000/s, each
  stamped with its sequence number and send time: delivery latency p50/p99 (worst receiver,
  target p99 < 50 ms), loss (target 0) and order per receiver;
- 2,000 clients spread over the two nodes in teams of 10 (each team half on A, half on B),
  each sending one position every 2 s: latency to the team-mates p50/p99 (target p99 < 100 ms)
  and loss.
Skipped, saying so, when PostgreSQL or NATS does not answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.marks import NATS_SKIP_REASON, NATS_URL, POSTGRES_SKIP_REASON, POSTGRES_URL
from tests.serverproc import ServerProcess

from bench.bench_cot import free_port
from bench.bench_nodes import _drop
from bench.report import line

OUT = Path(__file__).parent / "out"
STAMP = re.compile(rb"<remarks>s=(\d+) n=(\d+) t=(\d+)</remarks>")


def position(uid: str, group: str, remarks: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" '
        f'start="{now}" stale="{now}"><point lat="50.9" lon="1.7" hae="0" ce="9" le="9"/>'
        f'<detail><contact callsign="{uid}"/><__group name="{group}" role="Team Member"/>'
        f"<remarks>{remarks}</remarks></detail></event>"
    ).encode()


class Receiver:
    """Reads a client's stream: per sender, the sequence numbers and latencies seen."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.seqs: dict[int, list[int]] = {}
        self.lat_ms: list[float] = []
        self.task = asyncio.create_task(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        while data := await reader.read(65536):
            buf += data
            *messages, buf = buf.split(b"</event>")
            now = time.time_ns()
            for msg in messages:
                found = STAMP.search(msg)
                if found:
                    sender, n, sent = (int(x) for x in found.groups())
                    self.seqs.setdefault(sender, []).append(n)
                    self.lat_ms.append((now - sent) / 1e6)


async def _connect(port: int, uid: str, group: str) -> tuple[asyncio.StreamWriter, Receiver]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(position(uid, group, "hello"))  # declares its team
    return writer, Receiver(reader)


async def one_to_five(ports: tuple[int, int], n: int, rate: float) -> dict:
    a, b = ports
    sender, _ = await _connect(a, "bench-sender", "Cyan")
    # The writers are kept: a writer collected closes its connection.
    conns = [await _connect(p, f"bench-rx-{i}", "Cyan") for i, p in enumerate((a, a, b, b, b))]
    receivers = [r for _, r in conns]
    await asyncio.sleep(2.0)
    began = time.monotonic()
    for i in range(n):
        sender.write(position("bench-sender", "Cyan", f"s=0 n={i} t={time.time_ns()}"))
        await sender.drain()
        await asyncio.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
    await asyncio.sleep(3.0)
    out: list[dict] = []
    for r in receivers:
        seqs = r.seqs.get(0, [])
        lat = np.asarray(r.lat_ms)
        out.append({
            "node": "A" if len(out) < 2 else "B",
            "unique": len(set(seqs)),
            "in_order": seqs == sorted(seqs) and len(seqs) == len(set(seqs)),
            "p50": float(np.percentile(lat, 50)) if len(lat) else float("inf"),
            "p99": float(np.percentile(lat, 99)) if len(lat) else float("inf"),
        })  # fmt: skip
        r.task.cancel()
    sender.close()
    for w, _ in conns:
        w.close()
    return {"receivers": out, "n": n}


async def many(ports: tuple[int, int], clients: int, team: int, seconds: float) -> dict:
    conns = []
    for i in range(clients):
        # Team k's members alternate between the nodes: half its traffic crosses NATS.
        conns.append(await _connect(ports[i % 2], f"m{i}", f"team-{i // team}"))
    await asyncio.sleep(3.0)
    sent = 0
    stop = time.monotonic() + seconds

    async def send(i: int, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await asyncio.sleep(random.random() * 2)  # each client at its own phase
        n = 0
        while time.monotonic() < stop:
            writer.write(position(f"m{i}", f"team-{i // team}", f"s={i} n={n} t={time.time_ns()}"))
            n += 1
            sent += 1
            await writer.drain()
            await asyncio.sleep(2.0)

    await asyncio.gather(*(send(i, w) for i, (w, _) in enumerate(conns)))
    await asyncio.sleep(3.0)
    lat = np.concatenate([np.asarray(r.lat_ms) for _, r in conns])
    received = sum(len(s) for _, r in conns for s in r.seqs.values())
    for w, r in conns:
        r.task.cancel()
        w.close()
    return {
        "sent": sent,
        "expected": sent * (team - 1),
        "received": received,
        "p50": float(np.percentile(lat, 50)) if len(lat) else float("inf"),
        "p99": float(np.percentile(lat, 99)) if len(lat) else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for reason in (POSTGRES_SKIP_REASON, NATS_SKIP_REASON):
        if reason is not None:
            print(f"skipped: {reason}")
            return
    schema = f"estran_bench_{uuid.uuid4().hex[:8]}"
    ports = (free_port(), free_port())
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-relay-") as name:
        tmp = Path(name)
        env = {"ESTRAN_DATABASE_URL": POSTGRES_URL, "ESTRAN_DATABASE_SCHEMA": schema,
               "ESTRAN_PURGE_INTERVAL_S": "0", "ESTRAN_RELAY_URL": NATS_URL}  # fmt: skip
        nodes = [
            ServerProcess(tmp / f"n{k}", env={**env, "ESTRAN_NODE_NAME": f"node-{k}",
                                              "ESTRAN_COT_TCP_PORT": str(port)}).start()
            for k, port in enumerate(ports)
        ]  # fmt: skip
        try:
            time.sleep(1.0)  # the relays subscribe
            n = 1500 if args.quick else 5000
            print("[1/2] 1 sender on node A, 5 receivers (2 on A, 3 on B), 1,000 msg/s", flush=True)
            got = asyncio.run(one_to_five(ports, n, 1000.0))
            rx = got["receivers"]
            lost = sum(n - r["unique"] for r in rx)
            order = all(r["in_order"] for r in rx)
            for side in ("A", "B"):
                worst = max(r["p99"] for r in rx if r["node"] == side)
                results.append(line(f"relay to receivers on node {side}, p99", worst, "ms",
                                    target=50, higher_is_better=False))  # fmt: skip
            results.append(line("relay, 1 -> 5 over 2 nodes, p50 (worst receiver)",
                                max(r["p50"] for r in rx), "ms"))  # fmt: skip
            results.append(line("relay, 1 -> 5 over 2 nodes, messages lost", lost, "",
                                target=0, higher_is_better=False))  # fmt: skip
            print(f"  ({n:,} sent; every receiver in order: {order})")
            clients = 2000
            seconds = 10.0 if args.quick else 30.0
            print(f"[2/2] {clients:,} clients over 2 nodes, teams of 10, 1 position / 2 s",
                  flush=True)  # fmt: skip
            got = asyncio.run(many(ports, clients, 10, seconds))
            lost_pct = 100.0 * (got["expected"] - got["received"]) / max(1, got["expected"])
            print(f"  ({got['sent']:,} sent, {got['received']:,} of {got['expected']:,} "
                  f"deliveries expected)")  # fmt: skip
            results.append(line(f"{clients:,} clients over 2 nodes, p50", got["p50"], "ms"))
            results.append(line(f"{clients:,} clients over 2 nodes, p99", got["p99"], "ms",
                                target=100, higher_is_better=False))  # fmt: skip
            results.append(line(f"{clients:,} clients over 2 nodes, lost", lost_pct, "%"))
        finally:
            for proc in nodes:
                proc.stop()
            _drop(schema)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"relay-nodes-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps({"quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
