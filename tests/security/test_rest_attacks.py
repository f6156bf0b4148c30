"""Red team over HTTP: a hostile insider and a page on another local port try the REST API,
the stream and the sign-in."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
import websockets

from estran.domain.errors import AuthenticationError
from tests import factories
from tests.auth import AUTH, PASSWORD, seed_liaison
from tests.security.helpers import audit_rows

pytestmark = pytest.mark.integration

SECRET = "source HUMINT-7 names the smuggler"  # noqa: S105 (text, not a password)


@pytest.fixture
def centre(server):
    running = server()
    running.liaison = seed_liaison(running.settings)
    running.api = httpx.Client(base_url=running.http, headers=AUTH, timeout=10)
    yield running
    running.api.close()


def test_6_a_year_999_time_is_refused_with_a_clear_422_and_retention_still_runs(centre):
    api = centre.api
    body = {**factories.incident(id="inc-old"), "observed_at": "0999-01-01T00:00:00Z"}
    r = api.post("/api/v1/incidents", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "time_out_of_range"
    r = api.post("/api/v1/events", json=[{"type": "incident.created", "data": factories.incident(
        id="inc-old2"), "observed_at": "0999-01-01T00:00:00Z"}])  # fmt: skip
    assert r.status_code == 422
    marked = {**factories.incident(id="inc-m"), "marking": {"retain_until": "0999-01-01T00:00:00Z"}}
    assert api.post("/api/v1/incidents", json=marked).status_code == 422
    assert api.get("/api/v1/incidents/inc-old").status_code == 404
    assert api.post("/api/v1/plans", json={}).status_code != 500


def test_10_history_events_and_the_stream_never_show_a_record_before_its_release(centre):
    api = centre.api
    inc = {**factories.incident(id="inc-r"), "summary": SECRET}
    assert api.post("/api/v1/incidents", json=inc).status_code == 201
    assert (
        api.patch("/api/v1/incidents/inc-r", json={"summary": "group on the dunes"}).status_code
        == 200
    )
    r = api.patch("/api/v1/incidents/inc-r", json={"marking": {"releasable_to": ["FR", "GB"]}},
                  headers={"X-Justification": "joint operation"})  # fmt: skip
    assert r.status_code == 200, r.text
    liaison = httpx.Client(base_url=centre.http, headers=centre.liaison, timeout=10)
    seen = liaison.get("/api/v1/incidents/inc-r")
    assert seen.status_code == 200
    assert SECRET not in seen.text
    history = liaison.get("/api/v1/incidents/inc-r/history")
    assert history.status_code in (200, 403)
    assert SECRET not in history.text
    events = liaison.get("/api/v1/events", params={"after": 0})
    assert events.status_code in (200, 403)
    assert SECRET not in events.text

    async def backlog() -> bytes:
        got = b""
        async with websockets.connect(
            f"{centre.ws}/api/v1/stream?since=0", additional_headers=centre.liaison
        ) as ws:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.3)
                except TimeoutError:
                    continue
                got += msg if isinstance(msg, bytes) else msg.encode()
        return got

    got = asyncio.run(backlog())
    assert b"inc-r" in got  # the release itself arrives
    assert SECRET.encode() not in got
    liaison.close()


def test_11_parallel_wrong_passwords_get_no_more_checks_than_the_limit(centre):
    url = f"{centre.http}/api/v1/auth/login"

    def attempt(name: str) -> int:
        return httpx.post(url, json={"username": name, "password": "wrong guess"}).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, ["liz"] * 40))
    assert codes.count(401) == 5, codes  # real checks
    assert codes.count(429) == 35
    # A name that does not exist is answered exactly alike (no enumeration).
    with ThreadPoolExecutor(8) as pool:
        ghosts = list(pool.map(attempt, ["nobody-here"] * 10))
    assert sorted(set(ghosts)) == [401, 429]
    assert ghosts.count(401) == 5
    # The commander, whom an attacker tried to lock out, still signs in from another source
    # (the throttle is per source: here the test's own loopback is that attacker).
    rows = [r for r in audit_rows(centre.settings) if r.action == "login"]
    assert sum(not r.allowed for r in rows) == 50


def test_11_a_commander_cannot_be_locked_out_by_someone_elses_guesses(centre):
    store_settings = centre.settings
    from estran.adapters.clock import SystemClock
    from estran.bootstrap import open_identity, open_security_store

    store = open_security_store(store_settings)
    try:
        identity = open_identity(store_settings, store, SystemClock())
        for _ in range(20):
            with pytest.raises(AuthenticationError, match=r"wrong|too many"):
                identity.login("test-commander", "not it at all", source="198.51.100.7")
        assert identity.login("test-commander", PASSWORD, source="10.1.1.1").token
    finally:
        store.close()


def test_low_a_cookie_write_from_another_origin_or_not_json_is_refused(centre):
    login = httpx.post(f"{centre.http}/api/v1/auth/login",
                       json={"username": "liz", "password": PASSWORD})  # fmt: skip
    assert login.status_code == 200
    cookie = {"estran_session": login.cookies["estran_session"]}
    entry = {"log": "duty", "role": "liaison", "text": "written by another page"}
    host = centre.http.split("://", 1)[1]
    evil = httpx.post(f"{centre.http}/api/v1/log_entries", json=entry, cookies=cookie,
                      headers={"Origin": "http://127.0.0.1:9"})  # fmt: skip
    assert evil.status_code == 403
    assert evil.json()["error"]["details"][0]["rule"] == "origin"
    form = httpx.post(f"{centre.http}/api/v1/log_entries", content=orjson.dumps(entry),
                      cookies=cookie, headers={"Origin": f"http://{host}",
                                               "Content-Type": "text/plain"})  # fmt: skip
    assert form.status_code == 403
    none = httpx.post(f"{centre.http}/api/v1/log_entries", json=entry, cookies=cookie)
    assert none.status_code == 403
    ok = httpx.post(f"{centre.http}/api/v1/log_entries", json=entry, cookies=cookie,
                    headers={"Origin": f"http://{host}"})  # fmt: skip
    assert ok.status_code == 201, ok.text
    logs = centre.api.get("/api/v1/log_entries").json()["items"]
    assert len(logs) == 1


def test_low_x_forwarded_for_is_not_believed_from_an_unconfigured_proxy(centre):
    url = f"{centre.http}/api/v1/auth/login"
    for i in range(6):
        r = httpx.post(url, json={"username": "liz", "password": "bad"},
                       headers={"X-Forwarded-For": f"203.0.113.{i}"})  # fmt: skip
    assert r.status_code == 429  # six sources claimed; one real one, held back
    rows = [r for r in audit_rows(centre.settings) if r.action == "login"]
    assert {r.details["client"] for r in rows} == {"127.0.0.1"}


def test_low_hostile_query_values_and_bodies_get_4xx_not_500(centre):
    api = centre.api
    assert api.get("/api/v1/events", params={"after": 2**63}).status_code == 422
    assert (
        api.post(
            "/api/v1/sensors", json={**factories.sensor("uas-1", agency_id="FR-GN"), "id": "uas-1"}
        ).status_code
        == 201
    )
    q = {"t": 1.0, "lat": 50.9, "lon": 1.7, "alt_m": 100, "yaw_deg": 0, "pitch_deg": -60}
    r = api.post("/api/v1/sensors/uas-1/thermal", params=q, content=b"")
    assert r.status_code == 422, r.text
    r = api.post("/api/v1/sensors/uas-1/thermal", params={**q, "t": 1e308}, content=b"x")
    assert r.status_code == 422
    r = api.post("/api/v1/units", json={**factories.unit(id="a/b")})
    assert r.status_code == 422
