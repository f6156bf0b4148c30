"""What a centre makes of its partner's messages (pure): hostile messages refused, a release
held as the partner's own record, older or repeated messages changing nothing, a withdrawal
hiding the record from everyone at once and leaving the rest to retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import orjson
import pytest

from estran.bootstrap import load_policy
from estran.domain.commands import Context, decide
from estran.domain.errors import PermissionDeniedError, ValidationFailedError
from estran.domain.federation import foreign_key, parse_message, to_command
from estran.domain.markings import Classification, Marking
from estran.domain.picture import Picture
from estran.domain.policy import Principal, Role, can_see
from estran.domain.retention import RetentionRules, due_for_purge
from estran.domain.timefmt import stamp
from estran.services.federation import partner_centre

POLICY = load_policy(None, "GB")  # the UK's centre
NOW = datetime(2026, 12, 1, 2, tzinfo=UTC)
PARTNER = partner_centre("FR-CCI-X", "FR", Classification.OFFICIAL)
UK_COMMANDER = Principal("user:uk", Role.COMMANDER, "UK-BF", "GB", Classification.OFFICIAL)
_ids = count(1)
ROOT = "estran.fed"


def message(op: str = "release", seq: int = 5, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"op": op, "centre": "FR-CCI-X", "nation": "FR", "kind": "unit",
                            "id": "u-1", "event_id": f"ev-{seq}", "seq": seq}  # fmt: skip
    if op == "release":
        body["record"] = {"entity": "unit", "id": "u-1", "callsign": "ALPHA", "marking": {
            "classification": "OFFICIAL", "releasable_to": ["FR", "GB"],
            "purpose": "border_surveillance", "personal_data": False}}  # fmt: skip
    return {**body, **over}


def parsed(body: dict[str, Any] | bytes, subject: str = f"{ROOT}.FR.GB.unit.x") -> Any:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_message(subject, data, root=ROOT, partner="FR", nation="GB")


def held_in(picture: Picture, key: str) -> dict[str, Any]:
    record = picture.get("foreign", key)
    assert record is not None
    return record


def apply(picture: Picture, body: dict[str, Any], who: Principal = PARTNER, at: datetime = NOW):
    msg = parsed(body)
    cmd = to_command(msg, picture.get("foreign", foreign_key(msg.centre, msg.kind, msg.id)),
                     "UK-SBC-X")  # fmt: skip
    if cmd is None:
        return None
    ctx = Context(at, who.id, "federation", Marking(releasable_to=["GB"]), 300.0,
                  lambda: f"id{next(_ids)}", who, POLICY, lambda _k: 30.0)  # fmt: skip
    event = decide(picture, cmd, ctx)
    picture.apply(event.with_seq(picture.seq + 1))
    return event


@pytest.mark.parametrize(
    ("body", "subject", "why"),
    [
        (b"\x00junk", None, "not a federation message"),
        (b"x" * (256 * 1024 + 1), None, "at most"),
        ({**message(), "extra": 1}, None, "not a federation message"),
        (message(nation="GB"), None, "sent on FR's subject as GB"),
        (message(), f"{ROOT}.GB.FR.unit.x", "is not FR's to GB"),
        (message(kind="foreign"), None, "not released between centres"),
        (message(kind="no_such"), None, "not released between centres"),
        (message(record=None), None, "carries its record"),
        (message(op="withdraw", record={"id": "u-1"}), None, "carries no record"),
        (message(record={"entity": "unit", "id": "other", "marking": {}}), None, "names"),
    ],
)
def test_a_hostile_message_is_refused_with_a_reason(body, subject, why):
    with pytest.raises(ValidationFailedError, match=why):
        parsed(body, subject or f"{ROOT}.FR.GB.unit.x")


def test_a_release_is_held_as_the_partners_record_and_only_the_partner_changes_it():
    picture = Picture()
    apply(picture, message())
    key = foreign_key("FR-CCI-X", "unit", "u-1")
    held = picture.get("foreign", key)
    assert held is not None
    assert held["record"]["callsign"] == "ALPHA"
    assert held["marking"]["originator_nation"] == "FR"
    assert held["marking"]["originator_agency"] == "FR-CCI-X"
    assert can_see(POLICY, UK_COMMANDER, held, now=stamp(NOW))
    # Repeated, or older than what is held: nothing to do.
    assert apply(picture, message()) is None
    assert apply(picture, message(seq=3)) is None
    # A newer release replaces the content.
    newer = message(seq=9)
    newer["record"]["callsign"] = "BRAVO"
    apply(picture, newer)
    assert held_in(picture, key)["record"]["callsign"] == "BRAVO"
    # The UK's own users change nothing of it (the rule names why).
    with pytest.raises(PermissionDeniedError) as refused:
        apply(picture, message(seq=12), who=UK_COMMANDER)
    assert refused.value.rule == "foreign"
    other = partner_centre("FR-CCI-Y", "FR", Classification.OFFICIAL)
    with pytest.raises(PermissionDeniedError):
        apply(picture, message(seq=13), who=other)  # another French centre's principal


def test_a_withdrawal_hides_the_record_at_once_and_retention_takes_the_rest():
    picture = Picture()
    apply(picture, message())
    key = foreign_key("FR-CCI-X", "unit", "u-1")
    assert apply(picture, message(op="withdraw", seq=4)) is None  # older than the release
    apply(picture, message(op="withdraw", seq=6))
    gone = held_in(picture, key)
    assert gone["status"] == "withdrawn"
    assert gone["record"] == {}  # the content dropped in the same event
    assert not can_see(POLICY, UK_COMMANDER, gone, now=stamp(NOW))
    dover = Principal("user:dover", Role.RESCUE_LIAISON, "UK-MRCC-DOVER", "GB")
    assert not can_see(POLICY, dover, gone, now=stamp(NOW))
    assert apply(picture, message(op="withdraw", seq=7)) is None  # not held any more
    rules = RetentionRules(detection_days=7, log_days=30, record_days=30)
    assert due_for_purge(picture, NOW + timedelta(days=29), rules) == []
    assert due_for_purge(picture, NOW + timedelta(days=31), rules) == [("foreign", key)]
