"""Two sovereign centres over NATS JetStream (issue 19, part 2): a French centre and the UK's,
each with its own store and policy, federated on one pair stream. On the real NATS JetStream
(skipped with the reason when absent), each test in streams of its own, deleted after.

What the UK centre holds is checked in its own event log, not through its API: a record never
released to GB must not be held there at all, not merely hidden."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import orjson
import pytest

from estran.adapters.jetstream_federation import record_subject
from estran.bootstrap import open_store
from estran.domain.federation import foreign_key
from estran.domain.markings import Classification, Purpose
from estran.domain.policy import Role
from tests import factories
from tests.auth import AUTH, seed_user
from tests.marks import NATS_URL, needs_nats
from tests.polling import eventually, get_until
from tests.security.helpers import audit_rows

pytestmark = [needs_nats, pytest.mark.integration, pytest.mark.timeout(180)]

FR_CENTRE = "FR-CCI-TEST"
UK_CENTRE = "UK-SBC-TEST"
TO_GB = {"classification": "OFFICIAL", "releasable_to": ["FR", "GB"]}
FR_ONLY = {"classification": "OFFICIAL", "releasable_to": ["FR"]}
UK_TOKEN = "est_uk-commander-token"  # noqa: S105 (test accounts in a temporary directory)
RESCUE_TOKEN = "est_uk-rescue-token"  # noqa: S105


@pytest.fixture
def centres(server: Callable[..., Any], root: str, tmp_path: Path) -> Callable[..., Any]:
    """Starts the French centre and the UK's (each on its own SQLite), federated on ``root``;
    the UK one through ``uk_url`` where given (a proxy the test owns)."""

    def start(uk_url: str = NATS_URL, *, fr: bool = True) -> tuple[Any, Any, dict[str, str]]:
        france = (
            server(federation_url=NATS_URL, centre=FR_CENTRE, federation_root=root) if fr else None
        )
        uk = server(data_dir=tmp_path / "uk", nation="GB", federation_url=uk_url,
                    centre=UK_CENTRE, federation_root=root)  # fmt: skip
        uk_auth = seed_user(uk.settings, "uk-commander", agency_id="UK-BF", nation="GB",
                            token=UK_TOKEN)  # fmt: skip
        return france, uk, uk_auth

    return start


def held_events(settings: Any) -> list[Any]:
    """Every event in a centre's own log."""
    store = open_store(settings)
    try:
        return list(store.read(0))
    finally:
        store.close()


def foreign_items(base: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = httpx.get(f"{base}/api/v1/foreign_records?limit=1000", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def refused_by(r: httpx.Response) -> str | None:
    """The policy rule that refused the request (403), else None."""
    return str(r.json()["error"]["details"][0]["rule"]) if r.status_code == 403 else None


def may_go_to_gb(marking: dict[str, Any]) -> bool:
    """What the policy lets a British liaison officer see, hence what the UK centre may
    hold: released to GB, OFFICIAL or below, a liaison's purposes, no personal data."""
    return (
        "GB" in marking["releasable_to"]
        and marking["classification"] in ("UNCLASSIFIED", "OFFICIAL")
        and marking["purpose"] != "law_enforcement"
        and not marking["personal_data"]
    )


def test_the_uk_centre_holds_exactly_what_france_released_to_gb(centres):
    """Every combination of marking on a French unit, exhaustively: the UK centre's log
    holds the ones released to GB that a British liaison may see, and nothing of the others;
    a French incident's person in the water reaches the UK's rescue centre as its rescue case
    only; received records are read-only to the UK's users, who comment and propose back;
    narrowing a release hides the record in the UK at once."""
    france, uk, uk_auth = centres()
    justify = {"X-Justification": "joint exercise"}
    markings = [
        {"classification": c.value, "releasable_to": list(r), "purpose": p.value,
         "personal_data": personal}
        for c, r, p, personal in itertools.product(
            Classification, (["FR"], ["FR", "GB"], ["FR", "GB", "BE"]), Purpose, (False, True))
    ]  # fmt: skip
    commands = [
        {"type": "unit.created",
         "data": {"id": f"u-{i}", "callsign": f"FED{i}", "kind": "foot_patrol",
                  "agency_id": "FR-GN"},
         "marking": m}
        for i, m in enumerate(markings)
    ]  # fmt: skip
    r = httpx.post(f"{france.http}/api/v1/events", json=commands, headers={**AUTH, **justify})
    assert r.status_code in (200, 201), r.text
    expected = {f"u-{i}" for i, m in enumerate(markings) if may_go_to_gb(m)}
    assert 0 < len(expected) < len(markings)
    body = factories.incident("persons_in_water", lat=50.95, lon=1.62,
                              summary="SECRET-SUMMARY", marking=FR_ONLY)  # fmt: skip
    r = httpx.post(f"{france.http}/api/v1/incidents", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    incident = r.json()["id"]
    case = f"sar-{incident}"

    def arrived() -> list[dict[str, Any]] | None:
        items = foreign_items(uk.http, uk_auth)
        units = {f["origin_id"] for f in items if f["origin_kind"] == "unit"}
        cases = {f["origin_id"] for f in items if f["origin_kind"] == "rescue_case"}
        return items if units == expected and case in cases else None

    items = eventually(arrived, 20.0, "the released records in the UK centre")
    # Nothing else was ever held in the UK: its own log, every event of a received record.
    log = held_events(uk.settings)
    received = [e for e in log if e.kind == "foreign"]
    raw = b"".join(orjson.dumps(e.data) for e in received)
    for never in (b"SECRET-SUMMARY", f'"{incident}"'.encode()):
        assert never not in raw.replace(f'"incident_id":"{incident}"'.encode(), b""), never
    held_units = {e.data["origin_id"] for e in received if e.data.get("origin_kind") == "unit"}
    assert held_units == expected
    for event in received:
        assert event.actor == f"centre:{FR_CENTRE}"
        assert event.source == "federation"
        if event.data.get("record"):
            assert may_go_to_gb({"personal_data": False, **event.data["record"]["marking"]})
    # The UK's rescue centre sees the case: only what saving life needs.
    rescue = seed_user(uk.settings, "uk-rescue", role=Role.RESCUE_LIAISON,
                       agency_id="UK-MRCC-DOVER", nation="GB", token=RESCUE_TOKEN)  # fmt: skip
    seen = {f["origin_id"]: f for f in foreign_items(uk.http, rescue)}
    assert case in seen
    assert seen[case]["record"]["position"]
    assert "description" not in seen[case]["record"] or "SECRET" not in seen[case]["record"][
        "description"]  # fmt: skip
    # (and, as at home, only records held for search and rescue besides)
    assert {f["marking"]["purpose"] for f in seen.values()} == {"search_and_rescue"}
    # Read-only to the UK's own users: only France changes them.
    unit_copy = next(f for f in items if f["origin_id"] in expected)
    r = httpx.patch(f"{uk.http}/api/v1/foreign_records/{unit_copy['id']}",
                    json={"status": "withdrawn"}, headers=uk_auth)  # fmt: skip
    assert refused_by(r) == "foreign", r.text
    forged = {k: unit_copy[k] for k in ("origin_centre", "origin_nation", "origin_kind",
                                        "origin_seq", "origin_event_id", "record")}  # fmt: skip
    r = httpx.post(f"{uk.http}/api/v1/foreign_records", headers=uk_auth,
                   json={**forged, "origin_id": "made-up"})  # fmt: skip
    assert refused_by(r) == "foreign", r.text
    # A proposal on it travels back to France as a proposal.
    r = httpx.post(f"{uk.http}/api/v1/log_entries", headers=uk_auth, json={
        "log": "duty", "foreign_id": unit_copy["id"], "role": "duty officer", "proposal": True,
        "text": "We propose this patrol covers Wissant too."})  # fmt: skip
    assert r.status_code == 201, r.text
    assert sorted(r.json()["marking"]["releasable_to"]) == ["FR", "GB"]

    def proposal_in_france() -> dict[str, Any] | None:
        for f in foreign_items(france.http, AUTH):
            if f["origin_kind"] == "log_entry" and f["about_id"] == unit_copy["origin_id"]:
                return f
        return None

    back = eventually(proposal_in_france, 20.0, "the proposal in the French centre")
    assert back["about_kind"] == "unit"
    assert back["origin_centre"] == UK_CENTRE
    assert back["record"]["proposal"] is True
    assert "Wissant" in back["record"]["text"]
    # France narrows the release: the UK hides the record at once and drops its content.
    r = httpx.patch(f"{france.http}/api/v1/units/{unit_copy['origin_id']}",
                    json={"marking": FR_ONLY}, headers={**AUTH, **justify})  # fmt: skip
    assert r.status_code == 200, r.text
    url = f"{uk.http}/api/v1/foreign_records/{unit_copy['id']}"
    eventually(lambda: httpx.get(url, headers=uk_auth).status_code == 404, 20.0, "the withdrawal")
    last = [e for e in held_events(uk.settings) if e.entity_id == unit_copy["id"]][-1]
    assert last.data == {**last.data, "status": "withdrawn", "record": {}}
    # Every release sent and every record received is in each side's audit trail.
    uk_audit = [row for row in audit_rows(uk.settings) if row.action == "federation_receive"]
    fr_audit = audit_rows(france.settings)
    received_keys = {row.target for row in uk_audit}
    assert {f"foreign/{foreign_key(FR_CENTRE, 'unit', u)}" for u in expected} <= received_keys
    assert f"foreign/{foreign_key(FR_CENTRE, 'rescue_case', case)}" in received_keys
    assert any(row.action == "federation_receive" and row.target == f"foreign/{back['id']}"
               for row in fr_audit)  # fmt: skip
    assert sum(row.action == "federation_withdraw" for row in fr_audit) >= 1


async def _publish(root: str, subject_kind: str, entity_id: str, body: Any, msg_id: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        subject = record_subject(root, "FR", "GB", subject_kind, entity_id)
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        await nc.jetstream().publish(subject, data, headers={"Nats-Msg-Id": msg_id})
    finally:
        await nc.close()


def test_the_uk_centre_refuses_what_was_not_released_to_it_and_applies_a_message_once(
    centres, root
):
    """What comes off the stream is hostile: a record not released to GB (a partner's bug or
    a forger on the bus), a message in the wrong nation's name, garbage; each is refused,
    audited, and nothing of it is held. A message stored twice in the stream (past
    JetStream's de-duplication) is applied once, by the ledger's idempotency."""
    _, uk, uk_auth = centres(fr=False)
    get_until(f"{uk.http}/api/v1/health",
              lambda h: h["reactors"]["federation-in"]["alive"], 15.0)  # fmt: skip

    def release(entity_id: str, marking: dict[str, Any], **over: Any) -> dict[str, Any]:
        record = {"entity": "unit", "id": entity_id, "callsign": entity_id.upper(),
                  "kind": "foot_patrol", "agency_id": "FR-GN",
                  "marking": {"purpose": "border_surveillance", "personal_data": False,
                              **marking}}  # fmt: skip
        return {"op": "release", "centre": FR_CENTRE, "nation": "FR", "kind": "unit",
                "id": entity_id, "event_id": f"ev-{entity_id}", "seq": 5, "record": record,
                **over}  # fmt: skip

    async def send() -> None:
        await _publish(root, "unit", "secret", release("secret", FR_ONLY), "m1")
        await _publish(root, "unit", "high", release("high", {**TO_GB,
                       "classification": "DIFFUSION RESTREINTE"}), "m2")  # fmt: skip
        await _publish(root, "unit", "spoof", release("spoof", TO_GB, nation="GB"), "m3")
        await _publish(root, "unit", "junk", b"\x00not json{", "m4")
        await _publish(root, "unit", "extra", {**release("extra", TO_GB), "name": "x"}, "m5")
        await _publish(root, "unit", "mine", release("mine", TO_GB, centre=UK_CENTRE), "m8")
        await _publish(root, "unit", "shared", release("shared", TO_GB), "m6")
        await _publish(root, "unit", "shared", release("shared", TO_GB), "m7")  # stored twice

    asyncio.run(send())
    key = foreign_key(FR_CENTRE, "unit", "shared")
    get_until(f"{uk.http}/api/v1/foreign_records/{key}", lambda f: True, 15.0, uk_auth)

    def audited() -> list[Any] | None:
        rows = [r for r in audit_rows(uk.settings)
                if r.action in ("federation_refused", "federation_receive")]  # fmt: skip
        return rows if len(rows) >= 8 else None

    # Every message received is in the audit trail: six refused, the shared one twice.
    rows = eventually(audited, 10.0, "every message in the audit trail")
    assert sorted(r.action for r in rows) == ["federation_receive"] * 2 + [
        "federation_refused"] * 6  # fmt: skip
    received = [e for e in held_events(uk.settings) if e.kind == "foreign"]
    assert [e.entity_id for e in received] == [key]  # the shared one, applied once
    health = httpx.get(f"{uk.http}/api/v1/health", headers=uk_auth).json()
    assert health["federation"]["inbound"]["refused"] == 6
    assert health["federation"]["inbound"]["received"] == 8


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.slow
def test_a_partition_between_the_centres_stops_neither_and_heals_with_nothing_lost_or_doubled(
    nats_proxy, centres
):
    france, uk, uk_auth = centres(f"nats://{nats_proxy.url_host}")
    get_until(f"{uk.http}/api/v1/health",
              lambda h: h["federation"]["connected"] and h["federation"]["behind"] == 0,
              20.0, uk_auth)  # fmt: skip
    nats_proxy.reset()  # the UK centre is cut off from the federation
    for i in range(30):
        r = httpx.post(f"{france.http}/api/v1/units", headers=AUTH,
                       json=factories.unit(f"P{i}", id=f"p-{i}", marking=TO_GB))  # fmt: skip
        assert r.status_code == 201, r.text
        r = httpx.post(f"{uk.http}/api/v1/units", headers=uk_auth,
                       json=factories.unit(f"UK{i}", id=f"uk-{i}", agency_id="UK-BF"))  # fmt: skip
        assert r.status_code == 201, r.text  # neither centre stops for the other
    time.sleep(7.0)  # longer than a fetch or a publish waits: both loops see the cut
    nats_proxy.restore()
    keys = {foreign_key(FR_CENTRE, "unit", f"p-{i}") for i in range(30)}

    def caught_up() -> bool:
        held = {f["id"] for f in foreign_items(uk.http, uk_auth)}
        return keys <= held

    eventually(caught_up, 60.0, "the UK centre catching up")
    created = [e.entity_id for e in held_events(uk.settings)
               if e.type == "foreign.created" and e.entity_id in keys]  # fmt: skip
    assert sorted(created) == sorted(keys)  # each once, none lost
