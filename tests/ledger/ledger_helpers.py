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
