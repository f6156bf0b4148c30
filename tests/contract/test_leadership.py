"""The ``Leadership`` port: one holder at a time among the nodes of one centre.

``SoleLeadership`` (a node alone) always leads; ``PostgresLeadership`` is a session advisory
lock on a real PostgreSQL (skipped with the reason when none answers): exclusive, named in
``pg_stat_activity``, freed the moment its holder's session ends, and given up by a holder
whose link broke before anyone else can take it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from estran.adapters.storage.leadership import PostgresLeadership, SoleLeadership, lock_key
from estran.adapters.storage.watchdog import cut
from tests.marks import POSTGRES_URL, needs_postgres


def test_a_node_alone_always_leads():
    ship = SoleLeadership("solo")
    assert ship.try_acquire()
    assert ship.check()
    assert ship.holder() == "solo"


def test_each_centre_has_its_own_lock():
    assert lock_key("estran") != lock_key("estran_dover")
    assert 0 < lock_key("estran") < 2**63


@pytest.fixture
def pair(pg_schema: str) -> Iterator[tuple[PostgresLeadership, PostgresLeadership]]:
    a = PostgresLeadership(POSTGRES_URL, schema=pg_schema, node="node-a")
    b = PostgresLeadership(POSTGRES_URL, schema=pg_schema, node="node-b")
    yield a, b
    a.release()
    b.release()


@needs_postgres
def test_one_holder_at_a_time_named_to_every_node(pair):
    a, b = pair
    assert b.holder() is None
    assert a.try_acquire()
    assert not b.try_acquire()
    assert a.try_acquire()  # holding already: still holding
    assert a.check()
    assert not b.check()
    assert b.holder() == "node-a" == a.holder()


@needs_postgres
def test_the_lock_is_free_the_moment_its_holder_goes(pair):
    a, b = pair
    assert a.try_acquire()
    a.release()  # the node stops
    assert b.try_acquire()
    assert b.holder() == "node-b"
    assert not a.try_acquire()


@needs_postgres
def test_a_holder_whose_link_breaks_stops_leading_and_another_takes_over(pair):
    a, b = pair
    assert a.try_acquire()
    cut(a._conn)  # the socket dies under it (what a reset or a killed process does)
    assert not a.check()  # it knows at its next check, and steps down
    assert b.try_acquire()  # the server freed the lock with the session
    assert not a.try_acquire()  # reconnected, it waits its turn
