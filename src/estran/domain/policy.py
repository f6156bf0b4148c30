"""Who may do what: the policy as data plus one decision function.

The policy (``data/policy.toml``, parsed by ``parse_policy``) says what each role may do; the
decision function ``authorize`` applies it to one principal, one action and, where there is
one, one record, and returns a ``Decision``: allowed or not, the rule that decided, and why.
``can_see`` is the read half, used on every read path (REST, stream, CoT, export, replay,
figures). Pure: the caller brings the clock's reading and, for an observer, the scope of the
unit they ride with (``observer_scope``).

Rules, in the order they are checked (the names appear in decisions and the audit trail):

``expired``          an observer's attachment has ended
``role``             the role does not include the action
``kind``             the role may not create or change this kind of record
``justification``    a sensitive action without a written justification
``not_visible``      the record is hidden from the principal (callers answer "not found")
``other_nation``     a change to a record another nation originated
``originator_only``  a release by anyone but the originating agency
``own_agency``       tasking a unit of another agency
``sector``           acting on an incident outside the principal's sectors
``own_records``      an unauthenticated source changing a record it did not originate
``own_unit``         a field device reporting on a task of another unit
``rescue_centre``    acknowledging, closing or changing a rescue case another centre owns
``foreign``          changing a record a partner centre released to this one (only that centre
                     does; this centre's users comment or propose on it)
``granted``          allowed
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from estran.domain.errors import JustificationRequiredError, PermissionDeniedError
from estran.domain.markings import Classification, Purpose
from estran.domain.messages import N_, msg

__all__ = [
    "SYSTEM",
    "Action",
    "Decision",
    "Policy",
    "Principal",
    "Role",
    "RolePolicy",
    "action_for",
    "authorize",
    "can_see",
    "classification_rank",
    "enforce",
    "observer_scope",
    "parse_policy",
]

Record = dict[str, Any]


class Role(StrEnum):
    COMMANDER = "commander"
    OPERATOR = "operator"
    LIAISON = "liaison"
    OBSERVER = "observer"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    RESCUE_LIAISON = "rescue_liaison"
    ADMIN = "admin"
    SERVICE = "service"
    PARTNER = "partner"
    """A partner nation's centre, over the federation: never an account."""
    DEVICE = "device"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


class Action(StrEnum):
    READ = "read"
    """See a record: list, get, layers, stream, CoT out."""
    CREATE = "create"
    UPDATE = "update"
    PROPOSE = "propose"
    """Create a task (always a proposal)."""
    TASK = "task"
    """Send, cancel or replace a task: the act of tasking a unit."""
    REPORT = "report"
    """Record a task's progress as the unit reports it (acknowledged ... done, failed)."""
    COMMENT = "comment"
    """Write to the duty or an incident log."""
    RELEASE = "release"
    """Change a record's marking (widen or narrow who may see it)."""
    REPLAY = "replay"
    """The picture at a past moment, the event log, a record's history."""
    STATS = "stats"
    EXPORT = "export"
    """Records out of the system, in full."""
    EXPORT_STATS = "export_stats"
    """The subject-free export for statistics."""
    AUDIT = "audit"
    MANAGE_USERS = "manage_users"
    PURGE = "purge"


_CLASS_RANK = {c.value: i for i, c in enumerate(Classification)}
_OWN_NATION_ONLY = frozenset({Action.UPDATE, Action.RELEASE})
"""Changes only the originating nation may make (tasking goes by the unit's agency instead)."""
_TASKING = frozenset({"sent", "cancelled", "replaced"})
_PROPOSALS = frozenset({"task", "post"})
"""Kinds whose creation is a proposal: a task, a planned post (only tasking acts on them)."""


def classification_rank(value: str) -> int:
    return _CLASS_RANK[value]


class RolePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str
    actions: frozenset[Action]
    create: frozenset[str] = frozenset()
    update: frozenset[str] = frozenset()
    purposes: frozenset[Purpose] = frozenset()
    personal_data: bool = False
    sees: Literal["released", "attached_unit", "none", "all"] = "released"
    rescue_cases: bool = False
    own_agency_tasking: bool = False
    choose_ids: bool = False
    own_records: bool = False
    """May change only records its own agency originated (an unauthenticated source)."""
    own_unit_reports: bool = False
    """May report progress only on tasks of the unit it is (a field device)."""
    federates: bool = False
    """A partner centre: the only one that changes received (foreign) records, and only the
    ones it released itself."""

    def may_create(self, kind: str) -> bool:
        return "*" in self.create or kind in self.create

    def may_update(self, kind: str) -> bool:
        return "*" in self.update or kind in self.update


class NationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    default_releasable_to: list[str]


class Policy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    host_nation: str = Field(pattern=r"^[A-Z]{2,3}$")
    justify: frozenset[Action]
    sensitive_from: Classification
    nations: dict[str, NationPolicy]
    roles: dict[Role, RolePolicy]

    def role(self, role: Role | str) -> RolePolicy:
        return self.roles[Role(role)]

    def releasable_default(self, nation: str) -> list[str]:
        known = self.nations.get(nation)
        base = known.default_releasable_to if known is not None else [nation]
        return sorted({*base, nation})

    def is_sensitive(self, record: Record) -> bool:
        marking = record.get("marking") or {}
        return (
            bool(marking.get("personal_data"))
            or _CLASS_RANK.get(marking.get("classification", ""), 0)
            >= _CLASS_RANK[self.sensitive_from]
        )


def parse_policy(data: dict[str, Any]) -> Policy:
    """The policy from its TOML table; every role must be defined."""
    policy = Policy.model_validate(data)
    missing = [r.value for r in Role if r not in policy.roles]
    if missing:
        raise ValueError(f"policy defines no rules for roles {missing}")
    return policy


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a person, a service account or Estran itself."""

    id: str
    role: Role
    agency_id: str
    nation: str
    clearance: Classification = Classification.OFFICIAL
    sectors: frozenset[str] | None = None
    attached_unit: str | None = None
    access_until: str | None = None
    """Canonical UTC stamp after which an observer sees nothing (the session may stay open)."""


SYSTEM = Principal(
    "system", Role.SYSTEM, agency_id="", nation="FR", clearance=Classification.DIFFUSION_RESTREINTE
)


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of the policy: who, what, on which record, allowed or why not."""

    principal: str
    action: str
    target: str | None
    allowed: bool
    rule: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "target": self.target,
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
        }


class PictureView(Protocol):
    def get(self, kind: str, entity_id: str) -> Record | None: ...

    def tasks_of(self, unit_id: str) -> list[Record]: ...


def observer_scope(view: PictureView, unit_id: str | None) -> frozenset[tuple[str, str]]:
    """What an observer riding with ``unit_id`` may see: the unit, its agency, its tasks and
    the incidents they answer (the records' markings still apply)."""
    if unit_id is None:
        return frozenset()
    unit = view.get("unit", unit_id)
    if unit is None:
        return frozenset()
    keys = {("unit", unit_id), ("agency", unit["agency_id"])}
    for task in view.tasks_of(unit_id):
        keys.add(("task", task["id"]))
        keys.add(("incident", task["incident_id"]))
    return frozenset(keys)


def _target(record: Record | None) -> str | None:
    return None if record is None else f"{record.get('entity')}/{record.get('id')}"


def _origin_nation(policy: Policy, record: Record) -> str:
    marking = record.get("marking") or {}
    return str(marking.get("originator_nation") or policy.host_nation)


def _visible_reason(
    policy: Policy,
    who: Principal,
    record: Record,
    scope: frozenset[tuple[str, str]] | None,
) -> tuple[str, dict[str, Any]] | None:
    """Why ``who`` may not see ``record`` (a template and its particulars, made into a
    message only for a refusal: this runs for every record read); None when they may."""
    rules = policy.roles[who.role]
    if rules.sees == "all":
        return None
    if rules.sees == "none":
        return N_("the {role} role sees no picture records"), {"role": who.role}
    kind = record.get("entity")
    if kind == "foreign" and record.get("status") == "withdrawn":
        return N_("withdrawn by the partner centre that released it"), {}
    if rules.rescue_cases and (
        kind == "rescue_case"
        or (kind == "incident" and record.get("life_at_sea"))
        or (kind == "foreign" and record.get("origin_kind") == "rescue_case")
    ):
        return None  # life at sea first: a rescue centre sees every case, whatever its marking
    if rules.sees == "attached_unit" and (scope is None or (kind, record.get("id")) not in scope):
        return N_("outside the picture of the unit the observer rides with"), {}
    marking = record.get("marking") or {}
    if who.nation not in marking.get("releasable_to", ()):
        return N_("not released to {nation}"), {"nation": who.nation}
    if _CLASS_RANK.get(marking.get("classification", ""), 99) > _CLASS_RANK[who.clearance]:
        return N_("classified above the principal's clearance ({clearance})"), {
            "clearance": who.clearance
        }
    if marking.get("purpose") not in rules.purposes:
        return N_("held for {purpose}, not a purpose of the {role} role"), {
            "purpose": marking.get("purpose"),
            "role": who.role,
        }
    if marking.get("personal_data") and not rules.personal_data:
        return N_("personal data, which the {role} role may not see"), {"role": who.role}
    return None


def can_see(
    policy: Policy,
    who: Principal,
    record: Record,
    *,
    now: str,
    scope: frozenset[tuple[str, str]] | None = None,
) -> bool:
    """True where ``who`` may see ``record`` now: the read half of ``authorize``."""
    if who.access_until is not None and now >= who.access_until:
        return False
    if Action.READ not in policy.roles[who.role].actions:
        return False
    return _visible_reason(policy, who, record, scope) is None


def action_for(kind: str, verb: str, changes: Record, marking_changed: bool) -> list[Action]:
    """The actions a create or update of ``kind`` amounts to (each must be allowed)."""
    if verb == "created":
        return [
            Action.PROPOSE
            if kind in _PROPOSALS
            else Action.COMMENT
            if kind == "log_entry"
            else Action.CREATE
        ]
    actions: list[Action] = []
    if marking_changed:
        actions.append(Action.RELEASE)
    fields = set(changes)
    if kind == "task" and "status" in fields:
        actions.append(Action.TASK if changes["status"] in _TASKING else Action.REPORT)
        fields.discard("status")
    if kind == "post" and changes.get("status") == "accepted":
        actions.append(Action.TASK)  # accepting a planned post sends the unit there
        fields.discard("status")
    if fields or not actions:
        actions.append(Action.UPDATE)
    return actions


def authorize(
    policy: Policy,
    who: Principal,
    action: Action,
    *,
    now: str,
    kind: str | None = None,
    record: Record | None = None,
    scope: frozenset[tuple[str, str]] | None = None,
    unit: Record | None = None,
    justification: str | None = None,
    sector: str | None = None,
) -> Decision:
    """Decide whether ``who`` may do ``action`` (on ``record``, of ``kind``), and why.

    ``record`` is the existing record acted on (none for a create: pass ``kind``); ``unit``
    the unit a task is for (tasking); ``scope`` the observer's (``observer_scope``);
    ``sector`` the sector the action falls in where the record does not say it itself (a
    task's or a log line's incident, a new incident's ``sector_id``).
    """
    target = _target(record) if record is not None else kind

    def deny(rule: str, reason: str) -> Decision:
        return Decision(who.id, action.value, target, False, rule, reason)

    rules = policy.roles[who.role]
    if who.access_until is not None and now >= who.access_until:
        return deny("expired", msg("access ended at {access_until}", access_until=who.access_until))
    if action not in rules.actions:
        return deny(
            "role", msg("the {role} role may not {action}", role=who.role, action=action.value)
        )
    kind = kind or (record.get("entity") if record is not None else None)
    if kind is not None:
        creating = record is None and action in (
            Action.CREATE,
            Action.PROPOSE,
            Action.COMMENT,
        )
        if creating and not rules.may_create(kind):
            return deny(
                "kind", msg("the {role} role may not create a {kind}", role=who.role, kind=kind)
            )
        if action == Action.UPDATE and record is not None and not rules.may_update(kind):
            return deny(
                "kind", msg("the {role} role may not change a {kind}", role=who.role, kind=kind)
            )
        if action in (Action.TASK, Action.REPORT) and not rules.may_update(kind):
            return deny(
                "kind", msg("the {role} role may not change a {kind}", role=who.role, kind=kind)
            )
    if kind == "foreign" and action != Action.READ:
        origin = (record or {}).get("origin_centre")
        if not rules.federates:
            return deny(
                "foreign",
                msg(
                    "a record a partner centre released to this one: only that centre changes it "
                    "(comment or propose on it instead)"
                ),
            )
        if record is not None and origin != who.agency_id:
            return deny(
                "foreign",
                msg(
                    "released by {origin}: {agency_id} may not change it",
                    origin=origin,
                    agency_id=who.agency_id,
                ),
            )
    if action in policy.justify and not (justification and justification.strip()):
        return deny(
            "justification", msg("{action} needs a written justification", action=action.value)
        )
    if record is not None:
        hidden = _visible_reason(policy, who, record, scope)
        if hidden is not None:
            return deny("not_visible", msg(hidden[0], **hidden[1]))
        if action in _OWN_NATION_ONLY and rules.sees != "all":
            rescue_own = kind == "rescue_case" and record.get("centre_agency_id") == who.agency_id
            if _origin_nation(policy, record) != who.nation and not rescue_own:
                return deny(
                    "other_nation",
                    msg(
                        "originated by {origin}: {nation} may not change it",
                        origin=_origin_nation(policy, record),
                        nation=who.nation,
                    ),
                )
            if kind == "rescue_case" and who.role == Role.RESCUE_LIAISON and not rescue_own:
                return deny("other_nation", msg("another rescue centre's case"))
        if action == Action.RELEASE and rules.sees != "all":
            origin = (record.get("marking") or {}).get("originator_agency")
            if origin is not None and origin != who.agency_id:
                return deny(
                    "originator_only",
                    msg("only {origin}, the originator, may release it", origin=origin),
                )
        if (
            rules.own_records
            and action != Action.READ
            and (record.get("marking") or {}).get("originator_agency") != who.agency_id
        ):
            return deny(
                "own_records", msg("{id} may change only the records it originated", id=who.id)
            )
        if kind == "rescue_case" and action != Action.READ and rules.sees != "all":
            centre = record.get("centre_agency_id")
            if centre != who.agency_id:
                return deny(
                    "rescue_centre",
                    msg(
                        "only {centre}, the rescue centre that owns the case, may change it "
                        "(others comment in its incident's log)",
                        centre=centre,
                    ),
                )
        if rules.own_unit_reports and action != Action.READ:
            # A field device is one unit: it reports on that unit's tasks and moves that unit.
            mine = who.attached_unit
            if kind == "task" and (mine is None or record.get("unit_id") != mine):
                return deny(
                    "own_unit",
                    msg("the task is for {unit}, not this unit", unit=record.get("unit_id")),
                )
            if kind == "unit" and (mine is None or record.get("id") != mine):
                return deny(
                    "own_unit", msg("unit {unit} is not this device's unit", unit=record.get("id"))
                )
    where = sector if sector is not None else (record or {}).get("sector_id")
    if (
        who.sectors is not None
        and action != Action.READ
        and rules.sees != "all"
        and where is not None
        and where not in who.sectors
    ):
        return deny("sector", msg("sector {where} is not one of the principal's", where=where))
    if (
        action == Action.TASK
        and rules.own_agency_tasking
        and unit is not None
        and unit.get("agency_id") != who.agency_id
    ):
        return deny(
            "own_agency",
            msg(
                "unit {unit} belongs to {owner}, not {agency_id}",
                unit=unit.get("id"),
                owner=unit.get("agency_id"),
                agency_id=who.agency_id,
            ),
        )
    return Decision(who.id, action.value, target, True, "granted", "allowed")


def enforce(decision: Decision) -> None:
    """Raise the refusal a denied ``decision`` stands for (403; a missing justification has
    its own code); nothing for an allowed one."""
    if decision.allowed:
        return
    err = JustificationRequiredError if decision.rule == "justification" else PermissionDeniedError
    raise err(decision.reason, rule=decision.rule, action=decision.action, target=decision.target)
