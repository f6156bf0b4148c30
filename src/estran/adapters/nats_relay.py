"""The CoT relay between the nodes of one centre over NATS core subjects (``RelayBus``).

A load balancer spreads TAK clients over the nodes, so what a client of node A sends must
reach the clients of node B. Each node publishes what its clients send on the centre's subject
(``estran.<centre>.cot``) and subscribes to it, ignoring its own messages. NATS core is made
for this: a message published by one connection reaches every subscriber in the order it was
published (so per sender, as TAK clients expect), at memory speed, with nothing stored. It is
at most once: a node cut off from NATS for a moment misses positions sent meanwhile, as a TAK
client on a flaky link does; the picture itself never goes this way (it is the shared log).

The message body is the CoT XML; who sent it rides in NATS headers (node, peer, uid, group,
and the sender's principal as JSON), so the receiving node applies the same per-receiver
filter as for its own clients. The XML was parsed and checked by the node whose client sent
it; the receiving node checks its size and parses it again only when one of its clients speaks
protobuf (to re-encode it). So the NATS subject is inside the centre's trust boundary, like its
database: in production give NATS accounts and TLS (``ESTRAN_RELAY_URL=tls://user:pass@...``).

Outgoing messages go through one bounded queue and one sender task, so they leave in order;
when the queue is full (NATS unreachable for long) the oldest positions are dropped and
counted, never the caller blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Final

import nats
import orjson
from nats.errors import Error as NatsError

from estran.domain.markings import Classification
from estran.domain.policy import Principal, Role
from estran.ports import RelayedCot

if TYPE_CHECKING:
    from collections.abc import Callable

    from nats.aio.msg import Msg

__all__ = ["NatsRelay", "principal_from", "principal_json"]

log = logging.getLogger(__name__)

MAX_QUEUE: Final = 20_000


def principal_json(who: Principal | None) -> str:
    if who is None:
        return "null"
    return orjson.dumps(
        {
            "id": who.id,
            "role": who.role.value,
            "agency_id": who.agency_id,
            "nation": who.nation,
            "clearance": who.clearance.value,
            "sectors": None if who.sectors is None else sorted(who.sectors),
            "attached_unit": who.attached_unit,
            "access_until": who.access_until,
        }
    ).decode()


def principal_from(text: str) -> Principal | None:
    data = orjson.loads(text)
    if data is None:
        return None
    return Principal(
        str(data["id"]),
        Role(data["role"]),
        agency_id=str(data["agency_id"]),
        nation=str(data["nation"]),
        clearance=Classification(data["clearance"]),
        sectors=None if data["sectors"] is None else frozenset(data["sectors"]),
        attached_unit=data["attached_unit"],
        access_until=data["access_until"],
    )


class NatsRelay:
    def __init__(self, url: str, *, subject: str, node: str) -> None:
        self.url = url
        self.subject = subject
        self.node = node
        self._out: deque[RelayedCot] = deque(maxlen=MAX_QUEUE)
        self._wake = asyncio.Event()
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self.refused = 0
        self.connected = False

    def publish(self, message: RelayedCot) -> None:
        if len(self._out) == MAX_QUEUE:
            self.dropped += 1
        self._out.append(message)
        self._wake.set()

    def status(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "subject": self.subject,
            "connected": self.connected,
            "sent": self.sent,
            "received": self.received,
            "dropped": self.dropped,
            "refused": self.refused,
            "queued": len(self._out),
        }

    async def run(self, on_message: Callable[[RelayedCot], None]) -> None:
        lost = asyncio.Event()

        async def disconnected() -> None:
            self.connected = False

        async def reconnected() -> None:
            self.connected = True

        async def closed() -> None:
            lost.set()

        nc = await nats.connect(
            self.url,
            name=f"estran-relay:{self.node}",
            connect_timeout=2,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            closed_cb=closed,
        )
        self.connected = True

        async def receive(msg: Msg) -> None:
            headers = msg.headers or {}
            if headers.get("Estran-Node") == self.node:
                return
            try:
                message = RelayedCot(
                    node=headers["Estran-Node"],
                    peer=headers.get("Estran-Peer", "?"),
                    xml=msg.data,
                    uid=headers.get("Estran-Uid") or None,
                    group=headers.get("Estran-Group") or None,
                    principal=principal_from(headers.get("Estran-Principal", "null")),
                )
            except (KeyError, ValueError, TypeError) as exc:
                self.refused += 1
                log.warning("a relayed CoT message was refused: %s", exc)
                return
            self.received += 1
            on_message(message)

        try:
            await nc.subscribe(self.subject, cb=receive)
            log.info("CoT relay between nodes on %s (%s)", self.subject, self.url)
            while not lost.is_set():
                if not self._out:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 1.0)
                    continue
                message = self._out.popleft()
                await nc.publish(
                    self.subject,
                    message.xml,
                    headers={
                        "Estran-Node": self.node,
                        "Estran-Peer": message.peer,
                        "Estran-Uid": message.uid or "",
                        "Estran-Group": message.group or "",
                        "Estran-Principal": principal_json(message.principal),
                    },
                )
                self.sent += 1
            raise ConnectionError("the NATS connection closed")
        except NatsError as exc:
            raise ConnectionError(f"NATS relay: {exc}") from exc
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await nc.close()
