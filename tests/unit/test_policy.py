"""The permission matrix: every role against every action and every marking, checked against
tables written here independently of ``data/policy.toml``; and the rules one by one."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from estran.bootstrap import load_policy
from estran.domain.markings import Classification, Purpose
from estran.domain.picture import Picture
from estran.domain.policy import Action, Principal, Role, authorize, can_see, observer_scope

POLICY = load_policy(None)
NOW = "2026-11-25T02:00:00Z"
A = Action

# The matrix as the issue states it: what each role may do at all.
MATRIX: dict[Role, set[Action]] = {
    Role.COMMANDER: {A.READ, A.CREATE, A.UPDATE, A.PROPOSE, A.TASK, A.REPORT, A.COMMENT,
                     A.RELEASE, A.REPLAY, A.STATS, A.EXPORT, A.EXPORT_STATS},
    Role.OPERATOR: {A.READ, A.CREATE, A.UPDATE, A.PROPOSE, A.REPORT, A.COMMENT, A.RELEASE,
                    A.REPLAY, A.STATS, A.EXPORT_STATS},
    Role.LIAISON: {A.READ, A.PROPOSE, A.COMMENT, A.REPLAY, A.STATS, A.EXPORT_STATS},
    Role.OBSERVER: {A.READ},
    Role.ANALYST: {A.READ, A.REPLAY, A.STATS, A.EXPORT_STATS},
    Role.AUDITOR: {A.AUDIT},
    Role.RESCUE_LIAISON: {A.READ, A.UPDATE, A.COMMENT, A.STATS},
    Role.ADMIN: {A.MANAGE_USERS, A.PURGE, A.AUDIT},
    Role.SERVICE: {A.READ, A.CREATE, A.UPDATE, A.REPORT},
    Role.PARTNER: {A.READ, A.CREATE, A.UPDATE, A.RELEASE},
    Role.DEVICE: {A.READ, A.CREATE, A.UPDATE, A.REPORT},
    Role.ANONYMOUS: {A.READ, A.CREATE, A.UPDATE},
    Role.SYSTEM: set(Action) - {A.MANAGE_USERS},
}  # fmt: skip
PURPOSES = {
    Role.COMMANDER: set(Purpose),
    Role.OPERATOR: set(Purpose),
    Role.LIAISON: {Purpose.BORDER_SURVEILLANCE, Purpose.SEARCH_AND_RESCUE},
    Role.OBSERVER: {Purpose.BORDER_SURVEILLANCE, Purpose.SEARCH_AND_RESCUE},
    Role.ANALYST: set(Purpose),
    Role.RESCUE_LIAISON: {Purpose.SEARCH_AND_RESCUE},
    Role.SERVICE: {Purpose.BORDER_SURVEILLANCE, Purpose.SEARCH_AND_RESCUE},
    Role.PARTNER: set(Purpose),
    Role.DEVICE: {Purpose.BORDER_SURVEILLANCE, Purpose.SEARCH_AND_RESCUE},
    Role.ANONYMOUS: {Purpose.BORDER_SURVEILLANCE},
}
PERSONAL = {Role.COMMANDER, Role.OPERATOR, Role.SYSTEM}
BLIND = {Role.AUDITOR, Role.ADMIN}
RANK = {c: i for i, c in enumerate(Classification)}
CLEARANCE = Classification.OFFICIAL_SENSITIVE
AGENCY = {"FR": "FR-GN", "GB": "UK-BF"}
RELEASES = (["FR"], ["FR", "GB"], ["GB"])
MARKINGS = list(itertools.product(Classification, RELEASES, Purpose, (False, True)))


def principal(role: Role, nation: str, **extra: object) -> Principal:
    return Principal(
        f"user:{role}-{nation}",
        role,
        agency_id=AGENCY[nation],
        nation=nation,
        clearance=CLEARANCE,
        **extra,  # type: ignore[arg-type]
    )


def incident(classification: Classification, rel: list[str], purpose: Purpose, personal: bool):
    return {
        "entity": "incident",
        "id": "inc-1",
        "type": "group_sighted",
        "life_at_sea": False,
        "status": "open",
        "marking": {
            "classification": classification.value,
            "releasable_to": rel,
            "purpose": purpose.value,
            "personal_data": personal,
            "originator_agency": "FR-GN",
            "originator_nation": "FR",
        },
    }


def expected_visible(role: Role, nation: str, marking: tuple) -> bool:
    classification, rel, purpose, personal = marking
    if role == Role.SYSTEM:
        return True
    if role in BLIND or role == Role.OBSERVER:  # the observer's scope is elsewhere
        return False
    return (
        nation in rel
        and RANK[classification] <= RANK[CLEARANCE]
        and purpose in PURPOSES[role]
        and (not personal or role in PERSONAL)
    )


def test_the_policy_file_defines_exactly_the_matrix():
    for role, actions in MATRIX.items():
        assert POLICY.roles[role].actions == actions, role


def test_every_role_against_every_action_without_a_record():
    checked = 0
    for role, action, nation in itertools.product(Role, Action, ("FR", "GB")):
        d = authorize(
            POLICY, principal(role, nation), action, now=NOW, justification="checking the matrix"
        )
        assert d.allowed == (action in MATRIX[role]), (role, action, d)
        assert d.rule == ("granted" if d.allowed else "role")
        checked += 1
    assert checked == len(Role) * len(Action) * 2


def test_every_role_and_nation_against_every_marking_on_a_french_record():
    """READ, UPDATE and RELEASE of a French gendarmerie incident under all 72 markings."""
    checked = 0
    for role, nation, marking in itertools.product(Role, ("FR", "GB"), MARKINGS):
        who = principal(role, nation)
        record = incident(*marking)
        visible = expected_visible(role, nation, marking)
        assert can_see(POLICY, who, record, now=NOW) == visible, (role, nation, marking)
        for action in (A.READ, A.UPDATE, A.RELEASE):
            d = authorize(POLICY, who, action, now=NOW, record=record, justification="why")
            kind_ok = action != A.UPDATE or POLICY.roles[role].may_update("incident")
            own = role == Role.SYSTEM or (
                nation == "FR" and (action != A.RELEASE or AGENCY[nation] == "FR-GN")
            )
            want = action in MATRIX[role] and kind_ok and visible and (action == A.READ or own)
            assert d.allowed == want, (role, nation, marking, action, d)
            checked += 1
    assert checked == len(Role) * 2 * len(MARKINGS) * 3  # 4,320 decisions


def test_a_rescue_centre_sees_every_rescue_case_whatever_its_marking():
    who = principal(Role.RESCUE_LIAISON, "GB")
    for marking in MARKINGS:
        case = {**incident(*marking), "entity": "rescue_case", "centre_agency_id": "UK-MRCC"}
        at_sea = {**incident(*marking), "type": "persons_in_water", "life_at_sea": True}
        assert can_see(POLICY, who, case, now=NOW)
        assert can_see(POLICY, who, at_sea, now=NOW)
    dover = Principal("user:d", Role.RESCUE_LIAISON, "UK-MRCC", "GB", CLEARANCE)
    case = {**incident(Classification.OFFICIAL, ["FR"], Purpose.SEARCH_AND_RESCUE, False)}
    case |= {"entity": "rescue_case", "centre_agency_id": "UK-MRCC"}
    assert authorize(POLICY, dover, A.UPDATE, now=NOW, record=case).allowed
    other = {**case, "centre_agency_id": "FR-CROSS-GN"}
    assert authorize(POLICY, dover, A.UPDATE, now=NOW, record=other).rule == "other_nation"


def test_a_liaison_officer_proposes_but_never_tasks():
    who = principal(Role.LIAISON, "GB")
    assert authorize(POLICY, who, A.PROPOSE, now=NOW, kind="task").allowed
    task = {
        "entity": "task",
        "id": "t",
        "unit_id": "u",
        "marking": {"releasable_to": ["FR", "GB"], "classification": "OFFICIAL",
                    "purpose": "border_surveillance", "personal_data": False},
    }  # fmt: skip
    unit = {"id": "u", "agency_id": "FR-GN"}
    d = authorize(POLICY, who, A.TASK, now=NOW, record=task, unit=unit)
    assert not d.allowed
    assert d.rule == "role"


def test_a_commander_tasks_only_units_of_their_own_agency():
    who = principal(Role.COMMANDER, "FR")
    task = {
        "entity": "task",
        "id": "t",
        "marking": {"releasable_to": ["FR"], "classification": "OFFICIAL",
                    "purpose": "border_surveillance", "personal_data": False,
                    "originator_nation": "GB", "originator_agency": "UK-BF"},
    }  # fmt: skip
    # A proposal from the British liaison desk is the French commander's to send.
    assert authorize(
        POLICY, who, A.TASK, now=NOW, record=task, unit={"id": "u", "agency_id": "FR-GN"}
    ).allowed
    d = authorize(
        POLICY, who, A.TASK, now=NOW, record=task, unit={"id": "u", "agency_id": "FR-PAF"}
    )
    assert (d.allowed, d.rule) == (False, "own_agency")


def test_sensitive_actions_need_a_justification():
    who = principal(Role.COMMANDER, "FR")
    record = incident(Classification.OFFICIAL, ["FR"], Purpose.BORDER_SURVEILLANCE, False)
    for action in (A.RELEASE, A.EXPORT):
        for blank in (None, "", "   "):
            d = authorize(POLICY, who, action, now=NOW, record=record, justification=blank)
            assert (d.allowed, d.rule) == (False, "justification")
        assert authorize(POLICY, who, action, now=NOW, record=record, justification="x").allowed


def test_only_the_originating_agency_releases():
    paf = Principal("user:p", Role.COMMANDER, "FR-PAF", "FR", CLEARANCE)
    record = incident(Classification.OFFICIAL, ["FR"], Purpose.BORDER_SURVEILLANCE, False)
    d = authorize(POLICY, paf, A.RELEASE, now=NOW, record=record, justification="share")
    assert (d.allowed, d.rule) == (False, "originator_only")


def test_sectors_limit_what_a_principal_acts_on():
    who = principal(Role.OPERATOR, "FR", sectors=frozenset({"sector-calais"}))
    record = incident(Classification.OFFICIAL, ["FR"], Purpose.BORDER_SURVEILLANCE, False)
    assert authorize(
        POLICY, who, A.UPDATE, now=NOW, record={**record, "sector_id": "sector-calais"}
    ).allowed
    d = authorize(
        POLICY, who, A.UPDATE, now=NOW, record={**record, "sector_id": "sector-dunkerque"}
    )
    assert (d.allowed, d.rule) == (False, "sector")
    assert can_see(POLICY, who, {**record, "sector_id": "sector-dunkerque"}, now=NOW)


def test_an_observer_sees_their_unit_s_picture_until_the_attachment_ends():
    picture = Picture()
    marking = {"releasable_to": ["FR", "GB"], "classification": "OFFICIAL",
               "purpose": "border_surveillance", "personal_data": False}  # fmt: skip
    picture.records["unit"] = {
        "u1": {"entity": "unit", "id": "u1", "agency_id": "FR-GN", "marking": marking},
        "u2": {"entity": "unit", "id": "u2", "agency_id": "FR-GN", "marking": marking},
    }
    picture.records["task"] = {
        "t1": {"entity": "task", "id": "t1", "unit_id": "u1", "incident_id": "i1",
               "marking": marking},
        "t2": {"entity": "task", "id": "t2", "unit_id": "u2", "incident_id": "i2",
               "marking": marking},
    }  # fmt: skip
    who = principal(Role.OBSERVER, "GB", attached_unit="u1", access_until="2026-11-25T03:00:00Z")
    scope = observer_scope(picture, "u1")
    inc = {"entity": "incident", "marking": marking}
    seen = {
        (k, i)
        for k, i in [("unit", "u1"), ("unit", "u2"), ("task", "t1"), ("task", "t2")]
        if can_see(POLICY, who, picture.records[k][i], now=NOW, scope=scope)
    }
    assert seen == {("unit", "u1"), ("task", "t1")}
    assert can_see(POLICY, who, {**inc, "id": "i1"}, now=NOW, scope=scope)
    assert not can_see(POLICY, who, {**inc, "id": "i2"}, now=NOW, scope=scope)
    later = "2026-11-25T03:00:00Z"
    assert not can_see(POLICY, who, picture.records["unit"]["u1"], now=later, scope=scope)
    assert authorize(POLICY, who, A.READ, now=later).rule == "expired"


def test_a_bad_policy_file_stops_the_start(tmp_path: Path):
    from estran.domain.errors import InvalidInputError

    bad = tmp_path / "policy.toml"
    bad.write_text('host_nation = "FR"\njustify = []\nsensitive_from = "OFFICIAL"\n[nations]\n')
    with pytest.raises(InvalidInputError, match="roles"):
        load_policy(bad)
