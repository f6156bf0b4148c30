"""Planning on the real Côte d'Opale: the coverage model from the terrain engine, plans and
baselines with the scenario's resources, the simulator playing a plan, the CLI's reports."""

from __future__ import annotations

import json
import math
import tomllib

import numpy as np
import pytest
from click.testing import CliRunner

from estran.adapters.plan_store import DiskPostCache
from estran.cli.main import cli
from estran.config import Settings
from estran.domain.planning import Strategy
from estran.services.plan_eval import CURRENT, evaluate, play
from estran.services.planning import (
    INFORMED,
    KINDS,
    NIGHTLY,
    ORACLE,
    Planner,
    scaled,
    tonight,
    with_extra,
)
from estran.services.posts import posts_for
from estran.sim.night import (
    Foresight,
    Season,
    begin_night,
    coast_from,
    run_night,
    site_appeal,
)
from estran.sim.scenario import DEFAULT_SCENARIO, Scenario, parse_scenario


@pytest.fixture(scope="module")
def baseline() -> Scenario:
    return parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()), "baseline")


@pytest.fixture(scope="module")
def posts(opale, terrain_cache):
    settings = Settings(data_dir=terrain_cache / "data", terrain_cache_dir=terrain_cache)
    return posts_for(opale, DiskPostCache.for_settings(settings))


@pytest.fixture(scope="module")
def planner(opale, posts, baseline) -> Planner:
    return Planner(baseline, coast_from(opale), posts)


def test_posts_are_cached_and_read_back_identically(opale, posts, terrain_cache):
    settings = Settings(data_dir=terrain_cache / "data", terrain_cache_dir=terrain_cache)
    again = DiskPostCache.for_settings(settings).get(opale)
    assert again is not None
    assert list(again.eta_s) == ["foot_patrol", "dune_buggy", "four_by_four"]
    for kind in posts.eta_s:
        assert np.array_equal(again.eta_s[kind], posts.eta_s[kind])
        assert np.array_equal(again.xy[kind], posts.xy[kind])


def test_travel_times_are_real_a_buggy_beats_a_foot_patrol_and_grow_with_distance(posts):
    foot, buggy = posts.eta_s["foot_patrol"], posts.eta_s["dune_buggy"]
    near = np.arange(min(foot.shape[0], foot.shape[1]))  # post k stands by sites k and k+1
    assert np.all(np.isfinite(foot[near, near]))
    assert np.median(buggy[near, near]) < np.median(foot[near, near])
    far = np.clip(near + 6, 0, foot.shape[1] - 1)
    ok = np.isfinite(foot[near, far])
    assert np.median(foot[near, far][ok]) > 3 * np.median(foot[near, near])


def test_the_coverage_model_follows_terrain_and_sensors(planner, baseline):
    g = planner.game
    assert g.q.min() >= 0
    assert g.q.max() <= 1
    # Counts per resource type are the scenario's.
    counts = {t.kind: len(t.ids) for t in planner.types}
    assert counts == {
        k: sum(u.kind == k for u in baseline.units) or len(baseline.drones) for k in KINDS
    }
    drone = next(r for r, t in enumerate(planner.types) if t.kind == "drone")
    q = g.q[g.post_type == drone]  # orbit k is centred on site k
    n = q.shape[1]
    assert np.all(np.diag(q) >= q.max(axis=0) - 1e-12)  # best over the site itself
    assert np.all(q[np.arange(n), np.arange(n)] > q[np.arange(n), (np.arange(n) + 10) % n])
    # Woods hide: at their own orbit, covered sites are found less often than open ones.
    cover = planner.coast.sites
    wooded = np.array([s.woodland_fraction + s.scrub_fraction for s in cover])
    assert np.corrcoef(np.diag(q), wooded)[0, 1] < 0
    # A post within the abandon radius of a site scares the group off: no interception.
    foot = next(r for r, t in enumerate(planner.types) if t.kind == "foot_patrol")
    pxy = planner.post_xy[g.post_type == foot]
    d = np.hypot(
        pxy[:, None, 0] - planner.posts.site_xy[None, :, 0],
        pxy[:, None, 1] - planner.posts.site_xy[None, :, 1],
    )
    assert np.all(g.q[g.post_type == foot][d <= baseline.adversary.abandon_radius_m] == 0)
    # Fixed cameras and the aircraft give every site some base coverage.
    assert np.all(g.fixed > 0)
    assert np.all(g.fixed < 0.95)


def test_plans_and_baselines_use_exactly_the_resources_there_are(planner):
    g = planner.game
    for policy in planner.policies(seed=1):
        for r, count in enumerate(g.counts):
            total = policy.x[g.post_type == r].sum()
            assert total <= count + 1e-6, policy.name
            if policy.fixed:
                assert set(np.unique(policy.x)) <= {0.0, 1.0}
        rng = np.random.default_rng(0)
        where = policy.positions(policy.draw(rng))
        for res in planner.types:
            placed = [where[i] for i in res.ids if i in where]
            assert len(placed) <= len(res.ids)
            kind_xy = planner.posts.xy[res.kind]
            for x, y in placed:  # every unit stands at a post of its own kind
                assert np.min(np.hypot(kind_xy[:, 0] - x, kind_xy[:, 1] - y)) < 1e-6


def test_the_plan_beats_every_baseline_in_its_own_model(planner):
    pols = {p.name: p for p in planner.policies(seed=1)}
    planned = planner.expected(pols["planned"].x)
    for name in ("uniform", "hotspot", "best fixed", "planned (SSE)"):
        assert planned > planner.expected(pols[name].x), name


def test_history_moves_site_values_towards_where_attempts_were_seen(opale, posts, baseline):
    coast = coast_from(opale)
    plain = Planner(baseline, coast, posts)
    seen = np.zeros(len(coast.sites))
    seen[40] = 30
    leaning = Planner(baseline, coast, posts, history=seen)
    assert leaning.value[40] - plain.value[40] > 0.3
    assert np.argmax(leaning.last_year()) == 40
    with pytest.raises(ValueError, match="history"):
        Planner(baseline, coast, posts, history=-np.ones(len(coast.sites)))


def test_the_simulator_puts_every_unit_where_the_plan_says(opale, planner, baseline):
    coast = coast_from(opale)
    policy = planner.policies(seed=3)[-1]
    deploy = policy.deployer(0)
    told: list[dict] = []

    def recording(n: int) -> dict:
        told.append(deploy(n))
        return told[-1]

    season = Season(baseline, coast, 5, deploy=recording)
    night = begin_night(season)
    placed = {u.id: (u.x, u.y) for u in night.units}
    for uid, xy in told[0].items():
        if uid in placed:
            assert placed[uid] == pytest.approx(xy)
    assert sum(uid in placed for uid in told[0]) >= len(baseline.units) - 2


def test_the_nightly_plan_goes_where_the_organisers_remember_nothing(planner, baseline):
    n = planner.game.sites
    west = np.arange(n) < n // 2
    # A memory of units standing at the western half's sites on one night, as remembered.
    memory = planner.seen([planner.posts.site_xy[west]])
    assert memory[west].min() == pytest.approx(1 - baseline.adversary.memory)
    assert memory[n // 2 + 5 :].max() == 0  # far from the west, nothing seen
    plain = planner.plan_ahead(np.zeros(n))
    ahead = planner.plan_ahead(memory)
    # They expect the organisers in the east: coverage moves east, attempts too.
    shift = ahead.coverage[~west].mean() - ahead.coverage[west].mean()
    assert shift > plain.coverage[~west].mean() - plain.coverage[west].mean() + 0.01
    assert ahead.attack_probabilities[~west].sum() > plain.attack_probabilities[~west].sum()
    g = planner.game
    for r, count in enumerate(g.counts):
        assert ahead.x[g.post_type == r].sum() == pytest.approx(count, abs=1e-6)


def test_the_server_re_plans_against_what_was_seen_and_falls_back_without_it(planner):
    from estran.services.plan_service import strategy_for

    n = planner.game.sites
    west = planner.posts.site_xy[np.arange(n) < n // 2]
    quiet = [np.zeros((0, 2))] * 7
    plain = strategy_for(planner, "ahead", quiet)
    assert np.allclose(plain.x, planner.plan("qr").x)  # nothing seen: the static plan
    ahead = strategy_for(planner, "ahead", [*quiet[:6], west])
    assert "memory" in ahead.method
    assert np.allclose(ahead.x, planner.plan_ahead(planner.seen([west])).x)
    assert strategy_for(planner, "sse", quiet).method.startswith("sse")


def test_the_nightly_policy_plans_from_what_stood_on_the_coast_each_night(planner, opale):
    policy = planner.nightly(seed=3)
    coast = coast_from(opale)

    def season_of(seed: int) -> list[dict]:
        """Four nights in the simulator: what the policy posted each night."""
        deploy = policy.deployer(0)
        posted: list[dict] = []

        def record(night: int) -> dict:
            posted.append(deploy(night))
            return posted[-1]

        record.observe = deploy.observe  # type: ignore[attr-defined]
        season = Season(planner.scenario, coast, seed, deploy=record)
        for _ in range(4):
            run_night(season)
        return posted

    nights = season_of(5)
    assert nights == season_of(5)  # reproducible per season
    # It learns from each night (where it stood, what it found): not the same every night.
    assert len({tuple(sorted(n.items())) for n in nights}) > 1
    kinds = {uid: t.kind for t in planner.types for uid in t.ids}
    for night in nights:
        assert set(night) == set(kinds)  # every unit and drone has a post
        for uid, xy in night.items():
            mine = [r for r, t in enumerate(planner.types) if t.kind == kinds[uid]]
            posts = planner.post_xy[np.isin(planner.game.post_type, mine)]
            assert np.min(np.hypot(*(posts - np.asarray(xy)).T)) < 1e-6
    # It goes through the simulator like any policy.
    (res,) = evaluate(planner.scenario, coast_from(opale), [policy], nights=3, replications=2,
                      seed=1)  # fmt: skip
    assert res.name == NIGHTLY
    assert res.attempts > 0


def test_a_night_under_a_plan_is_reproducible_and_differs_from_the_current_posts(
    opale, planner, baseline
):
    coast = coast_from(opale)
    policy = planner.policies(seed=3)[-1]
    a = play(baseline, coast, policy, 3, seed=9, stream=0)
    b = play(baseline, coast, policy, 3, seed=9, stream=0)
    c = play(baseline, coast, None, 3, seed=9, stream=0)
    assert a == b
    assert a != c


def test_evaluate_pairs_seeds_and_counts_everything(opale, planner, baseline):
    coast = coast_from(opale)
    pols = [None, next(p for p in planner.policies(seed=2) if p.name == "planned")]
    results = evaluate(baseline, coast, pols, nights=3, replications=2, seed=4)
    assert [r.name for r in results] == [CURRENT, "planned"]
    for r in results:
        assert len(r.shares) == 2
        assert sum(r.site_attempts) == r.attempts > 0
        lo, hi = r.ci95
        assert 0.0 <= lo <= r.intercepted / r.attempts <= hi <= 1.0
        assert sum(r.season_attempts) == r.attempts
        assert 0 <= r.deterred <= r.attempts
        assert 0 <= r.intercepted <= r.attempts
    # Common random numbers: the weather and the number of attempts a night are the same
    # dice for every policy (only where the attempts go, and their fate, differ).
    assert abs(results[0].attempts - results[1].attempts) <= 0.25 * results[0].attempts


def test_tonight_explains_every_post_and_stays_on_land(opale, planner):
    plan = tonight(planner, planner.plan("qr"), np.random.default_rng(1), opale.projector.to_lonlat)
    posts = [p for p in plan["posts"] if p["post"] is not None]
    assert len(posts) >= 15
    for p in posts:
        assert p["why"]
        assert p["covers"]
        # explained by its own post (a foot patrol and a buggy may stand on one spot)
        assert planner.types[planner.game.post_type[p["post"]]].kind == p["kind"]
        at = opale.engine.resolve(*opale.projector.to_xy(p["lon"], p["lat"]))
        assert not isinstance(at, str) or not at.startswith("outside"), p  # on the area's land
        cls = opale.grid.classes[opale.grid.cell_of(*opale.projector.to_xy(p["lon"], p["lat"]))]
        assert int(cls) != 0, "a post at sea"  # 0 is the sea class
    assert len(plan["sites"]) == len(opale.sites)
    assert all(0 <= s["coverage"] <= 1 for s in plan["sites"])
    assert sum(s["attack_probability"] for s in plan["sites"]) == pytest.approx(1.0, abs=1e-3)


def test_extra_resources_join_the_game_and_unknown_kinds_are_refused(opale, posts, baseline):
    more = with_extra(baseline, {"drone": 3, "foot_patrol": 2})
    planner = Planner(more, coast_from(opale), posts)
    counts = {t.kind: len(t.ids) for t in planner.types}
    assert counts["drone"] == len(baseline.drones) + 3
    assert counts["foot_patrol"] == sum(u.kind == "foot_patrol" for u in baseline.units) + 2
    # Added units are based at their kind's stations, spread along the coast, each in turn.
    foot = [(u.lat, u.lon) for u in baseline.units if u.kind == "foot_patrol"]
    added = [(u.lat, u.lon) for u in more.units if u.id.startswith("ADD-foot_patrol")]
    assert added == [foot[0], foot[len(foot) // 2]]
    many = with_extra(baseline, {"drone": 2 * len(baseline.drones)})
    homes = [(d.lat, d.lon) for d in many.drones if d.id.startswith("ADD-")]
    assert sorted(homes) == sorted(2 * [(d.lat, d.lon) for d in baseline.drones])
    with pytest.raises(ValueError, match="unknown resource kind"):
        with_extra(baseline, {"submarine": 1})


def _kinds(scenario: Scenario) -> dict[str, int]:
    counts = {k: sum(u.kind == k for u in scenario.units) for k in KINDS[:-1]}
    return counts | {"drone": len(scenario.drones)}


def test_resources_scale_kind_by_kind_spread_along_the_coast(baseline):
    today = _kinds(baseline)
    half = scaled(baseline, 0.5)
    assert _kinds(half) == {k: round(0.5 * n) for k, n in today.items()}
    # The kept units are the scenario's own, in its order, spread from one end to the other.
    foot = [u for u in baseline.units if u.kind == "foot_patrol"]
    kept = [u for u in half.units if u.kind == "foot_patrol"]
    assert kept[0] == foot[0]
    assert kept[-1] == foot[-1]
    assert [baseline.units.index(u) for u in half.units] == sorted(
        baseline.units.index(u) for u in half.units
    )
    assert _kinds(scaled(baseline, 0.0)) == dict.fromkeys(today, 0)
    assert scaled(baseline, 1.0) == baseline
    more = scaled(baseline, 1.5)
    assert _kinds(more) == {k: n + round(0.5 * n) for k, n in today.items()}
    assert all(u in more.units for u in baseline.units)
    for bad in (-0.1, 11.0, float("nan")):
        with pytest.raises(ValueError, match="between 0 and 10"):
            scaled(baseline, bad)


def test_the_cli_writes_tonight_an_evaluation_and_a_frontier(tmp_path, terrain_cache):
    env = {"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)}
    data = str(terrain_cache / "data")
    runner = CliRunner()
    out = tmp_path / "tonight"
    res = runner.invoke(
        cli, ["plan", "tonight", "--data", data, "--seed", "2", "-o", str(out)], env=env
    )
    assert res.exit_code == 0, res.output
    assert "model proportion" in res.output
    body = json.loads((out / "tonight.json").read_text())
    assert body["posts"]
    assert body["sites"]
    assert (out / "coverage-map.png").stat().st_size > 10_000

    out = tmp_path / "eval"
    res = runner.invoke(
        cli,
        [
            "plan",
            "evaluate",
            "--data",
            data,
            "--nights",
            "2",
            "--replications",
            "2",
            "--workers",
            "1",
            "--informed",
            "--match",
            "-o",
            str(out),
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["beats"] == 0  # posts only unless asked
    names = [p["name"] for p in report["policies"]]
    assert names == [
        CURRENT,
        "uniform",
        "evenly spaced",
        "hotspot",
        "best fixed",
        "planned (SSE)",
        "planned",
        NIGHTLY,
        ORACLE,
        INFORMED,
    ]
    assert set(report["planned_against"]) == set(names) - {"planned"}
    assert set(report["nightly_against"]) == set(names) - {NIGHTLY}
    # Issue 21's measure: the gap closure against the best baseline and the oracle, and
    # intervals inside [0, 1] even for two seasons of two nights.
    assert set(report["gap_closure"]) == {"planned", NIGHTLY, INFORMED}
    gc = report["gap_closure"][NIGHTLY]
    assert gc["best_baseline"] in ("current posts", "uniform", "evenly spaced", "hotspot",
                                   "best fixed")  # fmt: skip
    for p in report["policies"]:
        low, high = p["proportion_ci95"]
        assert 0.0 <= low <= high <= 1.0
        assert p["deterred"] >= 0
    assert "Oracle gap closure" in (out / "report.md").read_text()
    # What uniform and best fixed would need to match the plan, played with more resources.
    match = report["resources_to_match"]
    assert match["resources"] == 21
    for name in ("uniform", "best fixed"):
        curve = match[name]["curve"]
        assert curve[0] == [21, next(p["proportion_mean"] for p in report["policies"]
                                     if p["name"] == name)]  # fmt: skip
        assert [n for n, _ in curve] == sorted(n for n, _ in curve)
        reached = [p for _, p in curve if p >= match["target"]]
        assert (match[name]["needs"] is None) == (not reached)
    assert "What the baselines would need to match the plan" in (out / "report.md").read_text()
    for png in ("proportions.png", "coverage-map.png", "adversary-shift.png"):
        assert (out / png).stat().st_size > 10_000
    assert "| planned |" in (out / "report.md").read_text()

    out = tmp_path / "frontier"
    res = runner.invoke(
        cli,
        [
            "plan",
            "frontier",
            "--data",
            data,
            "--nights",
            "2",
            "--replications",
            "2",
            "--max-added",
            "2",
            "--workers",
            "1",
            "-o",
            str(out),
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    front = json.loads((out / "frontier.json").read_text())
    assert set(front["curves"]) == set(KINDS)
    assert front["target"] == pytest.approx(2 * front["baseline"]["proportion_mean"])
    assert front["checked"]
    assert (out / "frontier.png").stat().st_size > 10_000


def test_the_cli_sweeps_resources_and_refuses_bad_factors(tmp_path, terrain_cache, baseline):
    env = {"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)}
    data = str(terrain_cache / "data")
    out = tmp_path / "sweep"
    args = ["plan", "sweep", "--data", data, "--nights", "2", "--replications", "2",
            "--workers", "1", "-o", str(out)]  # fmt: skip
    res = CliRunner().invoke(cli, [*args, "--factors", "1,0.5"], env=env)
    assert res.exit_code == 0, res.output
    report = json.loads((out / "sweep.json").read_text())
    points = report["points"]
    assert [p["factor"] for p in points] == [0.5, 1.0]
    assert points[1]["resources"] == _kinds(baseline)
    assert sum(points[0]["resources"].values()) < sum(points[1]["resources"].values())
    for p in points:
        names = [r["name"] for r in p["policies"]]
        assert names == [CURRENT, "uniform", "planned"]
        attempts = {r["attempts"] for r in p["policies"]}
        assert len(attempts) == 1  # the same nights and attempts for every policy
        uniform, planned = p["policies"][1], p["policies"][2]
        if uniform["proportion_mean"] > 0:
            ratio = planned["proportion_mean"] / uniform["proportion_mean"]
            assert p["planned_over_uniform"] == pytest.approx(ratio)
        assert 0 < p["model"]["uniform"] < p["model"]["planned"] <= 1
    assert (out / "sweep.png").stat().st_size > 10_000
    assert "| x0.5 |" in (out / "report.md").read_text()
    for bad in ("0", "a,b", "0.5,9"):
        res = CliRunner().invoke(cli, [*args, "--factors", bad], env=env)
        assert res.exit_code == 2
        assert "--factors" in res.output


def test_a_bad_history_file_is_refused_with_the_line(tmp_path, terrain_cache):
    env = {"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)}
    bad = tmp_path / "history.csv"
    bad.write_text("site_id,attempts\nnowhere,3\n")
    res = CliRunner().invoke(
        cli,
        [
            "plan",
            "tonight",
            "--data",
            str(terrain_cache / "data"),
            "--history",
            str(bad),
            "-o",
            str(tmp_path / "o"),
        ],
        env=env,
    )
    assert res.exit_code != 0
    assert "line 2: unknown site 'nowhere'" in res.output
    bad.write_text("site_id,attempts\n")
    assert not (tmp_path / "o" / "tonight.json").exists()


def test_the_oracle_is_told_tonights_sites_and_covers_them(opale, planner, baseline):
    """Issue 21's clairvoyant reference: placed greedily on tonight's attempt sites it covers
    them far better than any baseline, and only it is told where they are (the others' dice
    are unchanged, which the golden evaluation pins)."""
    oracle = planner.oracle(seed=1)
    deploy = oracle.deployer(0)
    assert getattr(deploy, "clairvoyant", False)
    q = planner.game.q
    site = int(np.argmax(q.max(axis=0)))  # the site some post covers best
    where = deploy(0, [site, site, site])
    covering = {tuple(np.round(planner.post_xy[p], 3)) for p in np.flatnonzero(q[:, site] > 0)}
    assert any(tuple(np.round(xy, 3)) in covering for xy in where.values())
    # In the simulator, over the same seeds: the oracle intercepts more than the best fixed
    # deployment and today's posts.
    coast = coast_from(opale)
    fixed = next(p for p in planner.policies(seed=1) if p.name == "best fixed")
    results = evaluate(baseline, coast, [None, fixed, oracle], nights=6, replications=2, seed=3)
    current, best_fixed, clairvoyant = results
    assert clairvoyant.intercepted / clairvoyant.attempts > max(
        current.intercepted / current.attempts, best_fixed.intercepted / best_fixed.attempts
    )


def test_the_oracle_foresees_organisers_who_see_tonight(opale, planner, baseline):
    """When the organisers see some of tonight's posts, the oracle is told their dice and how
    they answer (``Foresight``): what it foresees for its own deployment is exactly where the
    night's attempts go, and the same seeds' oracle told only the sites they would pick unseen
    (the naive one) intercepts less."""
    coast = coast_from(opale)
    adv = baseline.adversary.model_copy(update={"sees_tonight": 0.5})
    glimpse = baseline.model_copy(update={"adversary": adv})
    oracle = planner.oracle(seed=1)
    deploy = oracle.deployer(0)
    foreseen: list[list[int]] = []

    def record(night: int, sites: list[int], told: Foresight | None = None) -> dict:
        assert told is not None  # told how they answer, since they see tonight
        where = deploy(night, sites, told)
        xy = np.array(
            [where.get(u.id) or coast.to_xy(u.lon, u.lat) for u in glimpse.units]
            + [where.get(d.id) or coast.to_xy(d.lon, d.lat) for d in glimpse.drones]
        )
        foreseen.append(told.sites(told.presence(xy).sum(axis=0)[None, :])[0].tolist())
        return where

    record.clairvoyant = True  # type: ignore[attr-defined]
    season = Season(glimpse, coast, 5, deploy=record)  # type: ignore[arg-type]
    for _ in range(8):
        assert run_night(season).sites == foreseen[-1]
    assert sum(map(len, foreseen)) > 10

    def naive(night: int, sites: list[int], told: Foresight | None = None) -> dict:
        del told  # placed on where they would go unseen
        return deploy(night, sites)

    naive.clairvoyant = True  # type: ignore[attr-defined]
    caught = {}
    for name, fn in (("foreseeing", record), ("naive", naive)):
        season = Season(glimpse, coast, 5, deploy=fn)  # type: ignore[arg-type]
        caught[name] = sum(run_night(season).intercepted for _ in range(12))
    assert caught["foreseeing"] > caught["naive"]


def test_the_truth_scenario_plays_other_organisers_with_our_forces(tmp_path, baseline):
    from estran.cli.plan import played_scenario

    truth = tmp_path / "sharper.toml"
    truth.write_text(
        '[scenario]\nname = "sharper organisers"\n[adversary]\nrationality = 6.0\n'
        "road_weight = 2.0\n"
        "memory = 0.4\nwatch_radius_m = 3000.0\n"
    )
    played = played_scenario(baseline, truth)
    assert played.name == "sharper organisers"
    assert played.adversary.rationality == 6.0
    assert played.adversary.memory == 0.4
    assert played.units == baseline.units  # our forces are ours: the planning scenario's
    assert played.drones == baseline.drones
    assert played_scenario(baseline, None) is baseline


def test_organisers_who_see_tonight_avoid_where_our_units_stand_tonight(opale, baseline):
    """``adversary.sees_tonight``: with 0 they go by memory alone (tonight's posts cannot
    move them); with 1 they also see tonight's posts before they pick a site."""
    coast = coast_from(opale)
    site_xy = np.array([[s.x, s.y] for s in coast.sites])
    ids = [u.id for u in baseline.units] + [d.id for d in baseline.drones]
    # Every unit and drone stands at one busy site, a new one each night (so memory lags).
    appeal, _ = site_appeal(coast.sites, baseline)
    busy = np.argsort(-appeal)[:20]

    def deploy(night: int) -> dict[str, tuple[float, float]]:
        x, y = site_xy[busy[night % len(busy)]]
        return dict.fromkeys(ids, (float(x) + 300.0, float(y)))

    def near_tonight(share: float) -> int:
        adv = baseline.adversary.model_copy(update={"sees_tonight": share})
        season = Season(baseline.model_copy(update={"adversary": adv}), coast, 3, deploy=deploy)
        hits = 0
        for n in range(40):
            res = run_night(season)
            x, y = deploy(n)[ids[0]]
            near = np.hypot(site_xy[:, 0] - x, site_xy[:, 1] - y) < adv.watch_radius_m
            hits += int(np.isin(res.sites, np.flatnonzero(near)).sum())
        return hits

    blind, sighted = near_tonight(0.0), near_tonight(1.0)
    assert blind >= 8
    assert sighted <= blind / 5


def test_the_centre_learns_road_minded_organisers_from_its_own_nights(opale, planner, baseline):
    """``Planner.learn`` (what the watch floor's plan does with its past nights): from where
    the units stood and where groups were found, organisers who weigh a road four times as
    much as the scenario assumes are learnt as such; with too few groups found, assumed."""
    coast = coast_from(opale)
    adv = baseline.adversary.model_copy(update={"road_weight": 2.0})
    truth = baseline.model_copy(update={"adversary": adv})
    deploy = planner.policy("uniform", planner.uniform(), fixed=False, seed=4).deployer(0)
    kinds = {uid: t.kind for t in planner.types for uid in t.ids}
    season = Season(truth, coast, 11, deploy=deploy)
    nights = []
    for n in range(60):
        posted = deploy(n)
        season.deploy = lambda _n, posted=posted: posted  # what the centre recorded, played
        res = run_night(season)
        found = np.bincount(res.found_sites, minlength=len(coast.sites)).astype(float)
        nights.append(([(kinds[u], x, y) for u, (x, y) in posted.items()], found))
    learned = planner.learn(nights)
    assert learned.fit is not None
    assert learned.found == sum(int(f.sum()) for _, f in nights) >= 80
    road = learned.fit.weights[1]
    sd = learned.fit.sd
    assumed = learned.assumed  # rationality 3 x (cover, road 0.5, aversion)
    assert road > assumed[1] + 2 * sd[1]
    assert road == pytest.approx(3 * 2.0, abs=max(3 * sd[1], 1.0))
    body = learned.as_dict()
    assert body["learnt"]
    assert body["weights"]["road"]["learnt"] == pytest.approx(road)
    assert body["weights"]["road"]["assumed"] == pytest.approx(assumed[1])
    # The plan placed against them differs from the one against the assumed organisers.
    assert not np.array_equal(
        planner.plan_ahead(learned.seen, learned.organisers).x, planner.plan_ahead(learned.seen).x
    )
    few = planner.learn(nights[:2], min_found=10_000)
    assert few.fit is None
    assert few.organisers.memory == planner.organisers().memory
    assert np.array_equal(few.organisers.value, planner.organisers().value)
    assert few.as_dict()["learnt"] is False


def test_the_coverage_model_follows_groups_into_hiding(opale, posts):
    """Item 3 of issue 21: when the scenario's groups wait in hiding and walk to the beach,
    the model counts the chances of finding them there (``within_stages``): every post covers
    at least what it covered of the beach alone, drones over the woods more, and a post within
    the abandon radius of a hiding place scares its groups off."""
    from estran.sim.scenario import HidingSpec

    hiding = parse_scenario(
        tomllib.loads(DEFAULT_SCENARIO.with_name("hiding.toml").read_text()), "hiding"
    )
    coast = coast_from(opale)
    hid = Planner(hiding, coast, posts)
    beach = Planner(hiding.model_copy(update={"hiding": HidingSpec()}), coast, posts)
    assert hid.stages is not None
    assert beach.stages is None
    q, q0 = hid.game.q, beach.game.q
    seen = q > 0
    assert np.all(q[seen] >= q0[seen] - 1e-3)  # (16 quadrature nodes at the beach, not 64)
    drone = next(r for r, t in enumerate(hid.types) if t.kind == "drone")
    rows = hid.game.post_type == drone
    assert q[rows].sum() > 1.2 * q0[rows].sum()
    assert coast.hides is not None
    foot = next(r for r, t in enumerate(hid.types) if t.kind == "foot_patrol")
    pxy = hid.post_xy[hid.game.post_type == foot]
    d = np.hypot(pxy[:, None, 0] - coast.hides.xy[None, :, 0],
                 pxy[:, None, 1] - coast.hides.xy[None, :, 1])  # fmt: skip
    near = d <= hiding.adversary.abandon_radius_m
    assert near.any()
    assert np.all(q[hid.game.post_type == foot][near] == 0)
    assert np.any(q0[beach.game.post_type == foot][near] > 0)


@pytest.mark.slow
def test_the_evaluation_counts_groups_stopped_before_the_beach(tmp_path, terrain_cache):
    """On the coast where groups hide first, the report gives every policy's interceptions
    made before the beach (hiding or walking), and says what the column is."""
    env = {"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)}
    out = tmp_path / "hiding"
    res = CliRunner().invoke(cli, [
        "plan", "evaluate", "--data", str(terrain_cache / "data"), "--scenario",
        str(DEFAULT_SCENARIO.with_name("hiding.toml")), "--nights", "4", "--replications", "2",
        "--workers", "1", "--seed", "7", "-o", str(out),
    ], env=env)  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    for p in report["policies"]:
        assert 0 <= p["intercepted_inland"] <= p["intercepted"]
    assert sum(p["intercepted_inland"] for p in report["policies"]) > 0
    text = (out / "report.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| policy"))
    rule = text.splitlines()[text.splitlines().index(header) + 1]
    assert "stopped before the beach" in header
    assert header.count("|") == rule.count("|")  # the table's rule has the column too
    assert "Stopped before the beach: interceptions of groups found in hiding" in text
    row = next(line for line in text.splitlines() if line.startswith("| current posts"))
    assert row.count("|") == header.count("|")
    assert "of interceptions)" in row


@pytest.fixture(scope="module")
def beats(opale, posts, baseline) -> Planner:
    on = baseline.model_copy(update={"planning": baseline.planning.model_copy(
        update={"beats": True})})  # fmt: skip
    return Planner(on, coast_from(opale), posts)


def test_with_beats_the_game_offers_routes_between_posts_worked_at_the_terrains_pace(
    beats, planner, posts
):
    """Item 4 of issue 21: with ``planning.beats``, each kind may also be given a beat (a
    patrol between two posts, a drone's two orbits in turn) beside the same posts as before;
    a ground beat's legs are the terrain's travel times; the baselines of today's practice
    stay on posts."""
    assert planner.beats == {}
    assert planner.game.posts == int(beats.plain.sum())
    kinds = {beats.types[beats.game.post_type[p]].kind for p in beats.beats}
    assert kinds == set(KINDS)
    # the plain posts are today's, with today's coverage
    assert np.allclose(np.sort(beats.game.q[beats.plain], axis=0),
                       np.sort(planner.game.q, axis=0))  # fmt: skip
    foot_xy = posts.xy["foot_patrol"]
    for p, beat in beats.beats.items():
        if beats.types[beats.game.post_type[p]].kind != "foot_patrol":
            continue
        a, b = (int(np.argmin(np.hypot(*(foot_xy - s).T))) for s in beat.stops)
        site = posts.site_of["foot_patrol"]
        assert beat.legs_s[0] == posts.eta_s["foot_patrol"][a, site[b]]
        assert beat.dwell_s == beats.scenario.planning.beat_dwell_minutes * 60.0
    for x in (beats.uniform(), beats.hotspot()):
        assert not x[~beats.plain].any()
    for spread in (False, True):  # uniform and evenly spaced draw the very same posts
        mine = [
            planner.policy("u", planner.uniform(), fixed=False, spread=spread).deployer(0),
            beats.policy("u", beats.uniform(), fixed=False, spread=spread).deployer(0),
        ]
        assert [mine[0](n) for n in range(3)] == [mine[1](n) for n in range(3)]


def test_a_drone_sequence_shares_its_coverage_between_its_orbits(beats):
    """Half the night over each of two orbits 8 km apart: at each end it catches less than a
    drone there all night, more than half as much (detection saturates: time shared pays)."""
    g = beats.game
    drone = next(r for r, t in enumerate(beats.types) if t.kind == "drone")
    site_xy = beats.posts.site_xy
    checked = 0
    for p, beat in beats.beats.items():
        if g.post_type[p] != drone or math.dist(*beat.stops) < 7000.0:
            continue
        for stop in beat.stops:
            i = int(np.argmin(np.hypot(*(site_xy - stop).T)))
            alone = g.q[(g.post_type == drone) & beats.plain][:, i].max()
            assert 0.5 * alone < g.q[p, i] < alone
            checked += 1
    assert checked > 50


def test_a_ground_beat_scares_off_the_groups_whose_beach_it_passes(beats):
    from estran.services.planning import _to_segment

    adv = beats.scenario.adversary
    passed = 0
    for p, beat in beats.beats.items():
        if beats.types[beats.game.post_type[p]].kind == "drone":
            continue
        a, b = np.array([beat.stops[0]]), np.array([beat.stops[1]])
        near = _to_segment(beats.posts.site_xy, a, b)[0] <= adv.abandon_radius_m
        assert not beats.game.q[p, near].any()
        passed += int(near.sum())
        assert beats.game.q[p].max() > 0.0  # it still catches beyond its path
    assert passed > 0


def test_a_unit_sent_on_a_beat_is_told_its_route_and_explained(opale, beats, baseline):
    x = np.zeros(beats.game.posts)
    foot = next(r for r, t in enumerate(beats.types) if t.kind == "foot_patrol")
    pick = next(p for p in beats.beats if beats.game.post_type[p] == foot)
    x[pick] = 1.0
    policy = beats.policy("one beat", x, fixed=True)
    where = policy.positions(np.array([pick]))
    (uid,) = where
    assert where[uid] is beats.beats[pick]
    season = Season(baseline, coast_from(opale), 5, deploy=lambda n: where)
    unit = next(u for u in begin_night(season).units if u.id == uid)
    assert unit.beat is beats.beats[pick]
    assert (unit.x, unit.y) == beats.beats[pick].stops[0]
    plan = tonight(beats, Strategy(x, np.zeros(beats.game.sites), 0.0, 0.0, None, "fixed"),
                   np.random.default_rng(1), opale.projector.to_lonlat)  # fmt: skip
    (mine,) = [q for q in plan["posts"] if q["post"] is not None]
    assert len(mine["beat"]) == 2
    assert "beat" in str(mine["why"])
    assert "km" in str(mine["why"])
    assert [mine["lon"], mine["lat"]] == mine["beat"][0]


def test_the_plan_over_nights_sends_units_on_beats_and_the_evaluation_says_so(
    beats, opale, tmp_path, terrain_cache
):
    from estran.domain.beats import Beat

    where = beats.nightly(seed=1).deployer(0)(0)
    on_beats = [uid for uid, at in where.items() if isinstance(at, Beat)]
    assert on_beats, "the plan over nights sent no one on a beat"
    season = Season(beats.scenario, coast_from(opale), 5, deploy=lambda n: where)
    units = {u.id: u for u in begin_night(season).units}
    assert all(units[uid].beat is where[uid] for uid in on_beats if uid in units)

    out = tmp_path / "eval"
    res = CliRunner().invoke(
        cli,
        ["plan", "evaluate", "--data", str(terrain_cache / "data"), "--beats", "--nights", "2",
         "--replications", "2", "--workers", "1", "-o", str(out)],
        env={"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    assert report["beats"] == len(beats.beats) > 0
    assert "Beats: the plans" in (out / "report.md").read_text()


def test_the_evaluation_counts_the_groups_that_try_again_and_the_boats_seized(
    tmp_path, terrain_cache
):
    persistent = DEFAULT_SCENARIO.parent / "organisers" / "persistent.toml"
    text = persistent.read_text()
    text = text.replace("retry_probability = 0.7", "boat_ahead_minutes = 120\nboat_noticed = 1.0"
                        "\nretry_probability = 1.0")  # fmt: skip
    text = text.replace("retry_nights_mean = 3", "retry_nights_mean = 1")
    text = text.replace("calm_probability = 0.45", "calm_probability = 1.0")
    truth = tmp_path / "every-group-tries-again.toml"
    truth.write_text(text)
    out = tmp_path / "eval"
    res = CliRunner().invoke(
        cli,
        ["plan", "evaluate", "--data", str(terrain_cache / "data"), "--nights", "3",
         "--replications", "2", "--workers", "1", "--truth-scenario", str(truth),
         "-o", str(out)],
        env={"ESTRAN_TERRAIN_CACHE_DIR": str(terrain_cache)},
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    report = json.loads((out / "report.json").read_text())
    rows = {p["name"]: p for p in report["policies"]}
    assert all(0 <= p["retries"] < p["attempts"] for p in rows.values())
    assert sum(p["retries"] for p in rows.values()) > 0
    fresh = {p["attempts"] - p["retries"] for p in rows.values()}
    assert len(fresh) == 1  # each night's own attempts, the same for every policy
    assert "| tried again |" in (out / "report.md").read_text()
    assert all(0 <= p["boats_seized"] <= p["intercepted"] for p in rows.values())
    assert sum(p["boats_seized"] for p in rows.values()) > 0
    assert "| boats seized |" in (out / "report.md").read_text()
