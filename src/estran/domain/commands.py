"""Decide: turn a client's command into an event, or refuse it with a reason.

Pure: the clock's reading, the actor and the id generator come in a ``Context``. The checks
here are the domain rules every path (REST, bulk events, CoT, import) goes through: schema,
references to existing records, unique ids, status lifecycles, and times not in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from estran.domain.consistency import check_consistency
from estran.domain.errors import (
    AlreadyExistsError,
    FutureTimeError,
    InvalidTransitionError,
    NotFoundError,
    OutsideAreaError,
    PermissionDeniedError,
    TimeOutOfRangeError,
    UnknownReferenceError,
    ValidationFailedError,
)
from estran.domain.events import CommandIn, Event
from estran.domain.marking_rules import check_marking_change
from estran.domain.markings import Marking
from estran.domain.messages import msg
from estran.domain.policy import (
    SYSTEM,
    Policy,
    Principal,
    Role,
    action_for,
    authorize,
    can_see,
    classification_rank,
    enforce,
    observer_scope,
)
from estran.domain.records import KINDS, KindSpec
from estran.domain.rescue import check_life_at_sea
from estran.domain.timefmt import EARLIEST, stamp

if TYPE_CHECKING:
    from collections.abc import Callable

    from estran.domain.area import OperatingArea

__all__ = ["Context", "RecordView", "decide", "pydantic_details"]

Record = dict[str, Any]


class RecordView(Protocol):
    def get(self, kind: str, entity_id: str) -> Record | None: ...


@dataclass(frozen=True)
class Context:
    received_at: datetime
    actor: str
    source: str
    default_marking: Marking
    max_future_skew_s: float
    new_id: Callable[[], str]
    principal: Principal = SYSTEM
    policy: Policy | None = None
    """None only where every command comes from Estran itself (the system principal)."""
    retention_days: Callable[[str], float] | None = None
    """The legal retention period of a kind of record, in days (no marking may shorten it)."""
    area: OperatingArea | None = None
    """Where positions are expected; beyond it a person's command is refused unless it says
    the position is deliberate (Estran's own services are not checked)."""


def pydantic_details(
    exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    return [
        {"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _check_references(
    view: RecordView, spec: KindSpec, data: Record, sees: Callable[[Record], bool]
) -> None:
    """Every id the record refers to exists and is visible to the principal: a hidden record
    is refused exactly as a missing one is, so its existence is not revealed."""
    for field_name, target in spec.references.items():
        ref = data.get(field_name)
        if ref is not None:
            found = view.get(target, ref)
            if found is None or not sees(found):
                raise UnknownReferenceError(target, ref, field_name)
    for field_name, target in spec.list_references.items():
        for ref in data.get(field_name) or ():
            found = view.get(target, ref)
            if found is None or not sees(found):
                raise UnknownReferenceError(target, ref, field_name)


class _Guard:
    """The policy applied to one command: visibility, then each action it amounts to."""

    def __init__(self, view: RecordView, ctx: Context) -> None:
        self.view = view
        self.ctx = ctx
        self.who = ctx.principal
        self.policy = ctx.policy
        self.now = stamp(ctx.received_at)
        self.trusted = self.who.role == Role.SYSTEM or self.policy is None
        self._scope: frozenset[tuple[str, str]] | None = None

    @property
    def scope(self) -> frozenset[tuple[str, str]] | None:
        if (
            self._scope is None
            and self.policy is not None
            and not self.trusted
            and self.policy.roles[self.who.role].sees == "attached_unit"
        ):
            tasks_view: Any = self.view
            self._scope = observer_scope(tasks_view, self.who.attached_unit)
        return self._scope

    def sees(self, record: Record) -> bool:
        if self.trusted:
            return True
        assert self.policy is not None  # noqa: S101 (trusted otherwise)
        return can_see(self.policy, self.who, record, now=self.now, scope=self.scope)

    def check(
        self,
        spec: KindSpec,
        verb: str,
        cmd: CommandIn,
        current: Record | None,
        data: Record,
        marking_changed: bool,
    ) -> None:
        if self.trusted:
            return
        assert self.policy is not None  # noqa: S101
        unit = None
        if spec.name in ("task", "post"):
            unit_id = (current or data).get("unit_id")
            unit = self.view.get("unit", unit_id) if unit_id else None
        sector = self._sector(spec.name, current, data)
        for action in action_for(spec.name, verb, data, marking_changed):
            enforce(
                authorize(
                    self.policy,
                    self.who,
                    action,
                    now=self.now,
                    kind=spec.name,
                    record=current,
                    scope=self.scope,
                    unit=unit,
                    justification=cmd.justification,
                    sector=sector,
                )
            )

    def _sector(self, kind: str, current: Record | None, data: Record) -> str | None:
        """The sector an action falls in: the record's own, else its incident's (a task, a
        post, a log line, a rescue case), so a sector-restricted user is held to their sectors
        on every write, not only on incidents."""
        if kind == "incident":
            return (current or {}).get("sector_id") or data.get("sector_id")
        incident_id = (current or {}).get("incident_id") or data.get("incident_id")
        if incident_id is None:
            return None
        incident = self.view.get("incident", incident_id)
        return None if incident is None else incident.get("sector_id")

    def marking_for_create(self, cmd: CommandIn, addressed_to: str | None = None) -> Marking:
        """The new record's marking: the command's, else the originator's default (released
        also to ``addressed_to``, the nation a comment on a partner's record is for)."""
        if self.trusted:
            return cmd.marking or self.ctx.default_marking
        assert self.policy is not None  # noqa: S101
        who = self.who
        nations = self.policy.releasable_default(who.nation)
        base = cmd.marking or self.ctx.default_marking.model_copy(
            update={"releasable_to": sorted({*nations, *([addressed_to] if addressed_to else [])})}
        )
        if classification_rank(base.classification) > classification_rank(who.clearance):
            raise PermissionDeniedError(
                msg(
                    "a record cannot be marked above its originator's clearance ({clearance})",
                    clearance=who.clearance,
                ),
                rule="clearance",
                action="create",
            )
        return Marking.model_validate(
            {
                **base.model_dump(),
                "releasable_to": sorted({*base.releasable_to, who.nation}),
                "originator_agency": who.agency_id,
                "originator_nation": who.nation,
            }
        )


def _same_marking(new: Marking, current: dict[str, Any]) -> bool:
    mine = new.model_dump(mode="json", exclude={"originator_agency", "originator_nation"})
    theirs = {
        k: v for k, v in current.items() if k not in ("originator_agency", "originator_nation")
    }
    return bool(mine == theirs)


def _check_transitions(spec: KindSpec, entity_id: str, current: Record, changes: Record) -> None:
    for field_name, allowed in spec.transitions.items():
        new = changes.get(field_name)
        old = current.get(field_name)
        if new is None or new == old:
            continue
        if new not in allowed.get(str(old), set()):
            raise InvalidTransitionError(spec.name, entity_id, field_name, str(old), str(new))


def _addressed_to(view: RecordView, kind: str, data: Record) -> str | None:
    """The partner nation a comment or proposal on its centre's record is addressed to."""
    foreign_id = data.get("foreign_id") if kind == "log_entry" else None
    foreign = view.get("foreign", foreign_id) if foreign_id else None
    return None if foreign is None else str(foreign["origin_nation"])


def _check_area(data: dict[str, Any], cmd: CommandIn, ctx: Context, *, trusted: bool) -> None:
    pos = data.get("position")
    if ctx.area is None or trusted or cmd.out_of_area == "deliberate" or not pos:
        return
    lat, lon = float(pos["lat"]), float(pos["lon"])
    if not ctx.area.contains(lat, lon):
        swapped = msg(" (latitude and longitude swapped?)") if ctx.area.contains(lon, lat) else ""
        raise OutsideAreaError(
            lat, lon, ctx.area.name,
            msg('{swapped}: refused as a likely mistake; say it is deliberate with '
                '"out_of_area": "deliberate" (REST: the header X-Out-Of-Area: deliberate)',
                swapped=swapped),
        )  # fmt: skip


def decide(view: RecordView, cmd: CommandIn, ctx: Context) -> Event:
    """Validate ``cmd`` against the picture ``view`` and return the event it makes."""
    spec = KINDS[cmd.kind]
    observed = cmd.observed_at or ctx.received_at
    if observed < EARLIEST:
        raise TimeOutOfRangeError(
            msg(
                "observed_at {observed} is before {earliest}: "
                "refused as not a time Estran can have observed",
                observed=observed.isoformat(),
                earliest=EARLIEST.isoformat(),
            ),
            field="observed_at",
        )
    if observed - ctx.received_at > timedelta(seconds=ctx.max_future_skew_s):
        raise FutureTimeError(
            msg(
                "observed_at {observed} is more than {max_future_skew_s:g} s after the "
                "server's clock ({clock})",
                observed=stamp(observed),
                max_future_skew_s=ctx.max_future_skew_s,
                clock=stamp(ctx.received_at),
            ),
            observed_at=stamp(observed),
            limit_s=ctx.max_future_skew_s,
        )
    try:
        data = (
            spec.validate_create(cmd.data)
            if cmd.verb == "created"
            else spec.validate_patch(cmd.data)
        )
    except ValidationError as exc:
        raise ValidationFailedError(
            msg("invalid {name} data", name=spec.name), details=pydantic_details(exc, ("data",))
        ) from exc

    guard = _Guard(view, ctx)
    _check_area(data, cmd, ctx, trusted=guard.trusted)
    current: Record | None = None
    if cmd.verb == "created":
        chosen = cmd.entity_id or data.pop("id", None)
        data.pop("id", None)
        if (
            chosen is not None
            and not guard.trusted
            and guard.policy is not None
            and not guard.policy.roles[guard.who.role].choose_ids
        ):
            raise ValidationFailedError(
                msg(
                    "record ids are assigned by the server for the {role} role", role=guard.who.role
                ),
                details=[{"loc": ["data", "id"], "msg": "leave it out", "type": "forbidden"}],
            )
        guard.check(spec, "created", cmd, None, data, marking_changed=False)
        entity_id = chosen or f"{spec.id_prefix}{ctx.new_id()}"
        if view.get(spec.name, entity_id) is not None:
            raise AlreadyExistsError(spec.name, entity_id)
        marking = guard.marking_for_create(cmd, _addressed_to(view, spec.name, data))
    else:
        if cmd.entity_id is None:
            raise ValidationFailedError(
                msg("an update needs entity_id"),
                details=[{"loc": ["entity_id"], "msg": "required", "type": "missing"}],
            )
        entity_id = cmd.entity_id
        current = view.get(spec.name, entity_id)
        if current is None or not guard.sees(current):
            raise NotFoundError(spec.name, entity_id)
        if not data and cmd.marking is None:
            raise ValidationFailedError(
                msg("an update must change something"),
                details=[{"loc": ["data"], "msg": "empty update", "type": "value_error"}],
            )
        changed = cmd.marking is not None and not _same_marking(cmd.marking, current["marking"])
        if changed and not guard.trusted:
            assert cmd.marking is not None  # noqa: S101 (changed)
            check_marking_change(
                spec.name, current, cmd.marking, ctx.received_at, ctx.retention_days
            )
        guard.check(spec, "updated", cmd, current, data, marking_changed=changed)
        _check_transitions(spec, entity_id, current, data)
        marking = Marking.model_validate(current["marking"])
        if cmd.marking is not None:
            # The originator stays who it was: a release changes who may see, not who wrote.
            marking = cmd.marking.model_copy(
                update={
                    "originator_agency": marking.originator_agency,
                    "originator_nation": marking.originator_nation,
                }
            )
            if changed and not guard.trusted:
                after = {**current, "marking": marking.as_event()}
                if not guard.sees(after):
                    raise ValidationFailedError(
                        msg(
                            "this marking would hide the record from its own releaser: a release "
                            "may never leave a record visible to nobody on duty"
                        ),
                        details=[{"loc": ["marking"], "msg": "hidden", "type": "marking_rule"}],
                    )
    _check_references(view, spec, data, guard.sees)
    check_life_at_sea(view, spec.name, cmd.verb, entity_id, current, data)
    check_consistency(view, spec.name, cmd.verb, entity_id, current, data)
    return Event(
        seq=0,
        event_id=cmd.event_id or ctx.new_id(),
        type=cmd.type,
        kind=spec.name,
        entity_id=entity_id,
        observed_at=stamp(observed),
        received_at=stamp(ctx.received_at),
        actor=ctx.actor,
        source=ctx.source,
        marking=marking.as_event(),
        data=data,
    )
