"""The TAK egress, restarted after a crash, sends what changed while it was down, and
repeats nothing (issue 18: a reactor that was down catches up from its last handled seq)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from estran.domain.events import Event
from estran.domain.picture import Picture
from estran.services.hub import Hub
from estran.services.tak import TakGateway

MARK = {"classification": "OFFICIAL", "releasable_to": ["FR"]}


class _Client:
    peer, uid, callsign, principal = "test", None, None, None


class _Transport:
    def __init__(self) -> None:
        self.clients: set[Any] = {_Client()}
        self.sent: list[str] = []
        self.ingest = self.welcome = self.principal_for = self.relay_allows = None
        self.anonymous = None

    def send_to(self, client: Any, ev: Any) -> None:
        self.sent.append(ev.uid)

    async def recheck(self) -> None:
        pass


def _incident(seq: int, iid: str) -> Event:
    at = f"2026-11-30T22:{seq:02d}:00.000000Z"
    return Event(seq, f"e{seq}", "incident.created", "incident", iid, at, at, "u", "api", MARK,
                 {"type": "boat_being_prepared", "impact": "high", "status": "open",
                  "position": {"lat": 50.9, "lon": 1.7}})  # fmt: skip


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_restarted_egress_sends_what_changed_while_it_was_down_and_nothing_twice():
    picture, hub, transport = Picture(), Hub(), _Transport()
    gateway = TakGateway(transport, None, picture, hub,  # type: ignore[arg-type]
                         default_agency="FR-GN", now_s=time.time)  # fmt: skip

    def commit(event: Event) -> None:  # what the ledger does: apply, then publish
        picture.apply(event)
        hub.publish([event])

    commit(_incident(1, "before"))  # before egress ever ran: for welcome, not for egress
    egress = asyncio.create_task(gateway._egress_loop())
    await _settle()
    commit(_incident(2, "up"))
    await _settle()
    assert [u.rsplit(".", 1)[-1] for u in transport.sent] == ["up"]

    egress.cancel()  # the loop dies (the runtime restarts it after a back-off)
    with contextlib.suppress(asyncio.CancelledError):
        await egress
    commit(_incident(3, "while-down"))
    commit(_incident(4, "also-down"))

    egress = asyncio.create_task(gateway._egress_loop())
    await _settle()
    commit(_incident(5, "after"))
    await _settle()
    egress.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await egress
    assert [u.rsplit(".", 1)[-1] for u in transport.sent] == [
        "up",
        "while-down",
        "also-down",
        "after",
    ]
    assert gateway.caught_up == 2
    assert gateway.egress_seq == 5
