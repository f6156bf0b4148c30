"""The TAK gateway: CoT over TCP (8087), TLS with client certificates (8089), UDP mesh input.

Per connection: one reader feeds a ``StreamParser``; one writer drains a send queue bounded by
messages and bytes. A client's CoT is relayed to the other clients of its group (``__group``;
clients that declared none see everything), in the order it was sent; the original bytes are
relayed to clients speaking the same encoding, so unknown detail reaches them unchanged.

Nothing is dropped silently:

- a client that sends faster than its rate limit is slowed down (its socket is not read until
  its budget refills: TCP back-pressure), never answered with a drop;
- a client that does not read is disconnected, with the reason logged, once its send queue is
  full; the sender and the other clients carry on;
- a bad message is refused and logged; a stream that cannot go on (a frame over the limit, an
  event with no end) is closed.

Protocol: the server offers TAK Protocol v1 on connect (``t-x-takp-v``), answers a client's
``t-x-takp-q`` with ``t-x-takp-r`` and then speaks protobuf frames to it; a ``t-x-c-t`` ping
gets a ``t-x-c-t-r`` pong. Clients that never negotiate (pytak) stay on XML.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from estran.domain.errors import ProtocolError
from estran.domain.messages import msg
from estran.protocols.cot.encode import (
    pong,
    stream_frame,
    takp_offer,
    takp_response,
    to_proto,
    to_xml,
)
from estran.protocols.cot.messages import PING_TYPE, TAKP_REQUEST, CotEvent
from estran.protocols.cot.parse import Received, StreamParser, parse_datagram, parse_xml

if TYPE_CHECKING:
    from estran.config import Settings

__all__ = ["CotClient", "CotServer", "CotStats", "Ingest"]

log = logging.getLogger(__name__)

Ingest = Callable[[CotEvent, "CotClient"], Awaitable[None]]
_READ_CHUNK: Final = 64 * 1024


@dataclass
class CotStats:
    connected: int = 0
    received: int = 0
    relayed: int = 0
    rejected: int = 0
    disconnected_slow: int = 0
    disconnected_protocol: int = 0


@dataclass(eq=False)
class _Outgoing:
    """One message on its way out, encoded at most once per encoding."""

    event: CotEvent | None
    """None only for XML relayed from another node when no client here speaks protobuf."""
    raw: bytes
    encoding: str
    _xml: bytes | None = None
    _proto: bytes | None = None

    def for_client(self, protobuf: bool) -> bytes:
        if protobuf:
            if self._proto is None:
                if self.encoding == "proto":
                    self._proto = self.raw
                else:
                    assert self.event is not None  # noqa: S101 (parsed when protobuf is spoken)
                    self._proto = stream_frame(to_proto(self.event))
            return self._proto
        if self._xml is None:
            if self.encoding == "xml":
                self._xml = self.raw
            else:
                assert self.event is not None  # noqa: S101 (only relayed XML has none)
                self._xml = to_xml(self.event)
        return self._xml


@dataclass(eq=False)
class CotClient:
    peer: str
    writer: asyncio.StreamWriter | None
    max_messages: int
    max_bytes: int
    tls_subject: str | None = None
    protobuf: bool = False
    group: str | None = None
    callsign: str | None = None
    uid: str | None = None
    principal: Any = None
    """Whose rights apply to what Estran sends it (``TakGateway.principal_for``)."""
    queue: deque[bytes] = field(default_factory=deque)
    queued_bytes: int = 0
    failed: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    id: int = field(default_factory=itertools.count().__next__)

    def offer(self, data: bytes) -> bool:
        """Queue ``data``; False (and the client marked failed) when its queue is full."""
        if self.failed is not None:
            return False
        if len(self.queue) >= self.max_messages or self.queued_bytes + len(data) > self.max_bytes:
            self.failed = (
                f"send queue full ({len(self.queue)} messages, {self.queued_bytes} bytes): "
                "the client is not reading"
            )
            self.queue.clear()
            self.queued_bytes = 0
            self.wake.set()
            if self.writer is not None:
                self.writer.transport.abort()  # ends its reader and writer at once
            return False
        self.queue.append(data)
        self.queued_bytes += len(data)
        self.wake.set()
        return True


class _Bucket:
    """A token bucket: ``rate`` messages a second, bursts of ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def delay_for(self, n: int) -> float:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        self.tokens -= n
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate


class CotServer:
    def __init__(
        self,
        settings: Settings,
        ingest: Ingest | None = None,
        now_ms: Callable[[], int] | None = None,
        is_revoked: Callable[[str], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.is_revoked = is_revoked
        self.welcome: Callable[[CotClient], list[CotEvent]] | None = None
        """What a newly connected client is sent first (the open incidents and tasks)."""
        self.principal_for: Callable[[str | None], Any] | None = None
        """Whose rights a client has, from its certificate's subject (None: plain TCP); a
        None answer refuses the client (a disabled, locked or expired account)."""
        self.relay_allows: Callable[[CotClient | None, CotClient], bool] | None = None
        """Whether what ``sender`` sends may be relayed to ``receiver`` (the policy)."""
        self.anonymous: Any = None
        """The principal of UDP datagrams (nobody in particular)."""
        self.on_relay: Callable[[bytes, CotClient | None], None] | None = None
        """Told what a client of this node sent (its XML) and who sent it, for the other
        nodes of the centre to relay to theirs (``relay_remote`` there)."""
        self.ingest = ingest
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.clients: set[CotClient] = set()
        self._groups: dict[str | None, set[CotClient]] = {None: set()}
        """The clients by the ``__group`` they declared (None: none, they see every group): a
        message goes to its sender's group and to those, not past every client."""
        self._protobuf = 0
        """How many clients speak protobuf (XML from other nodes is parsed only for them)."""
        self.stats = CotStats()
        self.ports: dict[str, int] = {}
        self._servers: list[asyncio.base_events.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, tls: ssl.SSLContext | None = None) -> None:
        s = self.settings
        host = s.cot_host
        if s.cot_tcp_port is not None:
            server = await asyncio.start_server(self._handle, s.cot_plain_host, s.cot_tcp_port)
            self._servers.append(server)
            self.ports["tcp"] = server.sockets[0].getsockname()[1]
        if tls is not None and s.cot_tls_port is not None:
            server = await asyncio.start_server(self._handle, host, s.cot_tls_port, ssl=tls)
            self._servers.append(server)
            self.ports["tls"] = server.sockets[0].getsockname()[1]
        if s.cot_udp_port is not None:
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Mesh(self), local_addr=(s.cot_plain_host, s.cot_udp_port)
            )
            self._udp = transport
            self.ports["udp"] = transport.get_extra_info("sockname")[1]
        if self.ports:
            log.info("CoT listening on %s %s", host, self.ports)

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        for client in list(self.clients):
            if client.writer is not None:
                client.writer.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    # --- connections ----------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = str(writer.get_extra_info("peername"))
        subject = None
        cert = writer.get_extra_info("peercert")
        if cert:
            subject = ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)
            if self.is_revoked is not None and self.is_revoked(str(cert.get("serialNumber", ""))):
                self.stats.rejected += 1
                log.warning("CoT client %s refused: certificate %s is revoked", peer, subject)
                writer.close()
                return
        s = self.settings
        client = CotClient(peer, writer, s.cot_max_queue_messages, s.cot_max_queue_bytes, subject)
        if self.principal_for is not None:
            client.principal = await asyncio.to_thread(self.principal_for, subject)
            if client.principal is None:
                self.stats.rejected += 1
                log.warning(
                    "CoT client %s refused: its account (%s) is disabled, locked or expired",
                    peer,
                    subject,
                )
                writer.close()
                if task is not None:
                    self._tasks.discard(task)
                return
        self.clients.add(client)
        self._groups[None].add(client)
        self.stats.connected += 1
        log.info("CoT client %s connected%s", peer, f" ({subject})" if subject else "")
        sender = asyncio.create_task(self._send_loop(client))
        try:
            client.offer(takp_offer(self.now_ms()))
            for ev in self.welcome(client) if self.welcome is not None else ():
                client.offer(to_xml(ev))
            await self._read_loop(client, reader)
        except ProtocolError as exc:
            self.stats.disconnected_protocol += 1
            log.warning("CoT client %s closed: %s", peer, exc.message)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError) as exc:
            log.info("CoT client %s gone: %s", peer, exc)
        finally:
            if client.failed is not None:
                self.stats.disconnected_slow += 1
                log.warning("CoT client %s disconnected: %s", peer, client.failed)
            self.clients.discard(client)
            self._groups.get(client.group, set()).discard(client)
            self._protobuf -= client.protobuf
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)
            if task is not None:
                self._tasks.discard(task)

    async def _read_loop(self, client: CotClient, reader: asyncio.StreamReader) -> None:
        parser = StreamParser(self.settings.cot_max_event_bytes)
        bucket = _Bucket(self.settings.cot_rate_per_s, self.settings.cot_burst)
        while client.failed is None:
            data = await reader.read(_READ_CHUNK)
            if not data:
                return
            for result in parser.feed(data):
                delay = bucket.delay_for(1)
                if delay > 0:
                    # Over its rate: hold this client's messages back, and stop reading its
                    # socket meanwhile (TCP back-pressure); nothing is dropped.
                    await asyncio.sleep(min(delay, 5.0))
                if isinstance(result, ProtocolError):
                    self.stats.rejected += 1
                    log.warning("CoT from %s refused: %s", client.peer, result.message)
                    continue
                await self._on_message(client, parser, result)

    async def _on_message(self, client: CotClient, parser: StreamParser, got: Received) -> None:
        ev = got.event
        self.stats.received += 1
        if ev.type == PING_TYPE:
            client.offer(self._encode(pong(self.now_ms()), client))
            return
        if ev.type == TAKP_REQUEST:
            accepted = 'version="1"' in ev.detail_xml or "version='1'" in ev.detail_xml
            client.offer(takp_response(self.now_ms(), accepted))
            if accepted:
                self._protobuf += not client.protobuf
                client.protobuf = True
                parser.use_protobuf()
            return
        if ev.is_control:
            return
        if ev.contact is not None and ev.type.startswith("a-"):
            client.callsign = ev.contact.callsign or client.callsign
            client.uid = client.uid or ev.uid
        if ev.group is not None and ev.group.name:
            if client.group != ev.group.name:
                self._groups.get(client.group, set()).discard(client)
                self._groups.setdefault(ev.group.name, set()).add(client)
            client.group = ev.group.name
        self.relay(_Outgoing(ev, got.raw, got.encoding), client)
        if self.ingest is not None:
            await self.ingest(ev, client)

    def relay(self, out: _Outgoing, sender: CotClient | None, *, here: bool = True) -> None:
        """What a client sent, to every other client of its group that the policy lets
        receive it (``relay_allows``); nothing is relayed where no policy is wired. What a
        client of this node sent (``here``) goes to the other nodes too (``on_relay``)."""
        if here and self.on_relay is not None:
            self.on_relay(out.for_client(False), sender)
        allows = self.relay_allows
        group = None if sender is None else sender.group
        if group is None:
            targets: list[CotClient] = list(self.clients)
        else:
            targets = [*self._groups.get(group, ()), *self._groups[None]]
        for other in targets:
            if other is sender:
                continue
            if allows is not None and not allows(sender, other):
                continue
            if other.offer(out.for_client(other.protobuf)):
                self.stats.relayed += 1

    def relay_remote(self, xml: bytes, sender: CotClient | None) -> None:
        """What a client of another node sent (its CoT XML, checked again with a client's
        limits), to this node's clients, filtered per receiver as a local sender's is."""
        limit = self.settings.cot_max_event_bytes
        ev = None
        try:
            if len(xml) > limit:
                raise ProtocolError(
                    msg("event of {n_xml} bytes exceeds {limit}", n_xml=len(xml), limit=limit)
                )
            if self._protobuf > 0:  # only a protobuf client needs it parsed (re-encoded)
                ev = parse_xml(xml, limit)
        except ProtocolError as exc:
            self.stats.rejected += 1
            log.warning("CoT relayed from another node refused: %s", exc.message)
            return
        self.relay(_Outgoing(ev, xml, "xml"), sender, here=False)

    def broadcast(self, ev: CotEvent, sees: Callable[[CotClient], bool] | None = None) -> None:
        """Send an event Estran made (an incident, a task) to every connected client that
        ``sees`` it (the policy, applied by the gateway to each client's principal)."""
        out = _Outgoing(ev, b"", "none")
        for client in list(self.clients):
            if (sees is None or sees(client)) and client.offer(out.for_client(client.protobuf)):
                self.stats.relayed += 1

    def send_to(self, client: CotClient, ev: CotEvent) -> None:
        """Send one event Estran rendered for this client's principal."""
        if client.offer(self._encode(ev, client)):
            self.stats.relayed += 1

    async def recheck(self) -> None:
        """Ask again whose rights each certificate client has: one whose account has been
        disabled, locked or has expired since it connected is disconnected at once."""
        if self.principal_for is None:
            return
        subjects = {c.tls_subject for c in self.clients if c.tls_subject is not None}
        answers = {}
        for subject in subjects:
            answers[subject] = await asyncio.to_thread(self.principal_for, subject)
        for client in list(self.clients):
            if client.tls_subject is None or client.tls_subject not in answers:
                continue
            principal = answers[client.tls_subject]
            if principal is None:
                log.warning(
                    "CoT client %s disconnected: its account (%s) is no longer active",
                    client.peer,
                    client.tls_subject,
                )
                client.failed = "account no longer active"
                client.wake.set()
                if client.writer is not None:
                    client.writer.transport.abort()
            else:
                client.principal = principal

    def _encode(self, ev: CotEvent, client: CotClient) -> bytes:
        return stream_frame(to_proto(ev)) if client.protobuf else to_xml(ev)

    async def _send_loop(self, client: CotClient) -> None:
        writer = client.writer
        assert writer is not None  # noqa: S101 (stream clients have one)
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                while not client.queue and client.failed is None:
                    client.wake.clear()
                    await client.wake.wait()
                if client.failed is not None:
                    return
                batch = b"".join(client.queue)
                client.queue.clear()
                client.queued_bytes = 0
                writer.write(batch)
                await writer.drain()


class _Mesh(asyncio.DatagramProtocol):
    """UDP input (opt-in): each datagram one event, XML or mesh protobuf, relayed and ingested."""

    def __init__(self, server: CotServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            got = parse_datagram(data, self.server.settings.cot_max_event_bytes)
        except ProtocolError as exc:
            self.server.stats.rejected += 1
            log.warning("CoT datagram from %s refused: %s", addr, exc.message)
            return
        self.server.stats.received += 1
        out = _Outgoing(got.event, got.raw, "none")  # re-encode: datagram framing differs
        self.server.relay(out, None)
        if self.server.ingest is not None:
            anonymous = CotClient(str(addr), None, 0, 0, principal=self.server.anonymous)
            task = asyncio.ensure_future(self.server.ingest(got.event, anonymous))
            self.server._tasks.add(task)
            task.add_done_callback(self.server._tasks.discard)
