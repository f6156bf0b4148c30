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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from estran.domain.errors import EstranError, StorageError, ValidationFailedError
from estran.domain.federation import foreign_key, parse_message, to_command
from estran.domain.messages import msg
from estran.domain.policy import Principal, Role
from estran.domain.timefmt import stamp
from estran.ports import Release

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from estran.domain.audit import AuditRow
    from estran.domain.events import Event
    from estran.domain.federation import Received
    from estran.domain.markings import Classification
    from estran.domain.picture import Picture
    from estran.ports import EventStore, FederationLink, Inbound
    from estran.services.access import Access
    from estran.services.audit import AuditTrail
    from estran.services.hub import Hub
    from estran.services.ledger import Ledger

__all__ = ["Federation", "FederationIn", "FederationOut", "partner_centre", "partner_principal"]

log = logging.getLogger(__name__)


def partner_principal(nation: str, clearance: Classification) -> Principal:
    """Whom the policy judges a release to ``nation`` for: a liaison officer of it."""
    return Principal(f"centre:{nation}", Role.LIAISON, agency_id="", nation=nation,
                     clearance=clearance)  # fmt: skip


def partner_centre(centre: str, nation: str, clearance: Classification) -> Principal:
    """Whom a partner centre's messages act as here: its own principal, whose only right is
    to hold and change the records it released to this centre (``foreign``)."""
    return Principal(f"centre:{centre}", Role.PARTNER, agency_id=centre, nation=nation,
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

    def _about(self, record: dict[str, Any] | None, partner: str) -> dict[str, str] | None:
        """The partner's own record a comment or proposal here is about, for the partner."""
        foreign_id = (record or {}).get("foreign_id")
        foreign = self.picture.get("foreign", foreign_id) if foreign_id else None
        if foreign is None or foreign.get("origin_nation") != partner:
            return None
        return {"centre": foreign["origin_centre"], "kind": foreign["origin_kind"],
                "id": foreign["origin_id"]}  # fmt: skip

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
            if kind == "foreign":
                continue  # a partner's record is only ever released by its originator
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
                                  event.event_id, event.seq, body,
                                  self._about(record, partner))  # fmt: skip
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


class FederationIn:
    """What the partner centres released to this one, held as foreign-originated records.

    A durable JetStream consumer per partner (resumed after a crash, a failover or a
    partition, where it stopped) delivers their messages in order. Each is validated
    (``domain/federation.py``), judged by the one policy as the sending side judged it
    (would this nation's liaison officer at the partner see it? anything else is refused and
    audited: a partner never makes this centre hold what was not released to its nation), then
    written by the partner centre's own principal (``partner_centre``), with the message's
    idempotency key, so a message delivered twice is applied once. Every message received is
    in the audit trail (``federation_receive``, ``federation_refused``)."""

    name = "federation-in"

    def __init__(
        self,
        link: FederationLink,
        ledger: Ledger,
        picture: Picture,
        access: Access,
        audit: AuditTrail,
        *,
        centre: str,
        nation: str,
        partners: Sequence[str],
        clearance: Classification,
        root: str,
    ) -> None:
        self.link = link
        self.ledger = ledger
        self.picture = picture
        self.access = access
        self.audit = audit
        self.centre = centre
        self.nation = nation
        self.partners = list(partners)
        self.clearance = clearance
        self.root = root
        self.received = 0
        self.applied = 0
        self.withdrawn = 0
        self.refused = 0
        self.last_received_at: str | None = None

    def status(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "applied": self.applied,
            "withdrawn": self.withdrawn,
            "refused": self.refused,
            "last_received_at": self.last_received_at,
        }

    async def run(self) -> None:
        """Receive until cancelled (on the leading node; restarted when the link fails)."""
        await self.link.connect()
        try:
            await asyncio.gather(*(self.link.consume(p, self._handler(p)) for p in self.partners))
        finally:
            await self.link.close()

    def _handler(self, partner: str) -> Callable[[list[Inbound]], Awaitable[None]]:
        async def handle(batch: list[Inbound]) -> None:
            await self._receive(partner, batch)

        return handle

    async def _receive(self, partner: str, batch: list[Inbound]) -> None:
        rows: list[AuditRow] = []
        latest: dict[str, Received] = {}
        # What this nation's liaison officer at the partner may see: exactly what the
        # partner's sending side may release to this nation (the same rule, both ways).
        acceptable = self.access.predicate(partner_principal(self.nation, self.clearance))
        for inbound in batch:
            self.received += 1
            try:
                message = parse_message(inbound.subject, inbound.data, root=self.root,
                                        partner=partner, nation=self.nation)  # fmt: skip
                if message.centre == self.centre:
                    raise ValidationFailedError(msg("a partner's message in this centre's name"))
                if message.op == "release" and not acceptable(message.record or {}):
                    raise ValidationFailedError(
                        msg(
                            "not releasable to {nation} at {clearance} or below, or personal data: "
                            "not held",
                            nation=self.nation,
                            clearance=self.clearance,
                        )
                    )
            except ValidationFailedError as exc:
                rows.append(self._refusal(partner, inbound.stream_seq, str(exc)))
                continue
            key = foreign_key(message.centre, message.kind, message.id)
            earlier = latest.pop(key, None)  # a burst on one record: its state now
            if earlier is not None:
                rows.append(self._received(earlier, key, f"superseded by its seq {message.seq}"))
            latest[key] = message
        outcomes = await asyncio.gather(*(self._apply(m, k) for k, m in latest.items()))
        for (key, message), outcome in zip(latest.items(), outcomes, strict=True):
            if isinstance(outcome, str):
                rows.append(self._refusal(partner, None, outcome, message, key))
                continue
            rows.append(self._received(message, key, "applied" if outcome else "held already"))
        if rows:
            await self.audit.record(*rows)
        if batch:
            self.last_received_at = stamp(self.audit.now())

    async def _apply(self, message: Received, key: str) -> bool | str:
        """True: applied; False: nothing to change (a message seen before); a string: why
        this centre refused it. ``key``: the foreign record the message is about."""
        try:
            command = to_command(message, self.picture.get("foreign", key), self.centre)
        except (ValidationError, EstranError) as exc:
            self.refused += 1
            return f"refused: {exc}"[:500]
        if command is None:
            return False
        who = partner_centre(message.centre, message.nation, self.clearance)
        try:
            await self.ledger.submit([command], actor=who.id, source="federation", principal=who)
        except StorageError:
            raise  # not acknowledged: delivered again once the store answers
        except EstranError as exc:  # the policy or the record's rules refused it
            self.refused += 1
            return f"refused: {exc}"[:500]
        if message.op == "withdraw":
            self.withdrawn += 1
        else:
            self.applied += 1
        return True

    def _received(self, message: Received, key: str, outcome: str) -> AuditRow:
        details = {"centre": message.centre, "kind": message.kind, "id": message.id,
                   "event_id": message.event_id, "seq": message.seq}  # fmt: skip
        return self.audit.row(
            f"centre:{message.centre}",
            "federation_receive",
            target=f"foreign/{key}",
            reason=f"{message.op} from {message.centre}: {outcome}",
            details=details,
        )

    def _refusal(
        self,
        partner: str,
        stream_seq: int | None,
        reason: str,
        message: Received | None = None,
        key: str | None = None,
    ) -> AuditRow:
        if message is None:
            self.refused += 1
        details: dict[str, Any] = {"partner": partner}
        if stream_seq is not None:
            details["stream_seq"] = stream_seq
        if message is not None:
            details |= {"centre": message.centre, "kind": message.kind, "id": message.id,
                        "event_id": message.event_id}  # fmt: skip
        return self.audit.row(
            f"centre:{message.centre if message else partner}",
            "federation_refused",
            target=None if key is None else f"foreign/{key}",
            allowed=False,
            rule="federation",
            reason=reason[:500],
            details=details,
        )


@dataclass(frozen=True)
class Federation:
    """Both sides of this centre's federation (each a once-per-centre loop)."""

    out: FederationOut
    inbound: FederationIn

    def status(self) -> dict[str, Any]:
        return {**self.out.status(), "inbound": self.inbound.status()}
