"""Recording: retention deletes in chunks, and only what is older than the horizon."""

from __future__ import annotations

import sqlite3

import numpy as np
from sqlalchemy import func, select

from detente.store import recording as rec
from detente.store.database import open_database, read_snapshot, write_transaction


def test_retention_deletes_in_chunks_until_nothing_older_is_left(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
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


def test_retention_finds_what_to_delete_through_indexes_even_in_an_older_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    open_database(url).dispose()
    # A database from before the retention indexes: they are added when it is opened again.
    raw = sqlite3.connect(tmp_path / "r.sqlite")
    raw.execute("DROP INDEX ix_events_t")
    raw.execute("DROP INDEX ix_alerts_open_updated_at")
    raw.execute("DROP INDEX ix_hotline_messages_updated_at")
    raw.commit()
    raw.close()
    engine = open_database(url)
    with engine.connect() as conn:
        for table, older in (("events", "t < 5"), ("alerts", "open = 0 AND updated_at < 5"),
                             ("track_reports", "received < 5"),
                             ("hotline_messages", "updated_at < 5")):
            plan = " ".join(row[3] for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN SELECT rowid FROM {table} WHERE {older} LIMIT 10"))
            assert "USING" in plan and "INDEX" in plan and "SCAN" not in plan, (table, plan)
    engine.dispose()


def test_retention_keeps_the_latest_report_so_no_rowid_is_given_twice(tmp_path):
    # SQLite numbers a row max(rowid) + 1: had every report gone, numbering would restart at
    # 1 and the record's anchors would name rows that are other reports.
    engine = open_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
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


def test_a_hook_that_fails_leaves_the_recorder_writing(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    recorder = rec.Recorder(engine)

    def broken_hook(conn):
        return lambda: 1 / 0

    recorder.submit(broken_hook).result(10)
    recorder.submit(rec.insert_reports("A", ["a"], np.zeros((1, 7)), 1.0)).result(10)
    recorder.close()
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(rec.reports_table)).scalar() == 1
    engine.dispose()


def test_a_snapshot_reads_as_of_its_first_read_while_others_commit(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'r.sqlite'}")
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
