"""Recording: retention deletes in chunks, and only what is older than the horizon; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

import numpy as np
from sqlalchemy import func, select

from detente.store import recording as rec
from detente.store.database import open_database, read_snapshot, write_transaction
from detente.store.report_segments import ReportSegments, segments_following
from detente.store.report_thinning import EXACT
from tests.postgres import raw_execute, raw_rows


def test_retention_deletes_in_chunks_until_nothing_older_is_left(database_url):
    engine = open_database(database_url)
    values = np.zeros((10, 7))
    with write_transaction(engine) as conn:
        rec.insert_reports("A", [f"old{k}" for k in range(10)], values, received=100.0)(conn)
        rec.insert_reports("A", [f"new{k}" for k in range(4)], values[:4], received=200.0)(conn)
        rec.upsert_message("m-old", 100.0, {"id": "m-old"})(conn)
        rec.upsert_message("m-new", 200.0, {"id": "m-new"})(conn)
    rounds = []
    while True:
        work, deleted = rec.prune_before(150.0, chunk=3)
        with write_transaction(engine) as conn:
            work(conn)
        rounds.append(deleted[0])
        if deleted[0] < 3:
            break
    assert rounds == [3, 3, 3, 1]
    with engine.connect() as conn:
        left = conn.execute(select(rec.reports_table.c.track_id)).scalars().all()
        assert sorted(left) == [f"new{k}" for k in range(4)]
        assert conn.execute(select(func.count()).select_from(rec.events_table)).scalar() == 0
        assert conn.execute(select(rec.hotline_table.c.id)).scalars().all() == ["m-new"]


def test_retention_finds_what_to_delete_through_indexes_even_in_an_older_database(database_url):
    url = database_url
    open_database(url).dispose()
    # A database from before the retention indexes: they are added when it is opened again.
    raw_execute(url, "DROP INDEX ix_events_t", "DROP INDEX ix_alerts_open_updated_at",
                "DROP INDEX ix_hotline_messages_updated_at")
    engine = open_database(url)
    if not url.startswith("sqlite"):
        # PostgreSQL's planner scans tables this small whatever their indexes: its catalogue
        # says they are back, on the columns retention selects by.
        got = raw_rows(url, "SELECT indexname, indexdef FROM pg_indexes WHERE indexname IN "
                            "('ix_events_t', 'ix_alerts_open_updated_at', "
                            "'ix_hotline_messages_updated_at', 'ix_track_reports_received')")
        defs = dict(got)
        assert defs["ix_events_t"].endswith("(t)")
        assert defs["ix_alerts_open_updated_at"].endswith("(open, updated_at)")
        assert defs["ix_hotline_messages_updated_at"].endswith("(updated_at)")
        assert defs["ix_track_reports_received"].endswith("(received)")
        engine.dispose()
        return
    with engine.connect() as conn:
        for table, older in (("events", "t < 5"), ("alerts", "open = 0 AND updated_at < 5"),
                             ("track_reports", "received < 5"),
                             ("hotline_messages", "updated_at < 5")):
            plan = " ".join(row[3] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT rowid FROM {table} WHERE {older} LIMIT 10"))
            assert "USING" in plan and "INDEX" in plan and "SCAN" not in plan, (table, plan)
    engine.dispose()


def test_retention_keeps_the_latest_report_so_no_rowid_is_given_twice(database_url):
    # SQLite numbers a row max(rowid) + 1: had every report gone, numbering would restart at
    # 1 and the record's anchors would name rows that are other reports. (PostgreSQL's
    # sequence never goes back; the same holds there.)
    engine = open_database(database_url)
    with write_transaction(engine) as conn:
        rec.insert_reports("A", ["a", "b", "c"], np.zeros((3, 7)), received=100.0)(conn)
    work, _ = rec.prune_before(1e9)
    with write_transaction(engine) as conn:
        work(conn)
        rec.insert_reports("A", ["d"], np.zeros((1, 7)), received=200.0)(conn)
    with engine.connect() as conn:
        rows = conn.execute(select(rec.reports_table.c.rowid, rec.reports_table.c.track_id)
                            .order_by(rec.reports_table.c.rowid)).all()
    assert [tuple(r) for r in rows] == [(3, "c"), (4, "d")]
    engine.dispose()


def test_a_hook_that_fails_leaves_the_recorder_writing(database_url):
    engine = open_database(database_url)
    recorder = rec.Recorder(engine)

    def broken_hook(conn):
        return lambda: 1 / 0

    recorder.submit(broken_hook).result(10)
    recorder.submit(rec.insert_reports("A", ["a"], np.zeros((1, 7)), 1.0)).result(10)
    recorder.close()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rec.reports_table)).scalar() == 1
    engine.dispose()


def test_a_snapshot_reads_as_of_its_first_read_while_others_commit(database_url):
    engine = open_database(database_url)
    with write_transaction(engine) as conn:
        rec.insert_reports("A", ["a", "b"], np.zeros((2, 7)), received=100.0)(conn)
    with read_snapshot(engine) as snap:
        assert rec.first_received(snap) == 100.0
        work, _ = rec.prune_before(150.0)
        with write_transaction(engine) as conn:
            work(conn)  # deletes "a" (the latest, "b", stays)
        assert len(list(rec.reports_received_between(snap, None, None, chunk=1))) == 2
    assert [r["track_id"] for r in rec.reports_received_between(engine, None, None)] == ["b"]
    engine.dispose()


def test_segments_are_numbered_in_commit_order_so_a_follower_misses_none(database_url):
    """Writers in several threads record reports while a reader follows the segments by
    number, as another instance of a node does. At every read the committed numbers are
    1..max with no gap: a gap would be a segment that commits later with a smaller number,
    which a follower reading "after the last number" would miss."""
    follow_writers(database_url, instances=1)


def test_two_instances_number_their_segments_in_commit_order(postgres_url):
    """The same with two engines (two instances of a node, each with its own segment writer)
    on PostgreSQL (one SQLite file is one instance). Without the append lock two writers take
    the same number and one of them fails."""
    follow_writers(postgres_url, instances=2)


def follow_writers(database_url: str, instances: int) -> None:
    engines = [open_database(database_url) for _ in range(instances)]
    errors: list[BaseException] = []
    sqlite = database_url.startswith("sqlite")

    def writer(k: int) -> None:
        engine = engines[k % instances]
        segments = ReportSegments(EXACT)  # every report kept: a segment per batch
        rng = np.random.default_rng(k)
        try:
            for n in range(40):
                size = int(rng.integers(1, 300))
                # On PostgreSQL not write_transaction, which queues this process's writers:
                # these stand for writers in different processes. (SQLite has one instance,
                # whose writers take turns.)
                with (write_transaction(engine) if sqlite else engine.begin()) as conn:
                    then = segments.insert(f"P{k}", [f"{k}-{n}-{j}" for j in range(size)],
                                           np.zeros((size, 7)), float(n))(conn)
                assert then is not None
                then()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    reads = 0
    while any(t.is_alive() for t in threads):
        ((count, low, high),) = raw_rows(
            database_url, "SELECT sum(last_row - first_row + 1), min(first_row), max(last_row) "
                          "FROM report_segments")
        if count:
            assert (low, high) == (1, count), "a gap in the committed numbers"
            reads += 1
    for t in threads:
        t.join()
    assert not errors, errors
    assert reads > 5
    # Each batch is one segment, its reports numbered in the order given.
    got = raw_rows(database_url, "SELECT first_row, last_row FROM report_segments "
                                 "ORDER BY first_row")
    assert [f for f, _ in got] == [1] + [last + 1 for _, last in got[:-1]]
    last, followed = segments_following(engines[0], 0, limit=1_000)
    assert last == got[-1][1] and len(followed) == len(got) == 4 * 40
    for _, party, ids, _, _ in followed:
        k, n, j = ids[0].split("-")
        assert party == f"P{k}" and j == "0"
        assert ids == [f"{k}-{n}-{m}" for m in range(len(ids))]
    for e in engines:
        e.dispose()
