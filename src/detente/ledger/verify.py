"""Verifying inclusion and consistency proofs, by the algorithms of RFC 9162 sections 2.1.3.2
and 2.1.4.2.

This module shares nothing with the prover (``detente.ledger.tree``) but the ``Hasher``: the
prover follows the recursive definitions, the verifier walks the bits of the indexes, so a bug in
one is not repeated in the other. Sizes and lengths are checked before any hash is computed, and
every refusal is a typed ``VerificationError`` that says what it got and what it wanted.
"""

from __future__ import annotations

from collections.abc import Sequence

from detente.errors import VerificationError
from detente.ledger.hashing import Hasher

__all__ = [
    "ProofShapeError",
    "RootMismatchError",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]


class ProofShapeError(VerificationError):
    """Sizes, indexes or lengths that no valid proof can have; checked before any hashing."""

    def __init__(self, what: str, got: object, want: str) -> None:
        self.what, self.got, self.want = what, got, want
        super().__init__(f"{what}: got {got}, want {want}")


class RootMismatchError(VerificationError):
    """The root a proof leads to is not the root it was checked against."""

    def __init__(self, what: str, got: bytes, want: bytes) -> None:
        self.what, self.got, self.want = what, got, want
        super().__init__(f"{what}: calculated {got.hex()}, expected {want.hex()}")


def _check_hashes(hasher: Hasher, what: str, hashes: Sequence[bytes]) -> None:
    for k, value in enumerate(hashes):
        if len(value) != hasher.size:
            raise ProofShapeError(f"{what}[{k}] length", len(value), f"{hasher.size} bytes")


def _inclusion_walk(index: int, size: int) -> list[bool]:
    """For each proof element, in order: is it the left child? (RFC 9162 2.1.3.2 step 4)"""
    fn, sn = index, size - 1
    lefts = []
    while sn > 0:
        if fn & 1 or fn == sn:
            lefts.append(True)
            # Past the right border the path climbs without siblings: skip those levels.
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            lefts.append(False)
        fn, sn = fn >> 1, sn >> 1
    return lefts


def root_from_inclusion_proof(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by ``proof`` for leaf ``index`` in a tree of ``size`` leaves.

    Requires ``0 <= index < size``; raises ProofShapeError otherwise, or when the leaf hash or
    any proof element has the wrong length, or the proof has the wrong number of elements.
    """
    if not 0 <= index < size:
        raise ProofShapeError("leaf index", index, f"0 <= index < size {size}")
    _check_hashes(hasher, "leaf hash", [leaf_hash])
    lefts = _inclusion_walk(index, size)
    if len(proof) != len(lefts):
        raise ProofShapeError("inclusion proof length", len(proof), f"{len(lefts)} elements")
    _check_hashes(hasher, "proof", proof)
    value = leaf_hash
    for sibling, left in zip(proof, lefts, strict=True):
        if left:
            value = hasher.hash_children(sibling, value)
        else:
            value = hasher.hash_children(value, sibling)
    return value


def verify_inclusion(
    hasher: Hasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise a VerificationError unless ``proof`` shows leaf ``index`` under ``root``.

    Requires ``0 <= index < size``.
    """
    got = root_from_inclusion_proof(hasher, index, size, leaf_hash, proof)
    if got != root:
        raise RootMismatchError(f"inclusion of leaf {index} in tree of size {size}", got, root)


def _consistency_walk(size1: int, size2: int) -> list[bool]:
    """For each element after the seed: is it a left sibling (and so also in the old tree)?

    RFC 9162 2.1.4.2 steps 3-6 without the hashing. Requires ``0 < size1 < size2``.
    """
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    steps = []
    while sn > 0:
        if fn & 1 or fn == sn:
            steps.append(True)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            steps.append(False)
        fn, sn = fn >> 1, sn >> 1
    return steps


def verify_consistency(
    hasher: Hasher, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise a VerificationError unless ``proof`` shows the tree ``size1``/``root1`` is a prefix
    of the tree ``size2``/``root2``.

    Requires ``0 < size1 <= size2``: nothing is proved about an empty tree, so size1 = 0 is
    refused. Equal sizes require the empty proof and equal roots.
    """
    if not 0 < size1 <= size2:
        raise ProofShapeError("sizes", (size1, size2), "0 < size1 <= size2")
    if size1 == size2:
        if proof:
            raise ProofShapeError("consistency proof length", len(proof), "0 for equal sizes")
        if root1 != root2:
            raise RootMismatchError(f"equal sizes {size1}", root2, root1)
        return
    steps = _consistency_walk(size1, size2)
    # When size1 is a power of two the old root is itself a node of the new tree, so the proof
    # leaves it out and the verifier starts from root1 (step 2).
    seeded = size1 & (size1 - 1) == 0
    want = len(steps) + (0 if seeded else 1)
    if len(proof) != want:
        raise ProofShapeError("consistency proof length", len(proof), f"{want} elements")
    _check_hashes(hasher, "proof", proof)
    path = [root1, *proof] if seeded else list(proof)
    fr = sr = path[0]
    for c, left in zip(path[1:], steps, strict=True):
        if left:
            fr = hasher.hash_children(c, fr)
            sr = hasher.hash_children(c, sr)
        else:
            sr = hasher.hash_children(sr, c)
    if fr != root1:
        raise RootMismatchError(f"old root of consistency {size1} -> {size2}", fr, root1)
    if sr != root2:
        raise RootMismatchError(f"new root of consistency {size1} -> {size2}", sr, root2)
