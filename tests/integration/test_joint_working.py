"""Joint working over real HTTP and WebSocket: sign-in, refusals, releases, observers, audit,
the retention purge, and the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
import websockets
from click.testing import CliRunner
from websockets.exceptions import ConnectionClosed

from estran.adapters.security_store import SecurityStore
from estran.cli.main import cli
from estran.domain.policy import Role
from estran.domain.timefmt import stamp
from estran.services.audit import verify
from tests import factories
from tests.auth import AUTH, PASSWORD, seed_liaison, seed_user


def audit_rows(running) -> list[dict]:
    store = SecurityStore.for_data_dir(running.settings.data_dir)
    try:
        return [r.as_dict() for r in store.read_audit()]
    finally:
        store.close()


@pytest.fixture
def centre(server):
    running = server()
    running.liaison = seed_liaison(running.settings)
    api = httpx.Client(base_url=running.http, headers=AUTH, timeout=10)
    assert api.post("/api/v1/units", json=factories.unit(id="buggy-1")).status_code == 201
    assert api.post("/api/v1/incidents", json=factories.incident(id="inc-1")).status_code == 201
    running.api = api
    yield running
    api.close()


def test_no_request_gets_anything_without_a_valid_token(centre):
    base = centre.http
    for headers in ({}, {"Authorization": "Bearer est_forged"}, {"Authorization": "Basic x"}):
        r = httpx.get(f"{base}/api/v1/units", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = httpx.post(f"{base}/api/v1/units", json=factories.unit(id="x"), headers=headers)
        assert r.status_code == 401
    assert httpx.get(f"{base}/api/v1/health").json() == {
        "status": "ok",
        "version": httpx.get(f"{base}/api/v1/health").json()["version"],
    }
    assert centre.api.get("/api/v1/units/x").status_code == 404  # nothing was written


def test_sign_in_wrong_credentials_and_lockout_are_audited(centre):
    base = centre.http
    ok = httpx.post(f"{base}/api/v1/auth/login", json={"username": "liz", "password": PASSWORD})
    assert ok.status_code == 200
    token = ok.json()["token"]
    assert ok.json()["role"] == "liaison"
    assert "task" not in ok.json()["actions"]
    me = httpx.get(f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["nation"] == "GB"
    for _ in range(5):
        bad = httpx.post(f"{base}/api/v1/auth/login", json={"username": "liz", "password": "x"})
        assert bad.status_code == 401
    held = httpx.post(f"{base}/api/v1/auth/login", json={"username": "liz", "password": PASSWORD})
    assert held.status_code == 429
    assert held.json()["error"]["code"] == "sign_in_throttled"
    assert int(held.headers["Retry-After"]) >= 1
    logins = [r for r in audit_rows(centre) if r["action"] == "login"]
    assert [r["allowed"] for r in logins] == [True] + [False] * 6
    httpx.post(f"{base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert (
        httpx.get(
            f"{base}/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 401
    )


def test_an_expired_session_is_refused(centre):
    store = SecurityStore.for_data_dir(centre.settings.data_dir)
    past = stamp(datetime.now(UTC) - timedelta(minutes=1))
    from estran.services.identity import hash_token

    store.add_session(hash_token("est_stale"), "liz", "session", past, past)
    store.close()
    r = httpx.get(f"{centre.http}/api/v1/units", headers={"Authorization": "Bearer est_stale"})
    assert r.status_code == 401
    assert "expired" in r.json()["error"]["message"]


def test_a_liaison_officer_cannot_task_a_unit_and_the_attempt_is_audited(centre):
    api, liz = centre.api, centre.liaison
    # Released to GB so the liaison desk sees them; they may propose.
    for path in ("units/buggy-1", "incidents/inc-1"):
        r = api.patch(
            f"/api/v1/{path}",
            json={"marking": {"releasable_to": ["FR", "GB"]}},
            headers={"X-Justification": "joint response tonight"},
        )
        assert r.status_code == 200, r.text
    proposal = httpx.post(
        f"{centre.http}/api/v1/tasks",
        json={"incident_id": "inc-1", "unit_id": "buggy-1"},
        headers=liz,
    )
    assert proposal.status_code == 201, proposal.text
    task_id = proposal.json()["id"]
    forged = httpx.patch(
        f"{centre.http}/api/v1/tasks/{task_id}", json={"status": "sent"}, headers=liz
    )
    assert forged.status_code == 403
    assert forged.json()["error"]["details"][0]["rule"] == "role"
    assert api.get(f"/api/v1/tasks/{task_id}").json()["status"] == "proposed"
    refusals = [r for r in audit_rows(centre) if not r["allowed"]]
    assert refusals[-1]["actor"] == "user:liz"
    assert refusals[-1]["action"] == "task"
    assert refusals[-1]["target"] == f"task/{task_id}"
    # The French commander sends the liaison's proposal: command stays French.
    assert api.patch(f"/api/v1/tasks/{task_id}", json={"status": "sent"}).status_code == 200
    # Nor can the liaison change a French record.
    r = httpx.patch(f"{centre.http}/api/v1/units/buggy-1", json={"status": "off_duty"}, headers=liz)
    assert r.status_code == 403


def test_a_french_only_record_is_invisible_until_its_originator_releases_it(centre):
    api, liz, base = centre.api, centre.liaison, centre.http
    before = httpx.get(f"{base}/api/v1/incidents", headers=liz).json()
    assert before["total"] == 0
    assert before["items"] == []
    # Health's record count is what the caller may see: not inc-1 nor buggy-1.
    mine = httpx.get(f"{base}/api/v1/health", headers=liz).json()["records"]
    assert mine == api.get("/api/v1/health").json()["records"] - 2
    hidden = httpx.get(f"{base}/api/v1/incidents/inc-1", headers=liz)
    missing = httpx.get(f"{base}/api/v1/incidents/inc-nope", headers=liz)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["error"]["message"].replace("inc-1", "X") == missing.json()["error"][
        "message"
    ].replace("inc-nope", "X")
    # Referring to it is refused exactly as referring to nothing.
    log = {"log": "incident", "incident_id": "inc-1", "role": "liaison", "text": "seen?"}
    r = httpx.post(f"{base}/api/v1/log_entries", json=log, headers=liz)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unknown_reference"
    # A release without a justification is refused and changes nothing.
    r = api.patch("/api/v1/incidents/inc-1", json={"marking": {"releasable_to": ["FR", "GB"]}})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "justification_required"
    assert api.get("/api/v1/incidents/inc-1").json()["marking"]["releasable_to"] == ["FR"]
    r = api.patch(
        "/api/v1/incidents/inc-1",
        json={"marking": {"releasable_to": ["FR", "GB"]}},
        headers={"X-Justification": "UK Border Force asset in support"},
    )
    assert r.status_code == 200
    assert r.json()["marking"]["originator_agency"] == "FR-GN"
    seen = httpx.get(f"{base}/api/v1/incidents/inc-1", headers=liz)
    assert seen.status_code == 200
    releases = [x for x in audit_rows(centre) if x["action"] == "release"]
    assert releases[-1]["justification"] == "UK Border Force asset in support"
    assert releases[-1]["target"] == "incident/inc-1"
    # The same marking sent again with another change releases nothing: no release row.
    r = api.patch(
        "/api/v1/incidents/inc-1",
        json={"summary": "group moving east", "marking": {"releasable_to": ["FR", "GB"]}},
    )
    assert r.status_code == 200
    again = [x for x in audit_rows(centre) if x["action"] == "release"]
    assert len(again) == len(releases)
    assert audit_rows(centre)[-1]["action"] == "change"


async def test_the_stream_shows_a_release_and_hides_a_narrowing(centre):
    async with websockets.connect(
        f"{centre.ws}/api/v1/stream", additional_headers=centre.liaison
    ) as ws:
        snapshot = orjson.loads(await ws.recv())
        assert snapshot["records"]["incidents"] == []
        why = {"X-Justification": "share"}
        await asyncio.to_thread(
            centre.api.patch,
            "/api/v1/incidents/inc-1",
            json={"marking": {"releasable_to": ["FR", "GB"]}},
            headers=why,
        )
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 5))["events"][0]
        assert first["type"] == "incident.visible"
        assert first["record"]["id"] == "inc-1"
        await asyncio.to_thread(
            centre.api.patch,
            "/api/v1/incidents/inc-1",
            json={"marking": {"releasable_to": ["FR"]}},
            headers=why,
        )
        gone = orjson.loads(await asyncio.wait_for(ws.recv(), 5))["events"][0]
        assert gone == {"seq": gone["seq"], "type": "incident.hidden", "kind": "incident",
                        "entity_id": "inc-1"}  # fmt: skip
        await asyncio.to_thread(centre.api.patch, "/api/v1/incidents/inc-1", json={"count": 4})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)


async def test_an_observer_s_access_ends_at_its_expiry_with_the_session_open(centre):
    api = centre.api
    r = api.patch(
        "/api/v1/units/buggy-1",
        json={"marking": {"releasable_to": ["FR", "GB"]}},
        headers={"X-Justification": "observer on board"},
    )
    assert r.status_code == 200
    until = datetime.now(UTC) + timedelta(seconds=3)
    obs = seed_user(
        centre.settings,
        "obi",
        role=Role.OBSERVER,
        agency_id="UK-BF",
        nation="GB",
        token="est_observer-token",  # noqa: S106 (a test account)
        attached_unit="buggy-1",
        access_until=stamp(until),
    )
    async with httpx.AsyncClient(base_url=centre.http, headers=obs) as client:
        assert (await client.get("/api/v1/units/buggy-1")).status_code == 200
        units = (await client.get("/api/v1/units")).json()
        assert [u["id"] for u in units["items"]] == ["buggy-1"]
        async with websockets.connect(f"{centre.ws}/api/v1/stream", additional_headers=obs) as ws:
            snap = orjson.loads(await ws.recv())
            assert [u["id"] for u in snap["records"]["units"]] == ["buggy-1"]
            with pytest.raises(ConnectionClosed) as closed:
                await _read_until_closed(ws)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 4403
        assert datetime.now(UTC) >= until
        r = await client.get("/api/v1/units/buggy-1")
        assert r.status_code == 404
        assert (await client.get("/api/v1/units")).json()["total"] == 0
        assert (await client.get("/api/v1/auth/me")).status_code == 200  # session still open


async def _read_until_closed(ws) -> None:
    while True:
        await asyncio.wait_for(ws.recv(), 10)


def test_exports_need_a_justification_and_are_audited(centre):
    api = centre.api
    r = api.get("/api/v1/export")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "justification_required"
    r = api.get(
        "/api/v1/export",
        params={"kinds": "incidents,units"},
        headers={"X-Justification": "court request 42"},
    )
    assert r.status_code == 200
    lines = [orjson.loads(x) for x in r.content.splitlines() if x]
    assert {x["id"] for x in lines} == {"inc-1", "buggy-1"}
    row = [x for x in audit_rows(centre) if x["action"] == "export"][-1]
    assert row["justification"] == "court request 42"
    assert row["details"]["records"] == 2
    stats = httpx.get(f"{centre.http}/api/v1/export/statistics", headers=centre.liaison).json()
    assert stats["rows"] == []  # nothing released to GB yet
    stats = api.get("/api/v1/export/statistics").json()
    (row,) = stats["rows"]
    assert set(row) == {
        "day",
        "kind",
        "type",
        "outcome",
        "cell_lat",
        "cell_lon",
        "records",
        "people",
    }
    assert row["kind"] == "incident"
    assert row["records"] == 1
    assert (
        httpx.get(
            f"{centre.http}/api/v1/export", headers={**centre.liaison, "X-Justification": "x"}
        ).status_code
        == 403
    )


def test_the_retention_purge_removes_what_is_due_and_nothing_else(centre):
    api = centre.api
    now = datetime.now(UTC)
    sensor = api.post("/api/v1/sensors", json=factories.sensor(id="drone-1", agency_id="FR-GN"))
    assert sensor.status_code == 201
    old, fresh = stamp(now - timedelta(days=8)), stamp(now - timedelta(days=1))
    for i, at in enumerate([old, old, fresh]):
        body = {**factories.detection("drone-1"), "id": f"det-{i}", "observed_at": at}
        assert api.post("/api/v1/detections", json=body).status_code == 201
    gone = stamp(now - timedelta(hours=1))
    for iid, status in (("inc-closed", "closed"), ("inc-open", "open")):
        body = {**factories.incident(id=iid), "marking": {"retain_until": gone}}
        assert api.post("/api/v1/incidents", json=body).status_code == 201
        if status == "closed":
            assert (
                api.patch(f"/api/v1/incidents/{iid}", json={"status": "closed"}).status_code == 200
            )
    entry = {"log": "duty", "role": "duty officer", "text": "quiet night"}
    assert api.post("/api/v1/log_entries", json=entry).status_code == 201
    admin = seed_user(centre.settings, "ada", role=Role.ADMIN, token="est_admin-token")  # noqa: S106
    r = httpx.post(f"{centre.http}/api/v1/purge", headers=admin)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "justification_required"
    r = httpx.post(f"{centre.http}/api/v1/purge", headers={**admin, "X-Justification": "nightly"})
    assert r.status_code == 200
    # A marking's retain_until never makes a record go sooner than its kind's legal period
    # (issue 17, item 3): the closed incident stays; the old detections go.
    assert r.json()["removed"] == {"detection": 2}
    detections = api.get("/api/v1/detections").json()["items"]
    assert [d["id"] for d in detections] == ["det-2"]
    assert api.get("/api/v1/incidents/inc-closed").status_code == 200
    assert api.get("/api/v1/incidents/inc-open").status_code == 200  # still open: kept
    assert api.get("/api/v1/log_entries").json()["total"] == 1
    events = api.get("/api/v1/events", params={"entity_id": "det-0"}).json()["events"]
    assert events == []
    row = [x for x in audit_rows(centre) if x["action"] == "purge"][-1]
    assert row["details"]["removed"] == {"detection": 2}
    again = httpx.post(f"{centre.http}/api/v1/purge", headers={**admin, "X-Justification": "x"})
    assert again.json()["removed"] == {}
    store = SecurityStore.for_data_dir(centre.settings.data_dir)
    assert verify(store).ok
    store.close()


def test_the_cli_manages_accounts_and_verifies_the_audit_trail(tmp_path):
    runner = CliRunner()
    data = str(tmp_path / "d")
    add = runner.invoke(
        cli,
        ["users", "add", "chief", "--role", "commander", "--agency", "FR-GN", "--data", data,
         "--password-stdin"],
        input="a-long-password-for-chief\n",
    )  # fmt: skip
    assert add.exit_code == 0, add.output
    short = runner.invoke(
        cli,
        ["users", "add", "x", "--role", "operator", "--agency", "FR-GN", "--data", data,
         "--password-stdin"],
        input="short\n",
    )  # fmt: skip
    assert short.exit_code != 0
    assert "12 characters" in short.output
    svc = runner.invoke(
        cli, ["users", "add", "gw", "--role", "service", "--agency", "UK-BF", "--data", data]
    )
    assert "service key (shown once): est_" in svc.output
    listing = runner.invoke(cli, ["users", "list", "--data", data])
    assert "chief" in listing.output
    assert "gw" in listing.output
    assert "$argon2" not in listing.output
    assert runner.invoke(cli, ["users", "disable", "chief", "--data", data]).exit_code == 0
    assert "disabled" in runner.invoke(cli, ["users", "list", "--data", data]).output
    ok = runner.invoke(cli, ["audit", "verify", "--data", data])
    assert ok.exit_code == 0
    assert "3 rows" in ok.output
    store = SecurityStore(f"sqlite:///{tmp_path / 'd' / 'events.sqlite3'}")
    store.execute_raw("UPDATE audit SET action = 'user_enable' WHERE seq = 3")
    store.close()
    broken = runner.invoke(cli, ["audit", "verify", "--data", data])
    assert broken.exit_code == 1
    assert "row 3 was edited" in broken.output


def test_an_account_reads_in_its_language_and_keeps_the_one_it_chooses(centre):
    """French for a French account, English for a British one, until each chooses; the choice
    is kept with the account (a new session has it), audited, and only French or English."""
    base = centre.http
    liz = seed_liaison(centre.settings)
    assert httpx.get(f"{base}/api/v1/auth/me", headers=AUTH).json()["language"] == "fr"
    assert httpx.get(f"{base}/api/v1/auth/me", headers=liz).json()["language"] == "en"
    r = httpx.put(f"{base}/api/v1/auth/me/language", headers=liz, json={"language": "fr"})
    assert r.status_code == 200, r.text
    again = httpx.post(f"{base}/api/v1/auth/login", json={"username": "liz", "password": PASSWORD})
    fresh = {"Authorization": f"Bearer {again.json()['token']}"}
    assert httpx.get(f"{base}/api/v1/auth/me", headers=fresh).json()["language"] == "fr"
    for bad in ({"language": "de"}, {"language": "fr", "extra": 1}, {}):
        r = httpx.put(f"{base}/api/v1/auth/me/language", headers=liz, json=bad)
        assert r.status_code == 422, r.text
    assert httpx.get(f"{base}/api/v1/auth/me", headers=liz).json()["language"] == "fr"
    assert [r["reason"] for r in audit_rows(centre) if r["action"] == "set_language"] == ["fr"]
