"""Life at sea first: the rules no command may break, whoever sends it.

- A life-at-sea incident (people in the water, a boat at sea) cannot be turned into anything
  else: a rescue case is never suppressed by re-typing it.
- A unit committed to a life-at-sea incident (an active task) cannot be given another task:
  no interception takes a unit away from a rescue.
- A unit holds one active task at a time; the one exception is a rescue, which may be given to
  a unit busy with something else (the operator then cancels or replaces the other task).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from estran.domain.errors import ConflictError
from estran.domain.messages import msg
from estran.domain.records import LIFE_AT_SEA_INCIDENTS

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["ACTIVE_TASK_STATUSES", "LifeAtSeaError", "check_life_at_sea"]

ACTIVE_TASK_STATUSES: Final = frozenset(
    {"proposed", "sent", "acknowledged", "will_comply", "en_route", "on_scene"}
)
_SEA: Final = frozenset(str(t) for t in LIFE_AT_SEA_INCIDENTS)

Record = dict[str, Any]


class LifeAtSeaError(ConflictError):
    code = "life_at_sea_first"


def _is_rescue(view: Any, incident_id: str | None) -> bool:
    if incident_id is None:
        return False
    inc = view.get("incident", incident_id)
    return inc is not None and inc.get("type") in _SEA


def check_life_at_sea(
    view: Any, kind: str, verb: str, entity_id: str, current: Record | None, data: Record
) -> None:
    """Raise ``ConflictError`` when a command would suppress or pre-empt a rescue."""
    if kind == "incident" and verb == "updated" and current is not None:
        new_type = data.get("type")
        if current.get("type") in _SEA and new_type is not None and new_type not in _SEA:
            raise LifeAtSeaError(
                msg(
                    "incident {entity_id!r} is a life-at-sea case ({type}); it cannot be "
                    "re-typed as {new_type!r}: rescue cases are never suppressed",
                    entity_id=entity_id,
                    type=current["type"],
                    new_type=new_type,
                )
            )
    closed = current is not None and current.get("status") == "closed"
    if kind == "incident" and closed and ("outcome" in data or "people_count" in data):
        raise ConflictError(
            msg(
                "incident {entity_id!r} is closed; its outcome can no longer be recorded",
                entity_id=entity_id,
            )
        )
    settled = current is not None and current.get("status") != "open"
    if kind == "rescue_case" and settled and "escalations" in data:
        raise ConflictError(
            msg(
                "rescue case {entity_id!r} is no longer open; it does not escalate",
                entity_id=entity_id,
            )
        )
    if kind == "task" and verb == "created":
        unit_id = data.get("unit_id")
        tasks_of = getattr(view, "tasks_of", None)
        if unit_id is None or tasks_of is None:
            return
        active: Iterable[Record] = [
            t for t in tasks_of(unit_id) if t.get("status") in ACTIVE_TASK_STATUSES
        ]
        new_is_rescue = _is_rescue(view, data.get("incident_id"))
        for task in active:
            if _is_rescue(view, task.get("incident_id")):
                raise LifeAtSeaError(
                    # The task itself is not named: the caller may not be allowed to see it.
                    msg(
                        "unit {unit_id!r} is committed to a rescue task; no other task may "
                        "take it away",
                        unit_id=unit_id,
                    )
                )
            if not new_is_rescue:
                raise ConflictError(
                    msg(
                        "unit {unit_id!r} already holds an active task; cancel or replace it first",
                        unit_id=unit_id,
                    )
                )
