"""What joint working costs: policy decisions, filtered reads, the filtered stream, sign-in,
token checks and the audit trail. In-process, one core; figures and ratios to our own targets
(there is no issue target: these show the policy is never the bottleneck).

    uv run python -m bench.bench_access [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from bench.report import line
from estran.adapters.clock import SystemClock
from estran.adapters.security_store import SecurityStore
from estran.bootstrap import load_policy
from estran.domain.events import Event
from estran.domain.markings import Classification, Purpose
from estran.domain.picture import Picture, Query
from estran.domain.policy import Action, Principal, Role, authorize, can_see
from estran.services.audit import AuditTrail, verify
from estran.services.hub import Hub
from estran.services.identity import Identity, NewUser

NOW = "2026-11-25T02:00:00Z"


def picture_of(n: int, rng: random.Random) -> Picture:
    pic = Picture()
    for i in range(n):
        marking = {
            "classification": rng.choice(list(Classification)).value,
            "releasable_to": rng.choice([["FR"], ["FR", "GB"]]),
            "purpose": rng.choice(list(Purpose)).value,
            "personal_data": rng.random() < 0.1,
        }
        pic.apply(
            Event(i + 1, f"e{i}", "detection.created", "detection", f"d{i}", NOW, NOW, "b", "b",
                  marking, {"sensor_id": "s", "class": "group_of_people", "count": 3,
                            "position": {"lat": 50.9, "lon": 1.7}})
        )  # fmt: skip
    return pic


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rng = random.Random(3)
    policy = load_policy(None)
    n = 20_000 if args.quick else 100_000
    pic = picture_of(n, rng)
    liaison = Principal("user:l", Role.LIAISON, "UK-BF", "GB", Classification.OFFICIAL_SENSITIVE)
    commander = Principal(
        "user:c", Role.COMMANDER, "FR-GN", "FR", Classification.DIFFUSION_RESTREINTE
    )
    records = list(pic.records["detection"].values())

    print(f"== policy decisions ({len(records):,} records)")
    t = time.perf_counter()
    for r in records:
        can_see(policy, liaison, r, now=NOW)
    line("can_see (read check)", len(records) / (time.perf_counter() - t), "/s", 200_000)
    t = time.perf_counter()
    for r in records:
        authorize(policy, commander, Action.UPDATE, now=NOW, record=r)
    line("authorize (update, full rule chain)", len(records) / (time.perf_counter() - t), "/s",
         100_000)  # fmt: skip

    print("== a filtered list (the whole kind, then a page)")
    q = Query(limit=1000)
    t = time.perf_counter()
    pic.query("detection", q)
    plain = time.perf_counter() - t
    t = time.perf_counter()
    _, total = pic.query("detection", q, lambda r: can_see(policy, liaison, r, now=NOW))
    filtered = time.perf_counter() - t
    line(f"list of {n:,}: unfiltered", plain * 1000, "ms")
    line(f"list of {n:,}: filtered for a liaison officer ({total:,} seen)", filtered * 1000, "ms",
         250, higher_is_better=False)  # fmt: skip

    print("== the stream: 50 subscribers, each filtered for its principal")
    hub = Hub()
    subs = [
        hub.subscribe(10**6, 2**31, transform=lambda e, f: f if can_see(
            policy, liaison, pic.records["detection"][e.entity_id], now=NOW) else None)
        for _ in range(50)
    ]  # fmt: skip
    events = [
        Event(i + 1, f"x{i}", "detection.updated", "detection", f"d{i % n}", NOW, NOW, "b", "b",
              records[i % n]["marking"], {"review": "confirmed"})
        for i in range(5000)
    ]  # fmt: skip
    t = time.perf_counter()
    for start in range(0, len(events), 50):
        hub.publish(events[start : start + 50])
    spent = time.perf_counter() - t
    line("publish to 50 filtered subscribers", len(events) / spent, "ev/s", 1000)
    del subs

    print("== sign-in and tokens (argon2id, SQLite)")
    with tempfile.TemporaryDirectory() as tmp:
        store = SecurityStore.for_data_dir(Path(tmp))
        identity = Identity(store, now=SystemClock().now, session_ttl_s=3600, max_failed_logins=5,
                            lockout_s=60)  # fmt: skip
        identity.add_user(NewUser("a", Role.COMMANDER, "FR-GN", "FR"), "a long password!")
        logins = 5 if args.quick else 20
        t = time.perf_counter()
        for _ in range(logins):
            session = identity.login("a", "a long password!")
        line("sign-in (argon2id verify + session)", (time.perf_counter() - t) / logins * 1000,
             "ms", 500, higher_is_better=False)  # fmt: skip
        t = time.perf_counter()
        for _ in range(10_000):
            identity.authenticate(session.token)
        line("token check, cached", 10_000 / (time.perf_counter() - t), "/s", 50_000)
        t = time.perf_counter()
        for _ in range(200):
            identity._cache.clear()
            identity.authenticate(session.token)
        line("token check, from the store", 200 / (time.perf_counter() - t), "/s", 1000)

        print("== the audit trail")
        trail = AuditTrail(store, SystemClock().now)
        rows = 2000 if args.quick else 10_000
        t = time.perf_counter()
        for i in range(0, rows, 10):
            trail.write(
                [trail.row("user:a", "view", target=f"incident/i{i + j}") for j in range(10)]
            )
        line("audit append (10 rows a transaction)", rows / (time.perf_counter() - t), "rows/s",
             1000)  # fmt: skip
        t = time.perf_counter()
        result = verify(store)
        assert result.ok
        line(f"audit verify ({result.rows:,} rows)", result.rows / (time.perf_counter() - t),
             "rows/s", 10_000)  # fmt: skip
        trail.close()
        store.close()
    asyncio.run(asyncio.sleep(0))


if __name__ == "__main__":
    main()
