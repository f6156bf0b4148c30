"""Golden outputs (issue 18, item 6): a seeded simulated season, a seeded plan for tonight and a
seeded evaluation on the real coast are compared with ``tests/golden/*.json``, so a refactor
that changes behaviour is caught by a test, not by hand. After a change that is meant to alter
them, regenerate with ``ESTRAN_UPDATE_GOLDEN=1 uv run pytest tests/integration/test_golden.py``
and say why in the commit."""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from estran.bootstrap import post_cache
from estran.config import Settings
from estran.services.plan_eval import evaluate
from estran.services.planning import Planner, tonight
from estran.services.posts import posts_for
from estran.services.simulate import simulate
from estran.sim.night import coast_from
from estran.sim.scenario import DEFAULT_SCENARIO, parse_scenario

GOLDEN = Path(__file__).resolve().parent.parent / "golden"


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item())
    return value


def _same(got: Any, want: Any, tol: float = 0.01) -> bool:
    """Equal, floats to 0.01: the golden pins behaviour (which posts, which units, which
    sites, counts), not the last digits of a coverage. The plan's game has many optimal
    mixed strategies; on another CPU (another vector width, another order of a sum) the
    solver may settle on another of them, with the same posts and coverages differing by up
    to half a point (seen: 0.8011 here, 0.7956 there)."""
    if isinstance(got, float) or isinstance(want, float):
        return (
            isinstance(got, int | float)
            and isinstance(want, int | float)
            and math.isclose(got, want, abs_tol=tol)
        )
    if isinstance(got, dict) and isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k], tol) for k in got)
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(
            _same(a, b, tol) for a, b in zip(got, want, strict=True)
        )
    return bool(got == want)


def check(name: str, got: Any, tol: float = 0.01) -> None:
    path = GOLDEN / f"{name}.json"
    text = json.dumps(_rounded(got), indent=1, sort_keys=True) + "\n"
    if os.environ.get("ESTRAN_UPDATE_GOLDEN") == "1" or not path.exists():
        if os.environ.get("CI") and not path.exists():
            pytest.fail(f"{path} is missing: regenerate it with ESTRAN_UPDATE_GOLDEN=1")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return
    assert _same(json.loads(text), json.loads(path.read_text()), tol), (
        f"{name} differs from {path}: if the change is meant, regenerate with "
        "ESTRAN_UPDATE_GOLDEN=1 and say why"
    )


@pytest.fixture(scope="module")
def baseline():
    return parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()), "baseline")


@pytest.fixture(scope="module")
def planner(opale, terrain_cache, baseline):
    settings = Settings(data_dir=terrain_cache / "data", terrain_cache_dir=terrain_cache)
    return Planner(baseline, coast_from(opale), posts_for(opale, post_cache(settings)))


def test_a_seeded_season_is_the_golden_one(opale, baseline):
    nights = simulate(baseline, coast_from(opale), 4, seed=11)
    check("season-seed11", [vars(n) for n in nights])


def test_a_seeded_plan_for_tonight_is_the_golden_one(opale, planner):
    plan = tonight(planner, planner.plan("qr"), np.random.default_rng(1), opale.projector.to_lonlat)
    check(
        "plan-qr-seed1",
        {
            "posts": [
                # Not the post's index: two neighbouring candidate posts (600 m apart) can tie
                # to the last digit, and another CPU picks the other (seen: 366 and 367 for
                # UAS-SANGATTE); the position, to 0.01 degree, still pins where each unit goes.
                {k: p.get(k) for k in ("unit_id", "kind", "lat", "lon", "covers")}
                for p in plan["posts"]
            ],
            "sites": [{"coverage": s["coverage"]} for s in plan["sites"]],
        },
        tol=0.02,  # that tie moves a drone 600 m: a site's coverage by up to a point
    )


def test_a_seeded_evaluation_is_the_golden_one(opale, planner, baseline):
    policies = [None, next(p for p in planner.policies(seed=2) if p.name == "planned")]
    results = evaluate(baseline, coast_from(opale), policies, nights=3, replications=2, seed=4)
    check(
        "evaluation-seed4",
        [
            {"name": r.name, "attempts": r.attempts, "intercepted": r.intercepted,
             "mean": r.mean, "shares": r.shares}
            for r in results
        ],
    )  # fmt: skip
