"""The audit trail's rows appended by an event store, in the transaction of the events they
audit: a change the ledger acknowledges is audited, or not committed at all.

Shared by the SQLite and PostgreSQL stores (raw SQL on their writer connection); the chain
itself is the pure ``domain/audit.py``. The tables are the security store's own (created by
the event store's migration 3 where it comes first).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from estran.domain.audit import GENESIS, chain_rows

if TYPE_CHECKING:
    from collections.abc import Sequence

    from estran.domain.audit import AuditRow

__all__ = ["append_audit_rows"]

_COLUMNS = (
    "seq", "at", "actor", "action", "target", "allowed", "rule", "reason", "justification",
    "details", "prev_hash", "hash",
)  # fmt: skip


def append_audit_rows(conn: Any, rows: Sequence[AuditRow], *, mark: str) -> list[AuditRow]:
    """Chain ``rows`` after the stored head and insert them, on ``conn`` inside its open
    transaction (``mark`` is the driver's placeholder: ``?`` or ``%s``; the only formatted
    SQL is fixed column names and placeholders)."""
    if not rows:
        return []
    lock = " FOR UPDATE" if mark == "%s" else ""
    found = conn.execute(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}").fetchone()  # noqa: S608
    head = (int(found[0]), str(found[1])) if found else (0, GENESIS)
    chained = chain_rows(rows, head)
    marks = ", ".join([mark] * len(_COLUMNS))
    sql = f"INSERT INTO audit ({', '.join(_COLUMNS)}) VALUES ({marks})"  # noqa: S608
    values = [
        (r.seq, r.at, r.actor, r.action, r.target, r.allowed, r.rule, r.reason,
         r.justification, orjson.dumps(r.details).decode(), r.prev_hash, r.hash)
        for r in chained
    ]  # fmt: skip
    if hasattr(conn, "executemany"):
        conn.executemany(sql, values)
    else:
        with conn.cursor() as cur:
            cur.executemany(sql, values)
    last = chained[-1]
    if found is None:
        conn.execute(
            f"INSERT INTO audit_head (id, seq, hash) VALUES (1, {mark}, {mark})",  # noqa: S608
            (last.seq, last.hash),
        )
    else:
        conn.execute(
            f"UPDATE audit_head SET seq = {mark}, hash = {mark} WHERE id = 1",  # noqa: S608
            (last.seq, last.hash),
        )
    return chained
