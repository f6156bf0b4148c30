"""The audit trail's rows and chain: pure, so the check is the same wherever it runs.

Each row's hash is SHA-256 over its content and the previous row's hash; the first row follows
``GENESIS``. The store keeps the chain's head apart from the rows, so a cut tail shows too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import orjson

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "GENESIS",
    "AuditRow",
    "Verification",
    "audit_hash",
    "chain_rows",
    "verify_chain",
]

GENESIS: Final = "0" * 64


@dataclass(frozen=True)
class AuditRow:
    seq: int
    at: str
    actor: str
    action: str
    target: str | None
    allowed: bool
    rule: str
    reason: str
    justification: str | None
    details: dict[str, Any]
    prev_hash: str = ""
    hash: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def audit_hash(row: AuditRow, prev_hash: str) -> str:
    """SHA-256 over the row's content and the previous row's hash (canonical JSON)."""
    body = orjson.dumps(
        [
            row.seq,
            row.at,
            row.actor,
            row.action,
            row.target,
            row.allowed,
            row.rule,
            row.reason,
            row.justification,
            row.details,
            prev_hash,
        ],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(body).hexdigest()


def chain_rows(rows: Iterable[AuditRow], head: tuple[int, str]) -> list[AuditRow]:
    """``rows`` numbered and hash-chained after ``head`` (seq, hash): what a store appends."""
    seq, prev = head
    out = []
    for row in rows:
        seq += 1
        chained = AuditRow(**{**row.as_dict(), "seq": seq, "prev_hash": prev, "hash": ""})
        digest = audit_hash(chained, prev)
        out.append(AuditRow(**{**chained.as_dict(), "hash": digest}))
        prev = digest
    return out


@dataclass
class Verification:
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_chain(
    rows: Iterable[AuditRow], head: tuple[int, str], anchor: tuple[int, str] | None = None
) -> Verification:
    """Walk the chain from the start; every break is reported with the row where it shows.

    ``anchor`` is a head kept *outside* the database (a file, a handover report): the chain
    must still hold that row with that hash, so deleting every row, or cutting the tail and
    moving the head back to match, is found too."""
    result = Verification()
    expected_seq = 1
    prev = GENESIS
    anchored = anchor is None or anchor[0] == 0
    for row in rows:
        result.rows += 1
        if anchor is not None and row.seq == anchor[0]:
            anchored = row.hash == anchor[1]
            if not anchored:
                result.problems.append(
                    f"row {row.seq} is not the row the anchor outside the database recorded "
                    "(the chain was rewritten from there)"
                )
                anchored = True  # reported once
        if row.seq != expected_seq:
            result.problems.append(
                f"rows {expected_seq}..{row.seq - 1} are missing (deleted)"
                if row.seq > expected_seq
                else f"row {row.seq} is out of order"
            )
        if row.prev_hash != prev:
            result.problems.append(
                f"row {row.seq} does not follow the row before it (deleted or reordered rows)"
            )
        if audit_hash(row, row.prev_hash) != row.hash:
            result.problems.append(f"row {row.seq} was edited after it was written")
        prev = row.hash
        expected_seq = row.seq + 1
    head_seq, head_hash = head
    head_agrees = (head_seq, head_hash) == (expected_seq - 1, prev)
    if not head_agrees:
        result.problems.append(
            f"the chain ends at row {expected_seq - 1} but its head says row {head_seq}: "
            "rows were cut off the end, or the head was altered"
        )
    if not anchored and anchor is not None and head_agrees:
        result.problems.append(
            f"the anchor outside the database records row {anchor[0]}, but the chain ends at "
            f"row {expected_seq - 1}: rows were deleted and the head moved back"
        )
    return result
