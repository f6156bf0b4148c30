"""Nights on the coast: crossing attempts, sensors, patrols, dispatch and outcomes.

One ``Season`` holds what lasts between nights (the adversary's memory of the coverage it saw,
the random stream); ``run_night`` plays one night on the kernel. Units answer with the terrain
engine's real travel times. An ``Observer`` (the live demo) is told of everything as it
happens; offline runs pass none.

Outcomes, as the agreement counts them (``docs/simulation.md``): a group reached while still
preparing is *intercepted before launch*; one reached while launching is a *launch prevented*;
both count as intercepted. A group that sees a patrol close by and walks away is *deterred*
(not an interception). A boat that gets out is *launched*; some get into difficulty at sea,
which raises a *rescue case*.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np

from estran.domain.beats import Beat
from estran.domain.green import Organisers, watchers
from estran.domain.hiding import HidingPlaces, hiding_places
from estran.domain.travel import TravelEngine, UnitAt
from estran.domain.travel_types import Eta, Target
from estran.sim.kernel import LATE, Environment

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from estran.domain.launch_sites import LaunchSite
    from estran.domain.planning import PostSet
    from estran.domain.prepared import PreparedTerrain
    from estran.sim.scenario import AircraftSpec, DroneSpec, Scenario, TideSpec

__all__ = [
    "Coast",
    "Deployment",
    "Foresight",
    "Group",
    "Night",
    "NightResult",
    "Observer",
    "Retry",
    "Season",
    "SimUnit",
    "begin_night",
    "coast_from",
    "run_night",
    "site_appeal",
    "site_features",
    "tide_windows",
]

_PROFILE = {"foot_patrol": "foot", "dune_buggy": "buggy", "four_by_four": "four_by_four"}


_ETA_CACHE_MAX = 200_000

_INLAND = ("hiding", "walking")  # a group behind the beach (``HidingSpec``)
_UNLAUNCHED = (*_INLAND, "preparing")  # a group that can still be stopped ashore
_ACTIVE = (*_UNLAUNCHED, "launching", "cache")  # what sensors can find (a cache: a boat)

Deployment = dict[str, "tuple[float, float] | Beat"]
"""Tonight's deployment: for each unit or drone id, its post (metres) or its ``Beat``."""


@dataclass(frozen=True)
class Coast:
    """The area as the simulation needs it, in the terrain's metres.

    ``eta`` remembers each unit's time to each target by position and profile: units stand at
    a few hundred posts and groups at the launch sites, so a season asks the terrain engine
    the same questions night after night (its answer for one unit does not depend on the
    others asked with it; the cache changes no result, only the time: issue 21's speed). The
    answers from posts and from beaches to beaches are kept for good; others (a unit that went
    to a group found in hiding stands where it met it; a group found walking is somewhere new
    each time) in a memory that starts again when it is full."""

    engine: TravelEngine
    sites: list[LaunchSite]
    to_xy: Callable[[float, float], tuple[float, float]]  # (lon, lat) -> (x, y)
    hides: HidingPlaces | None = field(default=None, compare=False)  # where groups wait
    _walk: list[np.ndarray] = field(default_factory=list, compare=False, repr=False)
    _kept: dict[tuple[str, float, float, float, float], Eta] = field(
        default_factory=dict, compare=False, repr=False
    )
    _etas: dict[tuple[str, float, float, float, float], Eta] = field(
        default_factory=dict, compare=False, repr=False
    )
    _seeded: list[PostSet] = field(default_factory=list, compare=False, repr=False)
    _stands: list[tuple[float, float]] = field(default_factory=list, compare=False, repr=False)

    def _known(self, key: tuple[str, float, float, float, float]) -> Eta | None:
        return self._kept.get(key) or self._etas.get(key)

    def eta(self, target: Target, units: list[UnitAt]) -> list[Eta]:
        """The engine's ``eta`` (fastest first, unreachable last), remembered."""
        keys = [(u.profile, u.x, u.y, target.x, target.y) for u in units]
        missing = [u for u, k in zip(units, keys, strict=True) if self._known(k) is None]
        if missing:
            if len(self._etas) > _ETA_CACHE_MAX:  # full: start again
                self._etas.clear()
                missing = [u for u, k in zip(units, keys, strict=True) if k not in self._kept]
            # Units that went to a group stand at its site afterwards: ask for every site at
            # once, for the profiles missing (one search from the target serves them all), when
            # the target is a site (a group found hiding or walking is elsewhere, each time).
            profiles = {m.profile for m in missing} if (target.x, target.y) in self._stands else ()
            missing += [
                UnitAt(f"\x00{pr}{i}", pr, x, y)
                for pr in profiles
                for i, (x, y) in enumerate(self._stands)
                if (pr, x, y, target.x, target.y) not in self._kept
            ]
            by_id = {m.unit_id: m for m in missing}
            for e in self.engine.eta(target, missing):
                u = by_id[e.unit_id]
                key = (u.profile, u.x, u.y, target.x, target.y)
                (self._kept if u.unit_id.startswith("\x00") else self._etas)[key] = e
        out = []
        for u, k in zip(units, keys, strict=True):
            known = self._known(k)
            assert known is not None  # noqa: S101 (asked above)
            out.append(known if known.unit_id == u.unit_id else replace(known, unit_id=u.unit_id))
        out.sort(key=lambda e: (not e.reachable, e.eta_s if e.eta_s is not None else 0.0))
        return out

    def walk_s(self) -> np.ndarray:
        """(sites,): a foot patrol's time from each site's hiding place to its beach, over
        the terrain (0 where there is none, or the beach is out of reach from it)."""
        if not self._walk:
            out = np.zeros(len(self.sites))
            if self.hides is not None:
                for j, (s, (hx, hy)) in enumerate(zip(self.sites, self.hides.xy, strict=True)):
                    target = self.engine.resolve(s.x, s.y)
                    if isinstance(target, str) or self.hides.kind[j] == "beach":
                        continue
                    e = self.engine.eta(target, [UnitAt("walk", "foot", float(hx), float(hy))])
                    if e and e[0].reachable and e[0].eta_s is not None:
                        out[j] = e[0].eta_s
            self._walk.append(out)
        return self._walk[0]

    def remember_posts(self, posts: PostSet) -> None:
        """Teach ``eta`` the travel times from every ground post to every launch site that
        ``posts`` already holds (the engine's own answers, kept by the post cache): the
        questions a season asks most. Their routes are not kept, so a run with an observer
        (the live demo draws routes) asks the engine itself."""
        if any(seen is posts for seen in self._seeded):
            return
        targets = [self.engine.resolve(float(x), float(y)) for x, y in posts.site_xy]
        for kind, table in posts.eta_s.items():
            profile = _PROFILE[kind]
            for p, (px, py) in enumerate(posts.xy[kind]):
                for j, target in enumerate(targets):
                    if isinstance(target, str):
                        continue
                    eta = float(table[p, j])
                    reachable = math.isfinite(eta)
                    key = (profile, float(px), float(py), target.x, target.y)
                    self._kept[key] = Eta(
                        "", profile, reachable, eta if reachable else None, (), "", "table"
                    )
        self._seeded.append(posts)
        self._stands[:] = [(t.x, t.y) for t in targets if not isinstance(t, str)]


def coast_from(terrain: PreparedTerrain) -> Coast:
    """The coast of a prepared terrain, with the hiding place behind each beach."""
    hides = hiding_places(terrain.grid, terrain.sites, terrain.bunkers)
    return Coast(terrain.engine, terrain.sites, terrain.projector.to_xy, hides)


@dataclass(eq=False)
class Group:
    id: str
    site: int
    x: float
    y: float
    size: int
    # hiding, walking (when the scenario has groups hide: ``HidingSpec``), preparing,
    # launching, launched, intercepted, prevented, deterred, no_boat (its boat was seized);
    # a boat and engine brought apart (``boat_ahead_minutes``): cache, used, seized
    state: str = "preparing"
    visible: float = 1.0  # the share of its signature drones and aircraft can see
    noticed: float = 1.0  # the share patrols and cameras can (less only in hiding)
    detected_at: float | None = None
    detected_by: str | None = None
    key: tuple[int, int, int] = (0, 0, 0)  # first night, index that night, tries before


@dataclass(frozen=True)
class Retry:
    """A group trying again (``AdversarySpec.retry_probability``): on which night, its dice
    for the attempt (site pick, start, preparation, an unused fourth, the wait in hiding) and
    its people."""

    key: tuple[int, int, int]
    night: int
    draws: tuple[float, float, float, float]
    wait_z: float
    size: int


@dataclass(eq=False)
class SimUnit:
    id: str
    kind: str
    x: float
    y: float
    start_s: float
    end_s: float
    busy_until: float = 0.0
    task: str | None = None
    beat: Beat | None = None  # the route it works, when it has one rather than a post
    stop: tuple[float, float] | None = None  # on a beat: the stop it is nearest in time

    def keep_beat(self, t: float) -> None:
        """On a beat and free: where its beat has it at ``t``."""
        if self.beat is not None and self.task is None:
            x, y, j = self.beat.at(t - self.start_s)
            self.x, self.y, self.stop = x, y, self.beat.stops[j]

    def available(self, t: float) -> bool:
        return self.start_s <= t < self.end_s and t >= self.busy_until


class Observer(Protocol):
    """What the live demo is told, in simulated seconds since the night began."""

    def detection(self, t: float, group: Group | None, x: float, y: float, sensor: str) -> None: ...
    def tasked(
        self, t: float, unit: SimUnit, group: Group | None, eta_s: float, route: np.ndarray
    ) -> None: ...
    def arrived(self, t: float, unit: SimUnit, group: Group | None, outcome: str) -> None: ...
    def launched(self, t: float, group: Group, in_difficulty: bool) -> None: ...


@dataclass
class NightResult:
    night: int
    calm: bool
    attempts: int = 0
    detected: int = 0
    intercepted: int = 0
    launch_prevented: int = 0
    deterred: int = 0
    launched: int = 0
    rescue_cases: int = 0
    false_alarms: int = 0
    unanswered: int = 0
    people_intercepted: int = 0
    intercepted_inland: int = 0  # of ``intercepted``: found hiding or walking, before the beach
    boats_seized: int = 0  # attempts stopped by seizing their boat and engine before the group
    retries: int = 0  # of ``attempts``: groups turned back on an earlier night, trying again
    response_s: list[float] = field(default_factory=list)
    sites: list[int] = field(default_factory=list)
    found_sites: list[int] = field(default_factory=list)  # where groups were found (detected)

    @property
    def interceptions(self) -> int:
        return self.intercepted + self.launch_prevented + self.boats_seized


def tide_windows(
    tide: TideSpec, night: int, dusk_h: float, dark_s: float
) -> list[tuple[float, float]]:
    """Night ``night``'s launch windows (``TideSpec``), seconds since dusk: within
    ``window_h`` of each high water, which comes ``later_minutes_per_night`` later each
    night, clipped to the dark."""
    if tide.high_water_h is None:
        return [(0.0, dark_s)]
    period, reach = tide.period_h * 3600.0, tide.window_h * 3600.0
    since_dusk = (tide.high_water_h - dusk_h) * 3600.0 + night * tide.later_minutes_per_night * 60
    high = since_dusk % period - period  # the one before dusk may still reach into the dark
    out: list[tuple[float, float]] = []
    while high - reach < dark_s:
        low, top = max(0.0, high - reach), min(dark_s, high + reach)
        if top > low:
            out.append((low, top))
        high += period
    return out


def _along(u: float, spans: list[tuple[float, float]]) -> float | None:
    """The point a share ``u`` of the way along ``spans`` laid end to end (None if empty)."""
    left = u * sum(b - a for a, b in spans)
    for a, b in spans:
        if left <= b - a:
            return a + left
        left -= b - a
    return spans[-1][1] if spans else None


def site_features(sites: list[LaunchSite]) -> np.ndarray:
    """(sites, 2): what the organisers weigh in a site, cover (woods, scrub, half the dunes,
    and a bunker) and a road nearby (1 at the road, 0.37 at 1.5 km)."""
    cover = [min(1.0, x.woodland_fraction + x.scrub_fraction + 0.5 * x.dune_fraction)
             + (0.3 if "bunker" in x.cover else 0.0) for x in sites]  # fmt: skip
    road = [math.exp(-x.road_m / 1500.0) for x in sites]
    return np.column_stack([cover, road]).astype(np.float64).reshape(-1, 2)


def site_appeal(sites: list[LaunchSite], scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Each site's appeal to the organisers (taste for cover and for a road nearby) and the
    share of a group's thermal signature its cover can hide (0..1)."""
    features = site_features(sites)
    adv = scenario.adversary
    appeal = features @ np.array([adv.cover_weight, adv.road_weight])
    return appeal, np.clip(features[:, 0], 0.0, 1.0)


class Season:
    """The state that lasts between nights; ``deploy``, if given, posts the units and drones
    each night (a deployment plan); otherwise they stand where the scenario puts them."""

    def __init__(
        self,
        scenario: Scenario,
        coast: Coast,
        seed: int,
        deploy: Callable[[int], Mapping[str, tuple[float, float] | Beat]] | None = None,
    ) -> None:
        self.scenario = scenario
        self.coast = coast
        self.rng = np.random.default_rng(seed)
        # The night's weather and the adversary's plans draw from their own stream, so that
        # two policies played with one seed face the same nights and the same dice for every
        # attempt (common random numbers: their difference is the policies', not the luck's).
        self.night_rng = np.random.default_rng([seed, 0x4E49474854])
        # How long each attempt's group waits in hiding: a stream of its own, so that a
        # scenario without hiding plays the very nights it played before hiding was modelled.
        self.hide_rng = np.random.default_rng([seed, 0x48494445])
        self.deploy = deploy
        self.coverage = np.zeros(len(coast.sites))
        self.appeal, self.cover = site_appeal(coast.sites, scenario)
        # the share of a group's signature sensors can see at each beach
        self.visible = 1.0 - scenario.sensors.cover_hides * self.cover
        self.site_xy = np.array([[x.x, x.y] for x in coast.sites])
        self.nights = 0
        self.seed = seed
        self.retries: dict[int, list[Retry]] = {}  # groups trying again, by night

    def retry_of(self, group: Group, night: int) -> Retry | None:
        """Whether ``group``, turned back on ``night``, tries again, and how: its own dice,
        drawn from its identity (never from a shared stream), so that a group turned back
        under two policies tries again alike, and nothing else of the night moves."""
        adv = self.scenario.adversary
        first, index, tries = group.key
        rng = np.random.default_rng([self.seed, 0x5245545259, first, index, tries])
        again, later = rng.random(2)
        if again >= adv.retry_probability:
            return None
        p = 1.0 / adv.retry_nights_mean  # nights later: geometric on 1, 2, ... with that mean
        delay = 1 if p >= 1.0 else 1 + int(np.log1p(-later) / np.log1p(-p))
        draws = (*rng.random(2), *rng.standard_normal(2))
        return Retry((first, index, tries + 1), night + delay,
                     tuple(float(d) for d in draws),  # type: ignore[arg-type]
                     float(rng.standard_normal()), group.size)  # fmt: skip

    def choice_probabilities(self, tonight: np.ndarray | None = None) -> np.ndarray:
        """Quantal response: p(site) proportional to exp(rationality x utility), the utility
        lowered by the coverage they remember, blended with the share ``sees_tonight`` of
        ``tonight``'s presence they see (when given)."""
        adv = self.scenario.adversary
        seen = self.coverage
        if tonight is not None:
            seen = (1.0 - adv.sees_tonight) * seen + adv.sees_tonight * tonight
        utility = self.appeal - adv.coverage_weight * seen
        z = adv.rationality * (utility - utility.max())
        p = np.exp(z)
        out: np.ndarray = p / p.sum()
        return out


@dataclass(frozen=True, eq=False)
class Foresight:
    """What the evaluation's clairvoyant reference is told of a night whose organisers see a
    share of tonight's deployment before they choose: their dice and how they answer what
    they see, so that it can place against where they *will* go, facing its own posts."""

    season: Season
    picks: np.ndarray  # each attempt's die for its site, in order

    def organisers(self) -> Organisers:
        """Tonight's organisers as the planner models them (their tastes as tonight's appeal,
        their memory of us is ``season.coverage``)."""
        adv = self.season.scenario.adversary
        return Organisers(
            value=self.season.appeal, rationality=adv.rationality,
            coverage_weight=adv.coverage_weight, memory=adv.memory,
            watch_radius_m=adv.watch_radius_m, presence_weight=adv.presence_weight,
            tonight=adv.sees_tonight,
        )  # fmt: skip

    def presence(self, xy: np.ndarray) -> np.ndarray:
        """(points, sites): what the organisers at each site see of a unit at each point."""
        adv = self.season.scenario.adversary
        seen: np.ndarray = adv.presence_weight * watchers(self.season.site_xy, xy,
                                                          adv.watch_radius_m)  # fmt: skip
        return seen

    def sites(self, present: np.ndarray) -> np.ndarray:
        """(k, attempts): the sites tonight's attempts go to, for each of ``k`` deployments
        given by what the organisers would see of them ((k, sites), summed ``presence``), as
        the night itself picks them (``Season.choice_probabilities``, the same dice)."""
        adv = self.season.scenario.adversary
        share = adv.sees_tonight
        seen = (1.0 - share) * self.season.coverage + share * np.minimum(present, 1.0)
        utility = self.season.appeal - adv.coverage_weight * seen
        z = adv.rationality * (utility - utility.max(axis=1, keepdims=True))
        p = np.exp(z)
        cum = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
        at = (cum[:, :, None] <= self.picks[None, None, :]).sum(axis=1)
        out: np.ndarray = np.minimum(at, cum.shape[1] - 1)
        return out


@dataclass(eq=False)
class Night:
    """A night set up on its kernel: step ``env`` (at any pace), then ``finish``."""

    env: Environment
    result: NightResult
    end_s: float
    units: list[SimUnit]
    finish: Callable[[], NightResult]


def run_night(season: Season, observer: Observer | None = None) -> NightResult:
    """Play one night of ``season`` at full speed; its adversary learns from what it saw."""
    night = begin_night(season, observer)
    night.env.run(until=night.end_s)
    return night.finish()


def begin_night(season: Season, observer: Observer | None = None) -> Night:
    """Set one night of ``season`` up on a fresh kernel."""
    sc, coast, rng = season.scenario, season.coast, season.rng
    sen, adv = sc.sensors, sc.adversary
    env = Environment()
    night = season.nights
    season.nights += 1
    dark = sc.night_hours * 3600.0
    dice = season.night_rng
    calm = bool(dice.random() < sc.weather.calm_probability)
    weather = 1.0 if calm else sc.weather.rough_detection_factor
    res = NightResult(night, calm)
    h0 = sc.night_start_h

    def clock(h: float) -> float:
        return ((h - h0) % 24) * 3600.0

    units: list[SimUnit] = []
    groups: list[Group] = []
    walking: list[tuple[Group, float, float]] = []  # (group, leaves hiding, reaches the beach)
    boat_of: dict[str, Group] = {}  # a group's boat and engine, when brought apart
    party_of: dict[str, Group] = {}  # and the group a boat is for
    seen_at_site = np.zeros(len(coast.sites))
    arrival_times: list[float] = []

    # --- the adversary's plan for the night ----------------------------------------------
    # Every die of the night's attempts is drawn before anything else happens, so that two
    # policies played with one seed face the same dice whatever they do.
    rate = adv.attempts_per_calm_night * (1.0 if calm else sc.weather.rough_attempt_factor)
    fresh = int(dice.poisson(rate))
    draws = [(*dice.random(2), *dice.standard_normal(2)) for _ in range(fresh)]
    # Groups turned back on earlier nights trying again (their own dice, after tonight's own:
    # a policy that turns more back faces more attempts, the same fresh ones); on a rough
    # night they wait for the next.
    again = season.retries.pop(night, [])
    if again and not calm:
        season.retries.setdefault(night + 1, []).extend(again)
        again = []
    draws += [r.draws for r in again]
    res.retries = len(again)

    def pick_sites(probs: np.ndarray) -> list[int]:
        cum = np.cumsum(probs)
        top = len(probs) - 1
        return [min(int(np.searchsorted(cum, d[0], side="right")), top) for d in draws]

    sites = pick_sites(season.choice_probabilities())

    # --- tonight's deployment ------------------------------------------------------------
    # Posted after the adversary's plan is drawn (a deployer draws from its own stream); only
    # the clairvoyant reference of the evaluation (``Oracle``) is told where tonight's
    # attempts will be (where the organisers would go if they saw none of tonight's posts)
    # and, when they see some of them, how they answer what they see (``Foresight``).
    deploy = season.deploy
    if deploy is None:
        posts: Mapping[str, tuple[float, float] | Beat] = {}
    elif getattr(deploy, "clairvoyant", False):
        if adv.sees_tonight > 0.0:  # where they go depends on what they see: how they answer
            told = Foresight(season, np.array([d[0] for d in draws], dtype=np.float64))
            posts = deploy(night, list(sites), told)  # type: ignore[call-arg]
        else:
            posts = deploy(night, list(sites))  # type: ignore[call-arg]
    else:
        posts = deploy(night)
    # A unit or drone stands at its post or works a beat (``Beat``: a patrol's route, a
    # drone's orbit sequence, one orbit a flight); the organisers see it at every stop.
    watched: list[tuple[float, float]] = []
    for u in sc.units:
        at = posts.get(u.id) or coast.to_xy(u.lon, u.lat)
        end = clock(u.end_h) or dark
        beat = at if isinstance(at, Beat) else None
        x, y = beat.stops[0] if beat is not None else at  # type: ignore[misc]
        units.append(SimUnit(u.id, u.kind, x, y, clock(u.start_h), end, beat=beat))
        watched += list(beat.stops) if beat is not None else [(x, y)]
    drones: list[tuple[DroneSpec, tuple[tuple[float, float], ...], float, float]] = []
    for d in sc.drones:
        at = posts.get(d.id) or coast.to_xy(d.lon, d.lat)
        orbits = at.stops if isinstance(at, Beat) else (at,)  # its centres, one a flight
        drones.append((d, orbits, clock(d.start_h), clock(d.end_h) or dark))
        watched += list(orbits)
    present = np.zeros(len(coast.sites))
    for wx, wy in watched:
        near = np.hypot(season.site_xy[:, 0] - wx, season.site_xy[:, 1] - wy)
        present[near < adv.watch_radius_m] += adv.presence_weight
    if adv.sees_tonight > 0.0:  # they see some of tonight's posts before they choose
        sites = pick_sites(season.choice_probabilities(np.minimum(present, 1.0)))

    # --- the attempts ----------------------------------------------------------------------
    # With hiding (``HidingSpec``), a group reaches its hiding place behind the beach, waits,
    # walks the last stretch and reaches the beach when it would have without hiding: the
    # beach's timing, and every die before it, are the same with hiding or without.
    hide = sc.hiding
    hides = coast.hides if hide.on else None
    waits = (
        np.concatenate([season.hide_rng.standard_normal(fresh), [r.wait_z for r in again]])
        if hides is not None else None
    )  # fmt: skip
    walks = coast.walk_s() * hide.walk_factor if hides is not None else None
    # With a tide (``TideSpec``), boats go out around high water: each launch starts the same
    # share of the way along tonight's windows as it would along the whole dark without one.
    tides = tide_windows(sc.tide, night, h0, dark) if sc.tide.on else None
    for i, ((pick, u_start, z_prep, z_size), site) in enumerate(zip(draws, sites, strict=True)):
        del pick
        prep = max(300.0, (adv.prep_minutes_mean + adv.prep_minutes_sd * z_prep) * 60.0)
        launch = adv.launch_minutes * 60.0
        start = u_start * max(1.0, dark - prep - launch)
        if tides is not None:
            fits = [(max(a, prep), min(b, dark - launch)) for a, b in tides]
            launch_at = _along(u_start, [(a, b) for a, b in fits if b > a])
            start = start if launch_at is None else launch_at - prep
        sx, sy = season.site_xy[site]
        size = max(5, int(adv.group_size_mean * (1.0 + 0.25 * z_size)))
        key = (night, i, 0)
        if i >= fresh:  # a group trying again: the same people
            key, size = again[i - fresh].key, again[i - fresh].size
        group = Group(f"n{night}-g{i}", site, float(sx), float(sy), size,
                      visible=float(season.visible[site]), key=key)  # fmt: skip
        res.sites.append(site)
        at_beach = start
        if hides is not None and waits is not None and walks is not None:
            walk = float(walks[site])
            wait = max(0.0, (hide.wait_minutes_mean + hide.wait_minutes_sd * waits[i]) * 60.0)
            walk_from = max(0.0, start - walk)
            start = max(0.0, walk_from - wait)
            hx, hy = hides.xy[site]
            group.x, group.y, group.state = float(hx), float(hy), "hiding"
            group.visible = group.noticed = 1.0 - hide.hidden * float(hides.cover[site])
            walking.append((group, walk_from, at_beach))
        if adv.boat_ahead_minutes > 0.0:  # the boat and engine, brought apart and hidden
            # cold: no heat for a drone or the aircraft to see (visible 0)
            boat = Group(f"{group.id}-boat", site, float(sx), float(sy), 0, state="cache",
                         visible=0.0, noticed=adv.boat_noticed, key=key)  # fmt: skip
            boat_of[group.id], party_of[boat.id] = boat, group

            def hide_boat(b: Group = boat) -> None:
                groups.append(b)

            env.at(max(0.0, at_beach - adv.boat_ahead_minutes * 60.0), hide_boat)

        def arrive(
            g: Group = group, prep: float = prep, launch: float = launch, beach: float = at_beach
        ) -> None:
            groups.append(g)
            res.attempts += 1

            def reach_beach() -> None:
                if g.state in _INLAND:
                    g.state, g.x, g.y = "preparing", float(sx_of[g.site]), float(sy_of[g.site])
                    g.visible = float(season.visible[g.site])
                    env.after(prep, start_launch)

            def start_launch() -> None:
                if g.state == "preparing":
                    g.state = "launching"
                    if g.id in boat_of and boat_of[g.id].state == "cache":
                        boat_of[g.id].state = "used"  # on the water now
                    env.after(launch, finish_launch)

            def finish_launch() -> None:
                if g.state == "launching":
                    g.state = "launched"
                    res.launched += 1
                    trouble = bool(rng.random() < sc.sea.difficulty_probability)
                    res.rescue_cases += trouble
                    if observer is not None:
                        observer.launched(env.now, g, trouble)

            if g.state == "hiding":
                env.at(beach, reach_beach)
            else:
                env.after(prep, start_launch)

        env.at(start, arrive)
        arrival_times.append(start)
    sx_of, sy_of = season.site_xy[:, 0], season.site_xy[:, 1]

    cameras = [(c, *coast.to_xy(c.lon, c.lat)) for c in sc.cameras]
    beats = [u for u in units if u.beat is not None]

    def active() -> list[Group]:
        return [g for g in groups if g.state in _ACTIVE]

    def walk_on() -> None:
        """Groups leave their hiding places when it is time, and walk on (each minute)."""
        assert hides is not None  # noqa: S101 (no one walks without hiding places)
        for g, leave, beach in walking:
            if g.state not in _INLAND or env.now < leave:
                continue
            if g.state == "hiding":
                g.state, g.visible, g.noticed = "walking", 1.0, 1.0  # across the dunes
            f = min(1.0, (env.now - leave) / max(1.0, beach - leave))
            (hx, hy), (bx, by) = hides.xy[g.site], season.site_xy[g.site]
            g.x, g.y = float(hx + f * (bx - hx)), float(hy + f * (by - hy))

    def turned_back(g: Group) -> None:
        """A group deterred or stopped may try again on a later night."""
        if adv.retry_probability > 0.0:
            retry = season.retry_of(g, night)
            if retry is not None:
                season.retries.setdefault(retry.night, []).append(retry)

    # --- detection and dispatch ----------------------------------------------------------
    def detect(
        g: Group | None,
        x: float,
        y: float,
        sensor: str,
        go_x: float | None = None,
        go_y: float | None = None,
    ) -> None:
        """A sighting at (x, y); the unit is sent there, or to (go_x, go_y) when given."""
        if g is not None:
            if g.detected_at is not None:
                return
            g.detected_at, g.detected_by = env.now, sensor
            res.detected += 1
            res.found_sites.append(g.site)
            seen_at_site[g.site] += 1
        else:
            res.false_alarms += 1
        if observer is not None:
            observer.detection(env.now, g, x, y, sensor)
        dispatch(g, x if go_x is None else go_x, y if go_y is None else go_y)

    def dispatch(g: Group | None, x: float, y: float) -> None:
        free = [u for u in units if u.available(env.now)]
        if not free:
            res.unanswered += 1
            return
        target = coast.engine.resolve(x, y)
        if isinstance(target, str):
            res.unanswered += 1
            return
        # a unit on a beat is sent from the stop it is nearest (whose times are known)
        asked = [UnitAt(u.id, _PROFILE[u.kind], *(u.stop or (u.x, u.y))) for u in free]
        # The live demo draws each route, which only the engine itself gives.
        etas = coast.engine.eta(target, asked) if observer is not None else coast.eta(target, asked)
        best = next((e for e in etas if e.reachable and e.eta_s is not None), None)
        if best is None or best.eta_s is None:
            res.unanswered += 1
            return
        unit = next(u for u in free if u.id == best.unit_id)
        travel = sc.tasking_delay_s + best.eta_s
        # a unit on a beat then walks back to it as long as it took to come
        back = best.eta_s if unit.beat is not None else 0.0
        unit.busy_until = env.now + travel + sc.on_scene_minutes * 60.0 + back
        unit.task = g.id if g is not None else "false-alarm"
        detected = env.now
        if observer is not None:
            route = (
                np.concatenate([leg.points for leg in best.legs])
                if best.legs
                else np.array([[unit.x, unit.y], [target.x, target.y]])
            )
            observer.tasked(env.now, unit, g, best.eta_s, route)

        def on_scene() -> None:
            unit.x, unit.y, unit.stop = target.x, target.y, None
            outcome = "nothing_found"
            if g is not None:
                if g.state in _UNLAUNCHED:
                    res.intercepted_inland += g.state in _INLAND
                    g.state, outcome = "intercepted", "intercepted_before_launch"
                    res.intercepted += 1
                    res.people_intercepted += g.size
                    turned_back(g)
                elif g.state == "launching":
                    g.state, outcome = "prevented", "launch_prevented"
                    res.launch_prevented += 1
                    res.people_intercepted += g.size
                    turned_back(g)
                elif g.state == "cache":  # seized: the group has no boat to go out in
                    g.state, outcome = "seized", "boat_or_equipment_seized"
                    party = party_of[g.id]
                    if party.state in _UNLAUNCHED:
                        party.state = "no_boat"
                        res.boats_seized += 1
                        turned_back(party)
                elif g.state == "launched":
                    outcome = "boat_launched"
                res.response_s.append(env.now - detected)
            if observer is not None:
                observer.arrived(env.now, unit, g, outcome)

        env.after(travel, on_scene)

    # --- sensors: drones scan; cameras, patrols and deterrence every minute ---------------
    flight, swap = sen.drone_flight_min * 60.0, sen.drone_swap_min * 60.0

    arrivals = sorted(arrival_times)

    def scan(
        d: DroneSpec, orbits: tuple[tuple[float, float], ...], start: float, end: float
    ) -> None:
        if env.now >= end:
            return
        live = active()
        if ((env.now - start) % (flight + swap)) < flight:
            # its orbit on this flight: a sequence's next centre each flight
            dx, dy = orbits[int((env.now - start) // (flight + swap)) % len(orbits)]
            for g in live:
                dist = math.hypot(g.x - dx, g.y - dy)
                if dist > d.radius_m:
                    continue
                p = sen.drone_p0 * math.exp(-dist / sen.drone_range_m) * weather
                p *= g.visible
                if rng.random() < p:
                    detect(g, g.x, g.y, d.id)
        # The next scan that can find anyone: a scan finds no one while the drone is changing
        # battery, or while no group is on the beach and none has arrived since. Those scans
        # are stepped over, to the same tick (the same sums) as scanning every drone_scan_s
        # would reach, and drew no dice: the night is the same, with a third of the events.
        nxt = env.now + max(0.0, sen.drone_scan_s)
        k = bisect.bisect_right(arrivals, env.now)
        quiet_until = (arrivals[k] if k < len(arrivals) else math.inf) if not live else -math.inf
        while nxt < end and (nxt < quiet_until or ((nxt - start) % (flight + swap)) >= flight):
            nxt += max(0.0, sen.drone_scan_s)
        if nxt < end:
            env.at(nxt, lambda: scan(d, orbits, start, end))

    for d, orbits, start, end in drones:

        def first_scan(
            d: DroneSpec = d,
            o: tuple[tuple[float, float], ...] = orbits,
            s: float = start,
            e: float = end,
        ) -> None:
            scan(d, o, s, e)

        env.at(start, first_scan)

    # Aircraft sweep the coast from one end to the other and back (sites are in coast order).
    flights = [(a, clock(a.start_h), clock(a.end_h) or dark) for a in sc.aircraft]

    def aircraft_position(a: AircraftSpec, start: float) -> tuple[float, float]:
        phase = ((env.now - start) / (a.sweep_minutes * 60.0)) % 2.0
        along = phase if phase <= 1.0 else 2.0 - phase
        i = min(len(season.site_xy) - 1, int(along * (len(season.site_xy) - 1)))
        return float(season.site_xy[i, 0]), float(season.site_xy[i, 1])

    def minute() -> None:
        for u in beats:
            u.keep_beat(env.now)
        if walking:
            walk_on()
        live = active()
        for a, start, end in flights:
            if not (start <= env.now < end):
                continue
            ax, ay = aircraft_position(a, start)
            for g in live:
                in_swath = math.hypot(g.x - ax, g.y - ay) <= a.swath_m
                if in_swath and rng.random() < a.p * weather * g.visible:
                    detect(g, g.x, g.y, a.id)
        for g in live:
            for c, cx, cy in cameras:
                if (math.hypot(g.x - cx, g.y - cy) <= c.range_m
                        and rng.random() < sen.camera_p * g.noticed):  # fmt: skip
                    detect(g, g.x, g.y, c.id)
            for u in units:
                if not (u.start_s <= env.now < u.end_s):
                    continue
                dist = math.hypot(g.x - u.x, g.y - u.y)
                if dist <= adv.abandon_radius_m and g.state in _UNLAUNCHED and u.task is None:
                    g.state = "deterred"
                    res.deterred += 1
                    turned_back(g)
                    seen_at_site[g.site] += 1
                    break
                if dist <= sen.patrol_roam_m and rng.random() < sen.patrol_p * weather * g.noticed:
                    detect(g, g.x, g.y, u.id)
        if rng.random() < sen.false_alarms_per_hour / 60.0:
            site = int(rng.integers(len(coast.sites)))
            fx, fy = season.site_xy[site]
            # Reported within a few hundred metres of a beach; the unit is sent to that beach.
            seen_x, seen_y = float(fx) + rng.normal(0, 150), float(fy) + rng.normal(0, 150)
            detect(None, seen_x, seen_y, "camera", float(fx), float(fy))
        for u in units:
            if u.task is not None and env.now >= u.busy_until:
                u.task = None
                u.keep_beat(env.now)
        if env.now + 60.0 < dark:
            env.after(60.0, minute, LATE)

    env.at(0.0, minute, LATE)

    def finish() -> NightResult:
        # What the organisers take away: where they saw drones and patrols, and where they
        # met them.
        tried = np.bincount(np.asarray(res.sites, dtype=np.int64), minlength=len(coast.sites))
        observed = np.clip(present + np.divide(seen_at_site, np.maximum(tried, 1)), 0.0, 1.0)
        season.coverage = adv.memory * season.coverage + (1.0 - adv.memory) * observed
        observe = getattr(season.deploy, "observe", None)
        if observe is not None:  # a deployer that learns from what it saw (``MemoryPolicy``)
            observe(res)
        return res

    return Night(env, res, dark + 4 * 3600.0, units, finish)
