"""The discrete-event kernel: one clock, a deterministic order."""

from __future__ import annotations

import pytest

from estran.sim.kernel import EARLY, LATE, Environment
from estran.sim.scenario import parse_scenario


def test_events_run_in_time_then_priority_then_scheduling_order():
    env = Environment()
    seen: list[str] = []
    env.at(5.0, lambda: seen.append("late-5"), LATE)
    env.at(5.0, lambda: seen.append("early-5"), EARLY)
    env.at(5.0, lambda: seen.append("normal-5a"))
    env.at(5.0, lambda: seen.append("normal-5b"))
    env.at(1.0, lambda: seen.append("1"))
    env.run(until=10.0)
    assert seen == ["1", "early-5", "normal-5a", "normal-5b", "late-5"]
    assert env.now == 10.0


def test_an_event_can_schedule_more_and_cancel_others():
    env = Environment()
    seen: list[float] = []
    doomed = env.at(3.0, lambda: seen.append(-1.0))

    def tick() -> None:
        seen.append(env.now)
        if env.now < 4:
            env.after(1.0, tick)

    env.at(0.0, tick)
    env.cancel(doomed)
    env.run(until=100.0)
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match="before now"):
        env.at(1.0, lambda: None)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"scenario": {"name": "x"}, "adversary": {"rationality": -1}}, "adversary.rationality"),
        (
            {
                "scenario": {"name": "x"},
                "units": [{"id": "u", "kind": "tank", "lat": 50.9, "lon": 1.7}],
            },
            "units.0.kind",
        ),
        (
            {"scenario": {"name": "x"}, "drones": [{"id": "d", "lat": 48.0, "lon": 1.7}]},
            "drones.0.lat",
        ),
        ({"scenario": {"name": "x", "surprise": 1}}, "surprise"),
        ({"scenario": {}}, "name"),
    ],
)
def test_a_bad_scenario_is_refused_with_the_field_named(raw, field):
    from estran.domain.errors import ValidationFailedError

    with pytest.raises(ValidationFailedError) as err:
        parse_scenario(raw, "bad.toml")
    assert field in err.value.message
    assert err.value.message.startswith("bad.toml:")


def test_ids_must_be_unique_across_sensors_and_units():
    from estran.domain.errors import ValidationFailedError

    raw: dict[str, object] = {
        "scenario": {"name": "x"},
        "drones": [{"id": "A", "lat": 50.9, "lon": 1.7}],
        "units": [{"id": "A", "kind": "foot_patrol", "lat": 50.9, "lon": 1.7}],
    }
    with pytest.raises(ValidationFailedError, match="used twice"):
        parse_scenario(raw)
