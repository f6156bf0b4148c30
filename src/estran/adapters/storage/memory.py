"""An in-memory event store: the fake for unit tests. Same contract, nothing durable."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from estran.adapters.storage.migrations import SCHEMA_VERSION
from estran.domain.audit import GENESIS, AuditRow, chain_rows
from estran.domain.errors import BehindError, StorageError
from estran.domain.messages import msg

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from estran.domain.events import Event
    from estran.ports import AuditBuilder

__all__ = ["MemoryEventStore"]


class MemoryEventStore:
    name = "memory"

    def __init__(self) -> None:
        self._events: list[Event | None] = []
        self._by_id: dict[str, Event] = {}
        self._lock = threading.Lock()
        self.audit_rows: list[AuditRow] = []
        self._purged: dict[int, list[tuple[str, str]]] = {}
        self._cursors: dict[str, int] = {}

    def append(
        self,
        events: Sequence[Event],
        audit: AuditBuilder | None = None,
        *,
        after: int | None = None,
    ) -> list[Event]:
        with self._lock:
            start = len(self._events)
            if after is not None and after != start:
                raise BehindError(start, after)
            stored = [e.with_seq(start + i) for i, e in enumerate(events, 1)]
            if len({e.event_id for e in stored} | self._by_id.keys()) != len(self._by_id) + len(
                stored
            ):
                raise StorageError(msg("duplicate event_id"))
            rows = audit(stored) if audit is not None else []
            if rows:
                head = self.audit_rows[-1] if self.audit_rows else None
                chained = chain_rows(rows, (head.seq, head.hash) if head else (0, GENESIS))
                self.audit_rows.extend(chained)
            self._events.extend(stored)
            self._by_id.update((e.event_id, e) for e in stored)
            return stored

    def purge(self, keys: Sequence[tuple[str, str]], record: Event) -> Event:
        doomed = set(keys)
        with self._lock:
            for i, event in enumerate(self._events):
                if event is not None and (event.kind, event.entity_id) in doomed:
                    self._events[i] = None
                    self._by_id.pop(event.event_id, None)
        stored = self.append([record])[0]
        self._purged[stored.seq] = list(keys)
        return stored

    def purged_keys(self, seq: int) -> list[tuple[str, str]]:
        return list(self._purged.get(seq, ()))

    def find(self, event_ids: Sequence[str]) -> dict[str, Event]:
        return {i: self._by_id[i] for i in event_ids if i in self._by_id}

    def read(
        self,
        after_seq: int = 0,
        *,
        until_received: str | None = None,
        entity_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        count = 0
        for event in self._events[after_seq:]:
            if event is None:  # purged
                continue
            if limit is not None and count >= limit:
                return
            if until_received is not None and event.received_at > until_received:
                continue
            if entity_id is not None and event.entity_id != entity_id:
                continue
            if types and event.type not in types:
                continue
            count += 1
            yield event

    def cursor(self, name: str) -> int | None:
        return self._cursors.get(name)

    def save_cursor(self, name: str, seq: int) -> None:
        with self._lock:
            self._cursors[name] = max(seq, self._cursors.get(name, 0))

    def last_seq(self) -> int:
        return len(self._events)

    def schema_version(self) -> int:
        return SCHEMA_VERSION

    def close(self) -> None:
        pass
