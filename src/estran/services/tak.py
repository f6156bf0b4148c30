"""CoT <-> the picture: what TAK clients send becomes units and detections; what changes in the
picture (incidents, tasks, rescue cases) goes out to them as CoT.

Inbound (``cot_to_commands``, in ``tak_bridge.py``, pure): positions become units, sensor
points detections, and a chat ``ACK`` an acknowledgement of a task already sent to the
sender's own unit.

Every write is made *as the client's principal* (``TakGateway`` submits through the ledger, so
the policy decides it exactly as for REST) and audited: an account named by the client
certificate, a field device (a certificate naming no account), or the anonymous principal of
plain TCP/UDP, whose writes are unclassified, marked unverified with a low confidence, and may
never change a record an authenticated source wrote.

Outbound (``picture_to_cot``, in ``tak_render.py``): incidents as markers (rescue first, in
the callsign), tasks as markers addressed by callsign with how to acknowledge them, each
rendered for the receiving principal: a field pointing at a record it may not see (a task's
unit callsign, its incident's position) is left out. The relay between TAK clients is filtered
per receiver by the same policy (``RelayFilter``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import orjson

from estran.domain.errors import EstranError, PermissionDeniedError
from estran.domain.markings import Classification, Marking
from estran.domain.policy import Principal, Role
from estran.ports import RelayedCot
from estran.services.background import cancel_and_wait
from estran.services.tak_bridge import (
    ANONYMOUS_AGENCY,
    TakBridgeState,
    ack_target,
    anonymous_principal,
    cot_to_commands,
    own_units,
    unit_id_for,
)
from estran.services.tak_render import drawn_on_phones, picture_to_cot
from estran.services.tak_render import everyone as _everyone

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from estran.domain.events import CommandIn
    from estran.domain.picture import Picture
    from estran.ports import CotClient, CotTransport, RelayBus
    from estran.protocols.cot.messages import CotEvent
    from estran.services.access import Access
    from estran.services.audit import AuditTrail
    from estran.services.hub import Hub
    from estran.services.ledger import Ledger

__all__ = [
    "ANONYMOUS_AGENCY",
    "RelayFilter",
    "TakBridgeState",
    "TakGateway",
    "anonymous_principal",
    "cot_to_commands",
    "own_units",
    "picture_to_cot",
    "unit_id_for",
]

log = logging.getLogger(__name__)


class RelayFilter:
    """Which TAK clients may receive what another client sends: positions and chat relayed
    between clients are picture data, filtered per receiving principal by the same policy as
    the picture's own CoT (``Access``).

    What a client sends is judged as its unit's record would be: the unit's own marking where
    the picture holds it (so a release widens it), else the marking the policy gives a new
    record of the sender (its nation's default releasability; unclassified and the host
    nation only for an anonymous sender). Decisions are cached per (sender, receiver) for one
    second, so an observer's expiry and a release take effect within a second.
    """

    def __init__(
        self,
        access: Access,
        picture: Picture,
        default_marking: Marking,
        anonymous: Principal,
        now_s: Callable[[], float],
    ) -> None:
        self.access = access
        self.picture = picture
        self.default_marking = default_marking
        self.anonymous = anonymous
        self.now_s = now_s
        self._epoch = -1
        self._cache: dict[tuple[Any, ...], bool] = {}
        self._predicates: dict[Principal, Callable[[dict[str, Any]], bool]] = {}

    def record_of(self, principal: Principal, uid: str | None) -> dict[str, Any]:
        unit_id = unit_id_for(uid) if uid else None
        if principal.role != Role.ANONYMOUS and unit_id is not None:
            unit = self.picture.get("unit", unit_id)
            if unit is not None:
                return unit
        if principal.role == Role.ANONYMOUS:
            marking = Marking(
                classification=Classification.UNCLASSIFIED, releasable_to=[principal.nation]
            )
        else:
            releasable = self.access.policy.releasable_default(principal.nation)
            marking = self.default_marking.model_copy(update={"releasable_to": releasable})
        body = marking.as_event()
        body["originator_agency"] = principal.agency_id
        body["originator_nation"] = principal.nation
        return {"entity": "unit", "id": unit_id or "", "marking": body}

    def _predicate(self, who: Principal) -> Callable[[dict[str, Any]], bool]:
        keep = self._predicates.get(who)
        if keep is None:
            keep = self._predicates[who] = self.access.predicate(who)
        return keep

    def allows(self, sender: CotClient | None, receiver: CotClient) -> bool:
        to = receiver.principal
        if to is None:
            return False
        epoch = int(self.now_s())
        if epoch != self._epoch:
            self._epoch, self._cache, self._predicates = epoch, {}, {}
        uid = None if sender is None else sender.uid
        # Keyed by the client objects themselves (hashed by identity: cheap), their principals
        # being re-read each second when the cache is emptied.
        key = (sender, uid, receiver)
        found = self._cache.get(key)
        if found is None:
            frm = getattr(sender, "principal", None) or self.anonymous
            found = self._cache[key] = bool(self._predicate(to)(self.record_of(frm, uid)))
        return found


@dataclasses.dataclass(eq=False)
class RemoteSender:
    """A TAK client of another node, as this node's relay sees it."""

    peer: str
    uid: str | None = None
    callsign: str | None = None
    group: str | None = None
    principal: Principal | None = None


class TakGateway:
    """Wires a CoT server to the picture: ingest through the ledger *as each client's
    principal*, audited; egress from the hub and the relay between clients, each filtered and
    rendered per receiving principal."""

    def __init__(
        self,
        server: CotTransport,
        ledger: Ledger,
        picture: Picture,
        hub: Hub,
        *,
        default_agency: str,
        now_s: Callable[[], float],
        queue_size: int = 10_000,
        access: Access | None = None,
        principal_for: Callable[[str | None], Principal | None] | None = None,
        audit: AuditTrail | None = None,
        default_marking: Marking | None = None,
        recheck_s: float = 2.0,
        relay_bus: RelayBus | None = None,
    ) -> None:
        self.server = server
        self.relay_bus = relay_bus
        self._remote: dict[tuple[str, str], RemoteSender] = {}
        """Stand-ins for the clients of other nodes, by (node, peer): the relay filter's
        cache is keyed by sender."""
        if relay_bus is not None:
            server.on_relay = self._relay_out
        self.ledger = ledger
        self.picture = picture
        self.hub = hub
        self.now_s = now_s
        self.audit = audit
        self.recheck_s = recheck_s
        self.state = TakBridgeState(default_agency=default_agency)
        self._queue: asyncio.Queue[tuple[str, Principal, list[CommandIn]]] = asyncio.Queue(
            queue_size
        )
        self._tasks: list[asyncio.Task[None]] = []
        self.written = 0
        self.refused = 0
        self.egress_seq = 0
        """The last event's seq rendered to TAK clients (where a restarted egress resumes)."""
        self.caught_up = 0
        self.access = access
        host = access.policy.host_nation if access is not None else "FR"
        self.anonymous = anonymous_principal(host)
        server.ingest = self.ingest
        server.welcome = self.welcome
        server.principal_for = principal_for
        server.anonymous = self.anonymous
        self.relay_filter: RelayFilter | None = None
        if access is not None:
            self.relay_filter = RelayFilter(
                access, picture, default_marking or Marking(), self.anonymous, now_s
            )
            server.relay_allows = self.relay_filter.allows

    def _viewer(
        self, checks: dict[Principal, Callable[[dict[str, Any]], bool]]
    ) -> Callable[[CotClient], Callable[[dict[str, Any]], bool]]:
        """``client -> (record -> bool)``: the policy for each client's principal, its clock and
        scope read once per principal in ``checks`` (one batch), not once per client and
        record. A client with no principal gets nothing from the picture."""

        def for_client(client: CotClient) -> Callable[[dict[str, Any]], bool]:
            if self.access is None:
                return _everyone
            principal = client.principal
            if principal is None:
                return _nothing
            keep = checks.get(principal)
            if keep is None:
                keep = checks[principal] = self.access.predicate(principal)
            return keep

        return for_client

    def _render(
        self,
        kind: str,
        entity_id: str,
        clients: list[CotClient],
        viewer: Callable[[CotClient], Callable[[dict[str, Any]], bool]],
        now_ms: int,
    ) -> list[tuple[CotClient, CotEvent]]:
        """The event for each client that may see the record, rendered once per principal."""
        record = self.picture.get(kind, entity_id)
        if record is None or not drawn_on_phones(kind, record):
            return []
        rendered: dict[Principal | None, CotEvent | None] = {}
        out = []
        for client in clients:
            key = client.principal
            if key not in rendered:
                sees = viewer(client)
                rendered[key] = (
                    picture_to_cot(kind, entity_id, self.picture, now_ms, sees)
                    if sees(record)
                    else None
                )
            ev = rendered[key]
            if ev is not None:
                out.append((client, ev))
        return out

    def welcome(self, client: CotClient) -> list[CotEvent]:
        """The open incidents, accepted posts, live tasks and units on duty the client may
        see, as it connects."""
        now_ms = int(self.now_s() * 1000)
        viewer = self._viewer({})
        ids: list[tuple[str, str]] = []
        for rec in self.picture.all("incident"):
            if rec["status"] != "closed":
                ids.append(("incident", rec["id"]))
        for rec in self.picture.all("post"):
            if rec["status"] == "accepted":
                ids.append(("post", rec["id"]))
        for rec in self.picture.all("task"):
            if rec["status"] not in ("done", "failed", "cancelled", "replaced"):
                ids.append(("task", rec["id"]))
        for rec in self.picture.all("unit"):
            if rec.get("source") != "cot" and rec.get("status") != "off_duty":
                ids.append(("unit", rec["id"]))
        return [
            ev for kind, rid in ids for _, ev in self._render(kind, rid, [client], viewer, now_ms)
        ]

    async def ingest(self, ev: CotEvent, client: CotClient) -> None:
        principal: Principal = client.principal or self.anonymous
        units = own_units(principal, client.uid)
        if principal.role == Role.DEVICE and units:
            # A field device is the unit its position reports make: its reports are its own.
            own = unit_id_for(client.uid) if client.uid else None
            principal = dataclasses.replace(principal, attached_unit=own or principal.attached_unit)
        commands = cot_to_commands(ev, self.picture, self.state, self.now_s(), principal, units)
        # A device reports where it is (GPS), not a position typed in: never questioned as
        # out of the area of operations (a liaison's phone in Folkestone, a patrol on leave).
        commands = [c.model_copy(update={"out_of_area": "deliberate"}) for c in commands]
        label = f"{principal.id} via tak:{(client.callsign or client.peer)}"[:128]
        if commands:
            await self._queue.put((label, principal, commands))  # full: back-pressure
        elif ack_target(ev) is not None:
            await self._audit_refusal(
                label, principal, "report", f"task/{ack_target(ev)}", "ack",
                "an acknowledgement names a task not sent to this client's unit",
            )  # fmt: skip

    async def _audit_refusal(
        self, label: str, principal: Principal, action: str, target: str | None, rule: str,
        reason: str,
    ) -> None:  # fmt: skip
        if self.audit is None:
            return
        try:
            await self.audit.record(
                self.audit.row(
                    principal.id, action, target=target, allowed=False, rule=rule,
                    reason=reason, details={"source": "cot", "client": label},
                )
            )  # fmt: skip
        except Exception:  # the audit store failing is logged; the refusal stands
            log.exception("CoT refusal from %s could not be audited", label)

    def loops(self) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
        """The gateway's background loops, for the supervised runtime to run and restart."""
        out: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "tak-ingest": self._write_loop,
            "tak-egress": self._egress_loop,
        }
        if self.recheck_s > 0 and getattr(self.server, "principal_for", None) is not None:
            out["tak-recheck"] = self._recheck_loop
        if self.relay_bus is not None:
            out["tak-relay"] = self._relay_loop
        return out

    # --- the relay across the centre's nodes ----------------------------------------------

    def _relay_out(self, xml: bytes, sender: CotClient | None) -> None:
        assert self.relay_bus is not None  # noqa: S101 (wired only with one)
        node = self.relay_bus.node
        if sender is None:
            message = RelayedCot(node, "udp", xml, None, None, self.anonymous)
        else:
            message = RelayedCot(node, sender.peer, xml, sender.uid, sender.group,
                                 sender.principal)  # fmt: skip
        self.relay_bus.publish(message)

    def _relay_in(self, message: RelayedCot) -> None:
        """A client of another node sent ``message``: to this node's clients, as from a
        stand-in client with the sender's rights, uid and group."""
        key = (message.node, message.peer)
        stand_in = self._remote.get(key)
        if stand_in is None:
            if len(self._remote) > 50_000:
                self._remote.clear()
            stand_in = self._remote[key] = RemoteSender(f"{message.node}/{message.peer}")
        stand_in.principal = message.principal or self.anonymous
        stand_in.uid, stand_in.group = message.uid, message.group
        self.server.relay_remote(message.xml, stand_in)

    async def _relay_loop(self) -> None:
        assert self.relay_bus is not None  # noqa: S101 (run only with one)
        await self.relay_bus.run(self._relay_in)

    async def start(self) -> None:
        """Run the loops unsupervised (tools and tests; the server supervises them)."""
        self._tasks = [asyncio.create_task(run(), name=name) for name, run in self.loops().items()]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _recheck_loop(self) -> None:
        """Every ``recheck_s``: a client whose certificate names an account that has since been
        disabled, locked or has expired is disconnected (and refused at its next connect)."""
        while True:
            await asyncio.sleep(self.recheck_s)
            try:
                await self.server.recheck()
            except Exception:
                log.exception("TAK clients' accounts could not be re-checked")

    async def _write_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty() and len(batch) < 256:
                batch.append(self._queue.get_nowait())
            results = await asyncio.gather(
                *(
                    self.ledger.submit(cmds, actor=label, source="cot", principal=principal)
                    for label, principal, cmds in batch
                ),
                return_exceptions=True,
            )
            rows = []
            for (label, principal, _cmds), result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    self.refused += 1
                    log.warning("CoT from %s not recorded: %s", label, result)
                    if isinstance(result, PermissionDeniedError) and self.audit is not None:
                        rows.append(
                            self.audit.row(
                                principal.id, result.action or "write", target=result.target,
                                allowed=False, rule=result.rule or "denied",
                                reason=result.message, details={"source": "cot", "client": label},
                            )
                        )  # fmt: skip
                    elif not isinstance(result, EstranError):
                        log.error("CoT write failed unexpectedly", exc_info=result)
                    continue
                self.written += len(result)  # audited by the ledger, in the same transaction
            if rows and self.audit is not None:
                try:
                    await self.audit.record(*rows)
                except Exception:
                    log.exception("CoT writes could not be audited")

    async def _egress_loop(self) -> None:
        """Every change to an incident, task, accepted post or new detection, rendered for
        each connected client that may see it. Restarted after a crash, it first sends what
        changed while it was down (records the picture holds at a later version than the last
        event it sent), so a restart loses nothing and repeats nothing."""
        sub = self.hub.subscribe(
            100_000,
            256 * 1024 * 1024,
            accepts=lambda e: (
                e.kind in _EGRESS_KINDS or (e.kind == "detection" and e.type == "detection.created")
            ),
        )
        try:
            head = self.picture.seq  # subscribed: everything after head arrives as frames
            if self.egress_seq:
                self._catch_up(self.egress_seq, head)
            self.egress_seq = max(self.egress_seq, head)
            while True:
                frames = [f for f in await sub.take() if f[0] > self.egress_seq]
                if not frames:
                    continue
                viewer = self._viewer({})  # one policy check per principal for this batch
                clients = list(self.server.clients)
                now_ms = int(self.now_s() * 1000)
                for seq, frame in frames:
                    body = orjson.loads(frame)
                    for client, ev in self._render(
                        body["kind"], body["entity_id"], clients, viewer, now_ms
                    ):
                        self.server.send_to(client, ev)
                    self.egress_seq = seq
        finally:
            self.hub.unsubscribe(sub)

    def _catch_up(self, after: int, head: int) -> None:
        """Send the current state of every record changed in ``(after, head]``."""
        viewer = self._viewer({})
        clients = list(self.server.clients)
        now_ms = int(self.now_s() * 1000)
        changed = [
            (r["version"], kind, r["id"])
            for kind in (*_EGRESS_KINDS, "detection")
            for r in self.picture.all(kind)
            if after < r["version"] <= head
        ]
        for _, kind, rid in sorted(changed):
            for client, ev in self._render(kind, rid, clients, viewer, now_ms):
                self.server.send_to(client, ev)
        self.caught_up += len(changed)


_EGRESS_KINDS = ("incident", "task", "post", "unit")


def _nothing(_record: dict[str, Any]) -> bool:
    return False
