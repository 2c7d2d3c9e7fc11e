"""The store's one error boundary: a database that fails under a reader gives StoreError (the
driver's error chained), never SQLAlchemy's own, for every reader of the recording and of the
ledger's tables; on SQLite and on PostgreSQL."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.exc import SQLAlchemyError

from detente.errors import StoreError
from detente.store import recording as rec
from detente.store.database import open_database, read_snapshot, reading
from detente.store.ledger_tables import LedgerStore
from tests.postgres import raw_execute, raw_rows

READERS = {
    "last_seqs": lambda e: rec.last_seqs(e),
    "events_since": lambda e: rec.events_since(e, "A", 0),
    "recent_reports": lambda e: rec.recent_reports(e, 0.0, 0.0),
    "last_report_row": lambda e: rec.last_report_row(e),
    "first_received": lambda e: rec.first_received(e),
    "report_runs_after": lambda e: list(rec.report_runs_after(e, 0)),
    "open_alert_bodies": lambda e: rec.open_alert_bodies(e),
    "message_bodies": lambda e: rec.message_bodies(e),
    "reports_received_between": lambda e: list(rec.reports_received_between(e, None, None)),
    "events_until": lambda e: list(rec.events_until(e, None)),
    "in a snapshot": lambda e: _in_snapshot(e),
}


def _in_snapshot(engine):
    with read_snapshot(engine) as snap:
        return rec.first_received(snap)


@pytest.fixture()
def broken(database_url):
    """A database whose tables went away under an open engine."""
    engine = open_database(database_url)
    store = LedgerStore(engine)
    listed = ("SELECT name FROM sqlite_master WHERE type='table'"
              if database_url.startswith("sqlite") else
              "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    names = [n for (n,) in raw_rows(database_url, listed)]
    raw_execute(database_url, *(f"DROP TABLE {name} CASCADE" if "postgresql" in database_url
                                else f"DROP TABLE {name}" for name in names))
    yield engine, store
    engine.dispose()


# What each database says of a table that is not there.
_MISSING = "no such table|does not exist"


@pytest.mark.parametrize("name", list(READERS))
def test_recording_readers_raise_store_errors(broken, name):
    engine, _ = broken
    with pytest.raises(StoreError) as err:
        READERS[name](engine)
    assert isinstance(err.value.__cause__, SQLAlchemyError)
    assert re.search(_MISSING, str(err.value))


@pytest.mark.parametrize("read", [
    lambda s: s.meta(), lambda s: s.size(), lambda s: s.nodes([(0, 0)]), lambda s: s.entry(0),
    lambda s: s.last_of_kind("key.register"), lambda s: list(s.entries()),
    lambda s: s.heads(), lambda s: s.latest_head(), lambda s: s.cosignatures(),
])
def test_ledger_readers_raise_store_errors(broken, read):
    _, store = broken
    with pytest.raises(StoreError) as err:
        read(store)
    assert isinstance(err.value.__cause__, SQLAlchemyError)


def test_a_connection_passed_in_is_wrapped_too(broken):
    engine, _ = broken
    with engine.connect() as conn, pytest.raises(StoreError), reading(conn) as c:
        rec.first_received(c)
