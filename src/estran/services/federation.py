"""What leaves the centre for the partner nation's centre (issue 19, part 2: the sending side).

Sovereignty: French data stays in the French system unless released. This once-per-centre
loop reads the log in order (from its own cursor, resumed by the next leader) and, for every
record an event touched, asks the one policy what the partner nation may see of it now: the
partner is judged as a liaison officer of that nation cleared to ``federation_clearance``
(records released to its nation, of the purposes a liaison may see, never personal data).
What it may see is published as a release; a record the partner holds that it may no longer
see (its release narrowed, or it was purged) is published as a withdrawal; nothing else is
ever published. Rescue cases are released to both nations by their marking, so both rescue
centres have them, with only what saving life needs (``services/rescue.py``).

What the partner holds is read back from the stream at start (the last message per record),
so a withdrawal is only ever sent for a record that was released, and a new leader, resuming
from the cursor, publishes again only what JetStream then de-duplicates. Every release and
withdrawal sent is in this centre's audit trail (``federation_release``,
``federation_withdraw``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from estran.domain.policy import Principal, Role
from estran.ports import Release

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from estran.domain.events import Event
    from estran.domain.markings import Classification
    from estran.domain.picture import Picture
    from estran.ports import EventStore, FederationLink
    from estran.services.access import Access
    from estran.services.audit import AuditTrail
    from estran.services.hub import Hub

__all__ = ["FederationOut", "partner_principal"]

log = logging.getLogger(__name__)


def partner_principal(nation: str, clearance: Classification) -> Principal:
    """Whom the policy judges a release to ``nation`` for: a liaison officer of it."""
    return Principal(f"centre:{nation}", Role.LIAISON, agency_id="", nation=nation,
                     clearance=clearance)  # fmt: skip


class FederationOut:
    name = "federation-out"

    def __init__(
        self,
        link: FederationLink,
        store: EventStore,
        picture: Picture,
        hub: Hub,
        access: Access,
        audit: AuditTrail,
        *,
        centre: str,
        nation: str,
        partners: Sequence[str],
        clearance: Classification,
        page: int = 500,
    ) -> None:
        self.link = link
        self.store = store
        self.picture = picture
        self.hub = hub
        self.access = access
        self.audit = audit
        self.centre = centre
        self.nation = nation
        self.partners = list(partners)
        self.clearance = clearance
        self.page = page
        self.held: dict[str, set[tuple[str, str]]] = {}
        self.position = 0
        self.released = 0
        self.withdrawn = 0
        self.connected = False
        self._wake = asyncio.Event()

    def status(self) -> dict[str, Any]:
        return {
            "centre": self.centre,
            "nation": self.nation,
            "partners": self.partners,
            "connected": self.connected,
            "position": self.position,
            "behind": max(0, self.picture.seq - self.position),
            "released": self.released,
            "withdrawn": self.withdrawn,
            "held_by_partner": {p: len(h) for p, h in self.held.items()},
        }

    def _on_events(self, _events: Sequence[Event]) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Publish until cancelled (the supervised runtime restarts it when the link fails,
        and runs it on the leading node only)."""
        self.hub.listen(self._on_events)
        try:
            await self.link.connect()
            self.held = {p: await self.link.held_by(p) for p in self.partners}
            self.connected = True
            saved = await asyncio.to_thread(self.store.cursor, self.name)
            self.position = saved or 0  # first run: what is released already goes too
            while True:
                head = self.picture.seq
                if self.position >= head:  # caught up: wait for the next commit
                    self._wake.clear()
                    if self.picture.seq <= self.position:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), 1.0)
                    continue
                after = self.position

                def page(after: int = after, head: int = head) -> list[Event]:
                    return [e for e in self.store.read(after, limit=self.page) if e.seq <= head]

                events = await asyncio.to_thread(page)
                top = events[-1].seq if events else head
                await self._send(events)
                self.position = top
                await asyncio.to_thread(self.store.save_cursor, self.name, top)
        finally:
            self.connected = False
            self.hub.unlisten(self._on_events)
            await self.link.close()

    async def _send(self, events: list[Event]) -> None:
        latest: dict[tuple[str, str], Event] = {}
        for event in events:  # a burst on one record is one message: its state now
            # A purge record is this centre's own bookkeeping and never leaves; what it
            # removed is withdrawn where the partner held it.
            if event.kind == "purge":
                keys = await asyncio.to_thread(self.store.purged_keys, event.seq)
            else:
                keys = [(event.kind, event.entity_id)]
            for key in keys:
                latest.pop(key, None)
                latest[key] = event
        if not latest:
            return
        sees: dict[str, Callable[[dict[str, Any]], bool]] = {
            p: self.access.predicate(partner_principal(p, self.clearance)) for p in self.partners
        }
        rows = []
        for (kind, entity_id), event in latest.items():
            record = self.picture.get(kind, entity_id)
            for partner in self.partners:
                held = self.held.setdefault(partner, set())
                if record is not None and sees[partner](record):
                    op, body = "release", dict(record)
                elif (kind, entity_id) in held:
                    op, body = "withdraw", None
                else:
                    continue  # never released to this partner: nothing of it leaves
                message = Release(op, self.centre, self.nation, partner, kind, entity_id,
                                  event.event_id, event.seq, body)  # fmt: skip
                await self.link.publish(message)
                if op == "release":
                    held.add((kind, entity_id))
                    self.released += 1
                else:
                    held.discard((kind, entity_id))
                    self.withdrawn += 1
                details = {"partner": partner, "event_id": event.event_id, "seq": event.seq}
                rows.append(
                    self.audit.row(
                        f"centre:{self.centre}",
                        f"federation_{op}",
                        target=f"{kind}/{entity_id}",
                        reason=f"{op} to {partner}",
                        details=details,
                    )
                )
        if rows:
            await self.audit.record(*rows)
