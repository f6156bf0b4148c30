"""Benchmark of the TAK gateway: CoT relay measured with the shared pytak load generator.

    uv run python bench/bench_cot.py                      # Estran (starts its own server)
    uv run python bench/bench_cot.py --quick
    uv run python bench/bench_cot.py --url tcp://127.0.0.1:8088 --label opentakserver \\
        --pre-delay 2                                     # any other TAK server, same load

The load generator is ``../shared/peers/cot_relay_bench.py`` (pytak clients: one sender, R
receivers, N positions at a fixed rate or flat out, each stamped with its send time). It runs
as its own process. For each scenario this prints delivered messages/s (all receivers), loss,
order, and p50/p99 latency (worst receiver). A second part connects 500 clients in teams of 10
(one ``__group`` each), every client sending one position every 2 s, and measures latency from
send to delivery at the team-mates. Results also go to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.serverproc import ServerProcess

from bench.report import line

OUT = Path(__file__).parent / "out"
LOADGEN = Path(__file__).resolve().parent.parent.parent / "shared" / "peers" / "cot_relay_bench.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relay(url: str, n: int, rate: float, receivers: int, pre_delay: float, drain: float) -> dict:
    cmd = [
        sys.executable,
        str(LOADGEN),
        "--url", url,
        "--n", str(n),
        "--rate", str(rate),
        "--receivers", str(receivers),
        "--settle", "2",
        "--drain", str(drain),
        "--pre-delay", str(pre_delay),
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    lines = [x for x in done.stdout.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    result: dict = json.loads(lines[-1])
    return result


def summarise(result: dict) -> dict:
    per = result["per_receiver"]
    n = result["n"]
    delivered = sum(p["unique"] for p in per)
    rates = [p.get("delivered_per_s", 0.0) for p in per]
    return {
        "delivered_per_s": float(sum(rates)),
        "loss_pct": 100.0 * (n * len(per) - delivered) / (n * len(per)),
        "in_order": all(p.get("in_order", False) for p in per),
        "p50_ms": max((p.get("lat_ms_p50", float("inf")) for p in per), default=float("inf")),
        "p99_ms": max((p.get("lat_ms_p99", float("inf")) for p in per), default=float("inf")),
        "send_s": result["send_duration_s"],
    }


def _position(uid: str, callsign: str, group: str, remarks: str) -> bytes:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" '
        f'start="{now}" stale="{now}"><point lat="50.9" lon="1.7" hae="0" ce="9" le="9"/>'
        f'<detail><contact callsign="{callsign}"/><__group name="{group}" role="Team Member"/>'
        f"<remarks>{remarks}</remarks></detail></event>"
    ).encode()


async def many_clients(host: str, port: int, clients: int, team: int, seconds: float) -> dict:
    """``clients`` raw CoT clients in teams; each sends a position every 2 s.

    Every client first declares its team (an SA without a timestamp), all connect, and only
    then do the timed positions start, each client at its own phase within the 2 s.
    """
    latencies: list[float] = []
    counts = {"sent": 0, "received": 0}
    conns = [await asyncio.open_connection(host, port) for _ in range(clients)]
    for i, (_, writer) in enumerate(conns):
        writer.write(_position(f"bench-many-{i}", f"M{i}", f"team-{i // team}", "hello"))
    await asyncio.sleep(2.0)

    async def read(reader: asyncio.StreamReader) -> None:
        buf = b""
        while True:
            data = await reader.read(65536)
            if not data:
                return
            buf += data
            while (end := buf.find(b"</event>")) >= 0:
                msg, buf = buf[: end + 8], buf[end + 8 :]
                at = msg.find(b"sent=")
                if at >= 0:
                    t = int(msg[at + 5 : msg.index(b"<", at)])
                    latencies.append((time.time_ns() - t) / 1e6)
                    counts["received"] += 1

    readers = [asyncio.create_task(read(r)) for r, _ in conns]
    stop = time.monotonic() + seconds

    async def send(i: int, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(random.random() * 2)  # each client at its own phase
        while time.monotonic() < stop:
            remarks = f"sent={time.time_ns()}"
            writer.write(_position(f"bench-many-{i}", f"M{i}", f"team-{i // team}", remarks))
            counts["sent"] += 1
            await writer.drain()
            await asyncio.sleep(2.0)

    await asyncio.gather(*(send(i, w) for i, (_, w) in enumerate(conns)))
    await asyncio.sleep(1.0)
    for task in readers:
        task.cancel()
    for _, writer in conns:
        writer.close()
    lat = np.asarray(latencies)
    return {
        "sent": counts["sent"],
        "received": counts["received"],
        "expected": counts["sent"] * (team - 1),
        "p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("inf"),
        "p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--url", default=None, help="Measure this server instead of Estran.")
    parser.add_argument("--label", default="estran")
    parser.add_argument("--pre-delay", type=float, default=0.0)
    parser.add_argument("--skip-many", action="store_true")
    args = parser.parse_args()
    print(
        f"CoT relay benchmark ({args.label}) on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}); {'quick' if args.quick else 'full'} run\n",
        flush=True,
    )
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="estran-bench-cot-") as tmp:
        server = None
        url = args.url
        if url is None:
            port = free_port()
            server = ServerProcess(
                Path(tmp) / "data",
                env={"ESTRAN_COT_TCP_PORT": str(port)},
            ).start()
            url = f"tcp://127.0.0.1:{port}"
        try:
            n = 1000 if args.quick else 3000
            scenarios = [(1, 100.0), (1, 1000.0), (1, 0.0), (5, 1000.0), (5, 0.0), (100, 100.0)]
            if args.quick:
                scenarios = [(1, 1000.0), (5, 1000.0), (5, 0.0)]
            for receivers, rate in scenarios:
                count = n if receivers < 100 else n // 3
                raw = relay(url, count, rate, receivers, args.pre_delay, drain=30)
                s = summarise(raw)
                rate_label = "flat out" if rate == 0 else f"{rate:,.0f}/s in"
                name = f"{args.label}: 1 sender, {receivers} receivers, {rate_label}"
                order = "in order" if s["in_order"] else "OUT OF ORDER"
                print(f"  ({count} messages sent in {s['send_s']:.1f} s; {order})")
                results.append(line(f"{name}: delivered", s["delivered_per_s"], "msg/s"))
                results.append(line(f"{name}: loss (target: none)", s["loss_pct"], "%"))
                target = 50 if (receivers, rate) == (5, 1000.0) else None
                results.append(line(f"{name}: p50", s["p50_ms"], "ms"))
                results.append(line(f"{name}: p99", s["p99_ms"], "ms", target, False))
            if not args.skip_many:
                host, port_s = url.split("//")[1].split(":")
                got = asyncio.run(
                    many_clients(host, int(port_s), 500, 10, 10 if args.quick else 30)
                )
                print(
                    f"  (500 clients in 50 teams of 10, one position each every 2 s: "
                    f"{got['sent']} sent, {got['received']} of {got['expected']} delivered)"
                )
                results.append(line(f"{args.label}: 500 clients, p50", got["p50_ms"], "ms"))
                results.append(
                    line(f"{args.label}: 500 clients, p99", got["p99_ms"], "ms", 100, False)
                )
        finally:
            if server is not None:
                server.stop()
    OUT.mkdir(exist_ok=True)
    stamp_now = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = OUT / f"cot-{args.label}-{stamp_now}.json"
    path.write_text(json.dumps({"quick": args.quick, "results": results}, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
