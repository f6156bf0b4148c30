"""Tonight's plan in the command centre: computed from the live picture, published as
proposed posts for the commander.

The planner works with the units the caller can see that are available now (a unit on a task,
above all a rescue task, is left out: life at sea first), the scenario's adversary and sensor
models, the attempts seen on recent nights (incidents near each launch site), and, re-planning
(``ahead``, the default), where the accepted posts of the last 7 nights stood: what the
organisers saw of us, which they remember and avoid. Each
unit's post becomes a ``post`` record, proposed, with its explanation; a commander accepting
one is tasking (their own agency's units only). A new plan withdraws the last plan's posts
still proposed. Posts stand on the beaches and dunes or over them: a plan never proposes
acting at sea.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from estran.domain.errors import NotFoundError, NotReadyError, ValidationFailedError
from estran.domain.events import CommandIn
from estran.domain.messages import msg
from estran.domain.timefmt import parse_stamp
from estran.i18n import translate
from estran.services.planning import KINDS, Learned, Planner, Resources, tonight
from estran.sim.night import coast_from

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from estran.domain.picture import Picture
    from estran.domain.planning import PostSet, Strategy
    from estran.domain.policy import Principal
    from estran.domain.prepared import PreparedTerrain
    from estran.services.ledger import Ledger
    from estran.services.terrain import TerrainService
    from estran.sim.night import Coast
    from estran.sim.scenario import Scenario

__all__ = [
    "ATTEMPT_TYPES",
    "PlanService",
    "deployments_by_night",
    "found_by_night",
    "night_of",
    "points_by_night",
    "strategy_for",
]

ATTEMPT_TYPES = frozenset({"group_sighted", "boat_being_prepared", "launch_attempt",
                           "boat_launched"})  # fmt: skip
HISTORY_DAYS = 30
HISTORY_RADIUS_M = 2000.0
HISTORY_MIN = 5  # fewer attempts than this tell nothing about the sites' values
PLAN_STAMP = "%Y%m%dT%H%M%S"  # the moment a plan was made, in its id
MEMORY_NIGHTS = 7  # the organisers' memory fades by 0.7 a night: a week is 92 % of it
LEARN_NIGHTS = 30  # the nights the organisers are learnt from (as the sites' history)


def night_of(t: datetime) -> date:
    """The night a moment belongs to, named by the evening's date (noon to noon, UTC)."""
    return (t.astimezone(UTC) - timedelta(hours=12)).date()


def deployments_by_night(
    posts: Iterable[dict[str, Any]],
    kind_of: Callable[[str], str | None],
    now: datetime,
    to_xy: Callable[[float, float], tuple[float, float]],
    nights: int = MEMORY_NIGHTS,
) -> list[list[tuple[str, float, float]]]:
    """Where accepted posts stood on each of the ``nights`` nights before tonight, oldest
    first, as (the unit's kind, x, y) in metres (empty for a night with none): what the
    organisers saw. A post's night is its plan's (the plan id carries the moment it was
    made); a post whose unit is unknown counts as a foot patrol."""
    tonight = night_of(now)
    by: dict[date, list[tuple[str, float, float]]] = {
        tonight - timedelta(days=k): [] for k in range(nights, 0, -1)
    }
    for p in posts:
        pos = p.get("position")
        if p.get("status") != "accepted" or not pos:
            continue
        try:
            made = datetime.strptime(str(p.get("plan_id", ""))[5:20], PLAN_STAMP)
        except ValueError:
            continue
        night = night_of(made.replace(tzinfo=UTC))
        if night in by:
            x, y = to_xy(pos["lon"], pos["lat"])
            by[night].append((kind_of(str(p.get("unit_id", ""))) or KINDS[0], x, y))
    return list(by.values())


def points_by_night(deployments: list[list[tuple[str, float, float]]]) -> list[np.ndarray]:
    """Each night's deployment (``deployments_by_night``) as the points where units stood
    (metres, (n, 2) each; empty for a night with none)."""
    return [
        np.array([(x, y) for _, x, y in night], dtype=np.float64).reshape(-1, 2)
        for night in deployments
    ]


def found_by_night(
    incidents: Iterable[dict[str, Any]],
    now: datetime,
    to_xy: Callable[[float, float], tuple[float, float]],
    site_xy: np.ndarray,
    nights: int = LEARN_NIGHTS,
) -> np.ndarray:
    """(nights, sites): the attempts found near each launch site (within 2 km, the nearest
    site) on each of the ``nights`` nights before tonight, oldest first: a group sighted, a
    boat being prepared, launched or launching, each incident once, on its night."""
    tonight = night_of(now)
    found = np.zeros((nights, len(site_xy)))
    for inc in incidents:
        if inc.get("type") not in ATTEMPT_TYPES or not inc.get("position"):
            continue
        try:
            back = (tonight - night_of(parse_stamp(inc["observed_at"]))).days
        except (KeyError, TypeError, ValueError):
            continue
        if not 1 <= back <= nights:
            continue
        x, y = to_xy(inc["position"]["lon"], inc["position"]["lat"])
        d = np.hypot(site_xy[:, 0] - x, site_xy[:, 1] - y)
        if d.min() <= HISTORY_RADIUS_M:
            found[nights - back, int(np.argmin(d))] += 1
    return found


def strategy_for(
    planner: Planner, method: str, nights: list[np.ndarray], learned: Learned | None = None
) -> Strategy:
    """The plan for ``method``: ``ahead`` places tonight's units against the organisers'
    memory of ``nights``, as ``learned`` from the centre's own nights once enough groups were
    found, else as the scenario assumes them (the static ``qr`` plan when they saw nothing of
    us); ``qr`` or ``sse``."""
    if method != "ahead":
        return planner.plan(method)
    if learned is not None and learned.fit is not None:
        return planner.plan_ahead(learned.seen, learned.organisers)
    if not any(len(n) for n in nights):
        return planner.plan("qr")
    return planner.plan_ahead(planner.seen(nights))


class PlanService:
    def __init__(
        self,
        terrain: TerrainService,
        picture: Picture,
        ledger: Ledger,
        scenario: Scenario,
        posts_for: Callable[[PreparedTerrain, Callable[[str, float], None]], PostSet],
        now: Callable[[], datetime],
    ) -> None:
        self.terrain = terrain
        self.picture = picture
        self.ledger = ledger
        self.scenario = scenario
        self.posts_for = posts_for
        self.now = now
        self.latest: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self.coverage_model = "waiting for the terrain"
        self.coverage_model_s: float | None = None
        self.coverage_progress = 0.0  # while preparing: the share done (written by its thread)
        self._preparing_since: float | None = None
        self._building = asyncio.Lock()  # one build at a time; a plan waits for the warm-up
        # The coast per terrain, kept: with hiding places its walks take the engine seconds.
        self._coasts: dict[str, Coast] = {}

    async def _posts(self, terrain: PreparedTerrain) -> PostSet:
        async with self._building:
            return await asyncio.to_thread(self.posts_for, terrain, self._progress)

    def _progress(self, _stage: str, fraction: float) -> None:
        self.coverage_progress = max(0.0, min(1.0, fraction))

    def status(self) -> dict[str, Any]:
        """Whether the coverage model is ready; while it is prepared, how far it is (the Plan
        tab shows it, since a plan asked for meanwhile waits for it)."""
        since = self._preparing_since
        return {
            "coverage_model": self.coverage_model,
            "prepared_in_s": self.coverage_model_s,
            "progress": 1.0 if self.coverage_model == "ready" else round(self.coverage_progress, 3),
            "elapsed_s": None if since is None else round(time.monotonic() - since, 1),
        }

    async def warm(self) -> None:
        """Prepare the coverage model ahead (a supervised loop on every node): once the
        terrain is ready, the candidate posts and what each covers, the costly part of a
        plan (about 9 s on the Côte d'Opale), are built or read from their cache, so tonight's
        first plan answers in about a second, as the later ones do. Then it idles."""
        while True:
            try:
                terrain = self.terrain.terrain()
                break
            except NotReadyError:
                await asyncio.sleep(1.0)
        self.coverage_model = "preparing"
        started = self._preparing_since = time.monotonic()
        await self._posts(terrain)
        self.coverage_model_s = round(time.monotonic() - started, 2)
        self.coverage_model = "ready"
        self._preparing_since = None
        await asyncio.Event().wait()

    def resources(
        self, terrain: PreparedTerrain, visible: Callable[[Any], bool]
    ) -> list[Resources]:
        """Available units the caller can see, by kind (one shift: the night)."""
        sc = self.scenario
        busy = {t["unit_id"] for t in self.picture.all("task")
                if t.get("status") not in ("done", "failed", "cancelled", "replaced")}  # fmt: skip
        by_kind: dict[str, list[tuple[str, tuple[float, float]]]] = {}
        for u in self.picture.all("unit"):
            if u.get("kind") not in KINDS or not visible(u) or u["id"] in busy:
                continue
            if u.get("status") not in (None, "available") or not u.get("position"):
                continue
            pos = u["position"]
            xy = terrain.projector.to_xy(pos["lon"], pos["lat"])
            by_kind.setdefault(u["kind"], []).append((u["id"], xy))
        return [
            Resources(k, sc.night_start_h, sc.night_end_h, tuple(i for i, _ in m),
                      tuple(xy for _, xy in m))
            for k in KINDS
            if (m := sorted(by_kind.get(k, [])))
        ]  # fmt: skip

    def history(
        self, terrain: PreparedTerrain, visible: Callable[[Any], bool]
    ) -> np.ndarray | None:
        """Attempts seen near each launch site over the last 30 days (visible incidents)."""
        since = self.now() - timedelta(days=HISTORY_DAYS)
        sites = np.array([[s.x, s.y] for s in terrain.sites])
        counts = np.zeros(len(sites))
        for inc in self.picture.all("incident"):
            if inc.get("type") not in ATTEMPT_TYPES or not visible(inc):
                continue
            if parse_stamp(inc["observed_at"]) < since:
                continue
            x, y = terrain.projector.to_xy(inc["position"]["lon"], inc["position"]["lat"])
            d = np.hypot(sites[:, 0] - x, sites[:, 1] - y)
            if d.min() <= HISTORY_RADIUS_M:
                counts[int(np.argmin(d))] += 1
        return counts if counts.sum() >= HISTORY_MIN else None

    async def publish(
        self,
        who: Principal,
        visible: Callable[[Any], bool],
        *,
        method: str,
        seed: int | None,
        source: str,
    ) -> dict[str, Any]:
        """Compute tonight's plan and publish its posts as proposals, all or nothing."""
        terrain = self.terrain.terrain()
        async with self._lock:
            resources = self.resources(terrain, visible)
            if not resources:
                raise ValidationFailedError(
                    msg(
                        "no available foot patrol, buggy, 4x4 or drone that you can see "
                        "to plan with"
                    )
                )
            history = self.history(terrain, visible)
            posts = await self._posts(terrain)

            kinds = {u["id"]: str(u.get("kind")) for u in self.picture.all("unit") if visible(u)}
            stood = deployments_by_night(
                (p for p in self.picture.all("post") if visible(p)),
                kinds.get,
                self.now(),
                terrain.projector.to_xy,
                nights=LEARN_NIGHTS,
            )
            seen = points_by_night(stood[-MEMORY_NIGHTS:])
            found = found_by_night(
                (i for i in self.picture.all("incident") if visible(i)),
                self.now(),
                terrain.projector.to_xy,
                np.array([[s.x, s.y] for s in terrain.sites]),
            )

            def solve() -> tuple[Learned, dict[str, Any]]:
                coast = self._coasts.get(terrain.key)
                if coast is None:
                    coast = self._coasts[terrain.key] = coast_from(terrain)
                planner = Planner(self.scenario, coast, posts, history=history,
                                  resources=resources)  # fmt: skip
                learned = planner.learn(list(zip(stood, found, strict=True)))
                strategy = strategy_for(planner, method, seen, learned)
                rng = np.random.default_rng(seed)
                return learned, tonight(planner, strategy, rng, terrain.projector.to_lonlat)

            learned, plan = await asyncio.to_thread(solve)
            for post in plan["posts"]:  # stored in both languages: read by French and British
                post["why_fr"] = translate(post["why"], "fr")
            stamp = self.now().strftime(PLAN_STAMP)
            plan_id = f"plan-{stamp}-{secrets.token_hex(3)}"
            commands = [
                CommandIn(type="post.updated", entity_id=p["id"], data={"status": "withdrawn"})
                for p in self.picture.all("post")
                if p.get("status") == "proposed" and visible(p)
            ]
            created = []
            for post in plan["posts"]:
                if post.get("post") is None:
                    continue
                pid = f"post-{plan_id[5:]}-{post['unit_id']}"[:128]
                post["id"] = pid
                created.append(pid)
                commands.append(CommandIn(type="post.created", data={
                    "id": pid,
                    "plan_id": plan_id,
                    "unit_id": post["unit_id"],
                    "position": {"lat": post["lat"], "lon": post["lon"], "error_m": 50.0},
                    "covers": post["covers"],
                    "coverage": post["coverage"],
                    "manned_share": post["manned_share"],
                    "why": post["why"][:2000],
                    "why_fr": post["why_fr"][:2000],
                }))  # fmt: skip
            await self.ledger.submit(commands, actor=who.id, source=source, principal=who)
            first = self.picture.get("post", created[0]) if created else None
            marking = (first or {}).get("marking") or self.ledger.default_marking.model_dump(
                mode="json"
            )
            plan.update(
                plan_id=plan_id,
                created_at=self.now().isoformat(),
                by=who.id,
                history_attempts=int(history.sum()) if history is not None else 0,
                posts_remembered=sum(len(n) for n in seen),
                organisers=learned.as_dict(),
                units=sum(len(r.ids) for r in resources),
                marking=marking,
            )
            self.latest = plan
            return plan

    def last(self, visible: Callable[[Any], bool]) -> dict[str, Any]:
        """The latest plan, for those who may see a record marked as its posts are."""
        plan = self.latest
        if plan is None:
            raise NotFoundError("plan", "latest", msg("no plan published yet / aucun plan publié"))
        if not visible({"entity": "post", "marking": plan["marking"]}):
            # Said, not hidden: the liaison desk must know to ask for it, not think none exists.
            missing = NotFoundError(
                "plan", "latest", msg("tonight's plan exists and is not released to you / le plan "
                "de cette nuit existe mais ne vous est pas communiqué"),
            )  # fmt: skip
            missing.details = [{"kind": "plan", "id": "latest", "released": False}]
            raise missing
        return plan
