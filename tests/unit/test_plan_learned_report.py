"""The evaluation report's account of what the plan learnt of the organisers."""

from __future__ import annotations

import tomllib

from estran.cli.plan import _learned_lines
from estran.sim.scenario import DEFAULT_SCENARIO, parse_scenario


def test_the_report_sets_what_was_learnt_against_what_was_assumed_and_played():
    assumed = parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()), "baseline")
    played = assumed.model_copy(update={"adversary": assumed.adversary.model_copy(
        update={"rationality": 6.0, "memory": 0.3, "watch_radius_m": 4000.0,
                "sees_tonight": 0.5})})  # fmt: skip
    learned = [
        {"weights": [5.0, 3.0, 11.0], "sd": [0.5, 0.4, 1.0], "memory": 0.3,
         "watch_radius_m": 4000.0, "tonight": 0.5, "found": 180},
        {"weights": [7.0, 1.0, 13.0], "sd": [0.7, 0.6, 2.0], "memory": 0.3,
         "watch_radius_m": 2000.0, "tonight": 0.5, "found": 220},
    ]  # fmt: skip
    lines = _learned_lines(learned, assumed, played)
    text = "\n".join(lines)
    assert "median 200 a season" in text
    cover = next(line for line in lines if line.startswith("| taste for cover"))
    # learnt mean 6, spread 1, posterior sd 0.6, assumed 3 x 1.0, played 6 x 1.0
    assert cover == "| taste for cover | 6.00 | 1.00 | 0.60 | 3.00 | 6.00 |"
    aversion = next(line for line in lines if line.startswith("| aversion"))
    assert aversion.endswith("| 6.00 | 12.00 |")
    assert "| memory (weight of older nights) | 0.3 (in 2 of 2 seasons) | | | 0.7 | 0.3 |" in lines
    assert any(line.startswith("| watch radius (m) | ") and "| 2000 | 4000 |" in line
               for line in lines)  # fmt: skip
    assert (
        "| share of tonight's deployment they see | 0.5 (in 2 of 2 seasons) | | | 0.0 | 0.5 |"
        in lines
    )
    assert _learned_lines([], assumed, played) == []


def test_the_learnt_weights_are_drawn_season_by_season(tmp_path):
    from estran.cli.plan import _weights
    from estran.cli.plan_plots import learned_weights

    assumed = parse_scenario(tomllib.loads(DEFAULT_SCENARIO.read_text()), "baseline")
    learned = [{"weights": [3.0 + 0.1 * k, 5.5, 6.0], "sd": [0.5, 0.4, 0.6]} for k in range(8)]
    path = tmp_path / "learned-weights.png"
    learned_weights(learned, _weights(assumed), [3.0, 6.0, 6.0], path, "roads")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000
    assert _weights(assumed) == [3.0, 1.5, 6.0]  # rationality 3 x (cover 1, road 0.5, seen 2)
