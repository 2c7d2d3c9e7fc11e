"""The prover's side against the brute-force reference tree, for every m <= n <= 64."""

import functools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from merkle_reference import ReferenceTree

from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.tree import (
    CompactRange,
    NodeID,
    compact_range_ids,
    consistency_plan,
    inclusion_plan,
    inclusion_proofs,
    subtree_ids,
)

N_MAX = 64
LEAVES = [f"leaf {i}".encode() for i in range(N_MAX)]
REF = ReferenceTree(LEAVES)

# The 8 leaves of the published vectors (testdata README of transparency-dev/merkle).
VECTOR_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f")]


def grow(n):
    """A compact range over the first n leaves and every node it reported."""
    nodes = {}
    cr = CompactRange(RFC9162_SHA256)
    for data in LEAVES[:n]:
        cr.append(RFC9162_SHA256.hash_leaf(data), lambda node, h: nodes.__setitem__(node, h))
    return cr, nodes


def prove(plan, nodes):
    return plan.rehash([nodes[node] for node in plan.node_ids], RFC9162_SHA256)


def test_known_roots():
    # printf '' | sha256sum
    assert CompactRange(RFC9162_SHA256).root().hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    # Published root of the 8 vector leaves (transparency-dev/merkle rfc6962 tests); recompute:
    # python3 -c "import sys;sys.path.insert(0,'tests/ledger');from merkle_reference import *;\
    # print(ReferenceTree([bytes.fromhex(h) for h in ['','00','10','2021','3031','40414243',\
    # '5051525354555657','606162636465666768696a6b6c6d6e6f']]).root(8).hex())"
    cr = CompactRange(RFC9162_SHA256)
    for data in VECTOR_LEAVES:
        cr.append(RFC9162_SHA256.hash_leaf(data))
    assert cr.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize("n", range(N_MAX + 1))
def test_compact_range_root_and_nodes_match_reference(n):
    cr, nodes = grow(n)
    assert cr.size == n
    assert cr.root() == REF.root(n)
    # Every perfect subtree is reported exactly once, with its reference hash.
    assert {(node.level, node.index): h for node, h in nodes.items()} == REF.perfect_nodes(n)
    assert list(cr.hashes) == [nodes[node] for node in compact_range_ids(n)]


@pytest.mark.parametrize("n", range(N_MAX + 1))
def test_compact_range_restarts_from_its_hashes(n):
    # What a store does on reopening: rebuild from the persisted compact-range nodes.
    _cr, nodes = grow(n)
    again = CompactRange(RFC9162_SHA256, n, [nodes[node] for node in compact_range_ids(n)])
    for data in LEAVES[n:]:
        again.append(RFC9162_SHA256.hash_leaf(data))
    assert again.root() == REF.root(N_MAX)


@pytest.mark.parametrize("m", [0, 1, 5, 8, 31, 32, 33])
def test_extend_gives_the_reference_nodes_of_a_batch(m):
    # From a range over m leaves (restarted from its hashes, as the ledger does), one batch to
    # N_MAX: the new nodes are exactly the reference's perfect subtrees not already complete.
    _cr, nodes = grow(m)
    cr = CompactRange(RFC9162_SHA256, m, [nodes[node] for node in compact_range_ids(m)])
    got = {}
    cr.extend((RFC9162_SHA256.hash_leaf(data) for data in LEAVES[m:]), got)
    assert cr.size == N_MAX
    assert cr.root() == REF.root(N_MAX)
    before = REF.perfect_nodes(m)
    assert got == {node: h for node, h in REF.perfect_nodes(N_MAX).items() if node not in before}


def test_compact_range_refuses_wrong_hash_count():
    with pytest.raises(ValueError, match="has 2 hashes, got 1"):
        CompactRange(RFC9162_SHA256, 3, [b"x" * 32])


def test_inclusion_plans_match_reference_for_all_i_lt_n_le_64():
    _, nodes = grow(N_MAX)
    for n in range(1, N_MAX + 1):
        for i in range(n):
            plan = inclusion_plan(i, n)
            assert prove(plan, nodes) == REF.inclusion(i, n), (i, n)
            # O(log n) lookups: at most one node per level per side.
            assert len(plan.node_ids) <= 2 * max(1, math.ceil(math.log2(n))), (i, n)


def test_consistency_plans_match_reference_for_all_m_le_n_le_64():
    _, nodes = grow(N_MAX)
    for n in range(1, N_MAX + 1):
        for m in range(1, n + 1):
            plan = consistency_plan(m, n)
            assert prove(plan, nodes) == REF.consistency(m, n), (m, n)
            assert len(plan.node_ids) <= 2 * max(1, math.ceil(math.log2(n))), (m, n)


def batch_proofs(leaves, first, n):
    """``inclusion_proofs`` for a batch ``[first, n)`` given only what a ledger holds: the
    compact range before the batch and the nodes the batch completes."""
    before = CompactRange(RFC9162_SHA256)
    for data in leaves[:first]:
        before.append(RFC9162_SHA256.hash_leaf(data))
    nodes = dict(zip(compact_range_ids(first), before.hashes, strict=True))
    grown = before.copy()
    for data in leaves[first:n]:
        grown.append(RFC9162_SHA256.hash_leaf(data), nodes.__setitem__)
    return inclusion_proofs(first, grown, nodes, RFC9162_SHA256)


def test_batch_inclusion_proofs_match_reference_for_all_batches_up_to_64():
    for n in range(1, N_MAX + 1):
        for first in range(n):
            proofs = batch_proofs(LEAVES, first, n)
            assert proofs == [REF.inclusion(i, n) for i in range(first, n)], (first, n)


def test_batch_inclusion_proofs_of_an_empty_batch_and_bad_first():
    cr, nodes = grow(5)
    assert inclusion_proofs(5, cr, nodes, RFC9162_SHA256) == []
    with pytest.raises(ValueError):
        inclusion_proofs(6, cr, nodes, RFC9162_SHA256)


def test_plans_only_ask_for_complete_nodes():
    # A node the tree of size n has not completed does not exist in the store yet.
    for n in range(1, N_MAX + 1):
        plans = [inclusion_plan(i, n) for i in range(n)]
        plans += [consistency_plan(m, n) for m in range(1, n + 1)]
        for plan in plans:
            for node in plan.node_ids:
                assert (node.index + 1) << node.level <= n, (n, node)


def test_proof_plan_at_a_million_is_logarithmic():
    n = 1_000_000
    plan = inclusion_plan(123_456, n)
    assert len(plan.elements) == 20  # ceil(log2(1e6)) levels
    assert len(plan.node_ids) <= 2 * 20


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 1), (-1, 5), (5, 5)])
def test_inclusion_plan_refuses_out_of_range(index, size):
    with pytest.raises(ValueError, match="0 <= index < size"):
        inclusion_plan(index, size)


@pytest.mark.parametrize(("m", "n"), [(0, 0), (0, 3), (4, 3)])
def test_consistency_plan_refuses_bad_sizes(m, n):
    with pytest.raises(ValueError, match="0 < size1 <= size2"):
        consistency_plan(m, n)


def test_subtree_ids_hand_worked():
    # [0, 7) = 4 + 2 + 1 leaves; [8, 11) = 2 + 1.
    assert subtree_ids(0, 7) == [NodeID(2, 0), NodeID(1, 2), NodeID(0, 6)]
    assert subtree_ids(8, 11) == [NodeID(1, 4), NodeID(0, 10)]
    with pytest.raises(ValueError):
        subtree_ids(2, 5)  # not aligned: not an RFC 9162 subtree


BIG = 1500
BIG_REF = ReferenceTree([f"big {i}".encode() for i in range(BIG)])


@functools.cache
def _grow_big():
    nodes = {}
    cr = CompactRange(RFC9162_SHA256)
    for data in BIG_REF.leaves:
        cr.append(RFC9162_SHA256.hash_leaf(data), nodes.__setitem__)
    return nodes


@settings(max_examples=60, deadline=None)
@given(st.integers(1, BIG).flatmap(
    lambda n: st.tuples(st.just(n), st.integers(0, n - 1), st.integers(1, n))))
def test_proofs_beyond_64_match_reference(case):
    # Fuzzed sizes past the exhaustive range: odd shapes of deep right borders.
    n, i, m = case
    nodes = _grow_big()
    assert prove(inclusion_plan(i, n), nodes) == BIG_REF.inclusion(i, n)
    assert prove(consistency_plan(m, n), nodes) == BIG_REF.consistency(m, n)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, BIG).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_batch_inclusion_proofs_beyond_64_match_reference(case):
    n, first = case
    proofs = batch_proofs(BIG_REF.leaves, first, n)
    assert proofs == [BIG_REF.inclusion(i, n) for i in range(first, n)]
