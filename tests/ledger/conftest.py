import sys
from pathlib import Path

import pytest

# The reference tree and the helpers live beside the tests, not in the package.
sys.path.insert(0, str(Path(__file__).parent))

from ledger_helpers import Clock, fixed_key

from detente.ledger import Ledger, key_statement
from detente.store.database import open_database


@pytest.fixture
def log_key():
    return fixed_key(1)


@pytest.fixture
def tur():
    return fixed_key(2)


@pytest.fixture
def syr():
    return fixed_key(3)


@pytest.fixture
def db_url(database_url):
    """The ledger's tests run on SQLite and on PostgreSQL (tests/postgres.py)."""
    return database_url


@pytest.fixture
def ledger(db_url, log_key, tur, syr):
    """A ledger with TUR and SYR registered (entries 0 and 1)."""
    ledger = Ledger(open_database(db_url), log_key, origin="detente/test", clock=Clock())
    ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
    ledger.append(key_statement(syr, syr, author="SYR", time=2.0))
    return ledger
