"""Running simulated seasons and summarising them as the agreement's figures.

``simulate`` plays nights on one season; ``summarise`` turns nights into the figures (the
proportion of attempts intercepted with its 95 % confidence interval, launches, rescue cases,
response times). Replications of a season differ only by seed; the CLI runs them in parallel.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from estran.sim.night import Coast, NightResult, Season, run_night

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.sim.night import Observer
    from estran.sim.scenario import Scenario

__all__ = ["simulate", "summarise", "wilson"]


def simulate(
    scenario: Scenario,
    coast: Coast,
    nights: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    observer: Observer | None = None,
) -> list[NightResult]:
    season = Season(scenario, coast, seed)
    out = []
    for n in range(nights):
        out.append(run_night(season, observer))
        if progress is not None:
            progress(n + 1, nights)
    return out


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(nights: list[NightResult]) -> dict[str, Any]:
    attempts = sum(n.attempts for n in nights)
    intercepted = sum(n.interceptions for n in nights)
    response = np.asarray([r for n in nights for r in n.response_s])
    low, high = wilson(intercepted, attempts)
    return {
        "nights": len(nights),
        "calm_nights": sum(n.calm for n in nights),
        "attempts": attempts,
        "detected": sum(n.detected for n in nights),
        "intercepted_before_launch": sum(n.intercepted for n in nights),
        "launch_prevented": sum(n.launch_prevented for n in nights),
        "intercepted_inland": sum(n.intercepted_inland for n in nights),
        "retries": sum(n.retries for n in nights),
        "boats_seized": sum(n.boats_seized for n in nights),
        "intercepted": intercepted,
        "proportion_intercepted": intercepted / attempts if attempts else 0.0,
        "proportion_ci95": [low, high],
        "deterred": sum(n.deterred for n in nights),
        "launched": sum(n.launched for n in nights),
        "rescue_cases": sum(n.rescue_cases for n in nights),
        "people_intercepted": sum(n.people_intercepted for n in nights),
        "false_alarms": sum(n.false_alarms for n in nights),
        "unanswered": sum(n.unanswered for n in nights),
        "response_median_min": float(np.median(response) / 60) if len(response) else None,
        "response_p90_min": float(np.percentile(response, 90) / 60) if len(response) else None,
    }
