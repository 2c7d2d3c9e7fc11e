"""Helpers shared by the ledger tests (a unique module name: tests of other packages have their
own conftest.py, and ``from conftest import`` would pick whichever was imported first)."""

import itertools

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


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


T0 = 1_448_349_600.0  # 2015-11-24 07:20 UTC

# The parties of the model case and two officials, each with a fixed key (1 is the log's).
PARTY_SEEDS = {"TUR": 2, "RUS": 3, "COA": 4, "TUR/tur-watch": 5, "RUS/rus-watch": 6}


def party_keys():
    return {author: fixed_key(seed) for author, seed in PARTY_SEEDS.items()}


def register_all(ledger, log_key, keys):
    """The service's own key (author ``detente``) and every party's and official's."""
    from detente.ledger import key_statement

    ledger.append_many([key_statement(log_key, log_key, author="detente", time=T0)]
                       + [key_statement(k, k, author=a, time=T0) for a, k in keys.items()])


def said(log_key, kind, body, ref=None, n=0):
    """A statement of the service, signed with the log key."""
    from detente.ledger import sign_statement

    return sign_statement(log_key, kind=kind, author="detente", time=T0 + n, body=body, ref=ref)
