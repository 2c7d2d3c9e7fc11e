"""Schema versions. Two databases written by earlier versions' own code (see
tests/data/make_old_database.py): tests/data/v1-demo.sqlite by commit 9fd5c2a (version 1, a
record of the earlier format) and tests/data/v2-demo.sqlite by commit 0f65a30 (version 2, the
record as C2SP checkpoints, reports a row each in track_reports). Each is upgraded in place
with nothing of it changed; version 2's serves on and is copied to PostgreSQL whole; version
1's record is refused in words, by the service and by the copy. The oracle is the file read
with the sqlite3 module before anything of this version touched it."""

from __future__ import annotations

import asyncio
import io
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.errors import ConflictingWriteError, StoreError
from detente.ledger import Ledger, LedgerReader, origin_for
from detente.ledger.audit import audit_export
from detente.ledger.keys import public_key_bytes
from detente.model.reports import TrackReport
from detente.service.clock import ManualClock
from detente.service.config import load_config
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store import migrations
from detente.store import recording as rec
from detente.store.database import open_database
from detente.store.report_digest import ANCHOR_KIND
from tests.data.make_old_database import START, log_key_bytes
from tests.postgres import raw_execute, raw_rows

DATA = Path(__file__).resolve().parents[1] / "data"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(log_key_bytes())
ORIGIN = origin_for("detente/Hatay border")
TABLES = ("track_reports", "events", "alerts", "hotline_messages", "ledger_entries",
          "ledger_nodes", "ledger_heads", "ledger_cosignatures", "ledger_meta",
          "operational_intents")
CONFIG = Path(__file__).resolve().parents[2] / "src/detente/data/demo/border.toml"


def _copy(tmp_path: Path, version: int) -> Path:
    path = tmp_path / f"v{version}.sqlite"
    shutil.copy(DATA / f"v{version}-demo.sqlite", path)
    return path


def _columns(path: Path, table: str) -> list[str]:
    with sqlite3.connect(path) as db:
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]


def _rows(url: str, table: str, columns: list[str] | None = None) -> list[tuple]:
    got = raw_rows(url, f"SELECT {', '.join(columns) if columns else '*'} FROM {table}")
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got)


def _before(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table of TABLES as the earlier version left it: its columns and rows."""
    out = {}
    for t in TABLES:
        columns = _columns(path, t)
        out[t] = (columns, _rows(f"sqlite:///{path}", t, columns))
    return out


def _export(engine) -> bytes:
    out = io.BytesIO()
    LedgerReader(engine).export(out)
    return out.getvalue()


@pytest.mark.parametrize("version", [1, 2])
def test_an_earlier_versions_database_is_known_and_upgraded_in_place(tmp_path, version):
    path = _copy(tmp_path, version)
    before = _before(path)
    with sqlite3.connect(path) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "detente_schema" not in names and before["ledger_entries"][1]
    url = f"sqlite:///{path}"
    engine = open_database(url, create=False)
    with engine.connect() as conn:
        assert migrations.schema_version(conn) == version
    assert migrations.upgrade(engine) == version
    assert raw_rows(url, "SELECT version FROM detente_schema") == [(migrations.SCHEMA_VERSION,)]
    for t, (columns, rows) in before.items():  # nothing the earlier version wrote changed
        assert _rows(url, t, columns) == rows, t
    assert "time_signature" in _columns(path, "ledger_heads")
    assert {"report_segments", "node_leases"} <= {
        n for (n,) in raw_rows(url, "SELECT name FROM sqlite_master WHERE type='table'")}
    # Its reports are read as they were recorded, a row each.
    got = [(party, ids) for _, party, ids, _, _ in rec.report_runs_after(engine, 0)]
    assert sum(len(ids) for _, ids in got) == len(before["track_reports"][1])
    assert migrations.upgrade(engine) == migrations.SCHEMA_VERSION  # a second time: nothing
    engine.dispose()


def test_version_1s_record_is_refused_in_words_and_not_copied(tmp_path, postgres_url):
    engine = open_database(f"sqlite:///{_copy(tmp_path, 1)}")  # the schema upgrades...
    with pytest.raises(ConflictingWriteError, match=r"earlier detente .* start a new database"):
        Ledger(engine, LOG_KEY, origin=ORIGIN)  # ...its record is refused
    engine.dispose()
    (tmp_path / "copy").mkdir()
    source = open_database(f"sqlite:///{_copy(tmp_path / 'copy', 1)}", create=False)
    with pytest.raises(StoreError, match="version 1: its record is of an earlier detente"):
        migrations.copy_database(source, open_database(postgres_url))
    assert raw_rows(postgres_url, "SELECT count(*) FROM ledger_entries") == [(0,)]
    source.dispose()


def test_the_service_carries_on_from_an_upgraded_version_2_database(tmp_path):
    url = f"sqlite:///{_copy(tmp_path, 2)}"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        (reports,) = db.execute("SELECT count(*) FROM track_reports").fetchone()
        (last_row,) = db.execute("SELECT max(rowid) FROM track_reports").fetchone()
        (open_alerts,) = db.execute("SELECT count(*) FROM alerts WHERE open = 1").fetchone()
        (messages,) = db.execute("SELECT count(*) FROM hotline_messages").fetchone()
    config = load_config(CONFIG)
    clock = ManualClock(START + 280.0)

    async def go():
        engine = open_database(url)
        ledger = Ledger(engine, LOG_KEY, origin=ORIGIN, clock=clock.now)
        m = Mechanism(config, engine, clock, Record(ledger, LOG_KEY, config, clock))
        assert len(m.alerts.open_alerts()) == open_alerts
        assert len(m.hotline.messages_for("RUS")) + len(m.hotline.messages_for("TUR")) >= messages
        size = ledger.size
        await m.ingest("RUS", [TrackReport("SU24-LEAD", clock.now(), 35.9, 36.2, 5791.0,
                                           120.0, 260.0, 0.0)])
        await m.cycle()
        await m.anchor()
        m.close()
        return ledger, size

    ledger, size = asyncio.run(go())
    assert ledger.size > size
    # The report went to a segment, numbered after version 2's rows; the last anchor names it.
    assert raw_rows(url, "SELECT count(*) FROM track_reports") == [(reports,)]
    assert raw_rows(url, "SELECT first_row, last_row FROM report_segments") == [
        (last_row + 1, last_row + 1)]
    last = ledger.last_of_kind(ANCHOR_KIND)
    assert last is not None and last[1].statement.body["last_row"] == last_row + 1
    report = audit_export(io.BytesIO(_export(open_database(url))),
                          log_key=public_key_bytes(LOG_KEY))
    assert report.entries == ledger.size


def test_a_version_2_database_is_copied_to_postgresql_whole(tmp_path, postgres_url):
    url = f"sqlite:///{_copy(tmp_path, 2)}"
    source, target = open_database(url, create=False), open_database(postgres_url)
    copied = migrations.copy_database(source, target)
    for t in TABLES:
        assert _rows(postgres_url, t) == _rows(url, t), t
        assert copied[t] == len(_rows(url, t))
    assert _export(target) == _export(source)  # the same record, byte for byte
    ((last,),) = raw_rows(url, "SELECT max(rowid) FROM track_reports")
    clock = ManualClock(START + 400)
    config = load_config(CONFIG)

    async def go():
        ledger = Ledger(target, LOG_KEY, origin=ORIGIN, clock=clock.now)
        assert ledger.size == copied["ledger_entries"]
        m = Mechanism(config, target, clock, Record(ledger, LOG_KEY, config, clock))
        await m.ingest("TUR", [TrackReport("MIGRATED-1", clock.now(), 36.0, 36.0, 3000.0,
                                           100.0, 90.0, 0.0)])
        m.close()

    asyncio.run(go())
    # Report numbers go on after the largest copied.
    assert raw_rows(postgres_url, "SELECT first_row FROM report_segments") == [(last + 1,)]
    with pytest.raises(StoreError, match="holds rows in"):
        migrations.copy_database(source, target)  # only into an empty database
    source.dispose()
    target.dispose()


def test_a_database_of_a_later_version_is_refused(database_url):
    open_database(database_url).dispose()
    raw_execute(database_url, f"UPDATE detente_schema SET version = "
                              f"{migrations.SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this detente's"):
        open_database(database_url)
