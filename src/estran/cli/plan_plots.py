"""Plots for ``estran plan``: the coverage map, the proportions with their intervals, the
adversary's shift of sites, and the frontier (matplotlib, written as PNG)."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pathlib import Path

    from estran.domain.prepared import PreparedTerrain
    from estran.services.plan_eval import FrontierResult, PolicyResult, SweepPoint
    from estran.services.planning import Planner

__all__ = [
    "adversary_shift",
    "coverage_map",
    "frontier_plot",
    "learned_weights",
    "proportions",
    "sweep_plot",
]

MARKERS = {"foot_patrol": "o", "dune_buggy": "s", "four_by_four": "D", "drone": "^"}
COLOURS = {"foot_patrol": "tab:blue", "dune_buggy": "tab:orange", "four_by_four": "tab:brown",
           "drone": "tab:purple"}  # fmt: skip


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _coastline(ax: Any, terrain: PreparedTerrain) -> None:
    geom = terrain.coastline
    parts = getattr(geom, "geoms", [geom])
    for part in parts:
        line = getattr(part, "exterior", part)
        if hasattr(line, "xy"):
            x, y = line.xy
            ax.plot(np.asarray(x) / 1000, np.asarray(y) / 1000, color="0.6", lw=0.8, zorder=1)


def coverage_map(
    planner: Planner, x: np.ndarray, terrain: PreparedTerrain, path: Path, title: str
) -> None:
    """Sites coloured by the plan's coverage; posts sized by how often they are manned."""
    plt = _pyplot()
    from estran.domain.planning import drawn_coverage

    g = planner.game
    cov = drawn_coverage(g, x, np.random.default_rng(0), draws=1000)
    attack = planner.attack_probabilities(x)
    sxy = planner.posts.site_xy / 1000
    fig, ax = plt.subplots(figsize=(11, 6.5), layout="constrained")
    _coastline(ax, terrain)
    low = max(0.0, float(cov.min()) - 0.05)
    sc = ax.scatter(sxy[:, 0], sxy[:, 1], c=cov, cmap="viridis", vmin=low, vmax=1,
                    s=20 + 600 * attack, edgecolors="k", linewidths=0.3, zorder=3)  # fmt: skip
    for r, res in enumerate(planner.types):
        idx = np.flatnonzero((g.post_type == r) & (x > 0.01))
        if len(idx) == 0:
            continue
        pxy = planner.post_xy[idx] / 1000
        off = {"foot_patrol": -1.5, "dune_buggy": -3.0, "four_by_four": -4.5, "drone": 1.5}
        label = f"{res.label} ({len(res.ids)}): size = share of nights manned"
        ax.scatter(pxy[:, 0], pxy[:, 1] + off[res.kind], s=8 + 120 * x[idx],
                   marker=MARKERS[res.kind], color=COLOURS[res.kind], alpha=0.8, zorder=4,
                   label=label)  # fmt: skip
        for p in idx:  # a beat (or a drone's two orbits): a line between its stops
            beat = planner.beats.get(int(p))
            if beat is not None:
                bx, by = np.asarray(beat.stops).T / 1000
                ax.plot(bx, by + off[res.kind], color=COLOURS[res.kind], lw=0.5 + 2 * x[p],
                        alpha=0.7, zorder=4)  # fmt: skip
    fig.colorbar(sc, ax=ax, label="chance an attempt there is intercepted (over nights drawn)")
    ax.set_title(
        f"{title}: coverage per launch site (dot size: share of attempts expected);\n"
        "posts by type, drawn offset below (ground) and above (drones) the coast"
        + ("; a line: a beat between two posts, or a drone's two orbits" if planner.beats else "")
    )
    ax.set_xlabel("km east")
    ax.set_ylabel("km north")
    ax.set_aspect("equal")
    ax.legend(loc="lower right", fontsize=7)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def proportions(results: list[PolicyResult], path: Path, title: str) -> None:
    """Each policy's proportion intercepted with its 95 % interval."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 4.8), layout="constrained")
    names = [r.name for r in results]
    means = np.array([r.mean for r in results])
    low = means - np.clip([r.ci95[0] for r in results], 0.0, 1.0)
    high = np.clip([r.ci95[1] for r in results], 0.0, 1.0) - means
    colours = ["tab:green" if n.startswith("planned") and "SSE" not in n else "0.55" for n in names]
    # Long names (the references say what they know) wrapped, so that no two labels overlap.
    labels = [textwrap.fill(n, 13) for n in names]
    ax.bar(range(len(names)), means, color=colours, yerr=[low, high], capsize=6)
    ax.set_xticks(range(len(names)), labels, fontsize=7.5)
    for i, m in enumerate(means):
        ax.text(i, min(m + high[i] + 0.01, 0.95), f"{m:.0%}", ha="center", fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_ylabel("proportion of attempts intercepted")
    ax.set_title(
        textwrap.fill(
            f"{title}: same resources, adaptive adversary (95 % intervals over seasons)", 100
        )
    )  # a long scenario name wraps, not cut
    fig.savefig(path, dpi=110)
    plt.close(fig)


def learned_weights(
    learned: list[dict[str, Any]],
    assumed: list[float],
    played: list[float],
    path: Path,
    title: str,
) -> None:
    """What the plan learnt of the organisers' weights, season by season: each season's fit
    with its posterior sd, beside what the planning scenario assumed and what the simulator
    played (one panel per weight)."""
    plt = _pyplot()
    names = ("taste for cover", "taste for a road", "aversion to what they saw of us")
    w = np.array([x["weights"] for x in learned])
    sd = np.array([x["sd"] for x in learned])
    fig, axes = plt.subplots(1, len(names), figsize=(11, 3.4), layout="constrained")
    seasons = np.arange(1, len(learned) + 1)
    for k, (ax, name) in enumerate(zip(axes, names, strict=True)):
        ax.errorbar(seasons, w[:, k], yerr=sd[:, k], fmt="o", ms=3, color="tab:green",
                    ecolor="0.6", capsize=2, label="learnt (± posterior sd)")  # fmt: skip
        ax.axhline(played[k], color="tab:red", lw=1.6, label="played (never read)")
        ax.axhline(assumed[k], color="tab:blue", ls="--", lw=1.2, label="assumed")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("season")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("weight (log-odds of their choice)")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: the organisers learnt from the groups found", fontsize=11)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def adversary_shift(results: list[PolicyResult], planner: Planner, path: Path) -> None:
    """Where the attempts went under each policy, along the coast (west to east), one panel
    per policy over the choice of an adversary facing no coverage (grey)."""
    plt = _pyplot()
    shown = [r for r in results if sum(r.site_attempts)]
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 1.4 * len(shown) + 1.2), sharex=True,
                             sharey=True, squeeze=False, layout="constrained")  # fmt: skip
    prior = planner.last_year()
    prior = prior / prior.sum()
    kernel = np.ones(3) / 3
    for ax, r in zip(axes[:, 0], shown, strict=True):
        counts = np.asarray(r.site_attempts, dtype=float)
        ax.fill_between(range(len(prior)), prior, color="0.85", lw=0)
        colour = "tab:green" if r.name.startswith("planned") else "tab:red"
        ax.plot(np.convolve(counts / counts.sum(), kernel, mode="same"), color=colour, lw=1.6)
        ax.text(0.01, 0.8, r.name, transform=ax.transAxes, fontsize=9, weight="bold")
        ax.set_ylim(0, None)
    axes[-1, 0].set_xlabel("launch site along the coast, Boulogne (left) to Dunkirk (right)")
    axes[len(shown) // 2, 0].set_ylabel("share of attempts")
    fig.suptitle("Where the adaptive adversary went under each policy (grey: facing no coverage)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def frontier_plot(result: FrontierResult, path: Path, title: str) -> None:
    """Proportion against euros a night added, per kind and for the mixed path."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    for kind, pts in result.curves.items():
        cost = [c for _, c, _ in pts]
        value = [v for _, _, v in pts]
        ax.plot(cost, value, marker=MARKERS[kind], color=COLOURS[kind], label=f"+{kind} only")
    cost = [c for _, c, _ in result.path]
    value = [v for _, _, v in result.path]
    ax.plot(cost, value, color="k", lw=2, label="cheapest mix (greedy by gain per euro)")
    target = f"target {result.target:.0%} (baseline {result.baseline.mean:.0%})"
    ax.axhline(result.target, color="tab:red", ls="--", label=target)
    ax.axhline(result.baseline.mean, color="0.5", ls=":", label="baseline")
    for mix, res in result.checked:
        c = sum(v * getattr_cost(result, k) for k, v in mix.items())
        lo, hi = res.ci95
        ok = lo >= result.target
        ax.errorbar([c], [res.mean], yerr=[[res.mean - lo], [hi - res.mean]], fmt="o",
                    color="tab:green" if ok else "tab:red", capsize=5,
                    label="checked in the simulator: passes" if ok else
                    "checked in the simulator: short")  # fmt: skip
    if result.mix is not None and result.mix_cost is not None:
        label = ", ".join(f"+{v} {k.replace('_', ' ')}" for k, v in result.mix.items() if v)
        ax.annotate(f"cheapest found: {label or 'nothing'}\n{result.mix_cost:,.0f} EUR a night",
                    xy=(result.mix_cost, result.target), xytext=(15, -45),
                    textcoords="offset points", arrowprops={"arrowstyle": "->"})  # fmt: skip
    ax.set_xlabel("euros a night added")
    ax.set_ylabel("proportion intercepted (model scaled to the simulator)")
    ax.set_ylim(0, 1)
    ax.set_title(f"{title}: what it takes")
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, Any] = {}
    for h, lab in zip(handles, labels, strict=True):
        seen.setdefault(lab, h)
    ax.legend(seen.values(), seen.keys(), fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def getattr_cost(result: FrontierResult, kind: str) -> float:
    """What one more of ``kind`` costs a night, from the frontier's own curves."""
    pts = result.curves.get(kind, [])
    for added, cost, _ in pts:
        if added:
            return cost / added
    return 0.0


def sweep_plot(points: list[SweepPoint], path: Path, title: str, target: float = 1.5) -> None:
    """Left: each policy's proportion against the resources on duty, with 95 % bands; right:
    the plan over uniform and over today's posts, with intervals, and the ``target`` ratio."""
    from estran.services.plan_eval import ratio

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), layout="constrained")
    total = [sum(p.resources.values()) for p in points]
    series = (("current", "today's posts", "tab:red"), ("uniform", "uniform", "0.45"),
              ("planned", "planned", "tab:green"))  # fmt: skip
    for attr, label, colour in series:
        res = [getattr(p, attr) for p in points]
        mean = [r.mean for r in res]
        left.plot(total, mean, marker="o", color=colour, label=label)
        left.fill_between(total, [r.ci95[0] for r in res], [r.ci95[1] for r in res],
                          color=colour, alpha=0.15, lw=0)  # fmt: skip
    left.set_xlabel("resources on duty (units and drones)")
    left.set_ylabel("proportion of attempts intercepted")
    left.set_ylim(0, 1)
    left.legend(fontsize=8, loc="upper left")
    left.set_title("same resources for every policy (95 % bands over seasons)")
    for base, label, colour in (("uniform", "planned / uniform", "0.45"),
                                ("current", "planned / today's posts", "tab:red")):  # fmt: skip
        r = np.array([ratio(p.planned, getattr(p, base)) for p in points])
        shown = np.isfinite(r[:, 0])  # nothing intercepted by the baseline: no ratio to draw
        mid, bounds = r[shown, 0], r[shown, 1:]
        bounds = np.where(np.isfinite(bounds), bounds, mid[:, None])  # unbounded: no bar
        err = np.clip(np.abs(bounds - mid[:, None]).T, 0.0, None)
        right.errorbar(np.asarray(total)[shown], mid, yerr=err, marker="o", capsize=4,
                       color=colour, label=label)  # fmt: skip
    right.axhline(1.0, color="0.7", lw=0.8)
    right.axhline(target, color="tab:blue", ls="--", label=f"x{target:g}")
    right.set_xlabel("resources on duty (units and drones)")
    right.set_ylabel("ratio of proportions intercepted")
    right.set_ylim(0.5, None)
    right.legend(fontsize=8)
    right.set_title("the plan's advantage (95 % intervals, paired seasons)")
    fig.suptitle(f"{title}: the plan's advantage as resources change")
    fig.savefig(path, dpi=110)
    plt.close(fig)
