import itertools
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The reference tree and helpers live beside the tests, not in the package.
sys.path.insert(0, str(Path(__file__).parent))

from detente.ledger import Ledger, key_statement
from detente.store.database import open_database


def fixed_key(seed: int) -> Ed25519PrivateKey:
    """A reproducible key: tests must not depend on the randomness of key generation."""
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


class Clock:
    """A clock that ticks one second per call, from a fixed start."""

    def __init__(self, start: float = 1_448_355_600.0) -> None:  # 2015-11-24 09:00 UTC
        self._ticks = itertools.count()
        self.start = start

    def __call__(self) -> float:
        return self.start + next(self._ticks)


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
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.sqlite'}"


@pytest.fixture
def ledger(db_url, log_key, tur, syr):
    """A ledger with TUR and SYR registered (entries 0 and 1)."""
    ledger = Ledger(open_database(db_url), log_key, origin="detente/test", clock=Clock())
    ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
    ledger.append(key_statement(syr, syr, author="SYR", time=2.0))
    return ledger
