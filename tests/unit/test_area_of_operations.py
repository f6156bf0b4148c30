"""Positions far outside the area of operations (latitude and longitude swapped, a unit in
Paris) are refused with a clear 422 unless the caller says they are deliberate (issue 20);
the Strait of Dover and the English coast are inside."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from itertools import count

import pytest

from estran.adapters.terrain_io import DEFAULT_AREA_DIR, load_area
from estran.bootstrap import load_policy
from estran.domain.area import OperatingArea
from estran.domain.commands import Context, decide
from estran.domain.errors import OutsideAreaError
from estran.domain.events import CommandIn
from estran.domain.markings import Classification, Marking
from estran.domain.picture import Picture, Staged
from estran.domain.policy import SYSTEM, Principal, Role
from tests import factories

NOW = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
COMMANDER = Principal("user:cmd", Role.COMMANDER, "FR-GN", "FR", Classification.OFFICIAL)
AREA = OperatingArea.around(load_area(DEFAULT_AREA_DIR).spec)


@pytest.fixture
def ctx() -> Context:
    ids = count(1)
    return Context(NOW, "user:cmd", "test", Marking(), 300.0, lambda: f"id{next(ids):06d}",
                   COMMANDER, load_policy(None), area=AREA)  # fmt: skip


@pytest.fixture
def view(ctx: Context) -> Staged:
    staged = Staged(Picture())
    seed = dataclasses.replace(ctx, principal=SYSTEM)
    agency = CommandIn(type="agency.created", data={"id": "FR-GN", "name": "GN", "nation": "FR"})
    staged.stage(decide(staged, agency, seed))
    return staged


def _unit(lat: float, lon: float, **extra: object) -> CommandIn:
    return CommandIn(type="unit.created",
                     data=factories.unit(position={"lat": lat, "lon": lon}), **extra)  # fmt: skip


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(50.95, 1.85), (51.12, 1.31), (51.05, 2.37), (50.73, 1.61), (51.33, 1.42)],
    ids=["Wissant", "Dover", "Dunkirk", "Boulogne", "Ramsgate"],
)
def test_the_coast_the_strait_and_the_english_side_are_in_the_area(view, ctx, lat, lon):
    assert decide(view, _unit(lat, lon), ctx).data["position"]["lat"] == lat


def test_swapped_latitude_and_longitude_are_refused_and_named(view, ctx):
    with pytest.raises(OutsideAreaError) as err:
        decide(view, _unit(1.85, 50.95), ctx)  # the Indian Ocean
    assert "swapped" in err.value.message
    assert "deliberate" in err.value.message
    assert err.value.code == "outside_area"


def test_a_unit_in_paris_is_refused_unless_said_deliberate(view, ctx):
    with pytest.raises(OutsideAreaError):
        decide(view, _unit(48.8566, 2.3522), ctx)
    event = decide(view, _unit(48.8566, 2.3522, out_of_area="deliberate"), ctx)
    assert event.data["position"]["lon"] == 2.3522


def test_a_move_out_of_the_area_is_refused_too(view, ctx):
    created = decide(view, _unit(50.95, 1.85), ctx)
    view.stage(created)
    move = CommandIn(type="unit.updated", entity_id=created.entity_id,
                     data={"position": {"lat": 48.85, "lon": 2.35}})  # fmt: skip
    with pytest.raises(OutsideAreaError):
        decide(view, move, ctx)


def test_estrans_own_services_are_not_second_guessed(view, ctx):
    system = dataclasses.replace(ctx, principal=SYSTEM)
    assert decide(view, _unit(48.8566, 2.3522), system).data["position"]["lat"] == 48.8566
