"""The link between sovereign centres over NATS JetStream (the ``FederationLink`` port).

One stream per pair of nations (``ESTRAN_FED_FR_GB``), holding both directions:
``estran.fed.<from>.<to>.<kind>.<record digest>``. A subject per record means the last message
on it is what the partner holds of that record (a release, or its withdrawal), so the
publisher learns what it has given the partner from the stream itself, after any crash. Every
message carries ``Nats-Msg-Id`` (the event, the operation, the partner): published again after
a crash or a failover, within the stream's de-duplication window (20 minutes), it is stored
once; beyond it, the receiving centre's idempotency (the event id) still applies it once. The
stream is on disk (``file`` storage) and a publish returns only once JetStream acknowledged it.

Why JetStream and not a bespoke link: durable, ordered per subject, de-duplicated, with
durable consumers that resume where they stopped after a partition; the centres' operators
already run NATS for the CoT relay.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from typing import TYPE_CHECKING, Any, Final

import nats
import orjson
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import Error as JetStreamError

from estran.ports import Inbound

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from nats.aio.client import Client
    from nats.js.client import JetStreamContext

    from estran.ports import Release

__all__ = ["JetStreamFederation", "record_subject", "stream_name"]

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_S: Final = 20 * 60
CONSUME_BATCH: Final = 256


def stream_name(root: str, a: str, b: str) -> str:
    first, second = sorted((a, b))
    token = root.replace(".", "_").upper()
    return f"{token}_{first}_{second}"


def record_subject(root: str, frm: str, to: str, kind: str, entity_id: str) -> str:
    digest = hashlib.sha256(entity_id.encode()).hexdigest()[:24]
    return f"{root}.{frm}.{to}.{kind}.{digest}"


class JetStreamFederation:
    def __init__(
        self, url: str, *, nation: str, partners: list[str], root: str, centre: str = ""
    ) -> None:
        self.url = url
        self.nation = nation
        self.centre = centre
        self.partners = partners
        self.root = root
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self.published = 0
        self.duplicates = 0
        self.consumed = 0

    async def connect(self) -> None:
        if self._nc is not None and self._nc.is_connected:
            return
        try:
            self._nc = await nats.connect(
                self.url,
                name=f"estran-federation:{self.nation}",
                connect_timeout=3,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
            )
            self._js = self._nc.jetstream(timeout=5)
            for partner in self.partners:
                await self._declare(self._js, partner)
        except (NatsError, JetStreamError, OSError) as exc:
            await self.close()
            raise ConnectionError(f"federation link {self.url}: {exc}") from exc

    async def _declare(self, js: JetStreamContext, partner: str) -> None:
        """The pair's stream, created by whichever centre comes first (both declare it alike;
        two declaring it at once: one of them is told the subjects overlap, and finds it)."""
        config = StreamConfig(
            name=stream_name(self.root, self.nation, partner),
            subjects=sorted(
                [f"{self.root}.{self.nation}.{partner}.>", f"{self.root}.{partner}.{self.nation}.>"]
            ),
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        try:
            await js.add_stream(config)
        except JetStreamError:
            info = await js.stream_info(str(config.name))  # raises where it is not there
            if sorted(info.config.subjects or []) != config.subjects:
                raise

    def _context(self) -> JetStreamContext:
        if self._js is None:
            raise ConnectionError("the federation link is not connected")
        return self._js

    async def held_by(self, partner: str) -> set[tuple[str, str]]:
        js = self._context()
        held: set[tuple[str, str]] = set()
        try:
            sub = await js.pull_subscribe(
                f"{self.root}.{self.nation}.{partner}.>",
                stream=stream_name(self.root, self.nation, partner),
                config=ConsumerConfig(
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                    ack_policy=AckPolicy.NONE,
                    inactive_threshold=30.0,
                ),
            )
            try:
                while True:
                    try:
                        messages = await sub.fetch(500, timeout=1.0)
                    except NatsTimeoutError:
                        break
                    for msg in messages:
                        body: dict[str, Any] = orjson.loads(msg.data)
                        key = (str(body["kind"]), str(body["id"]))
                        if body["op"] == "release":
                            held.add(key)
                        else:
                            held.discard(key)
                    if (await sub.consumer_info()).num_pending == 0:
                        break
            finally:
                await sub.unsubscribe()
        except (NatsError, JetStreamError) as exc:
            raise ConnectionError(f"federation link: {exc}") from exc
        return held

    async def publish(self, message: Release) -> None:
        js = self._context()
        body = {
            "op": message.op,
            "centre": message.centre,
            "nation": message.nation,
            "kind": message.kind,
            "id": message.entity_id,
            "event_id": message.event_id,
            "seq": message.seq,
        }
        if message.record is not None:
            body["record"] = message.record
        if message.about is not None:
            body["about"] = message.about
        subject = record_subject(
            self.root, message.nation, message.partner, message.kind, message.entity_id
        )
        try:
            ack = await js.publish(
                subject, orjson.dumps(body), headers={"Nats-Msg-Id": message.message_id}
            )
        except (NatsError, JetStreamError) as exc:
            raise ConnectionError(f"federation publish failed: {exc}") from exc
        self.published += 1
        self.duplicates += bool(ack.duplicate)

    async def consume(
        self, partner: str, handle: Callable[[list[Inbound]], Awaitable[None]]
    ) -> None:
        js = self._context()
        durable = f"{self.centre or self.nation}-from-{partner}"
        try:
            sub = await js.pull_subscribe(
                f"{self.root}.{partner}.{self.nation}.>",
                durable=durable,
                stream=stream_name(self.root, self.nation, partner),
                config=ConsumerConfig(
                    durable_name=durable,
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.ALL,
                    ack_wait=30.0,
                    max_ack_pending=20_000,
                ),
            )
        except (NatsError, JetStreamError) as exc:
            raise ConnectionError(f"federation consumer {durable}: {exc}") from exc
        try:
            while True:
                try:
                    messages = await sub.fetch(CONSUME_BATCH, timeout=1.0)
                except (NatsTimeoutError, TimeoutError):  # nats-py raises either
                    continue  # nothing new (or the link is down: nats-py reconnects)
                except (NatsError, JetStreamError) as exc:
                    raise ConnectionError(f"federation consumer {durable}: {exc}") from exc
                if not messages:  # a fetch can also end with no message and no timeout
                    continue
                batch = [Inbound(m.subject, m.data, m.metadata.sequence.stream) for m in messages]
                await handle(batch)
                try:  # acknowledges the whole batch (AckPolicy.ALL): handled, in order
                    await messages[-1].ack()
                except (NatsError, JetStreamError) as exc:
                    raise ConnectionError(f"federation consumer {durable}: {exc}") from exc
                self.consumed += len(batch)
        finally:
            with contextlib.suppress(NatsError, JetStreamError):
                await sub.unsubscribe()

    async def close(self) -> None:
        if self._nc is not None:
            try:
                await self._nc.close()
            except Exception as exc:  # closing a broken link
                log.debug("closing the federation link: %s", exc)
        self._nc = self._js = None
