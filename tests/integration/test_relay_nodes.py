"""The CoT relay across the nodes of one centre (issue 19, part 1): TAK clients spread over two
nodes by a load balancer receive what the others send, over NATS core subjects, filtered per
receiving principal exactly as on one node, and in order per sender. Two nodes in this process
on the real PostgreSQL and the real NATS (each skipped with the reason when absent)."""

from __future__ import annotations

import asyncio
import re
import shutil
import time

import httpx
import pytest

from estran.adapters.certs import init_ca, issue_client
from tests.auth import AUTH, seed_liaison, seed_user
from tests.marks import NATS_URL, POSTGRES_URL, needs_nats, needs_postgres
from tests.security.helpers import Raw, chat, position, tls_files

pytestmark = [needs_postgres, needs_nats, pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def two_nodes(pg_schema, server, tmp_path):
    """Nodes A and B of one centre (one PostgreSQL schema, one NATS), plain TCP and TLS CoT on
    each, with one CA: a field device (no account), the British liaison ``liz`` and a French
    commander ``cmd-phone``."""
    folder = tmp_path / "a" / "certs"
    init_ca(folder, ["localhost", "127.0.0.1"])
    for name in ("patrol-dev", "liz", "cmd-phone"):
        issue_client(folder, name, server_host="127.0.0.1", tls_port=8089,
                     out_dir=folder / "clients")  # fmt: skip
    shutil.copytree(folder, tmp_path / "b" / "certs")
    common = {"database_url": POSTGRES_URL, "database_schema": pg_schema, "relay_url": NATS_URL,
              "cot_tcp_port": 0, "cot_tls_port": 0, "purge_interval_s": 0}  # fmt: skip
    a = server(data_dir=tmp_path / "a", node_name="node-a", **common)
    b = server(data_dir=tmp_path / "b", node_name="node-b", **common)
    seed_liaison(a.settings)
    seed_user(a.settings, "cmd-phone", token=None)
    return (a, a.app.state.services.cot.ports), (b, b.app.state.services.cot.ports), folder


async def _relays_ready(*nodes) -> None:
    """Both nodes' relays are subscribed (a message published before would reach nobody)."""
    async with httpx.AsyncClient(headers=AUTH) as http:
        for _ in range(100):
            states = [(await http.get(f"{n.http}/api/v1/health")).json()["cot"]["relay"]
                      for n in nodes]  # fmt: skip
            if all(s["connected"] for s in states):
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"relays not connected: {states}")


async def test_a_client_on_one_node_receives_what_a_client_on_the_other_sends_filtered(
    two_nodes,
):
    (a, ports_a), (b, ports_b), folder = two_nodes
    await _relays_ready(a, b)
    async with (
        Raw(ports_a["tls"], tls_files(folder, "patrol-dev")) as patrol,
        Raw(ports_b["tls"], tls_files(folder, "cmd-phone")) as commander,
        Raw(ports_b["tls"], tls_files(folder, "liz")) as liz,
        Raw(ports_b["tcp"]) as anon,
    ):
        await patrol.send(position("FR-PATROL", "GENDARME-1"))
        await patrol.send(chat("FR-PATROL", "moving to the bunker"))
        await commander.wait_for(b'uid="FR-PATROL"')
        await commander.wait_for(b"moving to the bunker")
        await asyncio.sleep(0.5)
        # The same policy as on one node: French-only positions reach neither the British
        # liaison nor an anonymous client on the other node.
        for outsider in (liz, anon):
            assert b"FR-PATROL" not in outsider.received
            assert b"moving to the bunker" not in outsider.received


async def test_what_one_sender_sends_arrives_on_the_other_node_in_order(two_nodes):
    (a, ports_a), (b, ports_b), _folder = two_nodes
    await _relays_ready(a, b)
    async with Raw(ports_a["tcp"]) as sender, Raw(ports_b["tcp"]) as receiver:
        for i in range(200):
            await sender.send(position("ANON-7", "ANON", lat=50.0 + i * 1e-4))
        await receiver.wait_for(f'lat="{50.0 + 199 * 1e-4}"'.encode(), within_s=10)
        lats = [float(x) for x in re.findall(rb'uid="ANON-7".*?<point lat="([0-9.]+)"',
                                             receiver.received)]  # fmt: skip
        assert lats == [50.0 + i * 1e-4 for i in range(200)]
    async with httpx.AsyncClient(headers=AUTH) as http:
        health = (await http.get(f"{a.http}/api/v1/health")).json()
    assert health["cot"]["relay"]["sent"] >= 200
    assert health["reactors"]["tak-relay"]["alive"]


async def test_a_protobuf_client_on_the_other_node_gets_what_an_xml_client_sent(two_nodes):
    """What crosses is XML; the receiving node encodes it for a client that negotiated TAK
    Protocol v1 (it parses the XML only when such a client is connected)."""
    from estran.protocols.cot.encode import takp_request
    from tests.integration.test_tak_gateway import raw_connect, read_proto

    (a, ports_a), (b, ports_b), _folder = two_nodes
    await _relays_ready(a, b)
    reader, writer = await raw_connect(ports_b["tcp"])
    writer.write(takp_request(int(time.time() * 1000)))
    response = b""
    while b"TakResponse" not in response:
        response = await asyncio.wait_for(reader.readuntil(b"</event>"), 5)
    async with Raw(ports_a["tcp"]) as sender:
        await sender.send(position("XML-ON-A", "XMLA"))
        msg = await read_proto(reader)
    assert msg.cotEvent.uid == "XML-ON-A"
    writer.close()
