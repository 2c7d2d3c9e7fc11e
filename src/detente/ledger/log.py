"""The log: ``Ledger`` appends signed statements and serves tree heads, proofs and exports.

Example (the service owns the engine and the log key)::

    ledger = Ledger(open_database(url), log_key, origin="detente/agreement-1")
    receipt = ledger.append(signed_statement)        # durable before it returns
    head = ledger.tree_head()
    proof = ledger.consistency_proof(old_size, head.size)

One ``Ledger`` per database writes; it refuses to run on a database created for another log key
or origin, or by an earlier detente. Appends are all-or-nothing per call: ``append_many`` checks
every statement (signature, key, canonical form, reference, audience rule, delivery receipt)
before it signs a head and commits entries, Merkle nodes and that head in one transaction, and
hands out the receipts only after COMMIT. Each statement becomes an entry with a fresh random
salt and its audience (``detente.ledger.entries``, ``detente.ledger.audience``).
``append_groups`` does the same for several callers' batches at once (group commit), all or
nothing per batch. Signatures are checked in threads (``detente.ledger.signatures``).
"""

from __future__ import annotations

import itertools
import os
import threading
import time as _time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from sqlalchemy import Engine

from detente.errors import (
    ConflictingWriteError,
    DetenteError,
    InputError,
    StoreError,
    VerificationError,
)
from detente.ledger.audience import KIND_DELIVERY_RECEIPT, audience_for
from detente.ledger.delivery import check_delivery_receipt
from detente.ledger.entries import SALT_BYTES, Entry, audience_of_leaf, check_party, visible_to
from detente.ledger.export import EXPORT_FORMAT, export_lines
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, Receipt, TreeHead, sign_tree_head
from detente.ledger.keyring import KeyRing
from detente.ledger.keys import Ed25519PrivateKey, key_id, public_key_bytes
from detente.ledger.note import SIG_COSIGNATURE_V1, SIG_ED25519, check_key_name, key_hash
from detente.ledger.signatures import SignatureChecks
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE, SignedStatement
from detente.ledger.tree import (
    CompactRange,
    compact_range_ids,
    consistency_plan,
    inclusion_plan,
    inclusion_proofs,
)
from detente.store.ledger_tables import HeadRow, LedgerStore

__all__ = ["EXPORT_FORMAT", "PARALLEL_MIN_BATCH", "Ledger", "LedgerReader", "origin_for"]

# Below this many statements, handing them to other threads costs more than it saves.
PARALLEL_MIN_BATCH = 64
# Entries whose audience, kind and leaf hash an append looked up (for the statements that
# answer them), kept for the next appends.
REF_CACHE = 4096


def origin_for(name: str) -> str:
    """A log origin (C2SP: no spaces, no ``+``) from a name that may have them: each run of
    spaces or ``+`` becomes one ``-``. ``origin_for("detente/Hatay border")`` is
    ``"detente/Hatay-border"``."""
    origin = "-".join(part for part in name.replace("+", " ").split() if part)
    return check_key_name(origin, "origin")


def _check_format(meta: dict[str, bytes]) -> None:
    found = meta.get("format")
    if found != EXPORT_FORMAT.encode():
        raise ConflictingWriteError(
            "this database holds a record of an earlier detente (entries without salt and "
            "audience, tree heads that are not C2SP checkpoints) or of another format "
            f"({'none' if found is None else found.decode(errors='replace')}); this version "
            f"reads and writes {EXPORT_FORMAT} only: export it with the detente that wrote it, "
            "and start a new database")


class RefInfo(NamedTuple):
    """What a statement that answers an entry needs of it."""

    audience: tuple[str, ...]
    kind: str
    leaf_hash: bytes


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
        _check_format(meta)
        self._origin = meta["origin"].decode()
        self._public = meta["log_key"]
        self._key_hashes = _log_key_hashes(self._origin, self._public)

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

    def entry(self, index: int) -> Entry:
        """Entry ``index``: its statement, signature, salt and audience."""
        return Entry.parse(self.entry_bytes(index), f"entry {index}")

    def entry_for(self, index: int, party: str) -> Entry | None:
        """Entry ``index`` if ``party`` is in its audience, else None: what a party may be
        given beside a receipt (whose proof and leaf hash reveal nothing of the entry)."""
        check_party(party, "party")
        data = self.entry_bytes(index)
        if not visible_to(audience_of_leaf(data), party):
            return None
        return Entry.parse(data, f"entry {index}")

    def last_of_kind(self, kind: str) -> tuple[int, Entry] | None:
        """The index and entry of the latest entry of ``kind``, if the log has one."""
        found = self._store.last_of_kind(kind)
        if found is None:
            return None
        index, data = found
        return index, Entry.parse(data, f"entry {index}")

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
        return [Cosignature(party, s, t, bytes.fromhex(kid), sig)
                for s, party, kid, t, sig in self._store.cosignatures(size)]

    def checkpoint(self, size: int | None = None) -> str:
        """The head of ``size`` (default: latest) as a C2SP checkpoint in signed-note form,
        with the log's signatures and every cosignature stored for it: what a C2SP client or
        witness reads."""
        head = self.tree_head() if size is None else self.head(size)
        return head.note(self.cosignatures(head.size))

    def is_settled(self, size: int, parties: Iterable[str]) -> bool:
        """True once every party in ``parties`` (those of an agreement) co-signed head ``size``."""
        parties = set(parties)
        if not parties:
            raise InputError("is_settled needs the parties of the agreement, got none")
        signed = {c.party for c in self.cosignatures(size)}
        return parties <= signed

    # -- export -----------------------------------------------------------------------------

    def export_lines(self, party: str | None = None) -> Iterator[bytes]:
        """The record as JSON lines (``detente.ledger.export``): the operator's full export
        (``party`` None) or ``party``'s copy, holding in full only the entries addressed to it.

        A generator reading one snapshot of the store, page by page, as it is consumed: the
        memory it takes does not grow with the log. Iterate it to the end, or ``close()`` it
        to let the snapshot go. It may be consumed from any one thread at a time (a server
        sends it from worker threads, off its event loop).
        """
        if party is not None:
            check_party(party, "party")
        with self._store.snapshot() as view:
            _check_format(view.meta())
            yield from export_lines(view, origin=self._origin, log_public_key=self._public,
                                    hasher=self._hasher, make_head=self._head_from_row,
                                    party=party)

    def export_chunks(self, party: str | None = None, size: int = 1 << 16) -> Iterator[bytes]:
        """``export_lines`` joined into chunks of about ``size`` bytes (whole lines): what to
        hand a streaming HTTP response, one send per chunk rather than per line."""
        lines = self.export_lines(party)
        try:
            chunk: list[bytes] = []
            length = 0
            for line in lines:
                chunk.append(line)
                length += len(line)
                if length >= size:
                    yield b"".join(chunk)
                    chunk, length = [], 0
            if chunk:
                yield b"".join(chunk)
        finally:
            lines.close()

    def export(self, out: BinaryIO, party: str | None = None) -> int:
        """Write ``export_lines(party)`` to ``out``; return the number of lines."""
        count = 0
        for line in self.export_lines(party):
            out.write(line)
            count += 1
        return count

    def _head_from_row(self, row: HeadRow) -> TreeHead:
        size, root, time, signature, time_signature = row
        return TreeHead(self._origin, size, root, int(time), signature, time_signature,
                        *self._key_hashes)


def _log_key_hashes(origin: str, public: bytes) -> tuple[bytes, bytes]:
    return key_hash(origin, SIG_ED25519, public), key_hash(origin, SIG_COSIGNATURE_V1, public)


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
        Threads that check authors' signatures (the bulk of an append's cost) for batches of
        at least ``PARALLEL_MIN_BATCH``, besides the appending thread, which hashes the batch
        into the tree and writes its rows meanwhile, then checks what they have not started
        (``detente.ledger.signatures``). Default: one per core but one; 0 checks them all in
        the appending thread. They pay only when a core is free. ``close`` (or ``with``)
        stops them; idle ones cost nothing.
    """

    def __init__(
        self,
        engine: Engine,
        log_key: Ed25519PrivateKey,
        *,
        origin: str = "detente",
        clock: Callable[[], float] = _time.time,
        hasher: Hasher = RFC9162_SHA256,
        verify_workers: int | None = None,
    ) -> None:
        if verify_workers is None:
            verify_workers = max((os.cpu_count() or 1) - 1, 0)
        if verify_workers < 0:
            raise InputError(f"verify_workers must be >= 0, got {verify_workers}")
        check_key_name(origin, "origin (a C2SP log origin: use origin_for)")
        self._workers = verify_workers
        self._pool: ThreadPoolExecutor | None = None
        self._store = LedgerStore(engine)
        self._key = log_key
        self._public = public_key_bytes(log_key)
        self._origin = origin
        self._key_hashes = _log_key_hashes(origin, self._public)
        self._clock = clock
        self._hasher = hasher
        self._lock = threading.Lock()
        self._refs: dict[int, RefInfo] = {}
        meta = self._store.meta()
        if not meta:
            genesis = sign_tree_head(log_key, origin, 0, hasher.empty_root(), int(clock()))
            self._store.create({"origin": origin.encode(), "log_key": self._public,
                                "format": EXPORT_FORMAT.encode()}, _head_row(genesis))
            meta = self._store.meta()
        _check_format(meta)
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
            self._keys.accept(Entry.parse(data, f"entry {index}"), index)

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

        Each statement is a ``SignedStatement`` or the canonical JSON bytes of one
        (``SignedStatement.canonical``); the log makes it an entry with a fresh random salt
        and the audience ``detente.ledger.audience`` gives it. An ``Entry`` keeps its salt,
        and its audience must be that one. Nothing is stored unless every statement
        verifies: VerificationError for a bad signature, unknown or retired key, or
        non-canonical bytes; InputError for a malformed statement, a kind with no audience
        rule, or a delivery receipt that does not match its entry; ConflictingWriteError for a
        broken key rule. The error names the earliest bad statement. The receipts (each with
        its entry) come back after the transaction holding the entries and their tree head
        has committed.
        """
        if not statements:
            raise InputError("append_many needs at least one statement")
        (result,) = self.append_groups([statements])
        if isinstance(result, DetenteError):
            raise result
        return result

    def append_groups(self, groups: Sequence[Sequence[SignedStatement | bytes]]
                      ) -> list[list[Receipt] | DetenteError]:
        """Append several callers' batches in one transaction (one fsync, one tree head).

        Each group is all or nothing, as with ``append_many``, and is judged as if the groups
        were appended one after the other in the order given: a group that does not verify
        gets its error in its place in the returned list and takes no index; the others get
        their receipts (all under the same head), in order. An error of the store itself
        (StoreError, ConflictingWriteError from another writer) is raised for all.
        """
        with self._lock:
            return _Append(self, groups).run()

    def _executor(self, count: int) -> Executor | None:
        """The threads that help check ``count`` signatures; None to check them here."""
        if not self._workers or count < PARALLEL_MIN_BATCH:
            return None
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="ledger-verify")
        return self._pool

    def close(self) -> None:
        """Stop the signature-checking threads, if any were started."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def add_cosignature(self, cosignature: Cosignature) -> None:
        """Store a party's cosignature after checking it against the head and the party's key
        (found by its C2SP key id among the keys the party registered)."""
        head = self.head(cosignature.size)
        with self._lock:
            keys = self._keys.keys_of(cosignature.party)
        known = next((k for k in keys if cosignature.made_with(k.public_key)), None)
        if known is None:
            raise VerificationError(f"cosignature: key id {cosignature.key_hash.hex()} is not "
                                    f"that of a key of {cosignature.party!r}")
        # The same rule as detente verify, which knows only the keys in the tree so far.
        if not known.active_at(head.size):
            raise VerificationError(
                f"cosignature: key {known.key_id} of {known.party!r} is not active in the tree "
                f"of size {head.size} (registered at entry {known.since}, retired at "
                f"{known.until})")
        cosignature.verify(head, known.public_key)
        self._store.add_cosignature((cosignature.size, cosignature.party,
                                     cosignature.key_hash.hex(), cosignature.time,
                                     cosignature.signature))

    def _ref_info(self, index: int) -> RefInfo | None:
        """Audience, kind and leaf hash of committed entry ``index`` (None if there is none)."""
        found = self._refs.get(index)
        if found is None:
            row = self._store.entry_of_kind(index)
            if row is None:
                return None
            kind, data = row
            found = RefInfo(audience_of_leaf(data), kind, self._hasher.hash_leaf(data))
            if len(self._refs) >= REF_CACHE:
                self._refs.clear()
            self._refs[index] = found
        return found


_KEY_KINDS = frozenset({KIND_KEY_REGISTER, KIND_KEY_ROTATE})


class _Retry(Exception):
    """A planned group turned out to have a bad signature: plan the batch again without it."""


@dataclass(slots=True)
class _Group:
    """A group as one pass saw it: from entry ``start``, the statements authorized (with the
    key that must have signed each), up to the position and error of a refusal, if any."""

    g: int
    start: int
    entries: list[tuple[Entry, bytes, bytes]]  # entry, its bytes, the key that signed it
    refused: tuple[int, DetenteError] | None = None


class _Append:
    """One call of ``Ledger.append_groups``, under the ledger's lock.

    A pass authorizes the groups in order against a copy of the key ring (key rules and refs:
    cheap) and collects their signature checks; it hashes the planned entries into a copy of
    the tree and builds their proofs, then starts the checks in the threads while the store
    writes the rows; the store then waits for the checks before the head is signed and COMMIT
    runs. A group
    refused by a key rule is left out of the pass. One with a bad signature or bytes that do
    not parse is out for good: if it was planned, its rows are rolled back and the pass starts
    again without it, since the groups after it may have counted on its keys or its indexes.
    Signatures already checked are not checked again; a batch with no bad statement takes one
    pass.
    """

    def __init__(self, ledger: Ledger, groups: Sequence[Sequence[SignedStatement | bytes]]
                 ) -> None:
        self.ledger = ledger
        self.groups = groups
        self.first = ledger._range.size
        # Receipts, or the error of a group that is out for good.
        self.results: list[list[Receipt] | DetenteError | None] = [None] * len(groups)
        # Per statement: parsed, with its salt and (for an Entry given whole) its audience.
        self.parsed: dict[tuple[int, int],
                          tuple[SignedStatement, bytes, tuple[str, ...] | None]] = {}
        self.verified: set[tuple[int, int, bytes]] = set()  # (group, position, key)
        self.head: TreeHead | None = None
        # One draw from the system's random source for the batch's salts (a draw per
        # statement costs a system call each).
        self.salts = os.urandom(SALT_BYTES * sum(len(g) for g in groups))
        self.drawn = 0

    def run(self) -> list[list[Receipt] | DetenteError]:
        ledger = self.ledger
        while True:
            seen, keys, checks = self._authorize()
            plan = [group for group in seen if group.refused is None]
            if not plan:
                self._judge(seen, checks)
                break
            grown, known, new_nodes = self._grow(plan)
            # The proofs do not depend on the head's signature: built before it is signed.
            proofs = inclusion_proofs(self.first, grown, known, ledger._hasher)
            # Done with pure Python: the threads check while the store writes the rows.
            checks.start()

            def finish(seen: list[_Group] = seen, checks: SignatureChecks = checks,
                       grown: CompactRange = grown) -> HeadRow:
                if self._judge(seen, checks):
                    raise _Retry
                self.head = sign_tree_head(ledger._key, ledger._origin, grown.size, grown.root(),
                                           max(int(ledger._clock()), ledger._head.time))
                return _head_row(self.head)

            rows = [(entry.statement.kind, entry.statement.author, leaf)
                    for group in plan for entry, leaf, _key in group.entries]
            try:
                # The rows are written while the threads check; COMMIT waits for them.
                ledger._store.commit_batch(self.first, rows, new_nodes, finish)
            except _Retry:
                continue
            head = self.head
            assert head is not None
            ledger._range, ledger._keys, ledger._head = grown, keys, head
            for group in plan:
                self.results[group.g] = [
                    Receipt(index, known[(0, index)], head, tuple(proofs[index - self.first]),
                            entry)
                    for index, (entry, _leaf, _key) in enumerate(group.entries, group.start)]
            break
        out = [result for result in self.results if result is not None]
        assert len(out) == len(self.results), "every group has receipts or an error"
        return out

    def _parse(self, g: int, k: int, item: SignedStatement | bytes, index: int
               ) -> tuple[SignedStatement, bytes, tuple[str, ...] | None]:
        """Statement ``k`` of group ``g``, its salt (drawn now, unless it came as an Entry)
        and the audience it came with, if any: once for all passes."""
        found = self.parsed.get((g, k))
        if found is None:
            if isinstance(item, Entry):
                found = item, item.salt, item.audience
            else:
                signed = (item if isinstance(item, SignedStatement)
                          else SignedStatement.parse(bytes(item), f"entry {index}"))
                salt = self.salts[self.drawn:self.drawn + SALT_BYTES]
                self.drawn += SALT_BYTES
                found = signed, salt, None
            self.parsed[(g, k)] = found
        return found

    def _ref(self, index: int, planned: dict[int, tuple[Entry, bytes]]) -> RefInfo | None:
        """What a statement answering entry ``index`` needs of it: from this pass's planned
        entries, or from the store."""
        if index < self.first:
            return self.ledger._ref_info(index)
        found = planned.get(index)
        if found is None:
            return None
        entry, leaf = found
        return RefInfo(entry.audience, entry.statement.kind, self.ledger._hasher.hash_leaf(leaf))

    def _entry(self, signed: SignedStatement, salt: bytes, given: tuple[str, ...] | None,
               public: bytes, index: int, planned: dict[int, tuple[Entry, bytes]]) -> Entry:
        """The entry of an authorized statement: its audience by the rules, a delivery
        receipt checked against the entry it names."""
        st = signed.statement
        try:
            def ref_audience(i: int) -> tuple[str, ...] | None:
                info = self._ref(i, planned)
                return None if info is None else info.audience

            audience = audience_for(st, by_log=public == self.ledger._public,
                                    ref_audience=ref_audience)
            if given is not None and given != audience:
                raise InputError(f"addressed to {list(given)}, but its kind's rule gives "
                                 f"{list(audience)}")
            if st.kind == KIND_DELIVERY_RECEIPT:
                info = self._ref(st.ref, planned)  # type: ignore[arg-type]
                assert info is not None, "audience_for found it"
                check_delivery_receipt(st, info.kind, info.leaf_hash)
        except InputError as exc:
            raise InputError(f"entry {index} ({st.kind} by {st.author}): {exc}") from exc
        return Entry(st, signed.signature, salt, audience)

    def _authorize(self) -> tuple[list[_Group], KeyRing, SignatureChecks]:
        """One pass over the groups still in: each against the keys the ones before it leave.

        Returns the groups as seen, the key ring after the planned ones, and the signature
        checks queued for both (a refused group's up to its refusal, for the earliest error).
        """
        ledger = self.ledger
        keys = ledger._keys.copy()
        live = [g for g in range(len(self.groups)) if self.results[g] is None]
        checks = SignatureChecks(ledger._executor(sum(len(self.groups[g]) for g in live)))
        verified = self.verified
        seen: list[_Group] = []
        planned: dict[int, tuple[Entry, bytes]] = {}
        index = self.first
        for g in live:
            group = _Group(g, index, [])
            ring = keys
            for k, item in enumerate(self.groups[g]):
                try:
                    signed, salt, given = self._parse(g, k, item, index + k)
                    if ring is keys and signed.statement.kind in _KEY_KINDS:
                        ring = keys.copy()  # the group's key changes count once it is in
                    public = ring.authorize(signed, index + k)
                    entry = self._entry(signed, salt, given, public, index + k, planned)
                except DetenteError as exc:
                    group.refused = (k, exc)
                    break
                leaf = entry.leaf()
                planned[index + k] = (entry, leaf)
                group.entries.append((entry, leaf, public))
                tag = (g, k, public)
                if tag not in verified:
                    checks.add(tag, public, signed.signature, signed.statement.signing_message())
            seen.append(group)
            if group.refused is None:
                keys = ring
                index += len(group.entries)
            else:
                for k in range(len(group.entries)):  # a refused group takes no index
                    del planned[index + k]
        return seen, keys, checks

    def _grow(self, plan: list[_Group]) -> tuple[
            CompactRange, dict[tuple[int, int], bytes], list[tuple[int, int, bytes]]]:
        """The tree with the planned entries, and the nodes they complete.

        Those nodes, plus the compact range before them, are all the receipts' proofs need: a
        left sibling is either old (then it is in the compact range) or new, and every right
        sibling is new.
        """
        grown = self.ledger._range.copy()
        known: dict[tuple[int, int], bytes] = dict(
            zip(compact_range_ids(self.first), grown.hashes, strict=True))
        old = len(known)
        hash_leaf = self.ledger._hasher.hash_leaf
        grown.extend((hash_leaf(leaf) for group in plan for _entry, leaf, _key in group.entries),
                     known)
        # A dict keeps its order: the nodes after the old compact range are the new ones.
        new_nodes = [(level, index, value) for (level, index), value
                     in itertools.islice(known.items(), old, None)]
        return grown, known, new_nodes

    def _judge(self, seen: list[_Group], checks: SignatureChecks) -> bool:
        """Wait for the checks. A group whose earliest fault is a bad signature (or bytes that
        do not parse) is out for good; True if a planned one is: the pass starts again. If not,
        the refused groups get their key-rule errors."""
        bad = set(checks.finish())
        self.verified.update(tag for tag in checks.tags if tag not in bad)
        again = False
        for group in seen:
            for k, (signed, _leaf, public) in enumerate(group.entries):
                if (group.g, k, public) in bad:
                    try:
                        KeyRing.check_signature(signed, group.start + k, public)
                        error = VerificationError(
                            f"entry {group.start + k}: signature does not verify")
                    except VerificationError as exc:
                        error = exc
                    self.results[group.g] = error
                    again = again or group.refused is None
                    break
            else:
                if group.refused is not None and (group.g, group.refused[0]) not in self.parsed:
                    self.results[group.g] = group.refused[1]
        if not again:
            for group in seen:
                if group.refused is not None and self.results[group.g] is None:
                    self.results[group.g] = group.refused[1]
        return again


def _head_row(head: TreeHead) -> HeadRow:
    return (head.size, head.root, head.time, head.signature, head.time_signature)
