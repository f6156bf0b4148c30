"""The current picture: a projection of the event log, rebuildable to any past moment.

``evolve`` is the one function that turns (record, event) into the next record; the live
picture, the staged view used while deciding a batch, and after-action replay all use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from estran.domain.records import KINDS, LIFE_AT_SEA_INCIDENTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from estran.domain.events import Event
    from estran.domain.geo import BBox

__all__ = ["Picture", "Query", "Staged", "evolve", "sort_by_priority", "strip_meta"]

Record = dict[str, Any]
_IMPACT_RANK = {"very_high": 0, "high": 1, "medium": 2, "low": 3}
_LIFE_AT_SEA = frozenset(str(t) for t in LIFE_AT_SEA_INCIDENTS)
_STATUS_LOGGED = frozenset({"task", "incident", "unit", "rescue_case"})
_META = ("id", "entity", "marking", "created_at", "updated_at", "observed_at", "version", "source")


def _bounds(geometry: dict[str, Any]) -> list[float]:
    xs = [pt[0] for ring in geometry["coordinates"] for pt in ring]
    ys = [pt[1] for ring in geometry["coordinates"] for pt in ring]
    return [min(xs), min(ys), max(xs), max(ys)]


def evolve(current: Record | None, event: Event, marking: dict[str, Any] | None = None) -> Record:
    """The record after ``event``; ``current`` is not modified."""
    record: Record = {} if current is None or event.verb == "created" else dict(current)
    if current is None or event.verb == "created":
        record.update(event.data)
        record["id"] = event.entity_id
        record["entity"] = event.kind
        record["created_at"] = event.received_at
    else:
        record.update(event.data)
    record["marking"] = marking if marking is not None else event.marking
    record["updated_at"] = event.received_at
    record["observed_at"] = event.observed_at
    record["version"] = event.seq
    record["source"] = event.source
    if event.kind in _STATUS_LOGGED and "status" in event.data:
        # Who moved it to which status, and when: the lifecycle's record (tasking, figures).
        step = {"status": event.data["status"], "at": event.observed_at, "by": event.actor}
        record["status_log"] = [*(record.get("status_log") or ()), step]
    if event.kind == "incident":
        record["life_at_sea"] = record["type"] in _LIFE_AT_SEA
    elif event.kind == "sector" and "geometry" in event.data:
        record["bbox"] = _bounds(record["geometry"])
    return record


def sort_by_priority(records: list[Record]) -> list[Record]:
    """Life at sea first, then impact, then most recent: rescue tops every list."""
    records.sort(key=lambda r: (r["observed_at"], r["id"]), reverse=True)
    records.sort(
        key=lambda r: (0 if r.get("life_at_sea") else 1, _IMPACT_RANK.get(r.get("impact", ""), 4))
    )
    return records


@dataclass(frozen=True)
class Query:
    """Filters for one kind; times are canonical stamps compared as text."""

    since: str | None = None
    until: str | None = None
    bbox: BBox | None = None
    type: str | None = None
    status: str | None = None
    limit: int = 1000
    offset: int = 0

    def matches(self, spec_type_field: str | None, record: Record) -> bool:
        observed = record["observed_at"]
        if self.since is not None and observed < self.since:
            return False
        if self.until is not None and observed > self.until:
            return False
        if self.status is not None and record.get("status") != self.status:
            return False
        if self.type is not None and (
            spec_type_field is None or record.get(spec_type_field) != self.type
        ):
            return False
        if self.bbox is not None:
            return _in_bbox(self.bbox, record)
        return True


def _in_bbox(bbox: BBox, record: Record) -> bool:
    position = record.get("position")
    if position is not None:
        return bbox.contains(position["lon"], position["lat"])
    bounds = record.get("bbox")
    if bounds is not None:
        return not (
            bounds[2] < bbox.min_lon
            or bounds[0] > bbox.max_lon
            or bounds[3] < bbox.min_lat
            or bounds[1] > bbox.max_lat
        )
    return False


def callsign_key(unit: Record) -> tuple[str, str] | None:
    """How a unit answers on the radio, for uniqueness: its agency and its callsign (case and
    spaces aside); None while it is off duty."""
    if unit.get("status") == "off_duty":
        return None
    return (str(unit.get("agency_id", "")), str(unit.get("callsign", "")).strip().casefold())


class Picture:
    """Records by kind and id, as of event ``seq``."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Record]] = {kind: {} for kind in KINDS}
        self.seq = 0
        self.as_of: str | None = None
        self._markings: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._callsigns: dict[tuple[str, str], set[str]] = {}
        """Active units by callsign key: the uniqueness check without a scan."""

    def callsign_holders(self, key: tuple[str, str]) -> set[str]:
        return set(self._callsigns.get(key, ()))

    def _index_unit(self, entity_id: str, old: Record | None, new: Record | None) -> None:
        before = callsign_key(old) if old is not None else None
        after = callsign_key(new) if new is not None else None
        if before == after:
            return
        if before is not None:
            holders = self._callsigns.get(before)
            if holders is not None:
                holders.discard(entity_id)
                if not holders:
                    del self._callsigns[before]
        if after is not None:
            self._callsigns.setdefault(after, set()).add(entity_id)

    def _intern(self, marking: dict[str, Any]) -> dict[str, Any]:
        key = (
            marking.get("classification"),
            tuple(marking.get("releasable_to", ())),
            marking.get("purpose"),
            marking.get("personal_data"),
            marking.get("retain_until"),
            marking.get("originator_agency"),
            marking.get("originator_nation"),
        )
        return self._markings.setdefault(key, marking)

    def get(self, kind: str, entity_id: str) -> Record | None:
        return self.records[kind].get(entity_id)

    def all(self, kind: str) -> Iterable[Record]:
        """Every record of ``kind``. A live view: read it on the writer's side (the event
        loop); code in a thread reads a ``copy()`` (the runtime's snapshot) instead."""
        return self.records[kind].values()

    def count_of(self, kind: str) -> int:
        return len(self.records[kind])

    def remove(self, kind: str, entity_id: str) -> None:
        """Drop a purged record (the ledger, between two write groups)."""
        old = self.records[kind].pop(entity_id, None)
        if kind == "unit":
            self._index_unit(entity_id, old, None)

    def filtered(self, keep: Callable[[Record], bool], also: Picture | None = None) -> Picture:
        """A picture holding the records ``keep`` accepts; with ``also`` (the live picture,
        for a past one), only those that still exist there and are accepted as they are now."""
        view = Picture()
        view.seq, view.as_of = self.seq, self.as_of
        for kind, table in self.records.items():
            live = also.records[kind] if also is not None else None
            view.records[kind] = {
                rid: rec
                for rid, rec in table.items()
                if keep(rec) and (live is None or (rid in live and keep(live[rid])))
            }
        return view

    def copy(self) -> Picture:
        """An independent picture at the same seq: records are never changed in place
        (``evolve`` makes a new one), so each table is copied shallowly."""
        out = Picture()
        out.records = {kind: dict(table) for kind, table in self.records.items()}
        out.seq, out.as_of = self.seq, self.as_of
        out._markings = dict(self._markings)
        out._callsigns = {k: set(v) for k, v in self._callsigns.items()}
        return out

    def apply(self, event: Event) -> None:
        if event.seq <= self.seq:
            raise ValueError(f"event {event.seq} applied out of order (picture at {self.seq})")
        table = self.records[event.kind]
        old = table.get(event.entity_id)
        new = table[event.entity_id] = evolve(old, event, self._intern(event.marking))
        if event.kind == "unit":
            self._index_unit(event.entity_id, old, new)
        self.seq = event.seq
        self.as_of = event.received_at

    def apply_all(self, events: Iterable[Event]) -> Picture:
        for event in events:
            self.apply(event)
        return self

    def count(self) -> int:
        return sum(len(t) for t in self.records.values())

    def tasks_of(self, unit_id: str) -> list[Record]:
        """Every task given to ``unit_id`` (a scan: tasks are few)."""
        return [t for t in self.records["task"].values() if t.get("unit_id") == unit_id]

    def query(
        self, kind: str, q: Query, keep: Callable[[Record], bool] | None = None
    ) -> tuple[list[Record], int]:
        """Matching records (sorted) and how many matched before paging; ``keep`` filters
        before paging, so the count and the pages hold only what it keeps."""
        spec = KINDS[kind]
        hits = [
            r
            for r in self.records[kind].values()
            if q.matches(spec.type_field, r) and (keep is None or keep(r))
        ]
        if kind == "incident":
            sort_by_priority(hits)
        else:
            hits.sort(key=lambda r: (r["observed_at"], r["id"]))
        return hits[q.offset : q.offset + q.limit], len(hits)

    def snapshot(
        self, kinds: Iterable[str] | None = None, keep: Callable[[Record], bool] | None = None
    ) -> dict[str, list[Record]]:
        chosen = list(kinds) if kinds is not None else list(KINDS)
        return {k: self.query(k, Query(limit=10**9), keep)[0] for k in chosen}


class Staged:
    """A view of the picture plus events decided but not yet committed (pure, discardable)."""

    def __init__(self, base: Picture | Staged) -> None:
        self._base = base
        self._records: dict[tuple[str, str], Record] = {}
        self._unit_keys: dict[str, tuple[str, str] | None] = {}
        """The callsign key of each unit staged here (it overrides the base's)."""
        self._by_key: dict[tuple[str, str], set[str]] = {}

    def callsign_holders(self, key: tuple[str, str]) -> set[str]:
        holders = {u for u in self._base.callsign_holders(key) if u not in self._unit_keys}
        return holders | self._by_key.get(key, set())

    def _stage_unit(self, entity_id: str, key: tuple[str, str] | None) -> None:
        before = self._unit_keys.get(entity_id)
        if before is not None:
            self._by_key.get(before, set()).discard(entity_id)
        self._unit_keys[entity_id] = key
        if key is not None:
            self._by_key.setdefault(key, set()).add(entity_id)

    def get(self, kind: str, entity_id: str) -> Record | None:
        hit = self._records.get((kind, entity_id))
        return hit if hit is not None else self._base.get(kind, entity_id)

    def tasks_of(self, unit_id: str) -> list[Record]:
        """The base's tasks of ``unit_id`` with this view's staged ones over them."""
        by_id = {t["id"]: t for t in self._base.tasks_of(unit_id)}
        for (kind, entity_id), rec in self._records.items():
            if kind == "task" and rec.get("unit_id") == unit_id:
                by_id[entity_id] = rec
        return list(by_id.values())

    def stage(self, event: Event) -> None:
        new = self._records[(event.kind, event.entity_id)] = evolve(
            self.get(event.kind, event.entity_id), event
        )
        if event.kind == "unit":
            self._stage_unit(event.entity_id, callsign_key(new))

    def merge_into(self, parent: Staged) -> None:
        parent._records.update(self._records)
        for entity_id, key in self._unit_keys.items():
            parent._stage_unit(entity_id, key)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._records)


def strip_meta(record: Record) -> Record:
    return {k: v for k, v in record.items() if k not in _META}
