"""The record as JSON lines: the operator's full export and each party's copy.

Format ``detente-record/2``, each line in RFC 8785 canonical form:

- a header ``{"format", "log_key", "origin", "party"}``: ``party`` is null for the operator's
  full export, else the party whose copy this is;
- the entries in order: ``{"index", "leaf"}`` with the entry whole (``detente.ledger.entries``)
  when the copy's party is in its audience (every entry, in the full export), else
  ``{"index", "leaf_hash"}``: what the tree needs and nothing else;
- after the entry that completes each signed tree head's size, ``{"checkpoint",
  "consistency"}``: the head as a C2SP checkpoint in signed-note form, its signature lines the
  log's two and then every party's cosignature/v1 (sorted by party), and ``consistency`` the
  RFC 9162 proof from the previous head.

Every copy holds the same heads, proofs and cosignatures, so each verifies the same roots on
its own (``detente verify``). Lines are produced as they are read from one snapshot of the
store, in pages: the memory used does not grow with the log.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable, Iterator
from itertools import groupby

from detente.ledger.entries import audience_of_leaf, visible_to
from detente.ledger.hashing import Hasher
from detente.ledger.heads import Cosignature, TreeHead
from detente.ledger.keys import b64encode
from detente.ledger.statements import canonical_json
from detente.ledger.tree import CompactRange, NodeID, compact_range_ids, consistency_plan
from detente.store.ledger_tables import CosignatureRow, HeadRow, LedgerSnapshot

__all__ = ["EXPORT_FORMAT", "EXPORT_NODES_IN_MEMORY", "export_lines", "head_line"]

EXPORT_FORMAT = "detente-record/2"
# Nodes an export keeps between two tree heads (about 100 bytes each) before it falls back to
# reading that head's consistency proof from the store.
EXPORT_NODES_IN_MEMORY = 1 << 16


def head_line(head: TreeHead, cosignatures: list[Cosignature], consistency: list[bytes]
              ) -> bytes:
    """The export line of a head with its cosignatures and the proof from the previous one."""
    return canonical_json({"checkpoint": head.note(sorted(cosignatures, key=lambda c: c.party)),
                           "consistency": [b64encode(p) for p in consistency]}) + b"\n"


def export_lines(
    view: LedgerSnapshot,
    *,
    origin: str,
    log_public_key: bytes,
    hasher: Hasher,
    make_head: Callable[[HeadRow], TreeHead],
    party: str | None = None,
) -> Iterator[bytes]:
    """The export's lines, in order, read from ``view``.

    ``make_head(row)`` turns a stored head row into a ``TreeHead``; ``party`` None gives the
    operator's full export, a party id that party's copy.
    """
    latest = view.latest_head()
    assert latest is not None, "a ledger has at least its empty head"
    last_size = latest[0]
    yield canonical_json({"format": EXPORT_FORMAT, "log_key": b64encode(log_public_key),
                          "origin": origin, "party": party}) + b"\n"
    heads = view.heads()
    cosignatures = groupby(view.cosignatures(), key=lambda row: row[0])
    pending_cosigs: tuple[int, list[CosignatureRow]] | None = None

    def cosigs_of(size: int) -> list[Cosignature]:
        nonlocal pending_cosigs
        while pending_cosigs is None or pending_cosigs[0] < size:
            found = next(cosignatures, None)
            if found is None:
                return []
            pending_cosigs = (found[0], list(found[1]))
        if pending_cosigs[0] != size:
            return []
        return [Cosignature(p, s, t, bytes.fromhex(kid), sig)
                for s, p, kid, t, sig in pending_cosigs[1]]

    # The consistency proofs come from the entries as they stream by, not from one node
    # query per head: a proof from m to n needs only the compact range of m and the nodes
    # completed between m and n, kept here for one head at a time. Past
    # EXPORT_NODES_IN_MEMORY such nodes, that head's proof is read from the store.
    tree = CompactRange(hasher)
    since: dict[tuple[int, int], bytes] | None = {}
    previous = 0
    next_head: HeadRow | None = next(heads, None)

    def keep(node: NodeID, value: bytes) -> None:
        nonlocal since
        if since is not None:
            since[node] = value
            if len(since) > EXPORT_NODES_IN_MEMORY:
                since = None

    def heads_at(size: int) -> Iterator[bytes]:
        nonlocal next_head, previous, since
        while next_head is not None and next_head[0] == size:
            if not 0 < previous < size:
                proof: list[bytes] = []
            else:
                plan = consistency_plan(previous, size)
                hashes = (view.nodes(plan.node_ids) if since is None
                          else [since[node] for node in plan.node_ids])
                proof = plan.rehash(hashes, hasher)
            yield head_line(make_head(next_head), cosigs_of(size), proof)
            previous = size
            since = dict(zip(compact_range_ids(size), tree.hashes, strict=True))
            next_head = next(heads, None)

    yield from heads_at(0)
    for index, data in view.entries(0, last_size):
        leaf_hash = hasher.hash_leaf(data)
        if party is None or visible_to(audience_of_leaf(data), party):
            # The stored bytes are canonical: spliced in without re-encoding.
            yield b'{"index":' + str(index).encode() + b',"leaf":' + data + b"}\n"
        else:
            yield (b'{"index":' + str(index).encode() + b',"leaf_hash":"'
                   + binascii.b2a_base64(leaf_hash, newline=False) + b'"}\n')
        tree.append(leaf_hash, keep)
        yield from heads_at(index + 1)
