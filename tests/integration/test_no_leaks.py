"""Property: no read path ever returns a record its caller may not see.

A picture of randomly marked records (classification, releasability, purpose, personal data,
French or British origin) is written before the server starts; hypothesis then picks a user
(one per role and nation) and a read path (REST list and get, GeoJSON layer, picture now and
in the past, event log, stream snapshot, export, figures, CoT out) and checks the answer
against an oracle written here from the markings alone.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from estran.adapters.storage.sqlite import SqliteEventStore
from estran.config import Settings
from estran.domain.commands import Context, decide
from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking, Purpose
from estran.domain.picture import Picture, Staged
from estran.domain.policy import Role
from estran.domain.records import KINDS
from estran.domain.timefmt import stamp
from estran.services.rescue import RescueService
from estran.services.stats import figures
from estran.services.tak import TakGateway
from tests.auth import seed_user
from tests.conftest import RunningServer

RANK = {c.value: i for i, c in enumerate(Classification)}
PURPOSES = {
    "commander": {p.value for p in Purpose},
    "operator": {p.value for p in Purpose},
    "liaison": {"border_surveillance", "search_and_rescue"},
    "observer": {"border_surveillance", "search_and_rescue"},
    "analyst": {p.value for p in Purpose},
    "rescue_liaison": {"search_and_rescue"},
}
PERSONAL = {"commander", "operator"}
USERS = {
    "fr-commander": ("commander", "FR-GN", "FR", "DIFFUSION RESTREINTE", {}),
    "fr-operator": ("operator", "FR-GN", "FR", "OFFICIAL-SENSITIVE", {}),
    "gb-liaison": ("liaison", "UK-BF", "GB", "OFFICIAL-SENSITIVE", {}),
    "gb-observer": ("observer", "UK-BF", "GB", "OFFICIAL", {"attached_unit": "u0"}),
    "fr-analyst": ("analyst", "FR-GN", "FR", "OFFICIAL-SENSITIVE", {}),
    "gb-rescue": ("rescue_liaison", "UK-MRCC-DOVER", "GB", "OFFICIAL", {}),
    "fr-auditor": ("auditor", "FR-GN", "FR", "DIFFUSION RESTREINTE", {}),
}
PATHS = ("list", "get", "layer", "picture", "picture_at", "events", "stream", "export",
         "stats", "cot", "cot_relay", "rescue_derived")  # fmt: skip
SECRET = "SECRET-"  # noqa: S105 (text, not a password)
"""Each incident's summary holds this and its id: no derived record may carry it to a reader
who may not see the incident."""


def _marking(rng: random.Random) -> Marking:
    return Marking(
        classification=rng.choice(list(Classification)),
        releasable_to=rng.choice([["FR"], ["FR", "GB"], ["GB"]]),
        purpose=rng.choice(list(Purpose)),
        personal_data=rng.random() < 0.2,
        originator_nation=rng.choice(["FR", "GB"]),
    )


def _commands(rng: random.Random) -> list[CommandIn]:
    cmds: list[CommandIn] = []
    for agency, nation in (
        ("FR-GN", "FR"), ("UK-BF", "GB"), ("UK-MRCC-DOVER", "GB"), ("FR-CROSS-GN", "FR"),
    ):  # fmt: skip
        cmds.append(
            CommandIn(
                type="agency.created",
                data={"id": agency, "name": agency, "nation": nation},
                marking=Marking(releasable_to=["FR", "GB"]),
            )
        )
    pos = {"lat": 50.9, "lon": 1.7}
    for i in range(12):  # each unit and incident at its own place: a leaked position shows
        cmds.append(CommandIn(type="unit.created", data={"id": f"u{i}", "callsign": f"U{i}",
                    "kind": "foot_patrol", "agency_id": "FR-GN",
                    "position": {"lat": _unit_lat(i), "lon": 1.7}},
                    marking=_marking(rng)))  # fmt: skip
    for i in range(6):  # TAK clients' units: what they send is relayed under these markings
        cmds.append(CommandIn(type="unit.created", data={"id": f"tak-r{i}", "callsign": f"R{i}",
                    "kind": "foot_patrol", "agency_id": "FR-GN", "position": pos},
                    marking=_marking(rng)))  # fmt: skip
    cmds.append(CommandIn(type="sensor.created", data={"id": "s0", "name": "d",
                "kind": "drone_thermal", "agency_id": "UK-BF"}, marking=_marking(rng)))  # fmt: skip
    types_ = ["group_sighted", "boat_being_prepared", "launch_attempt", "persons_in_water"]
    for i in range(16):
        cmds.append(CommandIn(type="incident.created", data={"id": f"i{i}",
                    "type": types_[i % 4], "owner_agency_id": "FR-GN",
                    "position": {"lat": _incident_lat(i), "lon": 1.7},
                    "summary": f"{SECRET}i{i}"}, marking=_marking(rng)))  # fmt: skip
    on_land = [i for i in range(16) if types_[i % 4] != "persons_in_water"]
    for i in range(10):  # one task per unit (a unit has one live task at a time)
        cmds.append(CommandIn(type="task.created", data={"id": f"t{i}", "incident_id":
                    f"i{on_land[i]}", "unit_id": f"u{i}"}, marking=_marking(rng)))  # fmt: skip
    for i in range(10):
        cmds.append(CommandIn(type="detection.created", data={"id": f"d{i}", "sensor_id": "s0",
                    "class": "group_of_people", "count": 3, "position": pos},
                    marking=_marking(rng)))  # fmt: skip
    # Rescue cases are derived by the rescue service from the (restricted) incidents: see
    # the world fixture, which opens them as the server would.
    for i in range(6):
        cmds.append(CommandIn(type="log_entry.created", data={"id": f"l{i}", "log": "duty",
                    "role": "duty officer", "text": "note"}, marking=_marking(rng)))  # fmt: skip
    return cmds


class _Client:
    """A TAK client as the gateway sees one: its principal and uid (hashed by identity)."""

    def __init__(self, principal: Any, uid: str | None) -> None:
        self.principal, self.uid = principal, uid
        self.peer = "test"
        self.callsign: str | None = None
        self.group: str | None = None


def _unit_lat(i: int) -> float:
    return round(50.80 + i * 0.001, 6)


def _incident_lat(i: int) -> float:
    return round(50.95 + i * 0.001, 6)


def _visible(user: str, record: dict[str, Any], observer_scope: set[tuple[str, str]]) -> bool:
    role, _, nation, clearance, _ = USERS[user]
    if role == "auditor":
        return False
    kind = record["entity"]
    if role == "rescue_liaison" and (
        kind == "rescue_case" or (kind == "incident" and record["type"] == "persons_in_water")
    ):
        return True
    if role == "observer" and (kind, record["id"]) not in observer_scope:
        return False
    m = record["marking"]
    return (
        nation in m["releasable_to"]
        and RANK[m["classification"]] <= RANK[clearance]
        and m["purpose"] in PURPOSES[role]
        and (not m["personal_data"] or role in PERSONAL)
    )


class World:
    def __init__(
        self, running: RunningServer, picture: Picture, headers: dict[str, dict[str, str]]
    ) -> None:
        self.running = running
        self.picture = picture
        scope = {("unit", "u0"), ("agency", "FR-GN")}
        for t in picture.records["task"].values():
            if t["unit_id"] == "u0":
                scope |= {("task", t["id"]), ("incident", t["incident_id"])}
        self.scope = scope
        self.headers = headers
        self.checked = 0

    def oracle(self, user: str) -> set[tuple[str, str]]:
        return {
            (kind, rid)
            for kind, table in self.picture.records.items()
            for rid, r in table.items()
            if _visible(user, r, self.scope)
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp: Path = tmp_path_factory.mktemp("leaks")
    settings_ = Settings(
        data_dir=tmp / "data", terrain="off", cot_tcp_port=None, cot_tls_port=None,
        fusion=False, seed_agencies=False, purge_interval_s=0,
        rescue_ack_s=3600,  # a fixed world: no escalation (and its duty-log line) meanwhile
    )  # fmt: skip
    store = SqliteEventStore(settings_.data_dir / "events.sqlite3")
    picture = Picture()
    staged = Staged(picture)
    counter = itertools.count()
    received = datetime.now(UTC) - timedelta(minutes=5)
    ctx = Context(received, "system:test", "test", settings_.default_marking(), 300,
                  lambda: f"id{next(counter)}")  # fmt: skip
    events = []
    for cmd in _commands(random.Random(20261125)):  # noqa: S311 (test data)
        event = decide(staged, cmd, ctx)
        staged.stage(event)
        events.append(event)
    # The rescue service derives a case from each life-at-sea incident, whatever its marking.
    rescue = RescueService(staged, ack_s=60)  # type: ignore[arg-type]
    rescue.case_for = lambda _incident_id, _view=None: None  # type: ignore[method-assign,assignment]
    for i in (3, 7, 11, 15):  # every persons-in-water incident (the server opens none more)
        command = rescue.open_command(f"i{i}")
        assert command is not None
        event = decide(staged, command, ctx)
        staged.stage(event)
        events.append(event)
    picture.apply_all(store.append(events))
    store.close()
    running = RunningServer(settings_)
    headers = {
        name: seed_user(settings_, name, role=Role(role), agency_id=agency, nation=nation,
                        clearance=Classification(clearance), token=f"est_{name}",
                        **({**extra, "access_until": stamp(datetime.now(UTC) + timedelta(hours=1))}
                           if role == "observer" else {}))
        for name, (role, agency, nation, clearance, extra) in USERS.items()
    }  # fmt: skip
    with running:
        yield World(running, picture, headers)


def _ids(records: dict[str, list[dict[str, Any]]]) -> set[tuple[str, str]]:
    return {(KINDS_PLURAL[k], r["id"]) for k, items in records.items() for r in items}


KINDS_PLURAL = {spec.plural: spec.name for spec in KINDS.values()}


def _read(world: World, user: str, path: str, kind: str, rid: str) -> set[tuple[str, str]] | None:
    """What ``user`` got back on ``path``; None where the path was refused (403)."""
    base, h = world.running.http, world.headers[user]
    plural = KINDS[kind].plural
    if path == "list":
        r = httpx.get(f"{base}/api/v1/{plural}", params={"limit": 7, "offset": 2}, headers=h)
        body = r.json()
        want = sum(1 for k, _ in world.oracle(user) if k == kind)
        assert body["total"] == want  # counts never include a hidden record
        return {(kind, x["id"]) for x in body["items"]}
    if path == "get":
        r = httpx.get(f"{base}/api/v1/{plural}/{rid}", headers=h)
        assert r.status_code in (200, 404)
        return {(kind, rid)} if r.status_code == 200 else set()
    if path == "layer":
        r = httpx.get(f"{base}/api/v1/layers/{plural}", headers=h)
        return {(kind, f["id"]) for f in r.json()["features"]}
    if path in ("picture", "picture_at"):
        params = {"at": stamp(datetime.now(UTC))} if path == "picture_at" else {}
        r = httpx.get(f"{base}/api/v1/picture", params=params, headers=h)
        if r.status_code == 403:
            return None
        got = _ids(r.json()["records"])
        assert got == world.oracle(user)  # exactly what may be seen, no more, no less
        return got
    if path == "events":
        r = httpx.get(f"{base}/api/v1/events", headers=h)
        if r.status_code == 403:
            return None
        return {(e["kind"], e["entity_id"]) for e in r.json()["events"]}
    if path == "stream":

        async def snapshot() -> dict[str, Any]:
            url = f"{world.running.ws}/api/v1/stream"
            async with websockets.connect(url, additional_headers=h, max_size=2**24) as ws:
                try:
                    return dict(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
                except websockets.ConnectionClosed:
                    return {"records": {}}

        got = _ids(asyncio.run(snapshot())["records"])
        assert got == world.oracle(user)
        return got
    if path == "export":
        r = httpx.get(f"{base}/api/v1/export", headers={**h, "X-Justification": "property"})
        if r.status_code == 403:
            return None
        return {(x["entity"], x["id"]) for x in map(orjson.loads, r.content.splitlines()) if x}
    if path == "stats":
        r = httpx.get(f"{base}/api/v1/stats", headers=h)
        if r.status_code == 403:
            return None
        seen = Picture()
        for k, i in world.oracle(user):
            seen.records[k][i] = world.picture.records[k][i]
        body = r.json()
        expected = figures(seen, since=None, until=None, by=None, now=body["until"])
        for key in ("attempts_detected", "attempts_intercepted", "launches", "rescue_referrals"):
            assert body[key] == expected[key], key  # a hidden incident moves no number
        return set()
    svc = world.running.app.state.services
    principal = svc.identity.authenticate(f"est_{user}")
    if path == "rescue_derived":
        # Whatever a reader gets of rescue cases, it never holds a hidden incident's text.
        r = httpx.get(f"{base}/api/v1/rescue_cases", headers=h)
        if r.status_code == 403:
            return None
        visible = {rid for k, rid in world.oracle(user) if k == "incident"}
        for n in range(16):
            if f"i{n}" not in visible:
                assert f'{SECRET}i{n}"' not in r.text, f"{user} got incident i{n}'s text"
        return {("rescue_case", x["id"]) for x in r.json()["items"]}
    gateway = TakGateway(
        types.SimpleNamespace(), None, svc.picture, None,  # type: ignore[arg-type]
        default_agency="FR-GN", now_s=time.time, access=svc.access,
    )  # fmt: skip
    client = _Client(principal, None)
    if path == "cot_relay":
        # What each TAK client's unit sends reaches this user's client only where the unit's
        # record may be seen (the relay filter is the picture's policy).
        assert gateway.relay_filter is not None
        out = set()
        for n in range(6):
            sender = _Client(principal, f"r{n}")
            if gateway.relay_filter.allows(sender, client):
                out.add(("unit", f"tak-r{n}"))
        return out
    assert path == "cot"
    allowed = world.oracle(user)
    out = set()
    for ev in gateway.welcome(client):
        _, what, ident = ev.uid.split(".", 2)
        out.add((what, ident))
        if what == "task":
            # A task drawn for this user names and places only records it may see.
            task = svc.picture.get("task", ident)
            unit_ok = ("unit", task["unit_id"]) in allowed
            inc_ok = ("incident", task["incident_id"]) in allowed
            callsign = svc.picture.get("unit", task["unit_id"])["callsign"]
            assert unit_ok or f"TASK {callsign}" not in ev.detail_xml
            lat = round(ev.point.lat, 6)
            n_unit, n_inc = int(task["unit_id"][1:]), int(task["incident_id"][1:])
            assert (inc_ok and lat == _incident_lat(n_inc)) or (
                unit_ok and lat == _unit_lat(n_unit)
            ), (user, ident, lat)
    return out


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    user=st.sampled_from(sorted(USERS)),
    path=st.sampled_from(PATHS),
    kind=st.sampled_from(["unit", "incident", "task", "detection", "rescue_case", "log_entry"]),
    index=st.integers(0, 15),
)
def test_no_read_path_returns_a_record_its_caller_may_not_see(world, user, path, kind, index):
    rid = {"unit": "u", "incident": "i", "task": "t", "detection": "d", "log_entry": "l"}.get(
        kind, "sar-i"
    ) + str(index if kind != "rescue_case" else (3, 7, 11, 15)[index % 4])
    got = _read(world, user, path, kind, rid)
    if got is None:
        return
    allowed = world.oracle(user)
    leaked = got - allowed
    assert not leaked, f"{user} got {sorted(leaked)} on {path}"
    if path == "get" and (kind, rid) in allowed:
        assert got == {(kind, rid)}  # and what may be seen is served
