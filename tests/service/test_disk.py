"""A disk that fills up, in pieces: the settings, the pruning horizon, the watch's episodes
(against a scripted disk and a real database), and SQLite's own refusal (SQLITE_FULL, made
with max_page_count) as a retryable DiskFullError that leaves the record whole."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import SQLAlchemyError

from detente.api.problems import logged, problem_of
from detente.errors import DiskFullError, InputError
from detente.ledger import Ledger
from detente.service.config import ServiceSettings, parse_config
from detente.service.disk import MB, DiskWatch, Space, prune_horizon
from detente.store import ledger_tables as _ledger_tables  # noqa: F401 - registers the tables
from detente.store import recording as rec
from detente.store.database import open_database
from tests.ledger.ledger_helpers import fixed_key, said

ROOT = Path(__file__).resolve().parents[2]


def _config(service):
    return parse_config({"region": {"centre": [36.0, 36.0]}, "service": service,
                         "parties": [{"id": "A"}, {"id": "B"}]})


def test_settings_default_and_checked():
    s = _config({}).settings
    assert (s.disk_warn_mb, s.disk_refuse_mb, s.disk_check_s) == (512.0, 128.0, 5.0)
    s = _config({"disk_warn_mb": 0, "disk_refuse_mb": 0}).settings
    assert (s.disk_warn_mb, s.disk_refuse_mb) == (0.0, 0.0)
    with pytest.raises(InputError, match=r"service\.disk_refuse_mb: 200 MB is more than "
                                         r"service\.disk_warn_mb \(100 MB\)"):
        _config({"disk_warn_mb": 100, "disk_refuse_mb": 200})
    with pytest.raises(InputError, match=r"service\.disk_warn_mb: expected a number >= 0, "
                                         r"got -1"):
        _config({"disk_warn_mb": -1})
    with pytest.raises(InputError, match=r"service\.disk_check_s: expected a number > 0"):
        _config({"disk_check_s": 0})


def test_prune_horizon_steps_oldest_first():
    # Reports from t=1000; those since 1800 stay: an eighth of 800 s is 100 s.
    assert prune_horizon(1000.0, 1800.0) == 1100.0
    # A span under 8 s still moves a second at least, never past what stays.
    assert prune_horizon(1000.0, 1004.0) == 1001.0
    assert prune_horizon(1000.0, 1000.5) == 1000.5
    assert prune_horizon(1800.0, 1800.0) is None
    assert prune_horizon(None, 1800.0) is None


def _reports(engine, received_times):
    """One report per time, recorded the way earlier versions did (a row each)."""
    recorder = rec.Recorder(engine)
    for k, t in enumerate(received_times):
        values = np.array([[t, 36.0, 36.0, 9000.0, 200.0, 90.0, 0.0]])
        recorder.submit(rec.insert_reports("A", [f"a{k}"], values, t)).result()
    return recorder


def _received(engine):
    with engine.connect() as conn:
        return sorted(r for (r,) in conn.execute(select(rec.reports_table.c.received)))


class ScriptedDisk:
    """The filesystem's free MB as the test sets it; each report row deleted frees 1 MB of
    pages (the oracle counts the rows itself)."""

    def __init__(self, engine, rows):
        self.engine, self.rows, self.free_mb = engine, rows, 0.0

    def __call__(self):
        with self.engine.connect() as conn:
            left = conn.execute(select(func.count()).select_from(rec.reports_table)).scalar()
        return Space(int(self.free_mb * MB), int((self.rows - left) * MB))


def test_watch_prunes_oldest_tells_once_refuses_and_recovers(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'd.sqlite'}")
    now = 10_000.0
    times = [now - 1000 + 10 * k for k in range(100)]  # every 10 s, the last at now - 10
    recorder = _reports(engine, times)
    told = []

    async def publish(events, t):
        told.append((t, events))

    disk = ScriptedDisk(engine, len(times))
    settings = ServiceSettings(disk_warn_mb=40, disk_refuse_mb=10, disk_check_s=1,
                               stale_s=60, future_tolerance_s=30)
    watch = DiskWatch(settings, None, engine, recorder, ["A", "B"], publish, measure=disk)

    disk.free_mb = 50
    asyncio.run(watch.check(now))
    assert told == [] and len(_received(engine)) == 100 and not watch.refusing

    # 30 MB free, under 40: rows go, oldest first, until 44 MB (40 + 10 %) are free: 14 rows
    # at least. Each step, an eighth of the span from the first row held to now - 90 s: of
    # 9000..9910, 113.75 s (12 rows, 9000 to 9110); of 9120..9910, 98.75 s (10 rows, to
    # 9210): 22 rows.
    disk.free_mb = 30
    asyncio.run(watch.check(now))
    assert _received(engine) == times[22:]
    assert watch.pruned_before == 9218.75
    assert [(p, kind) for p, kind, _ in told[0][1]] == [("A", "service"), ("B", "service")]
    data = told[0][1][0][2]
    assert data == {"disk": "low", "free_mb": 52.0, "warn_mb": 40, "refuse_mb": 10,
                    "reports_refused": False,
                    "recording_pruned_before": watch.pruned_before}
    watch.refuse_new_reports()  # not refusing: no error

    # Still low, nothing new to say: no second event.
    asyncio.run(watch.check(now))
    assert len(told) == 1

    # The disk fills from elsewhere: 2 MB on the filesystem; pruning goes as far as it may
    # (never the reports of the last stale_s + future tolerance) and that is not enough.
    disk.free_mb = -90  # with the 91 rows that may go gone, 1 MB in all
    asyncio.run(watch.check(now))
    assert _received(engine) == [t for t in times if t >= now - 90]
    assert watch.refusing and told[-1][1][0][2]["disk"] == "full"
    with pytest.raises(DiskFullError, match="nearly full") as err:
        watch.refuse_new_reports()
    assert err.value.retry_after_s == 5.0
    problem = problem_of(err.value)
    assert (problem.status, problem.type, problem.headers) == (
        503, "/problems/disk-full", {"Retry-After": "6"})

    # The operator makes room: new reports are accepted and everyone is told.
    disk.free_mb = 100
    asyncio.run(watch.check(now))
    assert not watch.refusing and not watch.low
    assert [d["disk"] for _, events in told for p, _, d in events if p == "B"] == [
        "low", "full", "ok"]
    recorder.close()


def test_watch_keeps_the_latest_report_however_old(tmp_path):
    # Reports stopped an hour ago: all may go but the latest (its number is where the next
    # report's is counted from), and pruning ends there even though the disk stays low.
    engine = open_database(f"sqlite:///{tmp_path / 'd.sqlite'}")
    times = [5000.0, 5001.0, 5002.0]
    recorder = _reports(engine, times)
    told = []

    async def publish(events, t):
        told.append(events)

    settings = ServiceSettings(disk_warn_mb=40, disk_refuse_mb=10)
    watch = DiskWatch(settings, None, engine, recorder, ["A"], publish,
                      measure=lambda: Space(int(1 * MB), 0))
    asyncio.run(asyncio.wait_for(watch.check(5002.0 + 3600), 30))
    assert _received(engine) == [5002.0]
    assert watch.refusing and told[-1][0][2]["disk"] == "full"
    recorder.close()


def _limited(path: Path, pages: int):
    """An engine on ``path`` whose connections may grow the file to ``pages`` pages."""
    engine = open_database(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _limit(dbapi_connection, _record):
        dbapi_connection.execute(f"PRAGMA max_page_count={pages}")

    engine.dispose()  # connections made before the limit are gone
    return engine


def test_sqlite_full_is_a_retryable_refusal_for_the_recorder(tmp_path, caplog):
    engine = _limited(tmp_path / "d.sqlite", 60)
    recorder = rec.Recorder(engine)
    values = np.zeros((500, 7))
    ids = [f"track-{k:06d}" for k in range(500)]
    with pytest.raises(DiskFullError, match="disk is full; nothing was written") as err:
        for k in range(1000):
            recorder.submit(rec.insert_reports("A", ids, values, float(k))).result()
    assert isinstance(err.value.__cause__, SQLAlchemyError)  # the driver's, chained
    problem = problem_of(err.value)
    assert problem.status == 503 and "Retry-After" in problem.headers
    # The disk did fill up: the operator's log says so (the watch's refusals it does not).
    logged(problem, err.value, "/v1/states")
    logged(problem, DiskFullError("nearly full"), "/v1/states")
    assert [r.getMessage() for r in caplog.records if r.name == "detente.api"] == [
        "Disk nearly full on /v1/states: write failed: the database's disk is full; nothing "
        "was written; try again later"]
    with engine.connect() as conn:
        rows = conn.execute(select(func.count()).select_from(rec.reports_table)).scalar()
    assert rows % 500 == 0  # whole batches only
    recorder.close()


def test_sqlite_full_leaves_the_record_whole(tmp_path):
    path = tmp_path / "d.sqlite"
    log_key = fixed_key(1)
    engine = _limited(path, 80)
    ledger = Ledger(engine, log_key, origin="detente/test", clock=lambda: 1_448_349_600.0)
    from detente.ledger import key_statement

    ledger.append(key_statement(log_key, log_key, author="detente", time=1_448_349_600.0))
    appended = 0
    with pytest.raises(DiskFullError):
        for n in range(10_000):
            ledger.append_many([said(log_key, "recording.anchor", {"pad": "x" * 2000, "n": n},
                                     n=n)])
            appended += 1
    assert appended > 0
    size = ledger.size
    ledger.close()
    engine.dispose()
    # Reopened without the limit: the head and the entries agree (the ledger checks its root
    # at load), the next append takes the next index, and the export verifies.
    engine = open_database(f"sqlite:///{path}")
    ledger = Ledger(engine, log_key, origin="detente/test", clock=lambda: 1_448_349_700.0)
    assert ledger.size == size == appended + 1
    receipt = ledger.append(said(log_key, "recording.anchor", {"after": True}, n=20_000))
    assert receipt.index == size
    out = tmp_path / "record.jsonl"
    with out.open("wb") as f:
        ledger.export(f)
    done = subprocess.run([sys.executable, "-m", "detente", "verify", "--allow-unsettled",
                           str(out)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.startswith("OK:"), done.stdout + done.stderr
