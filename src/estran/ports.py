"""The ports: what the services need from the outside world, as protocols.

Adapters implement them (``adapters/``); ``bootstrap`` is the one place that picks which.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    import numpy as np
    import numpy.typing as npt

    from estran.domain.planning import PostSet
    from estran.domain.policy import Principal
    from estran.domain.prepared import PreparedTerrain
    from estran.domain.thermal import Blob, DetectorParams
    from estran.protocols.cot.messages import CotEvent

from estran.domain.audit import AuditRow
from estran.domain.events import Event

__all__ = [
    "AuditBuilder",
    "BlobFinder",
    "ChipStore",
    "Clock",
    "CotClient",
    "CotTransport",
    "EventStore",
    "FederationLink",
    "FrameCodec",
    "Inbound",
    "Leadership",
    "PostCache",
    "RelayBus",
    "RelayedCot",
    "Release",
    "SecurityStore",
    "TerrainSource",
]

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

    def append(
        self,
        events: Sequence[Event],
        audit: AuditBuilder | None = None,
        *,
        after: int | None = None,
    ) -> list[Event]:
        """Store ``events`` atomically and durably, in order; return them with their seq.

        With ``after``, only if the log's head is still at that seq: else ``BehindError``
        and nothing is written (several nodes on one log decide against the same state).

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

    def purged_keys(self, seq: int) -> list[tuple[str, str]]:
        """The records the purge logged at ``seq`` removed (for nodes following the log)."""
        ...

    def cursor(self, name: str) -> int | None:
        """The last seq the reactor ``name`` saved as handled (None: it never ran here)."""
        ...

    def save_cursor(self, name: str, seq: int) -> None:
        """Record that the reactor ``name`` handled the log up to ``seq`` (never moves back):
        the next leader, or this node after a restart, resumes from there."""
        ...

    def last_seq(self) -> int: ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...


class Leadership(Protocol):
    """Who runs the once-per-centre work (fusion, the rescue watch, recommendations,
    retention, the demo) when several nodes share one log: exactly one holder at a time.
    Blocking calls, made from a worker thread."""

    node: str

    def try_acquire(self) -> bool:
        """Become the holder if nobody is (True also when already holding)."""
        ...

    def check(self) -> bool:
        """Whether this node still holds it: False as soon as its hold is in doubt (the
        link to the arbiter broke), so it stops before another node may start."""
        ...

    def holder(self) -> str | None:
        """The node holding it now, as far as the arbiter says (None: nobody)."""
        ...

    def release(self) -> None: ...


class SecurityStore(Protocol):
    """Accounts, sessions and the audit trail (``adapters/security_store.py`` on SQLite or
    PostgreSQL; ``adapters/fakes.py`` in memory). Every method raises ``StorageError`` when
    the store cannot be reached; none changes anything then."""

    def add_user(self, row: dict[str, Any]) -> None:
        """Add an account; ``StorageError`` if the name is taken."""
        ...

    def get_user(self, username: str) -> dict[str, Any] | None: ...

    def list_users(self) -> list[dict[str, Any]]:
        """Every account, by name."""
        ...

    def update_user(self, username: str, **changes: Any) -> bool:
        """Change an account's columns; False if there is no such account."""
        ...

    def add_session(
        self, token_hash: str, username: str, kind: str, issued_at: str, expires_at: str
    ) -> None: ...

    def get_session(self, token_hash: str) -> dict[str, Any] | None: ...

    def revoke_sessions(self, username: str, token_hash: str | None = None) -> int:
        """Revoke the account's sessions (or one); how many were changed."""
        ...

    def append_audit(self, rows: list[AuditRow]) -> list[AuditRow]:
        """Chain ``rows`` onto the trail atomically; returns them with seq and hashes."""
        ...

    def read_audit(self, after: int = 0, limit: int | None = None) -> Iterator[AuditRow]: ...

    def audit_head(self) -> tuple[int, str]:
        """(seq, hash) of the last row, or (0, GENESIS)."""
        ...

    def read_anchor(self) -> tuple[int, str] | None:
        """The head as last written outside the store (None: none kept)."""
        ...

    def close(self) -> None: ...


class ChipStore(Protocol):
    """Thermal thumbnails by detection id, kept for the imagery retention period."""

    def put(self, detection_id: str, png: bytes, now: datetime) -> None: ...

    def get(self, detection_id: str, now: datetime) -> bytes | None:
        """The thumbnail, or None if absent or past retention (then it is removed)."""
        ...

    def purge(self, now: datetime) -> int:
        """Remove every thumbnail past retention; how many."""
        ...


class PostCache(Protocol):
    """The planner's posts and travel times, kept per terrain (and its site catalogue)."""

    def get(self, terrain: PreparedTerrain) -> PostSet | None: ...

    def put(self, terrain: PreparedTerrain, posts: PostSet) -> None: ...


TerrainSource = Callable[[Callable[[str, float], None]], "PreparedTerrain"]
"""Prepares (generates or loads) the terrain, reporting (stage, fraction) as it goes."""


class FrameCodec(Protocol):
    """Encoded thermal frames to pixels, and pixels to a detection's thumbnail."""

    def decode(self, data: bytes | bytearray) -> npt.NDArray[np.generic]:
        """Pixels, or ``ValueError`` with a reason (corrupt, too large, ...)."""
        ...

    def chip(self, pixels: npt.NDArray[np.generic], u: float, v: float) -> bytes:
        """A small PNG around (u, v)."""
        ...


BlobFinder = Callable[["npt.NDArray[np.generic]", "DetectorParams"], "list[Blob]"]
"""Finds warm blobs in a frame (the hot-spot stage, or a learned model's)."""


class CotClient(Protocol):
    """One connected TAK client as the gateway sees it."""

    peer: str
    uid: str | None
    callsign: str | None
    group: str | None
    principal: Principal | None
    """Whose rights apply to it (None: nobody's yet; it gets nothing from the picture)."""


class CotTransport(Protocol):
    """The CoT listeners (``adapters/cot_server.py``) as the TAK gateway service needs them:
    the hooks it sets, the connected clients, and sending one rendered event to one client."""

    ingest: Callable[[CotEvent, Any], Awaitable[None]] | None
    welcome: Callable[[Any], list[CotEvent]] | None
    principal_for: Callable[[str | None], Principal | None] | None
    relay_allows: Callable[[Any, Any], bool] | None
    anonymous: Principal | None
    clients: set[Any]

    on_relay: Callable[[bytes, Any], None] | None

    def send_to(self, client: Any, ev: CotEvent) -> None: ...

    async def recheck(self) -> None: ...

    def relay_remote(self, xml: bytes, sender: Any) -> None:
        """Relay to this node's clients what a client of another node sent (its CoT XML),
        filtered per receiver as a local sender's would be."""
        ...


@dataclass(frozen=True, slots=True)
class RelayedCot:
    """What a TAK client of one node sent, on its way to the other nodes' clients."""

    node: str
    peer: str
    xml: bytes
    uid: str | None
    group: str | None
    principal: Principal | None
    """Whose rights the sender has (None: nobody's, such as a UDP datagram)."""


@dataclass(frozen=True, slots=True)
class Release:
    """One message from this centre to a partner nation's centre: a record as released to
    that nation (``op="release"``), or its withdrawal (``op="withdraw"``, no record) when a
    release was narrowed or the record purged."""

    op: str
    centre: str
    nation: str
    partner: str
    kind: str
    entity_id: str
    event_id: str
    seq: int
    record: dict[str, Any] | None
    about: dict[str, str] | None = None
    """For a comment or proposal on one of the partner's records: that record (its centre,
    kind and id), so the partner files it against its own record."""

    @property
    def message_id(self) -> str:
        """The de-duplication id (JetStream's ``Nats-Msg-Id``): the event, the operation, the
        partner and the record (one purge withdraws several), so a message published again
        after a crash is stored once."""
        return f"{self.event_id}:{self.op}:{self.partner}:{self.kind}:{self.entity_id}"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message as it came off the partner's stream, not yet trusted: its subject, its
    bytes and its place in the stream (the receiving centre validates everything)."""

    subject: str
    data: bytes
    stream_seq: int


class FederationLink(Protocol):
    """The durable link between sovereign centres (NATS JetStream): one stream per pair of
    nations, one subject per record, so what the partner holds of each record is the last
    message on its subject."""

    async def connect(self) -> None: ...

    async def held_by(self, partner: str) -> set[tuple[str, str]]:
        """The records (kind, id) of this centre the partner holds now: last message a
        release, not a withdrawal."""
        ...

    async def publish(self, message: Release) -> None:
        """Store ``message`` in the stream (acknowledged by JetStream; raises if it is not)."""
        ...

    async def consume(
        self, partner: str, handle: Callable[[list[Inbound]], Awaitable[None]]
    ) -> None:
        """Deliver what ``partner`` published for this centre, in order, in batches, from a
        durable consumer: a batch is acknowledged only once ``handle`` returned, so after a
        crash or a partition delivery resumes where it stopped (a batch handled but not
        acknowledged comes again: ``handle`` must be idempotent). Runs until cancelled."""
        ...

    async def close(self) -> None: ...


class RelayBus(Protocol):
    """The CoT relay between the nodes of one centre (NATS core subjects): each node
    publishes what its clients send and relays what the others publish, in order per node."""

    node: str

    def publish(self, message: RelayedCot) -> None:
        """Queue ``message`` for the other nodes (never blocks; counted when dropped)."""
        ...

    async def run(self, on_message: Callable[[RelayedCot], None]) -> None:
        """Connect, deliver the other nodes' messages to ``on_message`` in order, and send
        this node's, until cancelled; raises when the link fails (the runtime restarts it)."""
        ...

    def status(self) -> dict[str, Any]: ...
