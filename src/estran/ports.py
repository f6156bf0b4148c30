"""The ports: what the services need from the outside world, as protocols.

Adapters implement them (``adapters/``); ``bootstrap`` is the one place that picks which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

from estran.domain.audit import AuditRow
from estran.domain.events import Event

__all__ = ["AuditBuilder", "Clock", "CotTransport", "EventStore"]

AuditBuilder = Callable[[list[Event]], list[AuditRow]]
"""Makes the audit rows of events once they have their seqs (inside the store's transaction)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC time."""
        ...


class EventStore(Protocol):
    """An append-only, durable, totally ordered log of events.

    Blocking by design: the services call ``append`` from one writer thread and the reads
    from worker threads, as datasette does for SQLite.
    """

    name: str

    def append(self, events: Sequence[Event], audit: AuditBuilder | None = None) -> list[Event]:
        """Store ``events`` atomically and durably, in order; return them with their seq.

        ``audit(stored)`` makes the audit rows of those events (they need the seqs): they are
        chained into the audit trail *in the same transaction*, so a change is audited or not
        stored at all. Returns only after the commit is durable: an acknowledged event
        survives a crash.
        """
        ...

    def find(self, event_ids: Sequence[str]) -> dict[str, Event]:
        """Stored events among ``event_ids`` (for idempotent retries)."""
        ...

    def read(
        self,
        after_seq: int = 0,
        *,
        until_received: str | None = None,
        entity_id: str | None = None,
        types: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        """Events in seq order after ``after_seq``, optionally bounded and filtered."""
        ...

    def purge(self, keys: Sequence[tuple[str, str]], record: Event) -> Event:
        """Delete every event of the records ``keys`` (kind, id) and append ``record`` (what
        was purged), in one durable transaction; returns ``record`` with its seq. The one
        exception to append-only: retention limits are the law."""
        ...

    def last_seq(self) -> int: ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...


class CotTransport(Protocol):
    """The CoT listeners (``adapters/cot_server.py``) as the TAK gateway service needs them:
    the hooks it sets, the connected clients, and sending one rendered event to one client."""

    ingest: Any
    welcome: Any
    principal_for: Any
    relay_allows: Any
    anonymous: Any
    clients: set[Any]

    def send_to(self, client: Any, ev: Any) -> None: ...

    async def recheck(self) -> None: ...
