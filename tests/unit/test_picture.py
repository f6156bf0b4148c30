from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from estran.domain.commands import Context, decide
from estran.domain.events import CommandIn, Event
from estran.domain.geo import parse_bbox
from estran.domain.markings import Marking
from estran.domain.picture import Picture, Query, Staged
from tests import factories

T0 = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


def _log(commands: list[tuple[int, CommandIn]]) -> list[Event]:
    """Decide commands at T0 + minutes, giving them seqs as a store would."""
    ids = count(1)
    staged = Staged(Picture())
    events = []
    for seq, (minutes, cmd) in enumerate(commands, 1):
        ctx = Context(
            T0 + timedelta(minutes=minutes), "t", "test", Marking(), 300, lambda: f"x{next(ids)}"
        )
        event = decide(staged, cmd, ctx).with_seq(seq)
        staged.stage(event)
        events.append(event)
    return events


AGENCY = CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"})


def test_the_picture_is_the_projection_of_its_events():
    events = _log(
        [
            (0, AGENCY),
            (1, CommandIn(type="unit.created", data=factories.unit(id="u1"))),
            (2, CommandIn(type="unit.updated", entity_id="u1", data={"status": "en_route"})),
        ]
    )
    picture = Picture().apply_all(events)
    unit = picture.get("unit", "u1")
    assert unit is not None
    assert unit["status"] == "en_route"
    assert unit["kind"] == "dune_buggy"
    assert unit["entity"] == "unit"
    assert unit["version"] == 3
    assert unit["created_at"] < unit["updated_at"]


def test_events_must_be_applied_in_order():
    events = _log([(0, AGENCY), (1, CommandIn(type="unit.created", data=factories.unit()))])
    picture = Picture().apply_all(events)
    with pytest.raises(ValueError, match="out of order"):
        picture.apply(events[0])


def test_the_picture_at_a_past_time_is_what_was_known_then():
    events = _log(
        [
            (0, AGENCY),
            (10, CommandIn(type="unit.created", data=factories.unit(id="u1"))),
            (20, CommandIn(type="unit.updated", entity_id="u1", data={"status": "on_scene"})),
            (30, CommandIn(type="unit.created", data=factories.unit("BRAVO", id="u2"))),
        ]
    )
    at_15 = "2026-11-24T22:15:00.000000Z"
    then = Picture().apply_all(e for e in events if e.received_at <= at_15)
    now = Picture().apply_all(events)
    assert then.get("unit", "u1")["status"] == "available"  # type: ignore[index]
    assert then.get("unit", "u2") is None
    assert now.get("unit", "u1")["status"] == "on_scene"  # type: ignore[index]


def test_queries_filter_by_bbox_time_type_and_status():
    events = _log(
        [
            (0, AGENCY),
            (
                1,
                CommandIn(
                    type="unit.created",
                    data=factories.unit(id="in", position={"lat": 50.9, "lon": 1.7}),
                ),
            ),
            (
                2,
                CommandIn(
                    type="unit.created",
                    data=factories.unit(
                        id="out", kind="foot_patrol", position={"lat": 51.05, "lon": 2.4}
                    ),
                ),
            ),
            (3, CommandIn(type="unit.updated", entity_id="out", data={"status": "off_duty"})),
        ]
    )
    picture = Picture().apply_all(events)
    box = parse_bbox("1.6,50.8,1.8,51.0")
    ids = lambda q: [r["id"] for r in picture.query("unit", q)[0]]  # noqa: E731
    assert ids(Query(bbox=box)) == ["in"]
    assert ids(Query(type="foot_patrol")) == ["out"]
    assert ids(Query(status="off_duty")) == ["out"]
    assert ids(Query(since="2026-11-24T22:02:30.000000Z")) == ["out"]
    assert ids(Query(until="2026-11-24T22:01:30.000000Z")) == ["in"]
    items, total = picture.query("unit", Query(limit=1, offset=1))
    assert total == 2
    assert len(items) == 1


def test_life_at_sea_incidents_top_the_list_whatever_their_impact_or_age():
    events = _log(
        [
            (0, AGENCY),
            (
                1,
                CommandIn(
                    type="incident.created",
                    data=factories.incident("persons_in_water", id="sea", impact="low"),
                ),
            ),
            (
                2,
                CommandIn(
                    type="incident.created",
                    data=factories.incident(id="land-hi", impact="very_high"),
                ),
            ),
            (
                3,
                CommandIn(
                    type="incident.created", data=factories.incident(id="land-med", impact="medium")
                ),
            ),
            (
                4,
                CommandIn(
                    type="incident.created",
                    data=factories.incident(id="land-hi-newer", impact="very_high"),
                ),
            ),
        ]
    )
    picture = Picture().apply_all(events)
    order = [r["id"] for r in picture.query("incident", Query())[0]]
    assert order == ["sea", "land-hi-newer", "land-hi", "land-med"]
    assert picture.get("incident", "sea")["life_at_sea"] is True  # type: ignore[index]


def test_sectors_match_a_bbox_by_their_extent():
    events = _log([(0, CommandIn(type="sector.created", data=factories.sector(id="s")))])
    picture = Picture().apply_all(events)
    assert picture.query("sector", Query(bbox=parse_bbox("1.69,50.89,1.8,51")))[1] == 1
    assert picture.query("sector", Query(bbox=parse_bbox("2,51,2.1,51.1")))[1] == 0


def test_identical_markings_are_shared_between_records():
    events = _log(
        [(0, AGENCY)]
        + [
            (1, CommandIn(type="unit.created", data=factories.unit(f"U{i}", id=f"u{i}")))
            for i in range(3)
        ]
    )
    picture = Picture().apply_all(events)
    markings = {id(r["marking"]) for r in picture.records["unit"].values()}
    assert len(markings) == 1


def test_a_staged_view_does_not_change_the_picture_until_committed():
    events = _log([(0, AGENCY)])
    picture = Picture().apply_all(events)
    staged = Staged(picture)
    more = _log([(0, AGENCY), (1, CommandIn(type="unit.created", data=factories.unit(id="u")))])
    staged.stage(more[1])
    assert staged.get("unit", "u") is not None
    assert picture.get("unit", "u") is None
