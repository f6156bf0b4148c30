"""Planning on the real coast: posts, the coverage model, the game, plans and baselines.

``build_posts`` does the expensive part once (real travel times from every candidate post to
every launch site, by the terrain engine); ``Planner`` turns posts, a scenario and the
resources into a security game (``domain/planning.py``) and answers with plans:

- ``plan("qr")``: the best commitment against the scenario's own adversary model, who picks
  sites by quantal response to the coverage they see (the default: organisers are not perfect
  optimisers); ``plan("sse")``: the strong Stackelberg equilibrium (a perfect optimiser);
- the baselines with the same resources: ``uniform`` (every post of a type equally likely),
  ``hotspot`` (static posts at last year's busiest sites), ``best_fixed`` (the best single
  deployment, repeated every night, against the same adaptive adversary).

A ``Policy`` is what the simulator needs: for each night, where each unit and drone stands.
Randomised policies draw tonight's posts from their marginals (``sample``, spread along the
coast) and send each unit to the nearest drawn post of its type (an assignment problem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from estran.domain.beats import Beat, route_watchers
from estran.domain.coverage import (
    Stages,
    Window,
    drone_hazard,
    patrol_hazard,
    shift_share,
    within_stages,
    within_time,
)
from estran.domain.green import (
    Fit,
    Learner,
    MemoryTracker,
    Organisers,
    place_against,
    place_foreseen,
    place_greedy,
    watchers,
)
from estran.domain.messages import joined, msg
from estran.domain.planning import (
    Game,
    PostSet,
    Strategy,
    drawn_coverage,
    presence,
    remember,
    sample,
    solve_sse,
    solve_suqr,
    suqr_probabilities,
)
from estran.sim.night import site_appeal, site_features
from estran.sim.scenario import DroneSpec, UnitSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from estran.sim.night import Coast, Deployment, Foresight, NightResult
    from estran.sim.scenario import Scenario

__all__ = [
    "GROUND_PROFILE",
    "INFORMED",
    "KINDS",
    "MIN_FOUND",
    "NIGHTLY",
    "ORACLE",
    "Learned",
    "MemoryPolicy",
    "OraclePolicy",
    "Planner",
    "Policy",
    "Resources",
    "resources_of",
    "scaled",
    "weather_factor",
    "with_extra",
]

F64 = npt.NDArray[np.float64]
KINDS = ("foot_patrol", "dune_buggy", "four_by_four", "drone")
NIGHTLY = "planned nightly, learning the organisers"
ORACLE = "oracle (knows tonight's sites)"
"""The clairvoyant reference of the evaluation: not a plan anyone can run."""
INFORMED = "informed (knows the organisers, not tonight's sites)"
"""The evaluation's second reference: the plan over nights told the organisers the simulator
plays (their tastes, memory, watch radius), never where tonight's attempts will be. What a
planner that learnt them perfectly could reach: the ceiling of the gap closure for anyone who
is not clairvoyant."""
MIN_FOUND = 20  # groups found before the organisers are learnt rather than assumed
WEIGHT_NAMES = ("cover", "road", "aversion")  # the organisers' weights, as ``Fit`` orders them
GROUND_PROFILE = {"foot_patrol": "foot", "dune_buggy": "buggy", "four_by_four": "four_by_four"}
BEAT_SPANS = {"ground": (4, 8), "drone": (6, 12)}  # a beat's stops, in posts apart (~660 m)
BEAT_SAMPLES = 24  # points a cycle of a beat is averaged over


@dataclass(frozen=True)
class Resources:
    """One resource type of the game: a kind on one shift, and its members."""

    kind: str
    start_h: float
    end_h: float
    ids: tuple[str, ...]
    homes: tuple[tuple[float, float], ...]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.start_h:04.1f}-{self.end_h:04.1f}h"


def resources_of(scenario: Scenario, coast: Coast) -> list[Resources]:
    """The scenario's units and drones grouped by kind and shift, in a fixed order."""
    groups: dict[tuple[str, float, float], list[tuple[str, tuple[float, float]]]] = {}
    for u in scenario.units:
        groups.setdefault((u.kind, u.start_h, u.end_h), []).append(
            (u.id, coast.to_xy(u.lon, u.lat))
        )
    for d in scenario.drones:
        groups.setdefault(("drone", d.start_h, d.end_h), []).append(
            (d.id, coast.to_xy(d.lon, d.lat))
        )
    return [
        Resources(k, s, e, tuple(m[0] for m in members), tuple(m[1] for m in members))
        for (k, s, e), members in sorted(
            groups.items(), key=lambda kv: (KINDS.index(kv[0][0]), kv[0][1], kv[0][2])
        )
    ]


def with_extra(scenario: Scenario, extra: Mapping[str, int]) -> Scenario:
    """The scenario with ``extra`` resources of each kind on the whole night, based at the
    stations of that kind spread along the coast (each station in turn once there are more
    than stations; the first unit's, or Calais, where the kind has none): standing there
    every night, they are more of today's practice; under a plan, their posts are the
    plan's."""
    units = list(scenario.units)
    drones = list(scenario.drones)
    for kind, more in extra.items():
        if kind not in KINDS:
            raise ValueError(f"unknown resource kind {kind!r}; one of {', '.join(KINDS)}")
        if more < 0:
            raise ValueError(f"cannot add {more} resources of {kind}")
        mine = list(scenario.drones) if kind == "drone" else [
            u for u in scenario.units if u.kind == kind]  # fmt: skip
        fallback = (units[0].lat, units[0].lon) if units else (50.95, 1.85)
        stations = [(m.lat, m.lon) for m in mine] or [fallback]
        homes = [stations[(i * len(stations)) // more] for i in range(more)] if more else []
        night = {"start_h": scenario.night_start_h, "end_h": scenario.night_end_h}
        if kind == "drone":
            drones += [DroneSpec(id=f"ADD-{kind}-{i + 1}", lat=lat, lon=lon, **night)
                       for i, (lat, lon) in enumerate(homes)]  # fmt: skip
        else:
            units += [UnitSpec(id=f"ADD-{kind}-{i + 1}", kind=kind, lat=lat, lon=lon, **night)
                      for i, (lat, lon) in enumerate(homes)]  # fmt: skip
    return scenario.model_copy(update={"units": units, "drones": drones})


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """The scenario with ``factor`` times its resources of each kind (rounded): below 1, the
    units and drones kept are spread evenly through the scenario's list (it runs along the
    coast), the first and last always among them when two or more are kept; above 1, the
    extra ones join as in ``with_extra``. A short-staffed night, or a better-staffed one."""
    if not (0.0 <= factor <= 10.0) or not math.isfinite(factor):
        raise ValueError(f"a resource factor must lie between 0 and 10, not {factor}")
    if factor >= 1.0:
        extra = {k: round((factor - 1.0) * n) for k, n in _counts(scenario).items()}
        return with_extra(scenario, {k: v for k, v in extra.items() if v})

    def keep(members: list[Any]) -> list[Any]:
        n = round(factor * len(members))
        if n == 0:
            return []
        if n == 1:
            return [members[(len(members) - 1) // 2]]
        return [members[int(i)] for i in np.linspace(0, len(members) - 1, n).round()]

    units: list[UnitSpec] = []
    for kind in KINDS[:-1]:
        units += keep([u for u in scenario.units if u.kind == kind])
    units.sort(key=scenario.units.index)
    return scenario.model_copy(update={"units": units, "drones": keep(list(scenario.drones))})


def _counts(scenario: Scenario) -> dict[str, int]:
    counts = {k: sum(u.kind == k for u in scenario.units) for k in KINDS[:-1]}
    return counts | {"drone": len(scenario.drones)}


def weather_factor(scenario: Scenario) -> float:
    """Detection's weather factor averaged over attempts (most attempts are on calm nights)."""
    w = scenario.weather
    calm = w.calm_probability
    rough = (1.0 - calm) * w.rough_attempt_factor
    if calm + rough == 0.0:
        return 1.0
    return (calm + rough * w.rough_detection_factor) / (calm + rough)


@dataclass(frozen=True)
class Policy:
    """Where every unit and drone stands each night: one deployment (``fixed``) or a fresh
    draw from the marginals ``x`` every night."""

    name: str
    game: Game
    x: F64
    fixed: bool
    post_xy: F64
    types: tuple[Resources, ...]
    seed: int = 0
    spread: bool = True
    beats: Mapping[int, Beat] = field(default_factory=dict)  # game posts that are beats
    stop_xy: F64 | None = None  # every post's stops (a plain post is its own one stop)
    stop_post: npt.NDArray[np.intp] | None = None  # the game post of each stop

    def sees(self, site_xy: F64, radius_m: float) -> F64:
        """(posts, sites): how many of each post's stops organisers at a site would see."""
        if self.stop_xy is None or self.stop_post is None:
            return watchers(site_xy, self.post_xy, radius_m).astype(np.float64)
        return route_watchers(site_xy, self.stop_xy, self.stop_post, self.game.posts, radius_m)

    def draw(self, rng: np.random.Generator) -> npt.NDArray[np.intp]:
        """The posts manned tonight."""
        if self.fixed:
            return np.flatnonzero(self.x > 0.5)
        beats = np.fromiter(self.beats, dtype=np.intp, count=len(self.beats))
        if len(beats) and not self.x[beats].any():  # posts only: drawn as without beats
            posts = np.setdiff1d(np.arange(self.game.posts), beats)
            game = Game(self.game.q[posts], self.game.post_type[posts], self.game.counts,
                        self.game.att_covered, self.game.att_uncovered,
                        self.game.def_covered, self.game.def_uncovered)  # fmt: skip
            return posts[sample(game, self.x[posts], rng, spread=self.spread)]
        return sample(self.game, self.x, rng, spread=self.spread)

    def positions(self, posts: npt.NDArray[np.intp]) -> Deployment:
        """Each resource's post (metres) or beat (``Beat``) tonight (``assignment``)."""
        out: Deployment = {}
        for uid, p in self.assignment(posts).items():
            px, py = self.post_xy[p]
            out[uid] = self.beats.get(p) or (float(px), float(py))
        return out

    def assignment(self, posts: npt.NDArray[np.intp]) -> dict[str, int]:
        """Each resource sent to a manned post of its type, nearest first (assignment);
        a resource left without a post stays at its home."""
        out: dict[str, int] = {}
        for r, res in enumerate(self.types):
            mine = posts[self.game.post_type[posts] == r]
            if len(mine) == 0 or not res.ids:
                continue
            homes = np.asarray(res.homes, dtype=np.float64)
            cost = np.hypot(
                homes[:, None, 0] - self.post_xy[mine][None, :, 0],
                homes[:, None, 1] - self.post_xy[mine][None, :, 1],
            )
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols, strict=True):
                out[res.ids[i]] = int(mine[j])
        return out

    def deployer(self, stream: int) -> Callable[[int], Deployment]:
        """A ``Season``'s ``deploy``: night ``n`` of replication ``stream``, reproducibly."""
        rng = np.random.default_rng([self.seed, stream, 0x504C414E])

        def deploy(night: int) -> Deployment:
            del night  # one draw per night, in order
            return self.positions(self.draw(rng))

        return deploy


@dataclass(frozen=True)
class OraclePolicy(Policy):
    """The clairvoyant reference of the evaluation (issue 21), never a plan: each night it is
    told where tonight's attempts will be and places every resource greedily, each in turn on
    the free post of its type that adds most to the expected interceptions of those attempts
    (posts combined as independent chances, ``game.q``). Greedy is not optimal, but for this
    coverage objective (submodular) it is within 1 - 1/e of the best placement, and it is
    what the issue accepts; a night without attempts keeps the marginals ``x``."""

    def deployer(self, stream: int) -> Callable[[int], Deployment]:
        rng = np.random.default_rng([self.seed, stream, 0x4F524143])

        def deploy(
            night: int, sites: list[int] | None = None, told: Foresight | None = None
        ) -> Deployment:
            del night
            if not sites:
                return self.positions(self.draw(rng))
            if told is not None:  # they see some of tonight's posts: where they will go then
                org = told.organisers()
                sees = self.sees(told.season.site_xy, org.watch_radius_m)
                knowing = place_against(self.game, org, told.season.coverage, sees)
                return self.positions(place_foreseen(
                    self.game, org.presence_weight * sees, told.sites, also=(knowing,)
                ))  # fmt: skip
            want = np.bincount(np.asarray(sites), minlength=self.game.sites).astype(np.float64)
            return self.positions(place_greedy(self.game, want))

        deploy.clairvoyant = True  # type: ignore[attr-defined]
        return deploy


@dataclass(frozen=True, kw_only=True)
class MemoryPolicy(Policy):
    """The plan over nights (issue 21): each night, predict where the organisers will go from
    what they remember of our past nights (``MemoryTracker``: where our units stood, exactly,
    and what we found, per site) and place every resource greedily where the predicted
    attempts will be (``place_against``; randomised by nothing when the organisers see none
    of tonight's deployment, since then a draw only throws interceptions away).

    With ``features`` it also *learns* the organisers (``Learner``): every ``refit_every``
    nights, once ``min_found`` groups were found, it fits their weights, memory and watch
    radius to where groups were found, and places against the expected attack over
    ``samples`` draws of the fitted weights (the plausible set) rather than one guess."""

    site_xy: F64
    organisers: Organisers
    attempts_calm: float
    rough_factor: float
    features: F64 | None = None
    refit_every: int = 5
    min_found: int = 20
    samples: int = 32

    def deployer(self, stream: int) -> Callable[[int], Deployment]:
        rng = np.random.default_rng([self.seed, stream, 0x4C4541524E])
        tracker = MemoryTracker(self.organisers, self.site_xy)
        learner = (
            None if self.features is None
            else Learner(self.organisers, self.features, self.site_xy)
        )  # fmt: skip
        sees: dict[float, F64] = {}
        homes = [(uid, home) for t in self.types for uid, home in zip(t.ids, t.homes, strict=True)]
        state: dict[str, Any] = {"night": 0, "fit": None}

        def deploy(night: int) -> Deployment:
            del night
            if (learner is not None and state["night"] % self.refit_every == 0
                    and learner.found >= self.min_found):  # fmt: skip
                state["fit"] = learner.fit()
            state["night"] += 1
            fit: Fit | None = state["fit"]
            if fit is None or learner is None:
                org, seen = self.organisers, tracker.seen
            else:
                org, seen = learner.organisers(fit), learner.seen(fit)
            if org.watch_radius_m not in sees:
                sees[org.watch_radius_m] = self.sees(self.site_xy, org.watch_radius_m)
            if fit is not None and learner is not None and org.tonight == 0.0 and self.samples:
                w = fit.samples(self.samples, rng)
                k = self.features.shape[1] if self.features is not None else 0
                z = w[:, :k] @ learner.features.T - np.maximum(w[:, k:], 0.0) * seen[None, :]
                z = np.exp(z - z.max(axis=1, keepdims=True))
                chosen = place_greedy(self.game, (z / z.sum(axis=1, keepdims=True)).mean(axis=0))
            else:
                chosen = place_against(self.game, org, seen, sees[org.watch_radius_m])
            where = self.positions(chosen)
            stood = stood_points(where, homes)
            tonight = presence(self.site_xy, stood, radius_m=org.watch_radius_m,
                               weight=org.presence_weight)  # fmt: skip
            x = np.zeros(self.game.posts)
            x[chosen] = 1.0
            state.update(
                stood=stood, x=x,
                p=org.probabilities((1.0 - org.tonight) * seen + org.tonight * tonight),
            )  # fmt: skip
            return where

        def observe(result: NightResult) -> None:
            rate = self.attempts_calm * (1.0 if result.calm else self.rough_factor)
            found = np.bincount(np.asarray(result.found_sites, dtype=np.intp),
                                minlength=len(self.site_xy)).astype(np.float64)  # fmt: skip
            expected = rate * state["p"]
            tracker.update(state["stood"], found, expected)
            if learner is not None:
                detect = np.maximum(self.game.coverage_independent(state["x"]), 0.02)
                learner.night(state["stood"], found, detect, expected)

        deploy.observe = observe  # type: ignore[attr-defined]
        deploy.learner = learner  # type: ignore[attr-defined]
        return deploy


def stood_points(where: Deployment, homes: list[tuple[str, tuple[float, float]]]) -> F64:
    """Where the organisers saw the units and drones tonight, (n, 2): each one's post, every
    stop of its beat, or its home when the plan gave it neither."""
    points: list[tuple[float, float]] = []
    for uid, home in homes:
        at = where.get(uid, home)
        points += list(at.stops) if isinstance(at, Beat) else [at]
    return np.array(points, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class Learned:
    """What the centre's own nights tell of the organisers (``Planner.learn``): the organisers
    to plan against tonight (fitted, or the scenario's while too few groups were found), what
    they remember of us, and the fit with its uncertainty."""

    organisers: Organisers
    seen: F64
    fit: Fit | None
    assumed: F64  # the scenario's weights (cover, road, aversion), the fit's prior
    assumed_organisers: Organisers
    nights: int
    found: int
    min_found: int = MIN_FOUND

    def as_dict(self) -> dict[str, Any]:
        """For the plan's answer and the Plan tab: each weight learnt (with its posterior sd)
        beside what the scenario assumed; the memory and watch radius likewise."""
        fit, assumed = self.fit, self.assumed_organisers
        return {
            "learnt": fit is not None,
            "nights": self.nights,
            "found": self.found,
            "min_found": self.min_found,
            "weights": {
                name: {
                    "learnt": None if fit is None else float(fit.weights[k]),
                    "sd": None if fit is None else float(fit.sd[k]),
                    "assumed": float(self.assumed[k]),
                }
                for k, name in enumerate(WEIGHT_NAMES)
            },
            "memory": {"learnt": None if fit is None else fit.memory,
                       "assumed": assumed.memory},
            "watch_radius_m": {"learnt": None if fit is None else fit.watch_radius_m,
                               "assumed": assumed.watch_radius_m},
            "tonight": {"learnt": None if fit is None else fit.tonight,
                        "assumed": assumed.tonight},
        }  # fmt: skip


@dataclass
class Planner:
    """The game for one scenario's resources over one coast's posts."""

    scenario: Scenario
    coast: Coast
    posts: PostSet
    history: F64 | None = None  # attempts seen per site recently (None: the scenario only)
    resources: list[Resources] | None = None  # default: the scenario's units and drones
    game: Game = field(init=False)
    types: tuple[Resources, ...] = field(init=False)
    post_xy: F64 = field(init=False)
    post_site: npt.NDArray[np.intp] = field(init=False)
    value: F64 = field(init=False)
    window: Window = field(init=False)
    stages: Stages | None = field(init=False)  # when groups hide first (``HidingSpec``)
    beats: dict[int, Beat] = field(init=False)  # the game's posts that are beats
    stop_xy: F64 = field(init=False)  # every post's stops: a plain post is its one stop
    stop_post: npt.NDArray[np.intp] = field(init=False)
    plain: npt.NDArray[np.bool_] = field(init=False)  # the posts that are not beats

    def __post_init__(self) -> None:
        sc = self.scenario
        adv = sc.adversary
        appeal, cover = site_appeal(self.coast.sites, sc)
        self.value = self._values(appeal)
        self.types = tuple(self.resources or resources_of(sc, self.coast))
        n = len(self.posts.site_xy)
        self.window = Window.of(
            adv.prep_minutes_mean * 60.0, adv.prep_minutes_sd * 60.0, adv.launch_minutes * 60.0
        )
        self.stages = None
        hide = sc.hiding
        if hide.on and self.coast.hides is not None:
            beach = Window.of(adv.prep_minutes_mean * 60.0, adv.prep_minutes_sd * 60.0,
                              adv.launch_minutes * 60.0, nodes=16)  # fmt: skip
            self.stages = Stages.of(beach, hide.wait_minutes_mean * 60.0,
                                    hide.wait_minutes_sd * 60.0,
                                    self.coast.walk_s() * hide.walk_factor)  # fmt: skip
        weather = weather_factor(sc)
        night_h = sc.night_hours
        per_kind = self._per_kind(cover, weather)
        routes = {k: self._beat_candidates(k) for k in KINDS} if sc.planning.beats else {}
        beat_q = {k: self._beat_rows(k, b, cover, weather) for k, b in routes.items() if b}
        rows: list[F64] = []
        post_type: list[npt.NDArray[np.intp]] = []
        xy: list[F64] = []
        site: list[npt.NDArray[np.intp]] = []
        self.beats = {}
        stops: list[tuple[float, float]] = []
        stop_post: list[int] = []
        for r, res in enumerate(self.types):
            share = shift_share(res.start_h, res.end_h, sc.night_start_h, night_h)
            kind = res.kind
            plain_xy, plain_site = self.posts.xy[kind], self.posts.site_of[kind]
            mine = routes.get(kind, [])
            q = per_kind[kind] if not mine else np.concatenate([per_kind[kind], beat_q[kind]])
            centre = np.array([np.mean(b.stops, axis=0) for b, _ in mine]).reshape(-1, 2)
            at = np.concatenate([plain_xy, centre])
            near = np.concatenate([plain_site, [int(np.mean(plain_site[list(j)]))
                                                for _, j in mine]]).astype(np.intp)  # fmt: skip
            # along the coast in one order, beats among the posts (``sample`` spreads by it)
            order = np.argsort(near, kind="stable")
            first = sum(len(p) for p in post_type)
            for k, o in enumerate(order):
                if o < len(plain_xy):
                    stops.append((float(at[o, 0]), float(at[o, 1])))
                    stop_post.append(first + k)
                else:
                    beat = mine[o - len(plain_xy)][0]
                    self.beats[first + k] = beat
                    stops += list(beat.stops)
                    stop_post += [first + k] * len(beat.stops)
            rows.append(q[order] * share)
            post_type.append(np.full(len(q), r, dtype=np.intp))
            xy.append(at[order])
            site.append(near[order])
        self.post_xy = np.concatenate(xy)
        self.post_site = np.concatenate(site)
        self.stop_xy = np.array(stops, dtype=np.float64).reshape(-1, 2)
        self.stop_post = np.array(stop_post, dtype=np.intp)
        self.plain = np.ones(len(self.post_xy), dtype=bool)
        self.plain[list(self.beats)] = False
        self.game = Game(
            q=np.concatenate(rows),
            post_type=np.concatenate(post_type),
            counts=np.array([len(t.ids) for t in self.types], dtype=np.intp),
            att_covered=self.value - adv.coverage_weight,
            att_uncovered=self.value,
            def_covered=np.ones(n),
            def_uncovered=np.zeros(n),
            base=self._base(cover, weather),
        )
        self.coast.remember_posts(self.posts)  # the simulator's dispatch reuses these times

    # --- the model -------------------------------------------------------------------------

    def _values(self, appeal: F64) -> F64:
        """Site values: the scenario's appeal, blended with what recent attempts reveal (under
        quantal response, log frequency / rationality is the value up to a constant)."""
        if self.history is None:
            return appeal
        h = np.asarray(self.history, dtype=np.float64)
        if h.shape != appeal.shape or np.any(h < 0):
            raise ValueError("history must give a non-negative count of attempts per site")
        lam = max(self.scenario.adversary.rationality, 1e-6)
        seen = np.log((h + 0.5) / (h.sum() + 0.5 * len(h))) / lam
        seen += appeal.mean() - seen.mean()
        beta = self.scenario.planning.history_weight
        out: F64 = (1.0 - beta) * appeal + beta * seen
        return out

    def _stage_points(self, cover: F64) -> tuple[F64, F64, float | F64, float | F64]:
        """Where a group is at each stage of its time ashore, (sites, stages, 2); the cover
        there and the share of a signature it hides (sites, stages), for drones and aircraft;
        the share of what patrols and cameras notice there. At the beach only; with hiding, at
        its hiding place, half-way on its walk (in the open) and at the beach."""
        sxy = self.posts.site_xy
        hides = self.coast.hides
        sen = self.scenario.sensors
        if self.stages is None or hides is None:
            return sxy[:, None, :], cover[:, None], sen.cover_hides, 1.0
        hidden = self.scenario.hiding.hidden
        n = len(sxy)
        xy = np.stack([hides.xy, (hides.xy + sxy) / 2.0, sxy], axis=1)
        covers = np.column_stack([hides.cover, np.zeros(n), cover])
        hiding = np.column_stack([np.full(n, hidden), np.zeros(n), np.full(n, sen.cover_hides)])
        noticed = np.column_stack([1.0 - hidden * hides.cover, np.ones(n), np.ones(n)])
        return xy, covers, hiding, noticed

    def _catch(self, hazard_s: F64, response_s: F64 | float) -> F64:
        """The chance an attempt is caught, from detection hazards by stage (..., sites,
        stages) and a response time (``within_time``; ``within_stages`` with hiding)."""
        if self.stages is None:
            return within_time(hazard_s[..., 0], response_s, self.window)
        return within_stages(hazard_s, response_s, self.stages)

    def _per_kind(self, cover: F64, weather: float) -> dict[str, F64]:
        sc = self.scenario
        sen, adv = sc.sensors, sc.adversary
        gxy, gcover, ghides, noticed = self._stage_points(cover)
        out: dict[str, F64] = {}

        def distance(pxy: F64) -> F64:  # (posts, sites, stages)
            d: F64 = np.hypot(pxy[:, None, None, 0] - gxy[None, :, :, 0],
                              pxy[:, None, None, 1] - gxy[None, :, :, 1])  # fmt: skip
            return d

        for kind in GROUND_PROFILE:
            dist = distance(self.posts.xy[kind])
            hazard = patrol_hazard(dist, roam_m=sen.patrol_roam_m,
                                   p_minute=sen.patrol_p * noticed, weather=weather)  # fmt: skip
            response = sc.tasking_delay_s + self.posts.eta_s[kind]
            q = self._catch(hazard, response)
            # a group this close, at any stage, walks away instead
            q[(dist <= adv.abandon_radius_m).any(axis=-1)] = 0.0
            out[kind] = q
        dist = distance(self.posts.xy["drone"])
        radius = min((d.radius_m for d in sc.drones), default=4000.0)
        airborne = sen.drone_flight_min / (sen.drone_flight_min + sen.drone_swap_min)
        hazard = drone_hazard(
            dist, gcover[None], p0=sen.drone_p0, range_m=sen.drone_range_m, radius_m=radius,
            scan_s=sen.drone_scan_s, airborne=airborne, hides=ghides, weather=weather,
        )  # fmt: skip
        out["drone"] = self._catch(hazard, sc.planning.response_minutes * 60.0)
        return out

    def _beat_candidates(self, kind: str) -> list[tuple[Beat, tuple[int, int]]]:
        """The beats a resource of ``kind`` may be given, each with its stops' posts: two posts
        ``BEAT_SPANS`` apart along the coast (about 2.6 and 5.3 km for ground units, which
        roam 2 km around where they are; 4 and 8 km for a drone, whose orbit reaches 4 km).
        A ground beat's legs are the terrain's travel times (to the launch site beside the
        other stop), and a beat longer than two hours round is left out; a drone flies one
        orbit a flight, the battery swap its move."""
        sc = self.scenario
        sen = sc.sensors
        xy = self.posts.xy[kind]
        n = len(xy)
        out: list[tuple[Beat, tuple[int, int]]] = []
        if kind == "drone":
            flight = (sen.drone_flight_min + sen.drone_swap_min) * 60.0
            for k in BEAT_SPANS["drone"]:
                out += [(Beat((tuple(xy[a]), tuple(xy[a + k])), (0.0, 0.0), flight), (a, a + k))
                        for a in range(n - k)]  # fmt: skip
            return out
        eta, site = self.posts.eta_s[kind], self.posts.site_of[kind]
        dwell = sc.planning.beat_dwell_minutes * 60.0
        last = eta.shape[1] - 1
        for k in BEAT_SPANS["ground"]:
            for a in range(n - k):
                b = a + k
                there, back = float(eta[a, site[b]]), float(eta[b, min(site[a] + 1, last)])
                if math.isfinite(there + back) and there + back + 2 * dwell <= 2 * 3600.0:
                    out.append((Beat((tuple(xy[a]), tuple(xy[b])), (there, back), dwell), (a, b)))
        return out

    def _beat_rows(
        self, kind: str, beats: list[tuple[Beat, tuple[int, int]]], cover: F64, weather: float
    ) -> F64:
        """(beats, sites): the chance a beat catches an attempt at each site. Its detection
        hazard is the time average over its cycle (``BEAT_SAMPLES`` points: the time-shared
        coverage of the security-games literature); a ground unit answers from the stop it
        is nearest in time, as the simulator sends it, so the response is that of its stops
        weighed by where it detects; a group its path comes within the abandon radius of, at
        any stage, walks away instead (no interception), as at a post."""
        sc = self.scenario
        sen, adv = sc.sensors, sc.adversary
        gxy, gcover, ghides, noticed = self._stage_points(cover)  # (sites, stages, 2)
        drawn = [b.samples(BEAT_SAMPLES) for b, _ in beats]
        bxy = np.stack([d[0] for d in drawn])  # (beats, samples, 2)
        dist = np.hypot(bxy[:, :, None, None, 0] - gxy[None, None, :, :, 0],
                        bxy[:, :, None, None, 1] - gxy[None, None, :, :, 1])  # fmt: skip
        if kind == "drone":
            radius = min((d.radius_m for d in sc.drones), default=4000.0)
            airborne = sen.drone_flight_min / (sen.drone_flight_min + sen.drone_swap_min)
            hazard = drone_hazard(
                dist, gcover[None, None], p0=sen.drone_p0, range_m=sen.drone_range_m,
                radius_m=radius, scan_s=sen.drone_scan_s, airborne=airborne, hides=ghides,
                weather=weather,
            ).mean(axis=1)  # fmt: skip
            return self._catch(hazard, sc.planning.response_minutes * 60.0)
        h = patrol_hazard(
            dist, roam_m=sen.patrol_roam_m, p_minute=sen.patrol_p * noticed, weather=weather
        )  # fmt: skip  (beats, samples, sites, stages)
        stops = np.array([j for _, j in beats], dtype=np.intp)  # (beats, 2)
        post = np.take_along_axis(stops, np.stack([d[1] for d in drawn]), axis=1)
        # no window outlasts four hours: an unreachable stop simply cannot catch in time
        response = sc.tasking_delay_s + np.minimum(self.posts.eta_s[kind][post], 4 * 3600.0)
        found = h.sum(axis=-1)  # (beats, samples, sites)
        total = found.sum(axis=1)
        answer = np.where(total > 0, (found * response).sum(axis=1) / np.maximum(total, 1e-300),
                          4 * 3600.0)  # fmt: skip
        q = self._catch(h.mean(axis=1), answer)
        ends = np.array([b.stops for b, _ in beats], dtype=np.float64)  # (beats, 2, 2)
        q[(_to_segment(gxy, ends[:, 0], ends[:, 1]) <= adv.abandon_radius_m).any(axis=-1)] = 0.0
        return q

    def _base(self, cover: F64, weather: float) -> F64:
        """Coverage from the fixed sensors: cameras and surveillance aircraft."""
        sc = self.scenario
        sen = sc.sensors
        sxy = self.posts.site_xy
        gxy, gcover, ghides, noticed = self._stage_points(cover)
        respond = sc.planning.response_minutes * 60.0
        coverage = np.zeros(len(sxy))
        for c in sc.cameras:
            cx, cy = self.coast.to_xy(c.lon, c.lat)
            near = np.hypot(gxy[..., 0] - cx, gxy[..., 1] - cy) <= c.range_m
            p_cam = np.minimum(sen.camera_p * noticed, 1 - 1e-12)
            hazard = np.where(near, -np.log1p(-p_cam) / 60.0, 0.0)
            coverage += self._catch(hazard, respond)
        length = float(np.hypot(*np.diff(sxy, axis=0).T).sum()) if len(sxy) > 1 else 1.0
        for a in sc.aircraft:
            in_swath = min(1.0, 2.0 * a.swath_m / max(length, 1.0))
            p = a.p * weather * (1.0 - ghides * gcover)
            hazard = in_swath * -np.log1p(-np.clip(p, 0.0, 1 - 1e-12)) / 60.0
            share = shift_share(a.start_h, a.end_h, sc.night_start_h, sc.night_hours)
            coverage += share * self._catch(hazard, respond)
        out: F64 = np.clip(coverage, 0.0, 0.95)
        return out

    # --- the adversary the scenario describes ----------------------------------------------

    @property
    def qr_weights(self) -> tuple[float, float, float]:
        """SUQR weights that make it the scenario's quantal response: p ∝ exp(λ (value - w c))."""
        adv = self.scenario.adversary
        return (-adv.rationality * adv.coverage_weight, adv.rationality, 0.0)

    def expected(self, x: F64) -> float:
        """The model's proportion intercepted for marginals ``x`` against that adversary
        (posts combined as independent chances)."""
        c = self.game.coverage_independent(x)
        return float(suqr_probabilities(self.game, c, self.qr_weights) @ c)

    def attack_probabilities(self, x: F64) -> F64:
        """Where that adversary goes, facing the coverage of marginals ``x``."""
        return suqr_probabilities(self.game, self.game.coverage_independent(x), self.qr_weights)

    # --- plans and baselines ---------------------------------------------------------------

    def plan(self, method: str = "qr") -> Strategy:
        """The randomised plan: ``qr`` (against the scenario's adversary) or ``sse``."""
        sse = solve_sse(self.game)
        if method == "sse":
            return sse
        if method != "qr":
            raise ValueError(f"unknown planning method {method!r}: qr or sse")
        starts = [sse.x, self.uniform()]
        best = max(
            (solve_suqr(self.game, self.qr_weights, start=s, independent=True) for s in starts),
            key=lambda st: self.expected(st.x),
        )
        return best

    def plan_ahead(self, seen: F64, organisers: Organisers | None = None) -> Strategy:
        """Tonight's deployment against organisers who remember ``seen`` (per site, 0..1, as
        ``remember`` keeps it): where they will go, by their quantal response to it, and every
        resource placed greedily where they will be (``place_against``). A deployment, not a
        draw: they do not see tonight's, so randomising would only throw interceptions away
        (in proportion to what they do see of it, ``adversary.sees_tonight``, it is priced
        in). ``organisers``: as learnt (``learn``); the scenario's by default."""
        org = self.organisers() if organisers is None else organisers
        sees = route_watchers(self.posts.site_xy, self.stop_xy, self.stop_post, self.game.posts,
                              org.watch_radius_m)  # fmt: skip
        x = np.zeros(self.game.posts)
        x[place_against(self.game, org, seen, sees)] = 1.0
        stood = presence(self.posts.site_xy, self.stop_xy[x[self.stop_post] > 0.5],
                         radius_m=org.watch_radius_m, weight=org.presence_weight)  # fmt: skip
        attack = org.probabilities((1.0 - org.tonight) * seen + org.tonight * stood)
        coverage = self.game.coverage_independent(x)
        value = float(attack @ coverage)
        return Strategy(x, coverage, value, float(attack @ self.game.attacker(coverage)), None,
                        "greedy against the organisers' memory", attack)  # fmt: skip

    def seen(self, nights: list[F64]) -> F64:
        """The organisers' memory after ``nights`` (oldest first), each the positions (metres,
        (n, 2)) of the units and drones that stood on the coast that night."""
        adv = self.scenario.adversary
        memory = np.zeros(self.game.sites)
        for xy in nights:
            tonight = presence(self.posts.site_xy, np.asarray(xy, dtype=np.float64).reshape(-1, 2),
                               radius_m=adv.watch_radius_m, weight=adv.presence_weight)  # fmt: skip
            memory = remember(memory, tonight, adv.memory)
        return memory

    def deployment(self, stood: list[tuple[str, float, float]]) -> F64:
        """The game's ``x`` for a night where units and drones of each kind stood at these
        points (metres): each on the nearest post of its kind's first type."""
        x = np.zeros(self.game.posts)
        for kind, px, py in stood:
            r = next((i for i, t in enumerate(self.types) if t.kind == kind), None)
            if r is None:
                continue
            idx = np.flatnonzero((self.game.post_type == r) & self.plain)
            d = np.hypot(self.post_xy[idx, 0] - px, self.post_xy[idx, 1] - py)
            x[idx[int(np.argmin(d))]] = 1.0
        return x

    def learn(
        self,
        nights: list[tuple[list[tuple[str, float, float]], F64]],
        *,
        min_found: int = MIN_FOUND,
    ) -> Learned:
        """The organisers learnt from the centre's own nights (oldest first): where its units
        and drones stood (kind, x, y) and the attempts found near each site. The same learning
        as the plan over nights in the simulator (``Learner``): their tastes and aversion by
        maximum a posteriori with Laplace's uncertainty (the scenario as the prior), their
        memory, watch radius and the share of tonight they see on a grid; assumed, not
        learnt, until ``min_found`` groups were found."""
        assumed = self.organisers()
        learner = Learner(assumed, site_features(self.coast.sites), self.posts.site_xy)
        tracker = MemoryTracker(assumed, self.posts.site_xy)
        adv, w = self.scenario.adversary, self.scenario.weather
        rate = adv.attempts_per_calm_night * (
            w.calm_probability + (1.0 - w.calm_probability) * w.rough_attempt_factor
        )
        for stood, found in nights:
            xy = np.array([(px, py) for _, px, py in stood], dtype=np.float64).reshape(-1, 2)
            expected = rate * tracker.predict()
            detect = np.maximum(self.game.coverage_independent(self.deployment(stood)), 0.02)
            tracker.update(xy, found, expected)
            learner.night(xy, found, detect, expected)
        if learner.found < min_found:
            return Learned(assumed, tracker.seen, None, learner.prior_weights, assumed,
                           len(nights), learner.found, min_found)  # fmt: skip
        fit = learner.fit()
        return Learned(learner.organisers(fit), learner.seen(fit), fit, learner.prior_weights,
                       assumed, len(nights), learner.found, min_found)  # fmt: skip

    def organisers(self) -> Organisers:
        """The organisers as the scenario describes them, for planning over nights."""
        adv = self.scenario.adversary
        return Organisers(
            value=self.value, rationality=adv.rationality, coverage_weight=adv.coverage_weight,
            memory=adv.memory, watch_radius_m=adv.watch_radius_m,
            presence_weight=adv.presence_weight, tonight=adv.sees_tonight,
        )  # fmt: skip

    def nightly(self, name: str = NIGHTLY, seed: int = 0, *, learn: bool = True) -> MemoryPolicy:
        """The plan over nights against the organisers' memory (``MemoryPolicy``); ``learn``:
        learning the organisers from where groups are found."""
        first = self.plan_ahead(np.zeros(self.game.sites)).x
        return MemoryPolicy(
            name=name, game=self.game, x=first, fixed=False, post_xy=self.post_xy,
            types=self.types, seed=seed, beats=self.beats, stop_xy=self.stop_xy,
            stop_post=self.stop_post, site_xy=self.posts.site_xy,
            organisers=self.organisers(),
            attempts_calm=self.scenario.adversary.attempts_per_calm_night,
            rough_factor=self.scenario.weather.rough_attempt_factor,
            features=site_features(self.coast.sites) if learn else None,
        )  # fmt: skip

    def uniform(self) -> F64:
        """Every post of a type equally likely (posts, not beats: today's way of working)."""
        x = np.zeros(self.game.posts)
        for r, count in enumerate(self.game.counts):
            idx = np.flatnonzero((self.game.post_type == r) & self.plain)
            x[idx] = min(1.0, count / max(len(idx), 1))
        return x

    def last_year(self) -> F64:
        """Attempts per site last year: the given history, or what the scenario's adversary
        does facing no coverage."""
        if self.history is not None:
            return np.asarray(self.history, dtype=np.float64)
        z = self.scenario.adversary.rationality * self.value
        p = np.exp(z - z.max())
        out: F64 = p / p.sum()
        return out

    def hotspot(self) -> F64:
        """Static posts by last year's busiest sites: each type takes the posts whose sites saw
        the most attempts."""
        h = self.last_year()
        x = np.zeros(self.game.posts)
        for r, count in enumerate(self.game.counts):
            idx = np.flatnonzero((self.game.post_type == r) & self.plain)
            kind = self.types[r].kind
            near = self.post_site[idx]
            score = h[near] + (h[np.minimum(near + 1, len(h) - 1)] if kind != "drone" else 0.0)
            x[idx[np.argsort(-score, kind="stable")[:count]]] = 1.0
        return x

    def best_fixed(self) -> F64:
        """The best single deployment against the same adaptive adversary, built greedily
        (each resource in turn to the post that raises the model's proportion most); with
        beats, the better of that and the same built from posts only (greedy is myopic: a
        beat that gains most first may leave less for the rest)."""
        built = [self._greedy_fixed(np.ones(self.game.posts, dtype=bool))]
        if self.beats:
            built.append(self._greedy_fixed(self.plain))
        return max(built, key=self.expected)

    def _greedy_fixed(self, allowed: npt.NDArray[np.bool_]) -> F64:
        g = self.game
        x = np.zeros(g.posts)
        left = g.counts.astype(int).copy()
        for _ in range(int(left.sum())):
            free = np.flatnonzero((x == 0) & allowed & (left[g.post_type] > 0))
            if len(free) == 0:
                break
            c = 1.0 - (1.0 - g.fixed) * np.exp(-(x @ g.hazard)[None, :] - g.hazard[free])
            z = self.qr_weights[0] * c + self.qr_weights[1] * self.value[None, :]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            pick = free[int(np.argmax((p * c).sum(axis=1)))]
            x[pick] = 1.0
            left[g.post_type[pick]] -= 1
        return x

    def policy(
        self, name: str, x: F64, *, fixed: bool, seed: int = 0, spread: bool = True
    ) -> Policy:
        return Policy(name, self.game, x, fixed, self.post_xy, self.types, seed, spread,
                      self.beats, self.stop_xy, self.stop_post)  # fmt: skip

    def oracle(self, seed: int = 0) -> OraclePolicy:
        """The clairvoyant reference (``OraclePolicy``): knows tonight's attempt sites."""
        return OraclePolicy(ORACLE, self.game, self.uniform(), False, self.post_xy, self.types,
                            seed, True, self.beats, self.stop_xy, self.stop_post)  # fmt: skip

    def policies(self, seed: int = 0) -> list[Policy]:
        """The plans and the baselines, all with the same resources, in report order."""
        qr = self.plan("qr")
        sse = self.plan("sse")
        return [
            self.policy("uniform", self.uniform(), fixed=False, seed=seed, spread=False),
            self.policy("evenly spaced", self.uniform(), fixed=False, seed=seed),
            self.policy("hotspot", self.hotspot(), fixed=True, seed=seed),
            self.policy("best fixed", self.best_fixed(), fixed=True, seed=seed),
            self.policy("planned (SSE)", sse.x, fixed=False, seed=seed),
            self.policy("planned", qr.x, fixed=False, seed=seed),
            self.nightly(NIGHTLY, seed=seed),
        ]


def _to_segment(points: F64, a: F64, b: F64) -> F64:
    """(segments, ...): the distance from each of ``points`` (..., 2) to each segment from
    ``a`` to ``b`` (segments, 2)."""
    ab = (b - a).reshape(len(a), *([1] * (points.ndim - 1)), 2)
    ap = points[None] - a.reshape(ab.shape)
    t = np.clip((ap * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0.0, 1.0)
    out: F64 = np.hypot(*(ap - t[..., None] * ab).transpose(-1, *range(ap.ndim - 1)))
    return out


def tonight(
    planner: Planner,
    strategy: Strategy,
    rng: np.random.Generator,
    to_lonlat: Callable[[float, float], tuple[float, float]],
) -> dict[str, Any]:
    """Tonight's deployment drawn from ``strategy``, every post explained, every site's
    coverage: what the command centre publishes (positions in WGS 84)."""
    game, x = planner.game, strategy.x
    policy = planner.policy("plan", x, fixed=False)
    where = policy.assignment(policy.draw(rng))
    # What the plan's nights give on average (each post manned all night or not at all), not
    # the optimiser's smoother model, which is some points higher for a randomised plan.
    coverage = drawn_coverage(game, x, np.random.default_rng(0), draws=1000)
    ahead = "memory" in strategy.method  # where the organisers go was predicted with the plan
    attack = strategy.attack_probabilities if ahead else planner.attack_probabilities(x)
    sites = planner.coast.sites
    posts: list[dict[str, Any]] = []
    for res in planner.types:
        for uid in res.ids:
            if uid not in where:
                reserve = msg("in reserve: the plan needs no more of its kind tonight")
                posts.append({"unit_id": uid, "kind": res.kind, "post": None, "why": reserve})
                continue
            p = where[uid]
            beat = planner.beats.get(p)
            px, py = beat.stops[0] if beat is not None else planner.post_xy[p]  # its start
            share = game.q[p] * attack
            top = [int(i) for i in np.argsort(-share)[:3] if share[i] > 0]
            lon, lat = to_lonlat(float(px), float(py))
            names = joined(
                [msg("{site} ({q:.0%})", site=sites[i].name, q=game.q[p, i]) for i in top]
            )
            posts.append({
                "unit_id": uid,
                "kind": res.kind,
                "post": p,
                "lon": round(lon, 6),
                "lat": round(lat, 6),
                "manned_share": round(float(x[p]), 4),
                "covers": [sites[i].id for i in top],
                "coverage": round(float(game.q[p].max()), 4),
                "why": (
                    msg("{kind} beat drawn tonight (worked on {share:.0%} of nights), between "
                        "two stops {km:.1f} km apart: it reaches {names} before a launch; "
                        "these sites draw {draw:.0%} of the attempts the plan expects",
                        kind=res.kind.replace("_", " "), share=float(x[p]), names=names,
                        km=math.dist(*beat.stops) / 1000.0, draw=float(attack[top].sum()))
                    if top and beat is not None else
                    msg("{kind} post drawn tonight (manned on {share:.0%} of nights): best "
                        "placed of its type to reach {names} before a launch; these sites draw "
                        "{draw:.0%} of the attempts the plan expects",
                        kind=res.kind.replace("_", " "), share=float(x[p]), names=names,
                        draw=float(attack[top].sum()))
                    if top else msg("drawn tonight; it covers no site on its own")
                ),
            } | ({"beat": [[round(v, 6) for v in to_lonlat(*stop)] for stop in beat.stops]}
                 if beat is not None else {}))  # fmt: skip
    site_rows = []
    for i, s in enumerate(sites):
        lon, lat = to_lonlat(s.x, s.y)
        site_rows.append({
            "id": s.id, "name": s.name, "lon": round(lon, 6), "lat": round(lat, 6),
            "coverage": round(float(coverage[i]), 4),
            "attack_probability": round(float(attack[i]), 5),
            "value": round(float(planner.value[i]), 4),
        })  # fmt: skip
    method = (
        msg("against a perfect optimiser (strong Stackelberg equilibrium)")
        if strategy.method.startswith("sse")
        else msg("against organisers who remember where our units stood on recent nights")
        if "memory" in strategy.method
        else msg("against a boundedly rational adversary (quantal response)")
    )
    return {
        "method": method,
        "solver": strategy.method,
        "model_proportion": strategy.defender_utility if ahead else planner.expected(x),
        "drawn_proportion": float(attack @ coverage),
        "posts": posts,
        "sites": site_rows,
    }
