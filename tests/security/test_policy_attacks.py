"""Red team against the pure core: derived rescue cases over every marking, rescue-case
ownership, retention that cannot be shortened, marking changes, sectors, time windows, ids and
task fields that point at hidden records. No I/O: ``decide`` and the policy, as every path
(REST, CoT, reactors) reaches them."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import pytest

from estran.bootstrap import load_policy
from estran.domain.commands import Context, decide
from estran.domain.errors import (
    PermissionDeniedError,
    TimeOutOfRangeError,
    ValidationFailedError,
)
from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking, Purpose
from estran.domain.picture import Picture
from estran.domain.policy import SYSTEM, Principal, Role, can_see
from estran.domain.retention import RetentionRules, due_for_purge
from estran.domain.timefmt import stamp
from estran.services.rescue import RESCUE_MARKING, RescueService
from estran.services.tak import picture_to_cot

POLICY = load_policy(None)
NOW = datetime(2026, 11, 25, 2, tzinfo=UTC)
RULES = RetentionRules(detection_days=7, log_days=3 * 365, record_days=3 * 365)
_ids = count(1)

COMMANDER = Principal(
    "user:cmd", Role.COMMANDER, "FR-GN", "FR", Classification.DIFFUSION_RESTREINTE
)
OPERATOR = Principal("user:op", Role.OPERATOR, "FR-GN", "FR", Classification.OFFICIAL_SENSITIVE)
CROSS = Principal("user:cross", Role.RESCUE_LIAISON, "FR-CROSS-GN", "FR")
DOVER = Principal("user:dover", Role.RESCUE_LIAISON, "UK-MRCC-DOVER", "GB")
LIAISON = Principal("user:liz", Role.LIAISON, "UK-BF", "GB", Classification.OFFICIAL_SENSITIVE)


def ctx(who: Principal = SYSTEM, at: datetime = NOW) -> Context:
    return Context(
        at, who.id, "test", Marking(), 300.0, lambda: f"id{next(_ids)}", who, POLICY,
        RULES.days_for,
    )  # fmt: skip


def run(picture: Picture, cmd: CommandIn, who: Principal = SYSTEM, at: datetime = NOW) -> Any:
    event = decide(picture, cmd, ctx(who, at))
    event = dataclasses.replace(event, seq=picture.seq + 1)
    picture.apply(event)
    return picture.get(event.kind, event.entity_id)


AGENCIES = [
    ("FR-GN", "FR", "gendarmerie"),
    ("FR-CROSS-GN", "FR", "rescue_centre"),
    ("UK-BF", "GB", "border_force"),
    ("UK-MRCC-DOVER", "GB", "rescue_centre"),
]


def coast() -> Picture:
    picture = Picture()
    shared = Marking(classification=Classification.UNCLASSIFIED, releasable_to=["FR", "GB"])
    for aid, nation, kind in AGENCIES:
        data = {"id": aid, "name": aid, "nation": nation, "kind": kind}
        run(picture, CommandIn(type="agency.created", marking=shared, data=data))
    return picture


SECRET = "informant X says the boat leaves from the bunker at 03:00"  # noqa: S105 (text)
MARKINGS = list(
    itertools.product(Classification, (["FR"], ["GB"], ["FR", "GB"]), Purpose, (False, True))
)


def test_2_there_are_72_markings_to_check():
    assert len(MARKINGS) == 72


@pytest.mark.parametrize(("classification", "rel", "purpose", "personal"), MARKINGS)
def test_2_a_rescue_case_derived_from_any_marking_carries_only_life_saving_fields(
    classification, rel, purpose, personal
):
    picture = coast()
    marking = Marking(
        classification=classification, releasable_to=rel, purpose=purpose, personal_data=personal
    )
    run(picture, CommandIn(type="incident.created", marking=marking, data={
        "id": "inc-1", "type": "boat_at_sea", "owner_agency_id": "FR-GN", "count": 40,
        "position": {"lat": 51.0, "lon": 1.8, "error_m": 30}, "summary": SECRET,
    }))  # fmt: skip
    service = RescueService(picture, ack_s=60)
    command = service.open_command("inc-1")
    assert command is not None
    assert set(command.data) <= {
        "id", "incident_id", "centre_agency_id", "phase", "position", "description",
        "distress_factors", "count",
    }  # fmt: skip
    assert SECRET not in str(command.model_dump())
    assert command.marking == RESCUE_MARKING
    case = run(picture, command)
    # Both rescue centres see the case; the incident itself stays behind its own marking.
    for centre in (CROSS, DOVER):
        assert can_see(POLICY, centre, case, now=stamp(NOW))
    incident = picture.get("incident", "inc-1")
    assert incident is not None
    assert can_see(POLICY, LIAISON, case, now=stamp(NOW))
    assert can_see(POLICY, LIAISON, incident, now=stamp(NOW)) == (
        "GB" in rel
        and classification != Classification.DIFFUSION_RESTREINTE
        and purpose != Purpose.LAW_ENFORCEMENT
        and not personal
    )


def _open_case(picture: Picture) -> dict[str, Any]:
    run(picture, CommandIn(type="incident.created", data={
        "id": "pw-1", "type": "persons_in_water", "owner_agency_id": "FR-CROSS-GN",
        "position": {"lat": 51.0, "lon": 1.8},
    }))  # fmt: skip
    command = RescueService(picture, ack_s=60).open_command("pw-1")
    assert command is not None
    return run(picture, command)


@pytest.mark.parametrize("who", [COMMANDER, OPERATOR, DOVER], ids=lambda p: p.id)
@pytest.mark.parametrize("status", ["acknowledged", "closed"])
def test_3_only_the_owning_rescue_centre_acknowledges_or_closes_a_case(who, status):
    picture = coast()
    case = _open_case(picture)
    update = CommandIn(type="rescue_case.updated", entity_id=case["id"], data={"status": status})
    with pytest.raises(PermissionDeniedError) as refused:
        run(picture, update, who)
    assert refused.value.rule in ("rescue_centre", "other_nation")
    # The owning centre acknowledges, then closes.
    run(picture, CommandIn(type="rescue_case.updated", entity_id=case["id"],
                           data={"status": "acknowledged"}), CROSS)  # fmt: skip
    closed = run(picture, CommandIn(type="rescue_case.updated", entity_id=case["id"],
                                    data={"status": "closed"}), CROSS)  # fmt: skip
    assert closed["status"] == "closed"
    for centre in (CROSS, DOVER):
        assert can_see(POLICY, centre, closed, now=stamp(NOW + timedelta(days=900)))


def test_3_no_marking_change_shortens_a_records_retention():
    picture = coast()
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-r", "type": "group_sighted", "owner_agency_id": "FR-GN",
        "position": {"lat": 51.0, "lon": 1.8},
    }), COMMANDER)  # fmt: skip
    soon = Marking(releasable_to=["FR"], retain_until=NOW + timedelta(days=1))
    with pytest.raises(ValidationFailedError, match="legal retention"):
        run(picture, CommandIn(type="incident.updated", entity_id="inc-r", data={}, marking=soon,
                               justification="tidy"), COMMANDER)  # fmt: skip
    later = Marking(releasable_to=["FR"], retain_until=NOW + timedelta(days=4000))
    kept = run(picture, CommandIn(type="incident.updated", entity_id="inc-r", data={},
                                  marking=later,
                                  justification="legal hold"), COMMANDER)  # fmt: skip
    assert kept["marking"]["retain_until"].startswith("2037")


def test_3_the_purge_never_removes_a_case_a_life_at_sea_incident_or_a_log_line_early():
    picture = coast()
    case = _open_case(picture)
    run(picture, CommandIn(type="rescue_case.updated", entity_id=case["id"],
                           data={"status": "acknowledged"}), CROSS)  # fmt: skip
    run(picture, CommandIn(type="rescue_case.updated", entity_id=case["id"],
                           data={"status": "closed"}), CROSS)  # fmt: skip
    run(picture, CommandIn(type="incident.updated", entity_id="pw-1", data={"status": "closed"}))
    run(picture, CommandIn(type="log_entry.created", data={
        "id": "log-1", "log": "duty", "role": "duty officer", "text": "quiet",
    }), OPERATOR)  # fmt: skip
    # Even a record whose stored marking says "purge me now" (as main let a marking say).
    for kind, rid in (("rescue_case", case["id"]), ("incident", "pw-1"), ("log_entry", "log-1")):
        rec = picture.records[kind][rid]
        rec["marking"] = {**rec["marking"], "retain_until": stamp(NOW - timedelta(days=1))}
    assert due_for_purge(picture, NOW + timedelta(days=30), RULES) == []
    assert len(due_for_purge(picture, NOW + timedelta(days=3 * 365 + 1), RULES)) == 3


def test_6_a_year_999_time_is_refused_and_the_purge_survives_one_bad_record():
    picture = coast()
    ancient = datetime(999, 1, 1, tzinfo=UTC)
    with pytest.raises(TimeOutOfRangeError):
        decide(picture, CommandIn(type="log_entry.created", observed_at=ancient, data={
            "log": "duty", "role": "op", "text": "x"}), ctx(OPERATOR))  # fmt: skip
    assert stamp(ancient).startswith("0999-")  # sorts and parses, were one ever stored
    with pytest.raises(ValueError, match="retain_until"):
        Marking(retain_until=ancient)
    run(picture, CommandIn(type="log_entry.created", data={
        "id": "log-ok", "log": "duty", "role": "op", "text": "x"}), OPERATOR)  # fmt: skip
    run(picture, CommandIn(type="log_entry.created", data={
        "id": "log-bad", "log": "duty", "role": "op", "text": "y"}), OPERATOR)  # fmt: skip
    picture.records["log_entry"]["log-bad"]["updated_at"] = "999-01-01T00:00:00.000000Z"
    due = due_for_purge(picture, NOW + timedelta(days=3 * 365 + 1), RULES)
    assert due == [("log_entry", "log-ok")]


@pytest.mark.parametrize(
    ("who", "releasable_to", "why"),
    [
        (COMMANDER, ["GB"], "originating nation"),
        (COMMANDER, ["FR"], None),
    ],
)
def test_8_a_marking_change_never_removes_the_originating_nation(who, releasable_to, why):
    picture = coast()
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-m", "type": "group_sighted", "owner_agency_id": "FR-GN",
        "position": {"lat": 51.0, "lon": 1.8},
    }), COMMANDER)  # fmt: skip
    cmd = CommandIn(type="incident.updated", entity_id="inc-m", justification="share", data={},
                    marking=Marking(releasable_to=releasable_to))  # fmt: skip
    if why is None:
        run(picture, cmd, who)
    else:
        with pytest.raises(ValidationFailedError, match=why):
            run(picture, cmd, who)


def test_8_a_marking_change_never_leaves_a_record_visible_to_nobody():
    picture = coast()
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-n", "type": "group_sighted", "owner_agency_id": "FR-GN",
        "position": {"lat": 51.0, "lon": 1.8},
    }), OPERATOR)  # fmt: skip
    above = Marking(releasable_to=["FR"], classification=Classification.DIFFUSION_RESTREINTE)
    with pytest.raises(ValidationFailedError, match="visible to nobody"):
        run(picture, CommandIn(type="incident.updated", entity_id="inc-n", data={}, marking=above,
                               justification="hide it"), OPERATOR)  # fmt: skip


def test_8_a_rescue_case_stays_releasable_to_both_rescue_centres():
    picture = coast()
    case = _open_case(picture)
    narrowed = Marking(releasable_to=["FR"], purpose=Purpose.SEARCH_AND_RESCUE)
    with pytest.raises(ValidationFailedError, match="both rescue centres"):
        run(picture, CommandIn(type="rescue_case.updated", entity_id=case["id"], data={},
                               marking=narrowed, justification="fr only"), CROSS)  # fmt: skip


def test_9_a_task_for_gb_carries_no_callsign_or_position_of_records_it_may_not_see():
    picture = coast()
    run(picture, CommandIn(type="unit.created", data={
        "id": "u-secret", "callsign": "SECRET-BUGGY", "kind": "dune_buggy", "agency_id": "FR-GN",
        "position": {"lat": 50.91, "lon": 1.71},
    }), COMMANDER)  # fmt: skip
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-h", "type": "group_sighted", "owner_agency_id": "FR-GN",
        "position": {"lat": 50.95, "lon": 1.75},
    }), COMMANDER)  # fmt: skip
    task = run(picture, CommandIn(type="task.created", data={
        "id": "task-gb", "incident_id": "inc-h", "unit_id": "u-secret"}), COMMANDER)  # fmt: skip
    picture.records["task"]["task-gb"]["marking"] = {
        **task["marking"],
        "releasable_to": ["FR", "GB"],
    }
    picture.records["task"]["task-gb"]["status"] = "sent"  # only a sent task goes to phones
    now_ms = int(NOW.timestamp() * 1000)
    everyone = picture_to_cot("task", "task-gb", picture, now_ms)
    assert everyone is not None
    assert "SECRET-BUGGY" in everyone.detail_xml

    def liaison_sees(record: dict[str, Any]) -> bool:
        return can_see(POLICY, LIAISON, record, now=stamp(NOW))

    assert liaison_sees(picture.records["task"]["task-gb"])
    # Neither the unit nor the incident is released to GB: nothing to draw, nothing sent.
    assert picture_to_cot("task", "task-gb", picture, now_ms, liaison_sees) is None
    inc = picture.records["incident"]["inc-h"]
    inc["marking"] = {**inc["marking"], "releasable_to": ["FR", "GB"]}
    shown = picture_to_cot("task", "task-gb", picture, now_ms, liaison_sees)
    assert shown is not None
    assert "SECRET-BUGGY" not in shown.detail_xml
    assert shown.point.lat == pytest.approx(50.95)


def test_12_a_sector_restricted_commander_cannot_task_or_log_in_another_sector():
    picture = coast()
    for sid in ("S-NORTH", "S-SOUTH"):
        run(picture, CommandIn(type="sector.created", data={
            "id": sid, "name": sid, "geometry": {"type": "Polygon", "coordinates": [
                [[1.5, 50.7], [2.0, 50.7], [2.0, 51.1], [1.5, 51.1], [1.5, 50.7]]]},
        }))  # fmt: skip
    run(picture, CommandIn(type="unit.created", data={
        "id": "u-1", "callsign": "U1", "kind": "foot_patrol", "agency_id": "FR-GN"}))  # fmt: skip
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-s", "type": "group_sighted", "owner_agency_id": "FR-GN", "sector_id": "S-SOUTH",
        "position": {"lat": 50.9, "lon": 1.7}}))  # fmt: skip
    north = Principal("user:north", Role.COMMANDER, "FR-GN", "FR",
                      Classification.OFFICIAL, sectors=frozenset({"S-NORTH"}))  # fmt: skip
    for cmd in (
        CommandIn(type="task.created", data={"incident_id": "inc-s", "unit_id": "u-1"}),
        CommandIn(type="log_entry.created", data={
            "log": "incident", "incident_id": "inc-s", "role": "cmd", "text": "mine now"}),
        CommandIn(type="incident.created", data={
            "type": "group_sighted", "owner_agency_id": "FR-GN", "sector_id": "S-SOUTH",
            "position": {"lat": 50.9, "lon": 1.7}}),
    ):  # fmt: skip
        with pytest.raises(PermissionDeniedError) as refused:
            run(picture, cmd, north)
        assert refused.value.rule == "sector"


def test_own_records_an_unauthenticated_source_changes_only_what_it_wrote():
    from estran.services.tak import anonymous_principal

    anon = anonymous_principal()
    picture = coast()
    unclassified = Marking(classification=Classification.UNCLASSIFIED, releasable_to=["FR"])
    run(picture, CommandIn(type="unit.created", marking=unclassified, data={
        "id": "tak-real", "callsign": "REAL", "kind": "foot_patrol", "agency_id": "FR-GN",
        "position": {"lat": 50.9, "lon": 1.7}}), OPERATOR)  # fmt: skip
    move = CommandIn(type="unit.updated", entity_id="tak-real",
                     data={"position": {"lat": 51.5, "lon": 1.7}})  # fmt: skip
    with pytest.raises(PermissionDeniedError) as refused:
        run(picture, move, anon)
    assert refused.value.rule == "own_records"
    mine = run(picture, CommandIn(type="unit.created", marking=unclassified, data={
        "id": "tak-anon", "callsign": "ANON", "kind": "foot_patrol", "agency_id": "FR-GN",
        "unverified": True}), anon)  # fmt: skip
    assert mine["marking"]["originator_agency"] == "UNAUTHENTICATED"
    run(picture, CommandIn(type="unit.updated", entity_id="tak-anon",
                           data={"position": {"lat": 50.95, "lon": 1.7}}), anon)  # fmt: skip


@pytest.mark.parametrize("bad", ["a/b", "../etc", "x/"])
def test_ids_containing_a_slash_are_refused(bad):
    picture = coast()
    with pytest.raises(ValidationFailedError):
        run(picture, CommandIn(type="unit.created", data={
            "id": bad, "callsign": "U", "kind": "foot_patrol", "agency_id": "FR-GN"}))  # fmt: skip


def test_13_plain_cot_is_off_by_default_loopback_when_on_and_refused_off_loopback_in_production(
    tmp_path,
):
    from estran.config import Settings

    default = Settings(data_dir=tmp_path)
    assert default.cot_tcp_port is None
    assert default.cot_udp_port is None
    assert default.cot_plain_host == "127.0.0.1"
    with pytest.raises(ValueError, match="plain"):
        Settings(data_dir=tmp_path, environment="production", cot_tcp_port=8087,
                 cot_plain_host="0.0.0.0")  # noqa: S104  # fmt: skip
    with pytest.raises(ValueError, match="plain"):
        Settings(data_dir=tmp_path, environment="production", cot_udp_port=6969,
                 cot_plain_host="10.0.0.1")  # fmt: skip
    Settings(data_dir=tmp_path, environment="production", cot_tcp_port=8087)  # loopback: fine


def test_low_nul_and_other_xml_illegal_characters_never_reach_tak_clients():
    from estran.protocols.cot.encode import to_xml
    from estran.protocols.cot.parse import parse_xml

    picture = coast()
    run(picture, CommandIn(type="incident.created", data={
        "id": "inc-nul", "type": "group_sighted", "owner_agency_id": "FR-GN",
        "position": {"lat": 51.0, "lon": 1.8}, "summary": "a\x00b\x07c\x1bd \ufffe end",
    }), COMMANDER)  # fmt: skip
    ev = picture_to_cot("incident", "inc-nul", picture, int(NOW.timestamp() * 1000))
    assert ev is not None
    raw = to_xml(ev)
    for bad in (b"\x00", b"\x07", b"\x1b", "\ufffe".encode()):
        assert bad not in raw
    parsed = parse_xml(raw)  # a strict XML parser (as a TAK client's) takes it
    assert parsed.remarks is not None
    assert "end" in parsed.remarks


def test_6_a_cot_event_from_year_999_is_refused_at_the_parser():
    from estran.domain.errors import ProtocolError
    from estran.protocols.cot.parse import parse_xml

    old = (
        b'<event version="2.0" uid="x" type="a-f-G" how="m-g" time="0999-01-01T00:00:00Z" '
        b'start="0999-01-01T00:00:00Z" stale="0999-01-01T00:05:00Z"><point lat="50.9" '
        b'lon="1.7" hae="0" ce="9" le="9"/><detail/></event>'
    )
    with pytest.raises(ProtocolError, match="outside 2000"):
        parse_xml(old)
