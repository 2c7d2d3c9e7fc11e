"""The lease and its fence, on a real PostgreSQL (``store.leases``, ``service.leadership``).

Two engines stand for two instances of a node. The oracle is the table read with psycopg
alone: what committed, and when, against what the lease said.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from detente.errors import UnavailableError
from detente.service.leadership import LeaseKeeper, NodeSettings, app_name
from detente.store import leases
from detente.store.database import open_database, set_fence, write_transaction
from tests.postgres import raw_rows


def _engine(url, who):
    engine = open_database(url, application_name=app_name(who))
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS writes (who TEXT, n INTEGER)"))
    return engine


def _fence(epoch, ttl):
    return lambda conn: leases.fence(conn, "node", epoch, idle_timeout_s=ttl / 2,
                                     retry_after_s=1.0)


def test_the_lease_passes_only_once_expired_and_each_holder_has_its_epoch(postgres_url):
    e1, e2 = _engine(postgres_url, "one"), _engine(postgres_url, "two")
    with e1.connect() as c1, e2.connect() as c2:
        assert leases.acquire(c1, "node", "one", "http://one", ttl_s=1.0) == 1
        assert leases.acquire(c2, "node", "two", "http://two", ttl_s=1.0) is None  # live
        assert leases.renew(c1, "node", "one", 1, ttl_s=1.0)
        lease = leases.current(c2, "node")
        assert (lease.holder, lease.epoch, lease.address) == ("one", 1, "http://one")
        assert 0.5 < lease.expires_in_s <= 1.0
        time.sleep(1.1)
        assert leases.acquire(c2, "node", "two", "http://two", ttl_s=1.0) == 2
        assert not leases.renew(c1, "node", "one", 1, ttl_s=1.0)  # it passed on
        leases.release(c2, "node", "two", 2)  # a clean stop: no need to wait it out
        assert leases.acquire(c1, "node", "one", "http://one", ttl_s=1.0) == 3
    rows = raw_rows(postgres_url, "SELECT holder, epoch FROM node_leases")
    assert rows == [("one", 3)]
    e1.dispose()
    e2.dispose()


def test_a_leader_paused_inside_a_write_cannot_commit_it_once_the_lease_passed(postgres_url):
    """The old leader opens a write, then stalls (a stopped process) past its lease; the new
    holder takes the lease; the old leader's write never commits, and neither does any later
    one. Without the fence the stalled write commits after the lease changed hands."""
    ttl = 1.0
    e1, e2 = _engine(postgres_url, "one"), _engine(postgres_url, "two")
    with e1.connect() as c:
        epoch = leases.acquire(c, "node", "one", "http://one", ttl_s=ttl)
    set_fence(e1, _fence(epoch, ttl))
    with write_transaction(e1) as conn:
        conn.execute(text("INSERT INTO writes VALUES ('one', 1)"))
    stalled: list[BaseException] = []

    def stall() -> None:
        try:
            with write_transaction(e1) as conn:
                conn.execute(text("INSERT INTO writes VALUES ('one', 2)"))
                time.sleep(3 * ttl)  # paused inside the transaction, past the lease
        except BaseException as exc:
            stalled.append(exc)

    t = threading.Thread(target=stall)
    t.start()
    time.sleep(ttl + 0.2)
    took = None
    deadline = time.monotonic() + 10
    with e2.connect() as c:
        while took is None and time.monotonic() < deadline:
            took = leases.acquire(c, "node", "two", "http://two", ttl_s=ttl)
    taken_at = time.monotonic()
    assert took == epoch + 1
    set_fence(e2, _fence(took, ttl))
    with write_transaction(e2) as conn:
        conn.execute(text("INSERT INTO writes VALUES ('two', 1)"))
    t.join(10)
    assert stalled, "the stalled write of the old leader committed"
    # Nor can the old leader write anything after it woke up.
    with pytest.raises(UnavailableError, match="no longer the node's leader"), \
            write_transaction(e1) as conn:
        conn.execute(text("INSERT INTO writes VALUES ('one', 3)"))
    assert raw_rows(postgres_url, "SELECT who, n FROM writes ORDER BY who, n") == [
        ("one", 1), ("two", 1)]
    assert time.monotonic() - taken_at < 10
    set_fence(e1, None)
    set_fence(e2, None)
    e1.dispose()
    e2.dispose()


def test_the_keeper_takes_over_when_the_leader_stops_renewing(postgres_url):
    e1, e2 = _engine(postgres_url, "one"), _engine(postgres_url, "two")
    changes: dict[str, list] = {"one": [], "two": []}
    k1 = LeaseKeeper(e1, NodeSettings("node", "one", "http://one", ttl_s=1.0),
                     changes["one"].append)
    k1.start()
    deadline = time.monotonic() + 5
    while k1.epoch is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert k1.epoch == 1 and changes["one"] == [1]
    k2 = LeaseKeeper(e2, NodeSettings("node", "two", "http://two", ttl_s=1.0),
                     changes["two"].append)
    k2.start()
    time.sleep(1.5)  # the leader renews: the other stays a follower
    assert k2.epoch is None and k2.leader is not None and k2.leader.holder == "one"
    # The leader's thread stops renewing (as if the process were stopped), keeping its state.
    k1._stop.set()
    k1._thread.join(5)
    stopped = time.monotonic()
    while k2.epoch is None and time.monotonic() < stopped + 5:
        time.sleep(0.02)
    assert k2.epoch == 2 and changes["two"] == [2]
    assert time.monotonic() - stopped < 2.0  # ttl 1 s, renewals every 0.25 s
    # The old leader's engine still holds its old fence: its writes are refused.
    with pytest.raises(UnavailableError), write_transaction(e1) as conn:
        conn.execute(text("INSERT INTO writes VALUES ('one', 9)"))
    k2.stop()
    assert raw_rows(postgres_url, "SELECT count(*) FROM writes") == [(0,)]
    set_fence(e1, None)
    e1.dispose()
    e2.dispose()
