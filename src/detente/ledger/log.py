"""The log: ``Ledger`` appends signed statements and serves tree heads, proofs and exports.

Example (the service owns the engine and the log key)::

    ledger = Ledger(open_database(url), log_key, origin="detente/agreement-1")
    receipt = ledger.append(signed_statement)        # durable before it returns
    head = ledger.tree_head()
    proof = ledger.consistency_proof(old_size, head.size)

One ``Ledger`` per database writes; it refuses to run on a database created for another log key
or origin. Appends are all-or-nothing per call: ``append_many`` checks every statement first
(signature, key, canonical form, reference), then commits entries, Merkle nodes and one signed
tree head in one transaction, and only then builds the receipts.
"""

from __future__ import annotations

import multiprocessing
import threading
import time as _time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import BinaryIO

from sqlalchemy import Engine

from detente.errors import (
    ConflictingWriteError,
    DetenteError,
    InputError,
    StoreError,
    VerificationError,
)
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, Receipt, TreeHead, sign_tree_head
from detente.ledger.keyring import KeyRing
from detente.ledger.keys import (
    Ed25519PrivateKey,
    b64encode,
    first_invalid,
    key_id,
    public_key_bytes,
)
from detente.ledger.statements import SignedStatement, canonical_json
from detente.ledger.tree import (
    CompactRange,
    NodeID,
    compact_range_ids,
    consistency_plan,
    inclusion_plan,
    inclusion_proofs,
)
from detente.store.ledger_tables import HeadRow, LedgerStore

__all__ = ["EXPORT_FORMAT", "PARALLEL_MIN_BATCH", "Ledger", "LedgerReader"]

EXPORT_FORMAT = "detente-record/1"
# Nodes an export keeps between two tree heads (about 100 bytes each) before it falls back to
# reading that head's consistency proof from the store.
EXPORT_NODES_IN_MEMORY = 1 << 20
# Below this many statements, handing them to other processes costs more than it saves.
PARALLEL_MIN_BATCH = 64


class LedgerReader:
    """Read access to a ledger in a database: heads, entries, proofs, cosignatures, export.

    Needs no private key, so an edge that only serves proofs never holds the log key. Sizes
    and heads are read from the database on each call.
    """

    def __init__(self, engine: Engine, *, hasher: Hasher = RFC9162_SHA256) -> None:
        self._store = LedgerStore(engine)
        self._hasher = hasher
        meta = self._store.meta()
        if not meta:
            raise InputError("no ledger in this database (nothing was ever appended)")
        self._origin = meta["origin"].decode()
        self._public = meta["log_key"]

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def log_public_key(self) -> bytes:
        """Raw 32-byte Ed25519 public key that verifies this log's tree heads."""
        return self._public

    @property
    def size(self) -> int:
        """Number of entries under the latest signed tree head."""
        return self.tree_head().size

    def tree_head(self) -> TreeHead:
        """The latest signed tree head."""
        row = self._store.latest_head()
        if row is None:
            raise StoreError("ledger store has no tree head")
        return self._head_from_row(row)

    # -- reading ----------------------------------------------------------------------------

    def head(self, size: int) -> TreeHead:
        """The signed tree head of ``size``; InputError if the log never signed one."""
        rows = self._store.heads(size)
        if not rows:
            raise InputError(f"no tree head of size {size}")
        return self._head_from_row(rows[0])

    def heads(self) -> list[TreeHead]:
        """Every signed tree head, by size."""
        return [self._head_from_row(row) for row in self._store.heads()]

    def entry(self, index: int) -> SignedStatement:
        """Entry ``index`` as a signed statement."""
        return SignedStatement.parse(self.entry_bytes(index), f"entry {index}")

    def entry_bytes(self, index: int) -> bytes:
        """The stored bytes of entry ``index`` (the Merkle leaf data)."""
        data = self._store.entry(index)
        if data is None:
            raise InputError(f"no entry {index}: the log has {self.size} entries")
        return data

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Inclusion proof of entry ``index`` in the tree of ``size`` (default: current).

        Requires ``0 <= index < size <= self.size``; O(log size) node lookups in one query.
        """
        current = self.size
        size = current if size is None else size
        if not 0 <= index < size <= current:
            raise InputError(
                f"inclusion proof needs 0 <= index < size <= {current}, got {index}, {size}")
        plan = inclusion_plan(index, size)
        return plan.rehash(self._store.nodes(plan.node_ids), self._hasher)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Consistency proof from the tree of ``size1`` to that of ``size2`` (default: current).

        Requires ``0 < size1 <= size2 <= self.size``.
        """
        current = self.size
        size2 = current if size2 is None else size2
        if not 0 < size1 <= size2 <= current:
            raise InputError(f"consistency proof needs 0 < size1 <= size2 <= {current}, "
                             f"got {size1}, {size2}")
        plan = consistency_plan(size1, size2)
        return plan.rehash(self._store.nodes(plan.node_ids), self._hasher)

    def receipt(self, index: int, size: int | None = None) -> Receipt:
        """A receipt for entry ``index`` under the signed head of ``size`` (default: latest)."""
        head = self.tree_head() if size is None else self.head(size)
        proof = self.inclusion_proof(index, head.size)
        leaf = self._hasher.hash_leaf(self.entry_bytes(index))
        return Receipt(index, leaf, head, tuple(proof))

    # -- cosignatures -----------------------------------------------------------------------

    def cosignatures(self, size: int) -> list[Cosignature]:
        """The cosignatures stored for the head of ``size``, by party."""
        return [Cosignature(party, kid, s, t, sig)
                for s, party, kid, t, sig in self._store.cosignatures(size)]

    def is_settled(self, size: int, parties: Iterable[str]) -> bool:
        """True once every party in ``parties`` (those of an agreement) co-signed head ``size``."""
        parties = set(parties)
        if not parties:
            raise InputError("is_settled needs the parties of the agreement, got none")
        signed = {c.party for c in self.cosignatures(size)}
        return parties <= signed

    # -- export -----------------------------------------------------------------------------

    def export(self, out: BinaryIO) -> int:
        """Write the whole record to ``out``; return the number of lines.

        The format is JSON lines, each in RFC 8785 canonical form: a header
        ``{"format", "log_key", "origin"}``; then the entries ``{"index", "leaf"}`` in order,
        each head ``{"consistency", "cosignatures", "head"}`` right after the entry that
        completes its size; ``consistency`` is the proof from the previous head.
        ``detente verify`` (``detente.ledger.audit``) checks it.
        """
        heads = self._store.heads()
        cosigs: dict[int, list[dict[str, object]]] = {}
        for s, party, kid, t, sig in self._store.cosignatures():
            cosigs.setdefault(s, []).append(Cosignature(party, kid, s, t, sig).to_json())
        last_size = heads[-1][0]
        lines = 1
        out.write(canonical_json({"format": EXPORT_FORMAT, "log_key": b64encode(self._public),
                                  "origin": self._origin}) + b"\n")
        pending = iter(heads)
        next_head = next(pending)
        previous = 0
        # The consistency proofs come from the entries as they stream by, not from one node
        # query per head: a proof from m to n needs only the compact range of m and nodes
        # completed between m and n (see ``inclusion_proofs``), kept here for one head at a
        # time. Past EXPORT_NODES_IN_MEMORY such nodes, that head's proof is read from the store.
        tree = CompactRange(self._hasher)
        since: dict[tuple[int, int], bytes] | None = {}

        def keep(node: NodeID, value: bytes) -> None:
            nonlocal since
            if since is not None:
                since[node] = value
                if len(since) > EXPORT_NODES_IN_MEMORY:
                    since = None

        def write_heads_at(size: int) -> None:
            nonlocal next_head, previous, lines, since
            while next_head is not None and next_head[0] == size:
                if not 0 < previous < size:
                    proof = []
                elif since is None:
                    plan = consistency_plan(previous, size)
                    proof = plan.rehash(self._store.nodes(plan.node_ids), self._hasher)
                else:
                    plan = consistency_plan(previous, size)
                    proof = plan.rehash([since[node] for node in plan.node_ids], self._hasher)
                head = self._head_from_row(next_head)
                out.write(canonical_json({
                    "consistency": [b64encode(p) for p in proof],
                    "cosignatures": cosigs.get(size, []),
                    "head": head.to_json()}) + b"\n")
                lines += 1
                previous = size
                since = dict(zip(compact_range_ids(size), tree.hashes, strict=True))
                next_head = next(pending, None)

        write_heads_at(0)
        for index, data in self._store.entries(0, last_size):
            # The stored bytes are canonical, so they can be spliced in without re-encoding.
            out.write(b'{"index":' + str(index).encode() + b',"leaf":' + data + b"}\n")
            lines += 1
            tree.append(self._hasher.hash_leaf(data), keep)
            write_heads_at(index + 1)
        return lines

    def _head_from_row(self, row: HeadRow) -> TreeHead:
        size, root, time, signature = row
        return TreeHead(self._origin, size, root, time, signature)


class Ledger(LedgerReader):
    """An append-only Merkle log of signed statements in a SQLAlchemy database: the writer.

    Adds to ``LedgerReader`` the appends and cosignature intake; one per database.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From ``detente.store.database.open_database``.
    log_key : Ed25519PrivateKey
        The log's own key; it signs every tree head.
    origin : str
        The log's name, the first line of every tree head.
    clock : callable, optional
        Returns UTC epoch seconds; tree-head times never go backwards even if it does.
    verify_workers : int, optional
        Extra processes that check authors' signatures in batches of at least
        ``PARALLEL_MIN_BATCH`` (the bulk of an append's cost), while this process hashes the
        batch into the tree; 0 checks them in this process. They pay only when a core is
        free: on a busy machine they compete with the work they would offload.
        Call ``close`` (or use ``with``) to stop them.
    """

    def __init__(
        self,
        engine: Engine,
        log_key: Ed25519PrivateKey,
        *,
        origin: str = "detente",
        clock: Callable[[], float] = _time.time,
        hasher: Hasher = RFC9162_SHA256,
        verify_workers: int = 0,
    ) -> None:
        if verify_workers < 0:
            raise InputError(f"verify_workers must be >= 0, got {verify_workers}")
        self._workers = verify_workers
        self._pool: ProcessPoolExecutor | None = None
        self._store = LedgerStore(engine)
        self._key = log_key
        self._public = public_key_bytes(log_key)
        self._origin = origin
        self._clock = clock
        self._hasher = hasher
        self._lock = threading.Lock()
        meta = self._store.meta()
        if not meta:
            genesis = sign_tree_head(log_key, origin, 0, hasher.empty_root(), clock())
            self._store.create({"origin": origin.encode(), "log_key": self._public},
                               _head_row(genesis))
            meta = self._store.meta()
        if meta.get("log_key") != self._public:
            raise ConflictingWriteError(
                f"this ledger was created for log key {key_id(meta['log_key'])}, "
                f"not {key_id(self._public)}")
        if meta.get("origin") != origin.encode():
            raise ConflictingWriteError(
                f"this ledger's origin is {meta['origin'].decode()!r}, not {origin!r}")
        self._load()

    def _load(self) -> None:
        size = self._store.size()
        row = self._store.latest_head()
        if row is None or row[0] != size:
            raise StoreError(f"ledger store holds {size} entries but its last head is for "
                             f"{None if row is None else row[0]}")
        self._head = self._head_from_row(row)
        ids = compact_range_ids(size)
        self._range = CompactRange(self._hasher, size, self._store.nodes(ids))
        if self._range.root() != self._head.root:
            raise StoreError(f"ledger store is corrupt: nodes do not give the root of head {size}")
        self._keys = KeyRing()
        for index, data in self._store.entries(kind_prefix="key."):
            self._keys.accept(SignedStatement.parse(data, f"entry {index}"), index)

    @property
    def size(self) -> int:
        return self._range.size

    def tree_head(self) -> TreeHead:
        """The latest signed tree head."""
        return self._head

    @property
    def keys(self) -> KeyRing:
        """A copy of the parties' keys as of the current size."""
        with self._lock:
            return self._keys.copy()

    # -- appending --------------------------------------------------------------------------

    def append(self, statement: SignedStatement | bytes) -> Receipt:
        """Append one signed statement; see ``append_many``."""
        return self.append_many([statement])[0]

    def append_many(self, statements: Sequence[SignedStatement | bytes]) -> list[Receipt]:
        """Append statements in order, all or none, and return one receipt per statement.

        Each statement is a ``SignedStatement`` or the canonical JSON bytes of one (the
        entry format). Nothing is stored unless every statement verifies: VerificationError
        for a bad signature, unknown or retired key, or non-canonical bytes; InputError for a
        malformed statement; ConflictingWriteError for a broken key rule. The receipts come
        back after the transaction holding the entries and their tree head has committed.
        """
        if not statements:
            raise InputError("append_many needs at least one statement")
        with self._lock:
            first = self._range.size
            keys = self._keys.copy()
            rows: list[tuple[str, str, bytes]] = []
            checks: list[tuple[SignedStatement, bytes]] = []
            refused: DetenteError | None = None
            for k, item in enumerate(statements):
                index = first + k
                try:
                    if isinstance(item, bytes | bytearray):
                        signed = SignedStatement.parse(bytes(item), f"entry {index}")
                        leaf = bytes(item)
                    else:
                        signed, leaf = item, item.leaf()
                    checks.append((signed, keys.authorize(signed, index)))
                except DetenteError as exc:
                    refused = exc
                    break
                rows.append((signed.statement.kind, signed.statement.author, leaf))
            jobs = [(public, signed.signature, signed.statement.signing_message())
                    for signed, public in checks]
            # Worker processes, if any, check their share of the signatures while this one
            # hashes the tree; nothing is signed or stored before every signature verified.
            finish = self._start_checks(jobs)

            # The nodes a batch completes, plus the compact range before it, are all the
            # receipts' proofs need: a left sibling is either old (then it is in the compact
            # range) or new, and every right sibling is new.
            grown = self._range.copy()
            known: dict[tuple[int, int], bytes] = dict(
                zip(compact_range_ids(first), grown.hashes, strict=True))
            new_nodes: list[tuple[int, int, bytes]] = []

            def visit(node: NodeID, value: bytes) -> None:
                known[node] = value
                new_nodes.append((node.level, node.index, value))

            if refused is None:
                for _kind, _author, leaf in rows:
                    grown.append(self._hasher.hash_leaf(leaf), visit)
            # Signatures before the refused entry first: the error names the earliest bad one.
            bad = finish()
            if bad is not None:
                signed, public = checks[bad]
                KeyRing.check_signature(signed, first + bad, public)
                raise VerificationError(f"entry {first + bad}: signature does not verify")
            if refused is not None:
                raise refused
            head = sign_tree_head(self._key, self._origin, grown.size, grown.root(),
                                  max(self._clock(), self._head.time))
            self._store.commit_batch(first, rows, new_nodes, _head_row(head))
            self._range, self._keys, self._head = grown, keys, head

        proofs = inclusion_proofs(first, grown, known, self._hasher)
        return [Receipt(first + k, known[(0, first + k)], head, tuple(proof))
                for k, proof in enumerate(proofs)]

    def _start_checks(self, jobs: list[tuple[bytes, bytes, bytes]]) -> Callable[[], int | None]:
        """Start checking ``(public_key, signature, message)`` jobs; the returned function
        finishes and gives the position of the first that does not verify, or None.

        With workers and a batch of at least PARALLEL_MIN_BATCH, each worker process gets a
        share at once and this process checks the last share when ``finish`` is called.
        """
        if not self._workers or len(jobs) < PARALLEL_MIN_BATCH:
            return lambda: first_invalid(jobs)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self._workers, mp_context=multiprocessing.get_context("spawn"))
        shares = self._workers + 1
        step = -(-len(jobs) // shares)
        starts = list(range(0, len(jobs), step))
        futures = [self._pool.submit(first_invalid, jobs[s:s + step]) for s in starts[:-1]]

        def finish() -> int | None:
            own = first_invalid(jobs[starts[-1]:])
            results = [f.result() for f in futures] + [own]
            for start, bad in zip(starts, results, strict=True):
                if bad is not None:
                    return start + bad
            return None

        return finish

    def close(self) -> None:
        """Stop the signature-checking processes, if any were started."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_cosignature(self, cosignature: Cosignature) -> None:
        """Store a party's cosignature after checking it against the head and the party's key."""
        head = self.head(cosignature.size)
        with self._lock:
            known = self._keys.key(cosignature.key_id)
        if known is None or known.party != cosignature.party:
            raise VerificationError(f"cosignature: key {cosignature.key_id} is not a key of "
                                    f"{cosignature.party!r}")
        # The same rule as detente verify, which knows only the keys in the tree so far.
        if not known.active_at(head.size):
            raise VerificationError(
                f"cosignature: key {known.key_id} of {known.party!r} is not active in the tree "
                f"of size {head.size} (registered at entry {known.since}, retired at "
                f"{known.until})")
        cosignature.verify(head, known.public_key)
        self._store.add_cosignature((cosignature.size, cosignature.party, cosignature.key_id,
                                     cosignature.time, cosignature.signature))

def _head_row(head: TreeHead) -> HeadRow:
    return (head.size, head.root, head.time, head.signature)
