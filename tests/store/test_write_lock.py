"""Writers to one database take turns in the order they came."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from detente.store.database import _FairLock, open_database, write_transaction


def test_waiters_get_the_lock_in_the_order_they_came():
    lock = _FairLock()
    lock.acquire()
    order: list[int] = []

    def writer(k: int) -> None:
        lock.acquire()
        order.append(k)
        lock.release()

    threads = []
    for k in range(8):
        t = threading.Thread(target=writer, args=(k,))
        t.start()
        while len(lock._waiters) < k + 1:  # queued before the next one starts
            time.sleep(0.001)
        threads.append(t)
    # A thread arriving while the queue is handed over must not jump it.
    lock.release()
    lock.acquire()
    order.append(99)
    lock.release()
    for t in threads:
        t.join(5)
    assert order == [*range(8), 99]


def test_concurrent_write_transactions_all_commit(database_url):
    engine = open_database(database_url)
    with write_transaction(engine) as c:
        c.execute(text("CREATE TABLE t (k INTEGER, n INTEGER)"))

    def writer(k: int) -> None:
        for n in range(50):
            with write_transaction(engine) as c:
                c.execute(text("INSERT INTO t VALUES (:k, :n)"), {"k": k, "n": n})

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with engine.connect() as c:
        rows = c.execute(text("SELECT k, n FROM t")).fetchall()
    assert sorted(tuple(r) for r in rows) == [(k, n) for k in range(4) for n in range(50)]
