"""Merkle tree logic of the log, with no storage: node ids, the compact range, proof plans.

Vocabulary (after transparency-dev/merkle ``docs/data_model.md``):

- A *node* ``NodeID(level, index)`` is the root of the perfect subtree over leaves
  ``[index * 2**level, (index + 1) * 2**level)``. Level 0 nodes are leaf hashes. A node exists once
  all its leaves are appended, and its hash never changes after: these are what a store persists.
- The *compact range* of a tree of size ``n`` is the list of its maximal perfect subtrees, left to
  right, one per set bit of ``n``; it is all that is needed to append and to compute the root.
- A *proof plan* lists the node ids a proof needs (at most about ``2 * log2(n)``) and how to fold
  their hashes into the proof's elements. The store fetches the ids; ``ProofPlan.rehash`` combines.

Proofs follow the recursive definitions of RFC 9162 sections 2.1.3.1 (PATH) and 2.1.4.1
(SUBPROOF). Every element of those proofs is the hash of a subtree ``[begin, end)`` whose begin is
aligned to a power of two at least as large as the subtree, so it splits into perfect subtrees of
decreasing size, folded right to left (``MTH(D[k:n])`` with ``k`` the largest power of two < n).
Nothing here verifies proofs: ``detente.ledger.verify`` does, by another algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from detente.ledger.hashing import Hasher

__all__ = [
    "CompactRange",
    "NodeID",
    "ProofPlan",
    "compact_range_ids",
    "consistency_plan",
    "inclusion_plan",
    "inclusion_proofs",
    "subtree_ids",
]


class NodeID(NamedTuple):
    """Root of the perfect subtree over leaves ``[index << level, (index + 1) << level)``."""

    level: int
    index: int


NodeVisitor = Callable[[NodeID, bytes], None]


def _largest_power_of_two_below(n: int) -> int:
    """The largest power of two strictly smaller than ``n``. Requires n >= 2."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_ids(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees that make up ``[begin, end)``, left to right, largest first.

    Requires ``0 <= begin < end`` and ``begin`` a multiple of the smallest power of two
    >= ``end - begin``: the ranges that RFC 9162's recursions produce.
    """
    size = end - begin
    if begin < 0 or size <= 0 or begin % (1 << (size - 1).bit_length()) != 0:
        raise ValueError(f"range [{begin}, {end}) is not a subtree of an RFC 9162 tree")
    ids = []
    while size:
        level = size.bit_length() - 1
        ids.append(NodeID(level, begin >> level))
        begin += 1 << level
        size -= 1 << level
    return ids


def compact_range_ids(size: int) -> list[NodeID]:
    """Node ids of the compact range of a tree of ``size`` leaves, left to right."""
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return subtree_ids(0, size) if size else []


class CompactRange:
    """The maximal perfect subtrees of ``[0, size)``: enough to append leaves and get the root.

    ``append`` reports every node that becomes complete to ``visit`` (a store persists them); the
    range itself keeps only ``popcount(size)`` hashes.
    """

    __slots__ = ("_hasher", "_hashes", "_size")

    def __init__(self, hasher: Hasher, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        """A range over ``size`` leaves whose compact-range hashes are ``hashes``, left to right.

        Requires ``len(hashes) == popcount(size)`` (see ``compact_range_ids``).
        """
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(f"a range of size {size} has {max(size, 0).bit_count()} hashes, "
                             f"got {len(hashes)}")
        self._hasher = hasher
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Compact-range hashes, left to right (matching ``compact_range_ids(size)``)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes, visit: NodeVisitor | None = None) -> None:
        """Add one leaf; ``visit(node_id, hash)`` sees the leaf and every node it completes."""
        hashes = self._hashes
        hashes.append(leaf_hash)
        if visit is not None:
            visit(NodeID(0, self._size), leaf_hash)
        self._size += 1
        size, level = self._size, 0
        # The new size has one trailing zero per pair of equal-sized subtrees to merge.
        while not size >> level & 1:
            right = hashes.pop()
            hashes[-1] = self._hasher.hash_children(hashes[-1], right)
            level += 1
            if visit is not None:
                visit(NodeID(level, (size >> level) - 1), hashes[-1])

    def extend(self, leaf_hashes: Iterable[bytes],
               nodes: MutableMapping[tuple[int, int], bytes]) -> None:
        """Add leaves; ``nodes[(level, index)]`` gets each leaf and every node they complete.

        What ``append`` with a visitor does, in one loop for a whole batch (no call and no
        NodeID per node): the ledger's hot path.
        """
        hashes = self._hashes
        hash_children = self._hasher.hash_children
        size = self._size
        for leaf in leaf_hashes:
            hashes.append(leaf)
            nodes[(0, size)] = leaf
            size += 1
            level = 0
            while not size >> level & 1:
                right = hashes.pop()
                hashes[-1] = value = hash_children(hashes[-1], right)
                level += 1
                nodes[(level, (size >> level) - 1)] = value
        self._size = size

    def root(self) -> bytes:
        """Root hash of ``[0, size)``: the compact range folded right to left."""
        if not self._hashes:
            return self._hasher.empty_root()
        root = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            root = self._hasher.hash_children(left, root)
        return root

    def copy(self) -> CompactRange:
        return CompactRange(self._hasher, self._size, self._hashes)


@dataclass(frozen=True, slots=True)
class ProofPlan:
    """The nodes a proof needs and how they fold into its elements.

    ``node_ids`` are distinct; ``elements[k]`` lists, left to right, the positions in ``node_ids``
    of the perfect subtrees whose right-to-left fold is the proof's element ``k``.
    """

    node_ids: tuple[NodeID, ...]
    elements: tuple[tuple[int, ...], ...]

    def rehash(self, hashes: Sequence[bytes], hasher: Hasher) -> list[bytes]:
        """The proof, given ``hashes[i]`` = hash of ``node_ids[i]``."""
        if len(hashes) != len(self.node_ids):
            raise ValueError(f"got {len(hashes)} hashes for {len(self.node_ids)} nodes")
        proof = []
        for positions in self.elements:
            value = hashes[positions[-1]]
            for position in reversed(positions[:-1]):
                value = hasher.hash_children(hashes[position], value)
            proof.append(value)
        return proof


def _plan(ranges: Sequence[tuple[int, int]]) -> ProofPlan:
    ids: dict[NodeID, int] = {}
    elements = []
    for begin, end in ranges:
        elements.append(tuple(ids.setdefault(node, len(ids)) for node in subtree_ids(begin, end)))
    return ProofPlan(tuple(ids), tuple(elements))


def inclusion_plan(index: int, size: int) -> ProofPlan:
    """Plan of the inclusion proof of leaf ``index`` in the tree of ``size`` leaves.

    RFC 9162 section 2.1.3.1, PATH(m, D[n]), unrolled. Requires ``0 <= index < size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"requires 0 <= index < size, got index {index}, size {size}")
    ranges = []
    begin, end = 0, size
    while end - begin > 1:
        k = _largest_power_of_two_below(end - begin)
        if index < begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
    # PATH lists the sibling nearest the leaf first; the loop walked from the root down.
    return _plan(ranges[::-1])


def consistency_plan(size1: int, size2: int) -> ProofPlan:
    """Plan of the consistency proof from the tree of ``size1`` leaves to that of ``size2``.

    RFC 9162 section 2.1.4.1, SUBPROOF(m, D[n], true), unrolled. Requires
    ``0 < size1 <= size2``; equal sizes give the empty proof.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"requires 0 < size1 <= size2, got size1 {size1}, size2 {size2}")
    ranges = []
    begin, end, whole = 0, size2, True
    while size1 != end:
        k = _largest_power_of_two_below(end - begin)
        if size1 <= begin + k:
            ranges.append((begin + k, end))
            end = begin + k
        else:
            ranges.append((begin, begin + k))
            begin += k
            whole = False
    if not whole:
        # SUBPROOF(m, D[m], false) = [MTH(D[m])]: the old subtree the verifier cannot know.
        ranges.append((begin, end))
    return _plan(ranges[::-1])


def inclusion_proofs(
    first: int,
    tree: CompactRange,
    nodes: Mapping[tuple[int, int], bytes],
    hasher: Hasher,
) -> list[list[bytes]]:
    """Inclusion proofs of leaves ``first, ..., tree.size - 1`` in the tree of ``tree.size``.

    What ``inclusion_plan(i, tree.size)`` and ``ProofPlan.rehash`` give for each ``i``, for
    the leaves of one append batch at once, without a plan per leaf. ``nodes`` maps
    ``(level, index)`` to the hash of every node the batch completed and of every node of
    the compact range before it (a left sibling of a new node is one of those).

    The path of leaf ``i`` leaves the path of leaf ``size`` at the level ``inner`` of the
    highest bit where ``i`` and ``size`` differ (after transparency-dev/merkle ``proof.go``).
    Below it, the siblings are complete nodes ``(level, (i >> level) ^ 1)``; from it up, the
    proof is the same for every leaf that forks there: the fold of the compact-range nodes
    below ``inner`` (the incomplete right sibling, if there is one), then the compact-range
    nodes above ``inner``, nearest first. Those tails are computed once per batch.
    """
    size = tree.size
    if not 0 <= first <= size:
        raise ValueError(f"requires 0 <= first <= size, got first {first}, size {size}")
    hashes = tree.hashes
    levels = [node.level for node in compact_range_ids(size)]
    tails: dict[int, list[bytes]] = {}
    right: bytes | None = None
    for pos in range(len(hashes) - 1, -1, -1):
        tail = [] if right is None else [right]
        tail.extend(reversed(hashes[:pos]))
        tails[levels[pos]] = tail
        right = hashes[pos] if right is None else hasher.hash_children(hashes[pos], right)
    proofs = []
    for i in range(first, size):
        inner = (i ^ size).bit_length() - 1
        proof = [nodes[(level, (i >> level) ^ 1)] for level in range(inner)]
        proof.extend(tails[inner])
        proofs.append(proof)
    return proofs
