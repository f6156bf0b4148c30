"""Tasks on a patrol's phone (issue 20): only a task a commander sent reaches a device, with a
4-character code a patrol can type in the dark; ``ACK <code>`` (or the radio's ``ROGER``,
``WILCO``, ``REÇU``) from the unit's own device acknowledges it, and nothing else does."""

from __future__ import annotations

import string
import time
from typing import Any

from estran.domain.events import Event
from estran.domain.picture import Picture
from estran.domain.policy import Principal, Role
from estran.domain.vocab import task_code
from estran.protocols.cot.parse import parse_xml
from estran.services.tak_bridge import TakBridgeState, cot_to_commands
from estran.services.tak_render import picture_to_cot

AT = "2026-11-30T22:00:00.000000Z"
DEVICE = Principal("device:p1", Role.DEVICE, agency_id="FR-GN", nation="FR")


def _picture(status: str = "sent") -> Picture:
    picture = Picture()
    marking = {"classification": "OFFICIAL", "releasable_to": ["FR"]}
    records: list[tuple[str, str, dict[str, Any]]] = [
        ("unit", "u1", {"callsign": "PATROL-1", "kind": "foot_patrol", "agency_id": "FR-GN",
                        "status": "available", "position": {"lat": 50.9, "lon": 1.7}}),
        ("unit", "u2", {"callsign": "PATROL-2", "kind": "foot_patrol", "agency_id": "FR-GN",
                        "status": "available"}),
        ("incident", "i1", {"type": "group_sighted", "status": "open", "owner_agency_id": "FR-GN",
                            "position": {"lat": 50.95, "lon": 1.75}}),
        ("task", "task-long-id-0001", {"incident_id": "i1", "unit_id": "u1", "status": status,
                                       "instructions": "check the dunes"}),
        ("task", "task-other-unit", {"incident_id": "i1", "unit_id": "u2", "status": "sent"}),
    ]  # fmt: skip
    for seq, (kind, rid, data) in enumerate(records, 1):
        picture.apply(Event(seq, f"e{seq}", f"{kind}.created", kind, rid, AT, AT, "t", "t",
                            marking, data))  # fmt: skip
    return picture


def _chat(text: str) -> list:
    xml = (
        f'<event version="2.0" uid="GeoChat.p1.All.{time.monotonic_ns()}" type="b-t-f" '
        f'how="h-g-i-g-o" time="2026-11-30T22:00:00Z" start="2026-11-30T22:00:00Z" '
        f'stale="2026-11-30T22:05:00Z"><point lat="50.9" lon="1.7" hae="0" ce="9" le="9"/>'
        f"<detail><remarks>{text}</remarks></detail></event>"
    ).encode()
    return cot_to_commands(parse_xml(xml), _picture(), TakBridgeState(default_agency="FR-GN"),
                           0.0, DEVICE, frozenset({"u1"}))  # fmt: skip


def test_a_task_code_is_4_unmistakable_characters_the_same_everywhere():
    code = task_code("task-long-id-0001")
    assert len(code) == 4
    assert code == task_code("task-long-id-0001")
    assert not set(code) & set("0O1IL5S8B2Z")
    assert set(code) <= set(string.ascii_uppercase + string.digits)
    codes = {task_code(f"task-{i}") for i in range(10_000)}
    assert len(codes) > 9_800  # about 180 collisions expected among 10,000 in 279,841


def test_only_a_sent_task_goes_to_phones_and_it_shows_its_code():
    assert picture_to_cot("task", "task-long-id-0001", _picture("proposed"), 0) is None
    ev = picture_to_cot("task", "task-long-id-0001", _picture("sent"), 0)
    assert ev is not None
    code = task_code("task-long-id-0001")
    assert f"ACK {code}" in (ev.remarks or ev.detail_xml)
    assert f'code="{code}"' in ev.detail_xml


def test_the_units_device_acknowledges_with_the_code_or_a_radio_word():
    code = task_code("task-long-id-0001")
    for text in (f"ACK {code}", f"ack {code.lower()}", f"ROGER {code}", f"WILCO: {code}",
                 f"Reçu {code}", "ACK task-long-id-0001"):  # fmt: skip
        (command,) = _chat(text)
        assert command.entity_id == "task-long-id-0001", text
        assert command.data == {"status": "acknowledged"}


def test_nothing_else_acknowledges_a_task():
    other = task_code("task-other-unit")
    for text in (f"ACK {other}", "ACK task-other-unit", "OKAY then", f"ROGER{task_code('x')}",
                 "ACK ZZZZ", "on our way"):  # fmt: skip
        assert _chat(text) == [], text
