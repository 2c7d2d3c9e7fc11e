"""RFC 9162 Merkle trees straight from the definitions (section 2.1), used only as an oracle.

Written against hashlib with the prefixes spelled out, not against detente's hasher, so that a
wrong constant in detente cannot agree with itself. Quadratic and recursive on purpose.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

__all__ = ["ReferenceTree"]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class ReferenceTree:
    """MTH, PATH and PROOF of RFC 9162 over a fixed list of leaf inputs (any prefix of it)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.mth = lru_cache(maxsize=None)(self._mth)

    def _mth(self, begin: int, end: int) -> bytes:
        n = end - begin
        if n == 0:
            return _sha256(b"")
        if n == 1:
            return _sha256(b"\x00" + self.leaves[begin])
        k = 1 << ((n - 1).bit_length() - 1)
        return _sha256(b"\x01" + self.mth(begin, begin + k) + self.mth(begin + k, end))

    def root(self, n: int) -> bytes:
        return self.mth(0, n)

    def leaf_hash(self, i: int) -> bytes:
        return self.mth(i, i + 1)

    def path(self, m: int, begin: int, end: int) -> list[bytes]:
        """PATH(m, D[begin:end]), m relative to begin."""
        n = end - begin
        if n == 1:
            return []
        k = 1 << ((n - 1).bit_length() - 1)
        if m < k:
            return [*self.path(m, begin, begin + k), self.mth(begin + k, end)]
        return [*self.path(m - k, begin + k, end), self.mth(begin, begin + k)]

    def inclusion(self, i: int, n: int) -> list[bytes]:
        return self.path(i, 0, n)

    def subproof(self, m: int, begin: int, end: int, b: bool) -> list[bytes]:
        """SUBPROOF(m, D[begin:end], b), m relative to begin."""
        n = end - begin
        if m == n:
            return [] if b else [self.mth(begin, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return [*self.subproof(m, begin, begin + k, b), self.mth(begin + k, end)]
        return [*self.subproof(m - k, begin + k, end, False), self.mth(begin, begin + k)]

    def consistency(self, m: int, n: int) -> list[bytes]:
        return self.subproof(m, 0, n, True)

    def perfect_nodes(self, n: int) -> dict[tuple[int, int], bytes]:
        """Every complete perfect subtree (level, index) of the tree of n leaves."""
        nodes = {}
        level = 0
        while (1 << level) <= n:
            for index in range(n >> level):
                nodes[(level, index)] = self.mth(index << level, (index + 1) << level)
            level += 1
        return nodes
