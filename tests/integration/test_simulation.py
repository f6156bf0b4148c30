"""Simulated nights on the real coast: reproducible, sensitive to resources, an adversary that
adapts, and a live demo whose boats in difficulty raise rescue cases."""

from __future__ import annotations

import time
import tomllib

import httpx
import numpy as np
import pytest
from click.testing import CliRunner

from estran.cli.main import cli
from estran.cli.simulate import DEFAULT_SCENARIO
from estran.services.simulate import simulate, summarise
from estran.sim.night import Season, coast_from, run_night
from estran.sim.scenario import Scenario, parse_scenario
from tests.auth import AUTH
from tests.polling import get_until


@pytest.fixture(scope="module")
def baseline() -> Scenario:
    return parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()), "baseline")


def test_the_same_seed_gives_the_same_season(opale, baseline):
    coast = coast_from(opale)
    a = [vars(n) for n in simulate(baseline, coast, 6, seed=11)]
    b = [vars(n) for n in simulate(baseline, coast, 6, seed=11)]
    c = [vars(n) for n in simulate(baseline, coast, 6, seed=12)]
    assert a == b
    assert a != c
    assert sum(n["attempts"] for n in a) > 0


def test_more_drones_raise_detection(opale, baseline):
    coast = coast_from(opale)
    extra = [
        {"id": f"UAS-X{i}", "lat": lat, "lon": lon}
        for i, (lat, lon) in enumerate(
            [
                (50.78, 1.61),
                (50.83, 1.60),
                (50.92, 1.72),
                (50.955, 1.86),
                (50.97, 1.95),
                (51.0, 2.08),
                (51.02, 2.25),
                (51.04, 2.33),
                (51.07, 2.52),
            ]
        )
    ]
    more = baseline.model_copy(
        update={
            "drones": [
                *baseline.drones,
                *(d for d in Scenario.model_validate({"name": "x", "drones": extra}).drones),
            ]
        }
    )
    few = summarise(simulate(baseline, coast, 25, seed=5))
    many = summarise(simulate(more, coast, 25, seed=5))
    assert many["detected"] / many["attempts"] > few["detected"] / few["attempts"] + 0.05
    assert many["proportion_intercepted"] > few["proportion_intercepted"]


def test_an_adversary_facing_heavy_coverage_at_one_site_shifts_to_others(opale, baseline):
    coast = coast_from(opale)
    favourite = Season(baseline, coast, 3)
    first = favourite.choice_probabilities()
    site = int(np.argmax(first))
    lon, lat = opale.projector.to_lonlat(coast.sites[site].x, coast.sites[site].y)
    guarded = baseline.model_copy(
        update={
            "drones": Scenario.model_validate(
                {"name": "x", "drones": [{"id": f"G{i}", "lat": lat, "lon": lon} for i in range(3)]}
            ).drones
        }
    )
    season = Season(guarded, coast, 3)
    before = season.choice_probabilities()[site]
    for _ in range(8):
        run_night(season)
    after = season.choice_probabilities()[site]
    assert after < before / 3
    # The probability went elsewhere, to sites without the drones.
    assert season.choice_probabilities().sum() == pytest.approx(1.0)


def test_simulate_writes_figures_and_a_plot(tmp_path, terrain_cache, monkeypatch):
    monkeypatch.setenv("ESTRAN_TERRAIN_CACHE_DIR", str(terrain_cache))
    out = tmp_path / "sim"
    result = CliRunner().invoke(
        cli,
        ["simulate", "--data", str(tmp_path / "d"), "--nights", "4", "--seed", "3", "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "intercepted (95 % CI" in result.output
    assert (out / "season.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "nights.csv").read_text().count("\n") == 5
    summary = (out / "summary.json").read_text()
    assert '"proportion_ci95"' in summary


def test_a_bad_scenario_file_is_refused_naming_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\n[adversary]\nattempts_per_calm_night = -3\n')
    result = CliRunner().invoke(cli, ["simulate", "--scenario", str(bad), "--data", str(tmp_path)])
    assert result.exit_code != 0
    assert "adversary.attempts_per_calm_night" in result.output


def test_in_the_live_demo_a_boat_in_difficulty_raises_a_rescue_case(server, terrain_cache, opale):
    from estran.app.demo import DemoDriver

    # Every boat that launches gets into difficulty; nobody is there to stop them.
    stormy = Scenario.model_validate(
        {
            "name": "no patrols, every boat in trouble",
            "weather": {"calm_probability": 1.0},
            "adversary": {
                "attempts_per_calm_night": 6,
                "prep_minutes_mean": 20,
                "prep_minutes_sd": 1,
                "launch_minutes": 5,
            },
            "sea": {"difficulty_probability": 1.0},
        }
    )
    running = server(
        terrain="background",
        terrain_cache_dir=terrain_cache,
        extras=[lambda svc: DemoDriver(svc, stormy, speed=3600, seed=2)],
    )
    deadline = time.monotonic() + 60
    found: list[dict] = []
    while time.monotonic() < deadline and not found:
        body = httpx.get(
            headers=AUTH, url=f"{running.http}/api/v1/incidents", params={"type": "boat_at_sea"}
        ).json()
        found = body["items"]
        time.sleep(0.2)
    assert found, "no rescue case was raised"
    case = found[0]
    assert case["life_at_sea"] is True
    assert case["owner_agency_id"] == "FR-CROSS-GN"
    assert case["impact"] == "very_high"
    # Rescue first: it tops the incident list.
    top = httpx.get(headers=AUTH, url=f"{running.http}/api/v1/incidents").json()["items"][0]
    assert top["life_at_sea"] is True


def test_a_surveillance_aircraft_finds_groups_nothing_else_would(opale):
    coast = coast_from(opale)
    base = {
        "name": "nothing but the aircraft",
        "weather": {"calm_probability": 1.0},
        "sensors": {"false_alarms_per_hour": 0.0},
    }
    blind = Scenario.model_validate(base)
    flown = Scenario.model_validate(
        {**base, "aircraft": [{"id": "AIR-1", "start_h": 20.0, "end_h": 6.0}]}
    )
    assert summarise(simulate(blind, coast, 5, seed=4))["detected"] == 0
    seen = summarise(simulate(flown, coast, 5, seed=4))
    assert seen["detected"] > 0


def _demo_night(opale, baseline: Scenario, seed: int) -> list[dict]:
    """What the live demo would write for one night, played at full speed (no clock)."""
    from estran.app.demo import DemoDriver

    driver = DemoDriver(None, baseline, speed=60.0, seed=seed)  # type: ignore[arg-type]
    driver._to_lonlat = opale.projector.to_lonlat
    night = driver.begin(Season(baseline, coast_from(opale), seed))
    night.env.run(until=night.end_s)
    night.finish()
    return [c.model_dump(mode="json") for batch in driver.pending for c in batch]


def test_a_demo_night_is_the_same_from_its_seed_patrol_movements_included(opale, baseline):
    """Issue 18: the demo's patrols moved on the wall clock, so no two runs were alike; they
    are now events on the night's kernel, and the pacer only decides when each is written."""
    first, again = _demo_night(opale, baseline, 7), _demo_night(opale, baseline, 7)
    assert first == again
    moves = [c for c in first if c["type"] == "unit.updated" and c["data"].get("position")
             and c["data"]["position"]["error_m"] == 10.0]  # fmt: skip
    assert len(moves) > 100  # the free patrols walked their beats all night
    assert len({(m["data"]["position"]["lat"], m["data"]["position"]["lon"]) for m in moves}) > 50
    assert _demo_night(opale, baseline, 8) != first


@pytest.mark.slow
def test_a_task_sent_from_the_console_to_a_simulated_unit_is_carried_out(
    server, terrain_cache, opale
):
    """Issue 20, the dispatch loop closed: the unit is tasked, acknowledges, moves along its
    route, arrives, reports in the duty log and is available again; the task follows."""
    from estran.app.demo import DemoDriver

    quiet = Scenario.model_validate({
        "name": "a quiet night",
        "weather": {"calm_probability": 0.0, "rough_attempt_factor": 0.0},
        "sensors": {"false_alarms_per_hour": 0.0},
        "units": [{"id": "GN-WISSANT-P1", "kind": "foot_patrol", "lat": 50.882, "lon": 1.668}],
    })  # fmt: skip
    running = server(terrain="background", terrain_cache_dir=terrain_cache,
                     extras=[lambda svc: DemoDriver(svc, quiet, speed=600, seed=3)])  # fmt: skip
    base, unit = running.http, "sim-GN-WISSANT-P1"
    start = get_until(f"{base}/api/v1/units/{unit}", lambda u: u.get("position"), 60.0)
    inc = {"id": "inc-console", "type": "group_sighted", "owner_agency_id": "FR-GN",
           "position": {"lat": 50.872, "lon": 1.690}}  # fmt: skip
    assert httpx.post(f"{base}/api/v1/incidents", json=inc, headers=AUTH).status_code == 201
    task = {"id": "task-console", "incident_id": "inc-console", "unit_id": unit}
    assert httpx.post(f"{base}/api/v1/tasks", json=task, headers=AUTH).status_code == 201
    r = httpx.patch(f"{base}/api/v1/tasks/task-console", json={"status": "sent"}, headers=AUTH)
    assert r.status_code == 200, r.text
    get_until(f"{base}/api/v1/tasks/task-console", lambda t: t["status"] == "done", 60.0)
    history = httpx.get(f"{base}/api/v1/tasks/task-console/history", headers=AUTH).json()
    statuses = [e["data"].get("status") for e in history["events"]]
    assert statuses == ["proposed", "sent", "acknowledged", "will_comply", "en_route",
                        "on_scene", "done"]  # fmt: skip
    moves = httpx.get(f"{base}/api/v1/units/{unit}/history", headers=AUTH).json()["events"]
    unit_statuses = [e["data"]["status"] for e in moves if "status" in e["data"]]
    assert unit_statuses[-4:] == ["tasked", "en_route", "on_scene", "available"], unit_statuses
    positions = [e["data"]["position"] for e in moves if "position" in e["data"]]
    assert len({(p["lat"], p["lon"]) for p in positions}) >= 5  # it moved along its route
    end = httpx.get(f"{base}/api/v1/units/{unit}", headers=AUTH).json()["position"]
    assert abs(end["lat"] - 50.872) < 0.005
    assert abs(end["lon"] - 1.690) < 0.005
    assert (start["position"]["lat"], start["position"]["lon"]) != (end["lat"], end["lon"])
    log_lines = httpx.get(f"{base}/api/v1/log_entries", headers=AUTH).json()["items"]
    assert any("on scene at inc-console" in e["text"] for e in log_lines)


class _Watch:
    """An observer that keeps where groups were found and when boats got away."""

    def __init__(self) -> None:
        self.found: list[tuple[str, float, float, str]] = []  # group, x, y, state
        self.away: dict[str, float] = {}

    def detection(self, t, group, x, y, sensor) -> None:
        if group is not None:
            self.found.append((group.id, x, y, group.state))

    def tasked(self, t, unit, group, eta_s, route) -> None:
        pass

    def arrived(self, t, unit, group, outcome) -> None:
        pass

    def launched(self, t, group, in_difficulty) -> None:
        self.away[group.id] = t


def _hiding() -> Scenario:
    from estran.sim.scenario import DEFAULT_SCENARIO as BASE

    path = BASE.with_name("hiding.toml")
    return parse_scenario(tomllib.loads(path.read_text()), "hiding")


def test_groups_hide_walk_and_reach_the_beach_when_they_would_have(opale):
    """Item 3 of issue 21: with hiding, a group waits behind the beach and walks to it, and
    every die of the night and the beach's timing stay what they were without hiding (the
    evaluation's common random numbers hold): with no one watching, every boat gets away at
    the very second it did."""
    coast = coast_from(opale)
    unwatched = {"name": "no one watching", "weather": {"calm_probability": 1.0},
                 "sensors": {"false_alarms_per_hour": 0.0}}  # fmt: skip
    hiding = _hiding().hiding.model_dump()
    runs = []
    for spec in (unwatched, {**unwatched, "hiding": hiding}):
        season, watch = Season(Scenario.model_validate(spec), coast, 21), _Watch()
        for _ in range(3):
            run_night(season, watch)
        runs.append(watch.away)
    assert runs[0]
    assert runs[0] == runs[1]


def test_drones_over_the_woods_find_groups_in_hiding_before_the_beach(opale):
    coast = coast_from(opale)
    assert coast.hides is not None
    season, watch = Season(_hiding(), coast, 5), _Watch()
    nights = [run_night(season, watch) for _ in range(15)]
    inland = [f for f in watch.found if f[3] in ("hiding", "walking")]
    assert inland, "no group was found before the beach"
    hidden = [f for f in inland if f[3] == "hiding"]
    assert hidden, "no group was found where it waited"
    sites = season.site_xy
    for _, x, y, _ in hidden:  # found where it waited: a hiding place, not a beach
        assert np.hypot(sites[:, 0] - x, sites[:, 1] - y).min() >= 150.0
        assert np.hypot(coast.hides.xy[:, 0] - x, coast.hides.xy[:, 1] - y).min() < 1.0
    assert sum(n.intercepted_inland for n in nights) > 0
    assert sum(n.intercepted_inland for n in nights) <= sum(n.intercepted for n in nights)


def test_in_the_demo_a_group_found_in_hiding_opens_a_group_sighted_incident(opale):
    base = _hiding()
    busy = base.model_copy(update={
        "weather": base.weather.model_copy(update={"calm_probability": 1.0}),
        "adversary": base.adversary.model_copy(update={"attempts_per_calm_night": 40.0}),
    })  # fmt: skip
    made = [
        c["data"]["type"]
        for c in _demo_night(opale, busy, 3)
        if c["type"] == "incident.created" and not c["data"]["id"].startswith("inc-fa-")
    ]  # a group's, not a false alarm's
    assert "group_sighted" in made  # found waiting or walking, before any boat is out
    assert "boat_being_prepared" in made  # and others at the beach, as before


def test_a_patrol_on_a_beat_works_it_and_the_organisers_see_it_at_every_stop(opale):
    """Item 4 of issue 21: a unit given a beat moves along it all night (where ``Beat.at``
    has it while it is not tasked) and the organisers remember it at both ends."""
    from estran.domain.beats import Beat
    from estran.sim.night import begin_night

    coast = coast_from(opale)
    quiet = Scenario.model_validate({
        "name": "one patrol on a beat", "adversary": {"attempts_per_calm_night": 0.0},
        "sensors": {"false_alarms_per_hour": 0.0},
        "units": [{"id": "P1", "kind": "foot_patrol", "lat": 50.9, "lon": 1.7}],
    })  # fmt: skip
    sites = np.array([[s.x, s.y] for s in coast.sites])
    a, b = sites[10] + [0.0, 400.0], sites[40] + [0.0, 400.0]  # far apart: 2 km apart at least
    beat = Beat((tuple(a), tuple(b)), (3000.0, 3000.0), 600.0)
    season = Season(quiet, coast, 3, deploy=lambda night: {"P1": beat})
    night = begin_night(season)
    (unit,) = night.units
    seen = []
    for t in (0.0, 300.0, 1500.0, 3700.0, 5000.0, 7800.0):
        night.env.run(until=unit.start_s + t + 1.0)  # the unit moves on each minute
        seen.append((unit.x, unit.y))
        x, y, _ = beat.at(float(np.floor((t + 1.0) / 60.0) * 60.0))
        assert (unit.x, unit.y) == pytest.approx((x, y)), t
    assert len(set(seen)) >= 4  # it moved
    night.env.run(until=night.end_s)
    night.finish()
    near = lambda p: np.hypot(*(sites - p).T) < quiet.adversary.watch_radius_m  # noqa: E731
    assert season.coverage[near(a)].min() > 0.0
    assert season.coverage[near(b)].min() > 0.0
    assert season.coverage[~(near(a) | near(b))].max() == 0.0


def test_a_drone_flies_its_orbits_in_turn_one_a_flight(opale):
    """A drone given an orbit sequence finds groups only around the orbit of the flight in
    the air: the first centre on flights 0, 2, 4..., the second on 1, 3, 5..."""
    from estran.domain.beats import Beat

    coast = coast_from(opale)
    base = _hiding()
    busy = base.model_copy(update={
        "weather": base.weather.model_copy(update={"calm_probability": 1.0}),
        "adversary": base.adversary.model_copy(update={"attempts_per_calm_night": 40.0}),
        "sensors": base.sensors.model_copy(update={"drone_p0": 0.5,
                                                   "false_alarms_per_hour": 0.0}),
        "units": [], "cameras": [], "aircraft": [], "drones": base.drones[:1],
    })  # fmt: skip
    sites = np.array([[s.x, s.y] for s in coast.sites])
    sen = busy.sensors
    cycle = (sen.drone_flight_min + sen.drone_swap_min) * 60.0
    orbits = Beat((tuple(sites[15]), tuple(sites[70])), (0.0, 0.0), cycle)
    drone = busy.drones[0]
    found: list[tuple[float, float, float]] = []

    class Found(_Watch):
        def detection(self, t, group, x, y, sensor) -> None:
            if group is not None and sensor == drone.id:
                found.append((t, x, y))

    season = Season(busy, coast, 8, deploy=lambda night: {drone.id: orbits})
    for _ in range(4):
        run_night(season, Found())
    start = ((drone.start_h - busy.night_start_h) % 24) * 3600.0
    flights = set()
    for t, x, y in found:
        k = int((t - start) // cycle)
        cx, cy = orbits.stops[k % 2]
        assert np.hypot(x - cx, y - cy) <= drone.radius_m, (t, k)
        flights.add(k % 2)
    assert flights == {0, 1}  # both orbits were flown and found groups


def _persistent(baseline: Scenario, p: float, mean: float = 3.0) -> Scenario:
    adv = baseline.adversary.model_copy(update={"retry_probability": p, "retry_nights_mean": mean})
    return baseline.model_copy(update={"adversary": adv})


def test_groups_turned_back_try_again_on_later_nights_beside_the_same_fresh_attempts(
    opale, baseline
):
    """Item 3 of issue 21: a group deterred or stopped may try again on a later night. The
    night's own attempts are drawn as before (common random numbers hold: the fresh
    attempts of every night are the same whoever turns groups back); the groups trying again
    come on top, never more than were turned back."""
    coast = coast_from(opale)
    plain = [vars(n) for n in simulate(baseline, coast, 12, seed=4)]
    again = [vars(n) for n in simulate(_persistent(baseline, 1.0), coast, 12, seed=4)]
    assert [n["attempts"] for n in plain] == [n["attempts"] - n["retries"] for n in again]
    assert all(n["retries"] == 0 for n in plain)
    assert sum(n["retries"] for n in again) > 5
    turned_back = 0
    for n in again:
        assert n["retries"] <= turned_back
        turned_back += n["intercepted"] + n["launch_prevented"] + n["deterred"] - n["retries"]

    sizes: dict[tuple[int, int, int], int] = {}

    class Sizes(_Watch):
        def detection(self, t, group, x, y, sensor) -> None:
            if group is not None:
                sizes[group.key] = group.size

    season = Season(_persistent(baseline, 1.0), coast, 4)
    for _ in range(12):
        run_night(season, Sizes())
    retried = [(k, n) for k, n in sizes.items() if k[2] > 0 and (*k[:2], 0) in sizes]
    assert retried
    assert all(n == sizes[(*k[:2], 0)] for k, n in retried)  # the same people try again


def test_a_group_tries_again_by_its_own_dice_as_itself(opale, baseline):
    from estran.sim.night import Group

    season = Season(_persistent(baseline, 0.5), coast_from(opale), 9)
    groups = [Group(f"g{i}", 3, 0.0, 0.0, 30 + i, key=(2, i, 0)) for i in range(3000)]
    first = [season.retry_of(g, 2) for g in groups]
    assert [season.retry_of(g, 2) for g in groups] == first  # its identity decides
    tried = [r for r in first if r is not None]
    assert 0.45 < len(tried) / len(groups) < 0.55
    assert all(r.night >= 3 for r in tried)
    assert np.mean([r.night - 2 for r in tried]) == pytest.approx(3.0, abs=0.2)
    for g, r in zip(groups, first, strict=True):
        if r is not None:
            assert r.size == g.size
            assert r.key == (2, g.key[1], 1)
    assert len({r.draws for r in tried}) == len(tried)  # each its own dice
    never = Season(_persistent(baseline, 0.0), coast_from(opale), 9)
    assert all(never.retry_of(g, 2) is None for g in groups[:100])


def test_groups_due_to_try_again_wait_for_a_calm_night(opale, baseline):
    from estran.sim.night import Retry

    for calm, tried, left in ((0.0, 0, 2), (1.0, 2, 0)):
        sc = baseline.model_copy(
            update={"weather": baseline.weather.model_copy(update={"calm_probability": calm})}
        )
        season = Season(sc, coast_from(opale), 2)
        season.retries[0] = [Retry((0, k, 1), 0, (0.5, 0.5, 0.0, 0.0), 0.0, 40)
                             for k in range(2)]  # fmt: skip
        assert run_night(season).retries == tried
        assert len(season.retries.get(1, [])) == left


def test_with_a_tide_boats_go_out_around_high_water_on_the_same_nights(opale, baseline):
    """Item 3 of issue 21: with ``[tide]`` every launch starts within two hours of high water
    (later each night), in the dark; the attempts themselves (how many, where) are those of
    the night without a tide: only when moves."""
    from estran.sim.night import tide_windows
    from estran.sim.scenario import TideSpec

    coast = coast_from(opale)
    calm = baseline.weather.model_copy(update={"calm_probability": 1.0})
    plain = baseline.model_copy(update={"weather": calm, "units": [], "drones": [],
                                        "cameras": [], "aircraft": []})  # fmt: skip
    tidal = plain.model_copy(update={"tide": TideSpec(high_water_h=23.0)})
    launch_s = plain.adversary.launch_minutes * 60.0
    starts: dict[str, list[tuple[int, float]]] = {}
    sites = {}
    for name, sc in (("plain", plain), ("tidal", tidal)):
        season, watch = Season(sc, coast, 6), _Watch()
        sites[name] = [run_night(season, watch).sites for _ in range(12)]
        starts[name] = [(int(g.split("-")[0][1:]), t - launch_s) for g, t in watch.away.items()]
    assert sites["plain"] == sites["tidal"]  # no one watching: the same attempts every night
    for night, start in starts["tidal"]:
        windows = tide_windows(tidal.tide, night, tidal.night_start_h, tidal.night_hours * 3600)
        assert any(a - 1.0 <= start <= b + 1.0 for a, b in windows), (night, start / 3600)
    outside = [
        (n, s)
        for n, s in starts["plain"]
        if not any(
            a <= s <= b
            for a, b in tide_windows(tidal.tide, n, tidal.night_start_h, tidal.night_hours * 3600)
        )
    ]
    assert outside  # without a tide, boats go out at any time of the dark


def _boats_apart(baseline: Scenario) -> Scenario:
    adv = baseline.adversary.model_copy(update={"boat_ahead_minutes": 120.0,
                                                "boat_noticed": 1.0})  # fmt: skip
    calm = baseline.weather.model_copy(update={"calm_probability": 1.0})
    return baseline.model_copy(update={"adversary": adv, "weather": calm})


def test_a_boat_and_engine_brought_apart_can_be_seized_before_the_group_comes(opale, baseline):
    """Item 3 of issue 21: the boat and engine are hidden at the beach ahead of the group;
    a patrol or a camera may find them (a drone or the aircraft, seeing heat, never does),
    and seizing them stops the attempt: its group never goes out. The nights' attempts are
    the same as with the boat coming with the group."""
    coast = coast_from(opale)
    sc = _boats_apart(baseline)
    found: list[tuple[str, str]] = []  # (what, by which sensor)
    away: set[str] = set()

    class Watch(_Watch):
        def detection(self, t, group, x, y, sensor) -> None:
            if group is not None:
                found.append((group.state, sensor))

        def launched(self, t, group, in_difficulty) -> None:
            away.add(group.id)

    season = Season(sc, coast, 3)
    nights = [run_night(season, Watch()) for _ in range(10)]
    seized = sum(n.boats_seized for n in nights)
    assert seized > 0
    boats = [s for state, s in found if state == "cache"]
    assert boats
    flying = {d.id for d in sc.drones} | {a.id for a in sc.aircraft}
    assert not flying & set(boats)  # cold: no heat for a drone or the aircraft
    for n in nights:
        assert n.interceptions == n.intercepted + n.launch_prevented + n.boats_seized
        assert n.launched <= n.attempts - n.boats_seized - n.intercepted - n.launch_prevented
    plain = Season(baseline.model_copy(update={"weather": sc.weather}), coast, 3)
    assert [run_night(plain).attempts for _ in range(10)] == [n.attempts for n in nights]


def test_in_the_demo_a_hidden_boat_found_is_equipment_and_its_seizure_closes_the_incident(
    opale, baseline
):
    from estran.domain.records import DetectionCreate, IncidentCreate

    made = _demo_night(opale, _boats_apart(baseline), 3)
    boats = [c["data"] for c in made
             if c["type"] == "detection.created" and c["data"]["class"] == "equipment"]  # fmt: skip
    assert boats
    for data in boats:
        DetectionCreate.model_validate(data)  # no count: equipment, not people
        assert "count" not in data
    incidents = [c["data"] for c in made if c["type"] == "incident.created"
                 and "boat and engine" in c["data"]["summary"]]  # fmt: skip
    assert incidents
    for data in incidents:
        IncidentCreate.model_validate(data)
        assert data["type"] == "boat_being_prepared"
    closed = [c["data"] for c in made if c["type"] == "incident.updated"
              and c["data"].get("outcome") == "boat_or_equipment_seized"]  # fmt: skip
    assert closed
