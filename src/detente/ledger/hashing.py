"""RFC 9162 (Certificate Transparency v2) Merkle tree hashing, SHA-256.

A leaf hash is ``SHA-256(0x00 || data)`` and an interior node hash is ``SHA-256(0x01 || left ||
right)`` (RFC 9162 section 2.1.1). The two prefixes keep a leaf from ever being read as an interior
node (second-preimage resistance), so they are named constants, not literals in the algorithms.
The tree, prover and verifier take a ``Hasher`` as an argument; nothing in them names SHA-256.
"""

from __future__ import annotations

import hashlib
from typing import Protocol

__all__ = [
    "LEAF_HASH_PREFIX",
    "NODE_HASH_PREFIX",
    "RFC9162_SHA256",
    "Hasher",
    "RFC9162Hasher",
]

LEAF_HASH_PREFIX = b"\x00"
NODE_HASH_PREFIX = b"\x01"


class Hasher(Protocol):
    """The hash functions of a Merkle log; the only code the prover and the verifier share."""

    @property
    def size(self) -> int:
        """Length of every hash in bytes."""
        ...

    def empty_root(self) -> bytes:
        """Root hash of the tree with no leaves."""
        ...

    def hash_leaf(self, data: bytes) -> bytes:
        """Hash of a leaf holding ``data``."""
        ...

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        """Hash of the interior node whose children hash to ``left`` and ``right``."""
        ...


class RFC9162Hasher:
    """RFC 9162 hashing with SHA-256 (the same as RFC 6962)."""

    __slots__ = ()

    @property
    def size(self) -> int:
        return hashlib.sha256().digest_size

    def empty_root(self) -> bytes:
        return hashlib.sha256(b"").digest()

    def hash_leaf(self, data: bytes) -> bytes:
        return hashlib.sha256(LEAF_HASH_PREFIX + data).digest()

    def hash_children(self, left: bytes, right: bytes) -> bytes:
        return hashlib.sha256(NODE_HASH_PREFIX + left + right).digest()


RFC9162_SHA256 = RFC9162Hasher()
