"""An event answered with a 2xx is never lost: SIGKILL the server mid-load and check."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from estran.adapters.security_store import SecurityStore
from tests import factories
from tests.auth import AUTH
from tests.marks import POSTGRES_URL
from tests.serverproc import ServerProcess


def _load(url: str, acked: list[str], stop: threading.Event, batch: int, tag: str) -> None:
    with httpx.Client(headers=AUTH, base_url=url, timeout=5) as client:
        n = 0
        while not stop.is_set():
            ids = [f"{tag}-{n + i:07d}" for i in range(batch)]
            body = [
                {"type": "unit.created", "event_id": eid, "data": factories.unit(eid, id=eid)}
                for eid in ids
            ]
            n += batch
            try:
                reply = client.post("/api/v1/events", json=body if batch > 1 else body[0])
            except httpx.HTTPError:
                return  # the server died under us: this request was never acknowledged
            if reply.status_code == 201:
                acked.extend(ids)


def _all_events(url: str) -> list[dict]:
    seen: list[dict] = []
    after = 0
    with httpx.Client(headers=AUTH, base_url=url, timeout=30) as client:
        while True:
            page = client.get("/api/v1/events", params={"after": after, "limit": 10000}).json()
            if not page["events"]:
                return seen
            seqs = [e["seq"] for e in page["events"]]
            assert seqs == list(range(after + 1, after + 1 + len(seqs))), "gap in the log"
            seen.extend(page["events"])
            after = page["next_after"]


def _crash_and_check(server: ServerProcess, security) -> None:
    server.start()
    acked: list[str] = []
    stop = threading.Event()
    loaders = [
        threading.Thread(target=_load, args=(server.url, acked, stop, size, f"L{k}"))
        for k, size in enumerate((1, 1, 25, 100))
    ]
    for t in loaders:
        t.start()
    time.sleep(2.0)
    server.kill()
    stop.set()
    for t in loaders:
        t.join(10)
    assert len(acked) > 200, "the load never got going"
    server.start()
    try:
        events = _all_events(server.url)
        stored = {e["event_id"] for e in events}
        missing = [eid for eid in acked if eid not in stored]
        assert not missing, f"{len(missing)} acknowledged events lost, e.g. {missing[:3]}"
        # Every committed change a person made has its audit row: they share a transaction.
        store = security()
        try:
            audited = {
                s for r in store.read_audit() if r.action == "change"
                for s in range(r.details["first_seq"], r.details["last_seq"] + 1)
            }  # fmt: skip
        finally:
            store.close()
        by_people = [e["seq"] for e in events if e["actor"].startswith("user:")]
        unaudited = [seq for seq in by_people if seq not in audited]
        assert not unaudited, f"{len(unaudited)} committed events have no audit row"
        picture_units = httpx.get(headers=AUTH, url=f"{server.url}/api/v1/health").json()["records"]
        assert picture_units >= len(acked)  # the rebuilt picture holds them too
    finally:
        server.stop()


@pytest.mark.slow
def test_no_acknowledged_event_is_lost_when_sqlite_server_is_killed(tmp_path):
    data = tmp_path / "data"
    _crash_and_check(ServerProcess(data), lambda: SecurityStore.for_data_dir(data))


@pytest.mark.slow
@pytest.mark.postgres
def test_no_acknowledged_event_is_lost_when_postgres_server_is_killed(tmp_path, pg_schema):
    env = {"ESTRAN_DATABASE_URL": POSTGRES_URL, "ESTRAN_DATABASE_SCHEMA": pg_schema}
    _crash_and_check(
        ServerProcess(tmp_path / "data", env),
        lambda: SecurityStore.for_postgres(POSTGRES_URL, pg_schema),
    )
