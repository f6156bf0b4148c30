"""``/api/v1/stream``: a snapshot (or the missed events), then every change in seq order.

Messages (JSON text frames)::

    {"type": "snapshot", "seq": S, "records": {"units": [...], ...}}   on a fresh connect
    {"type": "events", "events": [{"seq": n, ...}, ...]}              in seq order, no gaps

Connect with ``?since=N`` (the last seq you hold) to get exactly what you missed instead of
a snapshot. A subscriber whose queue overflows is closed with code 4008 and a reason that
says where to resume; a bad ``since`` closes with 4400.

The stream is filtered for the signed-in principal (bearer token or session cookie; none:
closed with 4401): only events of records they may see arrive. When a record becomes visible
(released to them) its whole current state arrives as ``{"type": "<kind>.visible", "seq",
"kind", "entity_id", "record"}``; when it stops being visible (narrowed, or purged) a
``{"type": "<kind>.hidden", "seq", "kind", "entity_id"}`` tells the client to drop it. An
observer's stream closes with 4403 when their attachment ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, Final

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from estran.app.web.auth import authenticated_ws
from estran.app.web.deps import (
    AccessDep,
    AuditDep,
    ClockDep,
    HubDep,
    PictureDep,
    PolicyDep,
    SettingsDep,
    StoreDep,
)
from estran.app.web.errors import WS_CLOSE
from estran.domain.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ResumeError,
    SlowConsumerError,
)
from estran.domain.events import Event
from estran.domain.messages import msg
from estran.domain.picture import Picture
from estran.domain.policy import Action, Policy, Principal, enforce
from estran.domain.records import KINDS
from estran.domain.timefmt import parse_stamp
from estran.ports import Clock, EventStore
from estran.services.access import Access
from estran.services.hub import Frame, Subscriber

__all__ = ["build_stream_router"]

_BACKLOG_PAGE: Final = 2000
_FOLLOW_WAIT_STEPS: Final = 30  # 3 s
_LINGER_BELOW: Final = 32
_HEAD: Final = b'{"type":"events","events":['


def _events_frame(frames: list[Frame]) -> str:
    return (_HEAD + b",".join(f for _, f in frames) + b"]}").decode()


class _Filter:
    """What one principal's stream carries: visible records' events, plus ``.visible`` and
    ``.hidden`` notices as records come into and out of their view."""

    def __init__(
        self, access: Access, policy: Policy, picture: Picture, principal: Principal
    ) -> None:
        self.access = access
        self.picture = picture
        self.principal = principal
        self.shown: set[tuple[str, str]] = set()
        self.everything = access.sees_everything(principal)
        self.observer = policy.roles[principal.role].sees == "attached_unit"
        self._keep: Any = None
        self._memo: dict[tuple[Any, ...], bool] = {}
        self._fresh_until = 0.0

    def _sees(self, record: dict[str, Any]) -> bool:
        # The clock and an observer's scope are read at most once a second; outside an
        # observer's scope the answer depends on the (interned) marking, kind and life at sea
        # only, so it is memoised: one dict lookup per event per subscriber.
        now = time.monotonic()
        if now >= self._fresh_until:
            self._keep = self.access.predicate(self.principal)
            self._memo.clear()
            self._fresh_until = now + 1.0
        if self.observer:
            return bool(self._keep(record))
        key = (id(record["marking"]), record["entity"], bool(record.get("life_at_sea")))
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = bool(self._keep(record))
        return hit

    def _saw_then(self, record: dict[str, Any], event: Event) -> bool:
        """Whether the record, as marked by ``event`` (its marking then), was for this reader:
        an event from before a release never shows what the record held before it."""
        if event.marking is record.get("marking") or event.marking == record.get("marking"):
            return True
        then = {**record, "marking": event.marking}
        if self.observer:
            return bool(self._keep(then))
        m = event.marking
        key = (
            "then", m.get("classification"), tuple(m.get("releasable_to") or ()),
            m.get("purpose"), bool(m.get("personal_data")), record["entity"],
            bool(record.get("life_at_sea")),
        )  # fmt: skip
        hit = self._memo.get(key)
        if hit is None:
            hit = self._memo[key] = bool(self._keep(then))
        return hit

    def __call__(self, event: Event, frame: bytes) -> bytes | None:
        if self.everything:
            return frame
        key = (event.kind, event.entity_id)
        if event.kind == "purge":
            gone = [k for k in self.shown if self.picture.get(*k) is None]
            notices = [self._hidden(event.seq, k) for k in gone]
            self.shown.difference_update(gone)
            record = self.picture.get(*key)
            if record is not None and self._sees(record):
                notices.append(frame)
            return b",".join(notices) if notices else None
        record = self.picture.get(*key)
        visible = record is not None and self._sees(record)
        if visible and record is not None and not self._saw_then(record, event):
            return None  # released later: what it was before the release is not shown
        if visible:
            if key in self.shown or event.verb == "created":
                self.shown.add(key)
                return frame
            self.shown.add(key)
            return orjson.dumps(
                {
                    "seq": event.seq,
                    "type": f"{event.kind}.visible",
                    "kind": event.kind,
                    "entity_id": event.entity_id,
                    "record": record,
                }
            )
        if key in self.shown:
            self.shown.discard(key)
            return self._hidden(event.seq, key)
        return None

    @staticmethod
    def _hidden(seq: int, key: tuple[str, str]) -> bytes:
        return orjson.dumps(
            {"seq": seq, "type": f"{key[0]}.hidden", "kind": key[0], "entity_id": key[1]}
        )


def _read_page(store: EventStore, after: int, head: int, keep: _Filter) -> list[Frame]:
    out: list[Frame] = []
    for e in store.read(after, limit=min(_BACKLOG_PAGE, head - after)):
        frame = keep(e, e.to_json())
        out.append((e.seq, frame if frame is not None else b""))
    return out


async def _send_backlog(
    ws: WebSocket, store: EventStore, sub: Subscriber, since: int, head: int, keep: _Filter
) -> None:
    position = since
    while position < head:
        page = await asyncio.to_thread(_read_page, store, position, head, keep)
        if not page:
            return
        shown = [f for f in page if f[1]]
        if shown:
            await ws.send_text(_events_frame(shown))
        position = sub.delivered_seq = page[-1][0]


async def _pump(ws: WebSocket, sub: Subscriber, after: int, linger_s: float) -> None:
    last = after
    while True:
        frames = await sub.take()
        if linger_s > 0 and len(frames) < _LINGER_BELOW:
            # Wait a moment for more: fewer, fuller frames cost the server (and 50 clients)
            # far less CPU at a thousand events a second, for a bounded added delay.
            await asyncio.sleep(linger_s)
            frames += sub.take_nowait()
        frames = [f for f in frames if f[0] > last]
        if frames:
            await ws.send_text(_events_frame(frames))
            last = sub.delivered_seq = frames[-1][0]


def build_stream_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.websocket("/stream")
    async def stream(
        ws: WebSocket,
        access: AccessDep,
        audit: AuditDep,
        policy: PolicyDep,
        picture: PictureDep,
        hub: HubDep,
        store: StoreDep,
        settings: SettingsDep,
        clock: ClockDep,
    ) -> None:
        await ws.accept()
        try:
            principal = await authenticated_ws(ws)
            decision = access.decide(principal, Action.READ)
            if not decision.allowed:
                await audit.decision(decision)
            enforce(decision)
        except (AuthenticationError, PermissionDeniedError) as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    ws.close(code=_close_code(exc), reason=exc.message[:120]), timeout=2
                )
            return
        raw_since = ws.query_params.get("since")
        since = picture.seq if raw_since is None else int(raw_since) if raw_since.isdigit() else -1
        # A client failing over from another node may hold a seq this node has not applied
        # yet: wait a moment for it to follow the shared log before calling the seq unknown.
        for _ in range(_FOLLOW_WAIT_STEPS):
            if since <= picture.seq:
                break
            await asyncio.sleep(0.1)
        head = picture.seq
        keep = _Filter(access, policy, picture, principal)
        sub = hub.subscribe(
            settings.stream_max_messages,
            settings.stream_max_bytes,
            delivered_seq=max(since, 0),
            transform=keep,
        )
        try:
            if raw_since is None:
                snapshot = picture.snapshot(keep=access.predicate(principal))
                keep.shown.update((k, r["id"]) for k, records in snapshot.items() for r in records)
                await ws.send_text(
                    orjson.dumps(
                        {
                            "type": "snapshot",
                            "seq": head,
                            "records": {KINDS[k].plural: v for k, v in snapshot.items()},
                        }
                    ).decode()
                )
            else:
                if not 0 <= since <= head:
                    raise ResumeError(since, head)
                await _send_backlog(ws, store, sub, since, head, keep)
            linger_s = settings.stream_linger_ms / 1000
            await _serve(ws, sub, head, principal.access_until, linger_s, clock)
        except (SlowConsumerError, ResumeError, PermissionDeniedError) as exc:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    ws.close(code=_close_code(exc), reason=exc.message[:120]), timeout=2
                )
        except WebSocketDisconnect:
            pass
        finally:
            hub.unsubscribe(sub)

    return router


def _close_code(exc: Exception) -> int:
    for cls, code in WS_CLOSE.items():
        if isinstance(exc, cls):
            return code
    return 1011


async def _access_ends(until: str | None, now: Any) -> None:
    """Raises when an observer's attachment ends (never, for everyone else)."""
    if until is None:
        await asyncio.Event().wait()
        return
    end = parse_stamp(until)
    while (left := (end - now()).total_seconds()) > 0:  # noqa: ASYNC110 (re-reads the clock)
        await asyncio.sleep(min(left, 5.0))
    raise PermissionDeniedError(
        msg("access ended at {until}", until=until), rule="expired", action="read"
    )


async def _serve(
    ws: WebSocket, sub: Subscriber, head: int, until: str | None, linger_s: float, clock: Clock
) -> None:
    pump = asyncio.create_task(_pump(ws, sub, head, linger_s))
    overflow = asyncio.create_task(sub.failed())
    listen = asyncio.create_task(_drain_client(ws))
    expiry = asyncio.create_task(_access_ends(until, clock.now))
    done, pending = await asyncio.wait(
        {pump, overflow, listen, expiry}, return_when=asyncio.FIRST_COMPLETED
    )
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    errors = [task.exception() for task in done]  # retrieve every one, so none is left unread
    if overflow in done:
        raise overflow.result()
    for exc in errors:
        if exc is not None:
            raise exc


async def _drain_client(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
