"""The policy applied to the live picture: what one principal may see, on every read path.

REST lists and gets, the GeoJSON layers, the stream, CoT out, exports, replay and the figures
all ask ``Access``; none filters on its own. Lists are filtered *before* paging, so totals and
pages count visible records only; a hidden record answers exactly as a missing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from estran.domain.policy import Action, Decision, Policy, Principal, authorize, can_see
from estran.domain.policy import observer_scope as _observer_scope
from estran.domain.timefmt import stamp

if TYPE_CHECKING:
    from estran.domain.picture import Picture
    from estran.ports import Clock

__all__ = ["Access"]

Record = dict[str, Any]


class Access:
    def __init__(self, policy: Policy, picture: Picture, clock: Clock) -> None:
        self.policy = policy
        self.picture = picture
        self.clock = clock

    def now(self) -> str:
        return stamp(self.clock.now())

    def sees_everything(self, who: Principal) -> bool:
        return self.policy.roles[who.role].sees == "all"

    def scope(self, who: Principal) -> frozenset[tuple[str, str]] | None:
        if self.policy.roles[who.role].sees != "attached_unit":
            return None
        return _observer_scope(self.picture, who.attached_unit)

    def decide(
        self,
        who: Principal,
        action: Action,
        *,
        record: Record | None = None,
        kind: str | None = None,
        justification: str | None = None,
    ) -> Decision:
        return authorize(
            self.policy,
            who,
            action,
            now=self.now(),
            kind=kind,
            record=record,
            scope=self.scope(who) if record is not None else None,
            justification=justification,
        )

    def sees(
        self,
        who: Principal,
        record: Record,
        *,
        now: str | None = None,
        scope: frozenset[tuple[str, str]] | None = None,
    ) -> bool:
        if self.sees_everything(who):
            return True
        return can_see(
            self.policy,
            who,
            record,
            now=now or self.now(),
            scope=scope if scope is not None else self.scope(who),
        )

    def predicate(self, who: Principal) -> Any:
        """A fast ``record -> bool`` for one principal, the clock and scope read once."""
        if self.sees_everything(who):
            return lambda _r: True
        now, scope = self.now(), self.scope(who)
        policy = self.policy
        return lambda r: can_see(policy, who, r, now=now, scope=scope)

    def get(self, who: Principal, kind: str, entity_id: str) -> Record | None:
        """The record if it exists and ``who`` may see it; None either way otherwise."""
        record = self.picture.get(kind, entity_id)
        return record if record is not None and self.sees(who, record) else None

    def visible_picture(self, who: Principal, base: Picture | None = None) -> Picture:
        """A copy of ``base`` (the live picture) holding only what ``who`` may see; for a past
        picture, a record must be visible both as it was then and as it is now."""
        source = base if base is not None else self.picture
        if self.sees_everything(who) and base is None:
            return source
        keep = self.predicate(who)
        return source.filtered(keep, also=None if base is None else self.picture)
