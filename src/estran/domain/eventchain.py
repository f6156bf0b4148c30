"""A hash chain over the event log (pure).

``H(n) = SHA-256(H(n-1) || SHA-256(canonical event n))`` over the events in seq order, from
``GENESIS``. A *checkpoint* pins ``(seq, H(seq))`` in the audit trail, which is itself
hash-chained and anchored outside its database: editing, deleting, inserting or reordering any
event up to a checkpoint changes ``H`` and is found by ``estran events verify``.

The retention purge is the one deletion the log allows: it is followed at once by a new
checkpoint over what remains, and checkpoints from before the latest purge are not checked
again (the purge itself is audited with its counts).

The canonical form is the event's fields as JSON with sorted keys, so it does not depend on how
a store keeps JSON (PostgreSQL's ``jsonb`` reorders keys).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable

    from estran.domain.events import Event

__all__ = ["GENESIS", "chain", "event_digest"]

GENESIS: Final = "0" * 64


def event_digest(event: Event) -> bytes:
    return hashlib.sha256(orjson.dumps(event.to_dict(), option=orjson.OPT_SORT_KEYS)).digest()


def chain(events: Iterable[Event], start: tuple[int, str] = (0, GENESIS)) -> tuple[int, str]:
    """``(seq, H)`` after ``events`` (in seq order), continuing from ``start``."""
    seq, head = start[0], bytes.fromhex(start[1])
    for event in events:
        head = hashlib.sha256(head + event_digest(event)).digest()
        seq = event.seq
    return seq, head.hex()
