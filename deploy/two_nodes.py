"""Start a two-node Estran centre behind HAProxy, in one command (issue 19, part 1).

    uv run python deploy/two_nodes.py --database-url postgresql://postgres@127.0.0.1/estran \\
        --relay-url nats://127.0.0.1:4222

Starts two ``estran serve`` nodes on the one PostgreSQL (each with its own data folder under
``--data``), the CoT relay between them over NATS, and Debian's ``haproxy`` in front:

- HTTP and the WebSocket stream on ``--http-port`` (round robin; a node is taken out when its
  ``/api/v1/readyz`` fails twice, 1 s apart, and a request that found a dead node is sent to
  the other);
- CoT over plain TCP on ``--cot-port`` and, with ``--cot-tls-port``, CoT over TLS passed
  through untouched (the nodes terminate TLS and check client certificates themselves), both
  by least connections.

It writes the HAProxy configuration it uses to ``<data>/haproxy.cfg`` (the same as
``deploy/haproxy.cfg``, with the ports filled in), prints one line ``ready {...}`` (JSON: the
front ports and each node's pid and ports) once everything answers, and stops everything on
SIGINT or SIGTERM. If a node dies it is not restarted here: under systemd
(``deploy/estran@.service``) it is.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("haproxy.cfg")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"a node exited at start (code {proc.returncode})")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/readyz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the node on port {port} did not become ready in {within_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--database-schema", default="estran")
    parser.add_argument("--relay-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--data", type=Path, default=Path("estran-cluster"))
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--cot-port", type=int, default=8087)
    parser.add_argument("--cot-tls-port", type=int, default=None)
    parser.add_argument("--haproxy", default="/usr/sbin/haproxy")
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    nodes: list[dict[str, Any]] = []
    procs: list[subprocess.Popen[bytes]] = []

    def stop(*_: object, code: int = 0) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise SystemExit(code)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for k in (1, 2):
        node: dict[str, Any] = {"name": f"node-{k}", "http": free_port(), "cot": free_port()}
        env = {
            **os.environ,
            "ESTRAN_DATABASE_URL": args.database_url,
            "ESTRAN_DATABASE_SCHEMA": args.database_schema,
            "ESTRAN_RELAY_URL": args.relay_url,
            "ESTRAN_NODE_NAME": node["name"],
            "ESTRAN_COT_TCP_PORT": str(node["cot"]),
        }
        if args.cot_tls_port is not None:
            node["cot_tls"] = free_port()
            env["ESTRAN_COT_TLS_PORT"] = str(node["cot_tls"])
        else:  # no certificates in its data folder: no TLS listener
            env["ESTRAN_COT_TLS_PORT"] = "0"
        log = (args.data / f"{node['name']}.log").open("ab")
        command = [sys.executable, "-m", "estran", "serve", "--data",
                   str(args.data / node["name"]), "--http-port", str(node["http"])]  # fmt: skip
        proc = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        procs.append(proc)
        node["pid"] = proc.pid
        nodes.append(node)
    try:
        for node, proc in zip(nodes, procs, strict=True):
            _wait_ready(int(node["http"]), proc, 120)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        stop(code=1)
    template = TEMPLATE.read_text()
    if args.cot_tls_port is None:  # the TLS front and back end are the template's last part
        template = template[: template.index("frontend estran_cot_tls")]
    text = template.format(
        http_port=args.http_port,
        cot_port=args.cot_port,
        cot_tls_port=args.cot_tls_port,
        node1_http=nodes[0]["http"], node2_http=nodes[1]["http"],
        node1_cot=nodes[0]["cot"], node2_cot=nodes[1]["cot"],
        node1_cot_tls=nodes[0].get("cot_tls", 1), node2_cot_tls=nodes[1].get("cot_tls", 1),
    )  # fmt: skip
    cfg = args.data / "haproxy.cfg"
    cfg.write_text(text)
    check = subprocess.run([args.haproxy, "-c", "-f", str(cfg)], capture_output=True, check=False)
    if check.returncode != 0:
        print(f"haproxy refused {cfg}: {check.stderr.decode()[-2000:]}", file=sys.stderr)
        stop(code=1)
    haproxy_log = (args.data / "haproxy.log").open("ab")
    procs.append(subprocess.Popen([args.haproxy, "-db", "-f", str(cfg)],
                                  stdout=haproxy_log, stderr=haproxy_log))  # fmt: skip
    _wait_ready(args.http_port, procs[-1], 20)
    print("ready " + json.dumps({"http": args.http_port, "cot": args.cot_port,
                                 "cot_tls": args.cot_tls_port, "nodes": nodes,
                                 "haproxy": procs[-1].pid}), flush=True)  # fmt: skip
    while procs[-1].poll() is None:
        time.sleep(0.5)
    stop()


if __name__ == "__main__":
    main()
