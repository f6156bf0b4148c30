from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from estran.domain.commands import Context, decide
from estran.domain.errors import (
    AlreadyExistsError,
    FutureTimeError,
    InvalidTransitionError,
    NotFoundError,
    UnknownReferenceError,
    ValidationFailedError,
)
from estran.domain.events import CommandIn
from estran.domain.markings import Marking
from estran.domain.picture import Picture, Staged
from tests import factories

NOW = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)


@pytest.fixture
def ctx() -> Context:
    ids = count(1)
    return Context(NOW, "tester", "unit-test", Marking(), 300.0, lambda: f"id{next(ids):06d}")


@pytest.fixture
def view(ctx: Context) -> Staged:
    staged = Staged(Picture())
    for cmd in (
        CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"}),
        CommandIn(type="agency.created", data={"id": "UK-BF", "name": "BF", "nation": "GB"}),
    ):
        staged.stage(decide(staged, cmd, ctx))
    return staged


def test_a_unit_gets_a_generated_id_and_the_originators_default_marking(view, ctx):
    event = decide(view, CommandIn(type="unit.created", data=factories.unit()), ctx)
    assert event.entity_id.startswith("unit-")
    assert event.marking["releasable_to"] == ["FR"]
    assert event.data["kind"] == "dune_buggy"
    assert event.observed_at == "2026-11-24T23:00:00.000000Z"


def test_a_unit_of_an_unknown_agency_is_refused(view, ctx):
    with pytest.raises(UnknownReferenceError) as err:
        decide(view, CommandIn(type="unit.created", data=factories.unit(agency_id="XX")), ctx)
    assert err.value.field == "agency_id"


def test_coordinates_out_of_range_are_refused_with_the_field_named(view, ctx):
    body = factories.unit(position={"lat": 91, "lon": 1.5})
    with pytest.raises(ValidationFailedError) as err:
        decide(view, CommandIn(type="unit.created", data=body), ctx)
    assert err.value.details[0]["loc"] == ["data", "position", "lat"]


def test_an_observation_far_in_the_future_is_refused(view, ctx):
    later = NOW + timedelta(minutes=10)
    cmd = CommandIn(type="unit.created", data=factories.unit(), observed_at=later)
    with pytest.raises(FutureTimeError):
        decide(view, cmd, ctx)


def test_a_delayed_report_from_the_past_is_accepted_with_its_own_time(view, ctx):
    earlier = NOW - timedelta(hours=3)
    event = decide(
        view, CommandIn(type="unit.created", data=factories.unit(), observed_at=earlier), ctx
    )
    assert event.observed_at == "2026-11-24T20:00:00.000000Z"
    assert event.received_at == "2026-11-24T23:00:00.000000Z"


def test_creating_an_id_twice_is_a_conflict(view, ctx):
    cmd = CommandIn(type="unit.created", data=factories.unit(id="u1"))
    view.stage(decide(view, cmd, ctx))
    with pytest.raises(AlreadyExistsError):
        decide(view, cmd, ctx)


def test_an_update_of_an_unknown_record_is_not_found(view, ctx):
    with pytest.raises(NotFoundError):
        decide(
            view, CommandIn(type="unit.updated", entity_id="nope", data={"status": "tasked"}), ctx
        )


def test_detections_have_no_place_for_identities(view, ctx):
    view.stage(decide(view, CommandIn(type="sensor.created", data=factories.sensor(id="s1")), ctx))
    body = factories.detection("s1", name="John Doe")
    with pytest.raises(ValidationFailedError) as err:
        decide(view, CommandIn(type="detection.created", data=body), ctx)
    assert err.value.details[0]["loc"] == ["data", "name"]


def test_a_closed_incident_cannot_be_reopened(view, ctx):
    view.stage(
        decide(view, CommandIn(type="incident.created", data=factories.incident(id="i1")), ctx)
    )
    view.stage(
        decide(
            view, CommandIn(type="incident.updated", entity_id="i1", data={"status": "closed"}), ctx
        )
    )
    with pytest.raises(InvalidTransitionError) as err:
        decide(
            view, CommandIn(type="incident.updated", entity_id="i1", data={"status": "open"}), ctx
        )
    assert (err.value.old, err.value.new) == ("closed", "open")


def test_a_task_follows_its_lifecycle_and_cannot_skip_acknowledgement(view, ctx):
    view.stage(
        decide(view, CommandIn(type="incident.created", data=factories.incident(id="i1")), ctx)
    )
    view.stage(decide(view, CommandIn(type="unit.created", data=factories.unit(id="u1")), ctx))
    view.stage(
        decide(
            view,
            CommandIn(type="task.created", data={"id": "t1", "incident_id": "i1", "unit_id": "u1"}),
            ctx,
        )
    )
    view.stage(
        decide(view, CommandIn(type="task.updated", entity_id="t1", data={"status": "sent"}), ctx)
    )
    with pytest.raises(InvalidTransitionError):
        decide(
            view, CommandIn(type="task.updated", entity_id="t1", data={"status": "on_scene"}), ctx
        )


def test_an_empty_update_is_refused(view, ctx):
    view.stage(decide(view, CommandIn(type="unit.created", data=factories.unit(id="u1")), ctx))
    with pytest.raises(ValidationFailedError):
        decide(view, CommandIn(type="unit.updated", entity_id="u1", data={}), ctx)


def test_a_self_intersecting_sector_is_refused(view, ctx):
    bowtie = [[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]
    body = factories.sector(geometry={"type": "Polygon", "coordinates": [bowtie]})
    with pytest.raises(ValidationFailedError):
        decide(view, CommandIn(type="sector.created", data=body), ctx)


def test_an_update_keeps_the_records_marking_unless_a_new_one_is_given(view, ctx):
    released = Marking(releasable_to=["FR", "GB"])
    view.stage(
        decide(
            view,
            CommandIn(type="unit.created", data=factories.unit(id="u1"), marking=released),
            ctx,
        )
    )
    event = decide(
        view, CommandIn(type="unit.updated", entity_id="u1", data={"status": "tasked"}), ctx
    )
    assert event.marking["releasable_to"] == ["FR", "GB"]


def test_a_task_is_never_created_or_sent_for_a_closed_incident():
    from datetime import UTC, datetime

    from estran.domain.commands import Context, decide
    from estran.domain.consistency import IncidentClosedError
    from estran.domain.events import CommandIn
    from estran.domain.markings import Marking
    from estran.domain.picture import Picture

    picture = Picture()
    ctx = Context(datetime(2026, 11, 25, 22, tzinfo=UTC), "t", "t", Marking(), 300, lambda: "x1")
    seq = 0

    def run(cmd: CommandIn) -> None:
        nonlocal seq
        event = decide(picture, cmd, ctx)
        seq += 1
        picture.apply(event.with_seq(seq))

    run(CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"}))
    run(CommandIn(type="unit.created", data={"id": "u1", "callsign": "U1", "kind": "foot_patrol",
                                             "agency_id": "FR-GN"}))  # fmt: skip
    run(CommandIn(type="incident.created", data={"id": "i1", "type": "group_sighted",
        "owner_agency_id": "FR-GN", "position": {"lat": 50.9, "lon": 1.7}}))  # fmt: skip
    run(CommandIn(type="task.created", data={"id": "t1", "incident_id": "i1", "unit_id": "u1"}))
    run(CommandIn(type="incident.updated", entity_id="i1", data={"status": "closed"}))
    with pytest.raises(IncidentClosedError):
        decide(picture, CommandIn(type="task.updated", entity_id="t1",
                                  data={"status": "sent"}), ctx)  # fmt: skip
    run(CommandIn(type="task.updated", entity_id="t1", data={"status": "cancelled"}))
    with pytest.raises(IncidentClosedError):
        decide(picture, CommandIn(type="task.created", data={"incident_id": "i1",
                                                             "unit_id": "u1"}), ctx)  # fmt: skip


def test_a_callsign_is_unique_among_an_agencys_active_units():
    from datetime import UTC, datetime

    from estran.domain.commands import Context, decide
    from estran.domain.consistency import DuplicateCallsignError
    from estran.domain.events import CommandIn
    from estran.domain.markings import Marking
    from estran.domain.picture import Picture, Staged

    picture = Picture()
    ctx = Context(datetime(2026, 11, 25, 22, tzinfo=UTC), "t", "t", Marking(), 300, lambda: "x1")
    for seq, cmd in enumerate(
        [
            CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"}),
            CommandIn(type="agency.created", data={"id": "FR-PAF", "name": "PAF", "nation": "FR"}),
            CommandIn(type="unit.created", data={"id": "u1", "callsign": "Wissant-2",
                      "kind": "foot_patrol", "agency_id": "FR-GN"}),
            CommandIn(type="unit.created", data={"id": "u2", "callsign": "Off-1",
                      "kind": "foot_patrol", "agency_id": "FR-GN", "status": "off_duty"}),
        ],
        1,
    ):  # fmt: skip
        picture.apply(decide(picture, cmd, ctx).with_seq(seq))

    def unit(uid: str, callsign: str, agency: str = "FR-GN") -> CommandIn:
        return CommandIn(type="unit.created", data={"id": uid, "callsign": callsign,
                         "kind": "foot_patrol", "agency_id": agency})  # fmt: skip

    with pytest.raises(DuplicateCallsignError):
        decide(picture, unit("u3", " WISSANT-2 "), ctx)  # case and spaces do not make it new
    decide(picture, unit("u3", "WISSANT-2", "FR-PAF"), ctx)  # another agency's: fine
    decide(picture, unit("u3", "OFF-1"), ctx)  # the off-duty unit's callsign is free
    with pytest.raises(DuplicateCallsignError):
        decide(picture, CommandIn(type="unit.updated", entity_id="u2",
               data={"callsign": "wissant-2", "status": "available"}), ctx)  # fmt: skip
    staged = Staged(picture)  # two in one batch
    staged.stage(decide(staged, unit("u4", "NEW-1"), ctx))
    with pytest.raises(DuplicateCallsignError):
        decide(staged, unit("u5", "new-1"), ctx)
