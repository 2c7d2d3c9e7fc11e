"""Schema versions: a database written by the previous version (tests/data/v1-demo.sqlite,
made by commit 9fd5c2a's own code, see tests/data/make_v1_database.py) is upgraded in place
and serves on, and is copied to PostgreSQL whole. The oracle is the file read with the sqlite3
module before anything of this version touched it."""

from __future__ import annotations

import asyncio
import io
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.errors import StoreError
from detente.ledger import Ledger, LedgerReader
from detente.ledger.audit import audit_export
from detente.ledger.keys import public_key_bytes
from detente.model.reports import TrackReport
from detente.service.clock import ManualClock
from detente.service.config import load_config
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store import migrations
from detente.store import recording as rec
from detente.store.database import open_database, write_transaction
from tests.data.make_v1_database import START, log_key_bytes
from tests.postgres import raw_execute, raw_rows

V1 = Path(__file__).resolve().parents[1] / "data" / "v1-demo.sqlite"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(log_key_bytes())
ORIGIN = "detente/Hatay border"
TABLES = ("track_reports", "events", "alerts", "hotline_messages", "ledger_entries",
          "ledger_nodes", "ledger_heads", "ledger_cosignatures", "ledger_meta",
          "operational_intents")


def _v1(tmp_path: Path) -> Path:
    path = tmp_path / "v1.sqlite"
    shutil.copy(V1, path)
    return path


def _rows(url: str, table: str) -> list[tuple]:
    got = raw_rows(url, f"SELECT * FROM {table}")
    return sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in got)


def _export(engine) -> bytes:
    out = io.BytesIO()
    LedgerReader(engine).export(out)
    return out.getvalue()


def test_the_previous_versions_database_is_version_1_and_is_upgraded_in_place(tmp_path):
    path = _v1(tmp_path)
    with sqlite3.connect(path) as db:
        before = {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall()) for t in TABLES}
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "detente_schema" not in names and before["ledger_entries"]
    url = f"sqlite:///{path}"
    engine = open_database(url)
    assert raw_rows(url, "SELECT version FROM detente_schema") == [(migrations.SCHEMA_VERSION,)]
    for t in TABLES:  # nothing of version 1 changed
        assert _rows(url, t) == before[t], t
    # Its record verifies, entry for entry the bytes version 1 wrote.
    export = _export(engine)
    report = audit_export(io.BytesIO(export), log_key=public_key_bytes(LOG_KEY))
    assert report.entries == len(before["ledger_entries"])
    assert migrations.upgrade(engine) == migrations.SCHEMA_VERSION  # a second time: nothing
    engine.dispose()


def test_the_service_carries_on_from_an_upgraded_database(tmp_path):
    url = f"sqlite:///{_v1(tmp_path)}"
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        (reports,) = db.execute("SELECT count(*) FROM track_reports").fetchone()
        (open_alerts,) = db.execute("SELECT count(*) FROM alerts WHERE open = 1").fetchone()
        (messages,) = db.execute("SELECT count(*) FROM hotline_messages").fetchone()
    config = load_config(Path(__file__).resolve().parents[2] / "src/detente/data/demo/"
                         "border.toml")
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
    assert raw_rows(url, "SELECT count(*) FROM track_reports") == [(reports + 1,)]
    audit_export(io.BytesIO(_export(open_database(url))), log_key=public_key_bytes(LOG_KEY))


def test_the_previous_versions_database_is_copied_to_postgresql_whole(tmp_path, postgres_url):
    url = f"sqlite:///{_v1(tmp_path)}"
    source, target = open_database(url, create=False), open_database(postgres_url)
    copied = migrations.copy_database(source, target)
    for t in TABLES:
        assert _rows(postgres_url, t) == _rows(url, t), t
        assert copied[t] == len(_rows(url, t))
    assert _export(target) == _export(source)  # the same record, byte for byte
    # Keys go on after the largest copied, on PostgreSQL's sequences.
    ((last,),) = raw_rows(url, "SELECT max(rowid) FROM track_reports")
    ledger = Ledger(target, LOG_KEY, origin=ORIGIN, clock=ManualClock(START + 400).now)

    with write_transaction(target) as conn:
        rec.insert_reports("TUR", ["MIGRATED-1"], np.zeros((1, 7)), START + 400)(conn)
    assert raw_rows(postgres_url, "SELECT rowid FROM track_reports WHERE track_id = ?",
                    ("MIGRATED-1",)) == [(last + 1,)]
    assert ledger.size == copied["ledger_entries"]
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
