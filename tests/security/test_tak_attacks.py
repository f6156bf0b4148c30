"""Red team over CoT: an anonymous plain-TCP client, a British liaison officer's certificate, a
disabled account's certificate and a French field device try to get around the policy."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from estran.adapters.certs import init_ca, issue_client
from estran.adapters.clock import SystemClock
from estran.bootstrap import open_identity, open_security_store
from estran.domain.markings import Classification
from estran.domain.policy import Role
from tests.auth import AUTH, seed_liaison, seed_user
from tests.security.helpers import (
    Raw,
    audit_rows,
    chat,
    poll,
    position,
    sighting,
    tls_files,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def centre(server, tmp_path):
    """A server with plain TCP and TLS, a CA, certificates for a field device (no account), the
    British liaison ``liz``, a French commander ``cmd-phone`` and an operator ``op-phone``."""
    data = tmp_path / "data"
    folder = data / "certs"
    init_ca(folder, ["localhost", "127.0.0.1"])
    for name in ("patrol-dev", "liz", "cmd-phone", "op-phone", "obs-phone"):
        issue_client(
            folder, name, server_host="127.0.0.1", tls_port=8089, out_dir=folder / "clients"
        )
    running = server(data_dir=data, cot_tcp_port=0, cot_tls_port=0)
    seed_liaison(running.settings)
    seed_user(running.settings, "cmd-phone", token=None)
    seed_user(running.settings, "op-phone", role=Role.OPERATOR, token=None)
    ports = running.app.state.services.cot.ports
    return running, ports, folder


async def _incident_and_task(base: str, unit_id: str, *, send: bool) -> None:
    async with httpx.AsyncClient(headers=AUTH) as http:
        inc = {
            "id": "inc-t",
            "type": "group_sighted",
            "owner_agency_id": "FR-GN",
            "position": {"lat": 50.96, "lon": 1.86},
        }
        assert (await http.post(f"{base}/api/v1/incidents", json=inc)).status_code == 201
        task = {"id": "task-t", "incident_id": "inc-t", "unit_id": unit_id}
        assert (await http.post(f"{base}/api/v1/tasks", json=task)).status_code == 201
        if send:
            r = await http.patch(f"{base}/api/v1/tasks/task-t", json={"status": "sent"})
            assert r.status_code == 200, r.text


async def _status(base: str) -> str:
    async with httpx.AsyncClient(headers=AUTH) as http:
        return str((await http.get(f"{base}/api/v1/tasks/task-t")).json()["status"])


async def test_1_a_tak_ack_from_anonymous_or_liaison_never_sends_nor_acknowledges_a_task(centre):
    running, ports, folder = centre
    base = running.http
    async with Raw(ports["tcp"]) as anon:
        await anon.send(position("ANON-1", "ANON"))
        await poll(f"{base}/api/v1/units/tak-ANON-1", lambda u: True)
        await _incident_and_task(base, "tak-ANON-1", send=False)
        # Proposed: an ACK (on main it sent and acknowledged the task as the system).
        await anon.send(chat("ANON-1", "ACK task-t"))
        await asyncio.sleep(0.5)
        assert await _status(base) == "proposed"
    async with Raw(ports["tls"], tls_files(folder, "liz")) as liz:
        await liz.send(position("LIZ-1", "LIZ"))
        await liz.send(chat("LIZ-1", "ACK task-t"))
        await asyncio.sleep(0.5)
        assert await _status(base) == "proposed"
    async with httpx.AsyncClient(headers=AUTH) as http:
        r = await http.patch(f"{base}/api/v1/tasks/task-t", json={"status": "sent"})
        assert r.status_code == 200
    async with Raw(ports["tcp"]) as anon:
        await anon.send(position("ANON-1", "ANON"))
        await anon.send(chat("ANON-1", "ACK task-t"))  # its own unit, but anonymous: no right
        await asyncio.sleep(0.5)
        assert await _status(base) == "sent"
    refusals = [r for r in audit_rows(running.settings) if not r.allowed]
    assert any(r.actor == "anonymous:cot" and r.action == "report" for r in refusals), refusals
    assert any(r.actor == "user:liz" for r in refusals)


async def test_1_only_the_tasked_units_own_device_acknowledges_and_it_is_audited(centre):
    running, ports, folder = centre
    base = running.http
    async with Raw(ports["tls"], tls_files(folder, "patrol-dev")) as dev:
        await dev.send(position("DEV-1", "DEV"))
        await poll(f"{base}/api/v1/units/tak-DEV-1", lambda u: True)
        await _incident_and_task(base, "tak-DEV-1", send=True)
        async with Raw(ports["tls"], tls_files(folder, "cmd-phone")) as other:
            await other.send(position("OTHER-1", "OTHER"))
            await other.send(chat("OTHER-1", "ACK task-t"))  # not its unit's task
            await asyncio.sleep(0.5)
            assert await _status(base) == "sent"
        await dev.send(chat("DEV-1", "ACK task-t"))
        await poll(f"{base}/api/v1/tasks/task-t", lambda t: t["status"] == "acknowledged")
    rows = audit_rows(running.settings)
    assert any(
        r.actor == "device:patrol-dev" and r.action == "change" and r.details.get("source") == "cot"
        for r in rows
    )


async def test_4_the_cot_relay_filters_positions_per_receiving_principal(centre):
    running, ports, folder = centre
    async with (
        Raw(ports["tls"], tls_files(folder, "liz")) as liz,
        Raw(ports["tls"], tls_files(folder, "cmd-phone")) as commander,
        Raw(ports["tcp"]) as anon,
        Raw(ports["tls"], tls_files(folder, "patrol-dev")) as patrol,
    ):
        await patrol.send(position("FR-PATROL", "GENDARME-1"))
        await patrol.send(chat("FR-PATROL", "moving to the bunker"))
        await commander.wait_for(b'uid="FR-PATROL"')
        await commander.wait_for(b"moving to the bunker")
        await asyncio.sleep(0.5)
        for outsider in (liz, anon):
            assert b"FR-PATROL" not in outsider.received
            assert b"moving to the bunker" not in outsider.received
        # Released to GB by its commander: then the liaison's client receives it.
        async with httpx.AsyncClient(headers=AUTH) as http:
            r = await http.patch(
                f"{running.http}/api/v1/units/tak-FR-PATROL",
                json={"marking": {"releasable_to": ["FR", "GB"]}},
                headers={"X-Justification": "joint op"},
            )
            assert r.status_code == 200, r.text
        await asyncio.sleep(1.1)  # the relay's decisions are cached for one second
        await patrol.send(position("FR-PATROL", "GENDARME-1", lat=50.91))
        await liz.wait_for(b'uid="FR-PATROL"')
        assert b"FR-PATROL" not in anon.received


async def test_4_an_expired_observer_receives_nothing_relayed(centre):
    running, ports, folder = centre
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    async with Raw(ports["tls"], tls_files(folder, "patrol-dev")) as patrol:
        await patrol.send(position("OBS-UNIT", "RIDE-ALONG"))
        await poll(f"{running.http}/api/v1/units/tak-OBS-UNIT", lambda u: True)
        seed_user(
            running.settings, "obs-phone", role=Role.OBSERVER, agency_id="UK-BF", nation="GB",
            clearance=Classification.OFFICIAL, token=None, attached_unit="tak-OBS-UNIT",
            access_until=soon,
        )  # fmt: skip
        # The unit is released to GB so the observer may follow it while attached.
        async with httpx.AsyncClient(headers=AUTH) as http:
            r = await http.patch(
                f"{running.http}/api/v1/units/tak-OBS-UNIT",
                json={"marking": {"releasable_to": ["FR", "GB"]}},
                headers={"X-Justification": "observer"},
            )
            assert r.status_code == 200, r.text
        async with Raw(ports["tls"], tls_files(folder, "obs-phone")) as obs:
            await asyncio.sleep(1.1)
            await patrol.send(position("OBS-UNIT", "RIDE-ALONG", lat=50.92))
            await obs.wait_for(b'uid="OBS-UNIT"')
            await asyncio.sleep(2.5)  # access has ended
            before = len(obs.received)
            await patrol.send(position("OBS-UNIT", "RIDE-ALONG", lat=50.93))
            await asyncio.sleep(0.7)
            assert b"50.93" not in obs.received[before:]


async def test_5_a_disabled_accounts_certificate_is_disconnected_and_refused(centre):
    running, ports, folder = centre
    settings = running.settings
    async with Raw(ports["tls"], tls_files(folder, "op-phone")) as phone:
        store = open_security_store(settings)
        try:
            open_identity(settings, store, SystemClock()).set_disabled("op-phone", True)
        finally:
            store.close()
        deadline = asyncio.get_running_loop().time() + 5
        while not phone.closed:
            assert asyncio.get_running_loop().time() < deadline, "still connected"
            await asyncio.sleep(0.05)
    # Refused at connect: never downgraded to a field device's rights.
    assert not await _connects(ports["tls"], tls_files(folder, "op-phone"))
    async with httpx.AsyncClient(headers=AUTH) as http:
        r = await http.get(f"{running.http}/api/v1/units/tak-OP-1")
        assert r.status_code == 404


async def _connects(port: int, tls) -> bool:
    """True when a client gets the server's protocol offer and can send a position."""
    try:
        async with Raw(port, tls) as again:
            await again.send(position("OP-1", "OP"))
            await asyncio.sleep(0.5)
            return not again.closed
    except (AssertionError, ConnectionError, OSError):
        return False


async def test_13_anonymous_plain_cot_reads_nothing_restricted_moves_no_owned_unit(centre):
    running, ports, folder = centre
    base = running.http
    async with httpx.AsyncClient(headers=AUTH) as http:
        inc = {
            "id": "inc-secret",
            "type": "boat_being_prepared",
            "owner_agency_id": "FR-GN",
            "position": {"lat": 50.96, "lon": 1.86},
            "summary": "informant says tonight",
        }
        assert (await http.post(f"{base}/api/v1/incidents", json=inc)).status_code == 201
    async with Raw(ports["tls"], tls_files(folder, "patrol-dev")) as dev:
        await dev.send(position("TLS-UNIT", "TLS-1", lat=50.90))
        await poll(f"{base}/api/v1/units/tak-TLS-UNIT", lambda u: True)
    async with Raw(ports["tcp"]) as anon:
        await anon.send(position("TLS-UNIT", "SPOOF", lat=51.5))
        await anon.send(sighting("fake-boat", "group of 40", kind="a-u-G"))
        await asyncio.sleep(0.8)
        assert b"inc-secret" not in anon.received
        assert b"informant" not in anon.received
    unit = await poll(f"{base}/api/v1/units/tak-TLS-UNIT", lambda u: True)
    assert unit["position"]["lat"] == pytest.approx(50.90)
    dets = await poll(f"{base}/api/v1/detections", lambda b: b["total"] >= 1)
    det = dets["items"][0]
    assert det["unverified"] is True
    assert det["confidence"] <= 0.2
    assert det["marking"]["classification"] == "UNCLASSIFIED"
