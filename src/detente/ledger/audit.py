"""Checking an export of the record offline: what ``detente verify`` runs.

An export (``detente.ledger.export``: the operator's full one, or a party's copy) is JSON
lines, each in RFC 8785 canonical form, so a value has exactly one spelling and any changed byte
changes a value or breaks the format. The audit replays it from nothing but the file (and, if
given, the log key and tree heads the party kept):

- every line is canonical JSON of the expected shape; entries are numbered 0, 1, 2... in order;
  the full export holds every entry whole, a party's copy only those addressed to its party
  (the others as leaf hashes);
- every entry held whole verifies with its author's key, replaying ``key.register`` and
  ``key.rotate`` entries (``detente.ledger.keyring``), and is addressed as the rules of
  ``detente.ledger.audience`` say;
- every delivery receipt names the leaf hash of the entry at its index (a receipt the entry no
  longer matches is named: the entry changed after its recipient received it);
- every tree head is a C2SP checkpoint signed by the log key (note signature and timestamped
  cosignature/v1), follows the entry that completes its size, and its root equals the root
  recomputed from the entries (so heads are prefixes of one history); each head's consistency
  proof from the previous head verifies (``detente.ledger.verify``);
- each cosignature is a cosignature/v1 by a key its party registered, active at that size;
- the last line is a head covering every entry; heads the party kept match the recomputation;
- with a grace period: every entry is under a *settled* head (co-signed by every party), unless
  it became part of the log less than the grace period before the last head (by the heads' own
  times). The log key alone cannot make a settled head, so an export that the log-key holder
  rewrote from some entry on (recomputed tree, re-signed heads, the cosignatures that no longer
  verify dropped) fails here, naming the first head that is not settled.

The first failure is raised as ``RecordVerificationError`` naming the line, and the entry or
head.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from detente.errors import DetenteError, VerificationError
from detente.ledger.audience import (
    KIND_DELIVERY_RECEIPT,
    RECEIPTED_KINDS,
    audience_for,
    expected_receipts,
    party_of,
)
from detente.ledger.delivery import check_delivery_receipt
from detente.ledger.entries import Entry, check_party
from detente.ledger.export import EXPORT_FORMAT
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, TreeHead
from detente.ledger.keyring import KeyRing
from detente.ledger.keys import b64decode_strict, key_id
from detente.ledger.statements import parse_canonical
from detente.ledger.tree import CompactRange
from detente.ledger.verify import verify_consistency

__all__ = ["AuditReport", "RecordExport", "RecordVerificationError", "audit_export",
           "read_export"]

DEFAULT_GRACE_S = 300.0
# Deliveries never receipted that a report lists (it counts them all).
UNRECEIPTED_KEPT = 1000


# What an entry told a party, by position (0: nothing a party answers with a receipt).
_TOLD = ("statement of another kind", *sorted(RECEIPTED_KINDS))


class RecordVerificationError(VerificationError):
    """One line of an export does not verify; ``line`` is 1-based, ``where`` names the item."""

    def __init__(self, line: int, where: str, problem: str) -> None:
        self.line, self.where, self.problem = line, where, problem
        super().__init__(f"line {line}, {where}: {problem}")


def _utc(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What a successful audit established.

    ``settled_size``: the largest head co-signed by every party (0: none); ``unsettled_from``
    the size and time of the first head after it, if any; ``copy_of`` the party whose copy
    this is (None: the operator's full export); ``unreceipted_count`` how many times a party
    was told a statement and never answered with a delivery receipt (in this copy), and
    ``unreceipted`` the first ``UNRECEIPTED_KEPT`` of those (entry, party) pairs.
    """

    origin: str
    log_key_id: str
    entries: int
    heads: int
    settled: int
    parties: tuple[str, ...]
    root: bytes
    kept_heads_checked: int | None
    copy_of: str | None = None
    in_full: int = 0
    settled_size: int = 0
    settled_time: int | None = None
    last_time: int = 0
    unsettled_from: tuple[int, int] | None = None
    receipts: int = 0
    unreceipted: tuple[tuple[int, str], ...] = ()
    unreceipted_count: int = 0

    def summary(self) -> str:
        parts = [f"OK: {self.entries} entries and {self.heads} tree heads of log "
                 f"{self.origin!r} (key {self.log_key_id}) verify; root at size {self.entries} "
                 f"is {self.root.hex()}"]
        if not self.parties:
            parts.append("settled: none (no party has registered a key)")
        elif self.settled_size:
            parts.append(f"settled: size {self.settled_size}, co-signed by every party "
                         f"({', '.join(self.parties)}), signed {_utc(self.settled_time or 0)}")
        else:
            parts.append(f"settled: none (no head co-signed by every party: "
                         f"{', '.join(self.parties)})")
        if self.settled_size < self.entries:
            parts.append(f"entries {self.settled_size} to {self.entries - 1} not under a "
                         "settled head")
        parts.append("the operator's full export" if self.copy_of is None else
                     f"{self.copy_of}'s copy: {self.in_full} entries in full, "
                     f"{self.entries - self.in_full} as leaf hashes only")
        parts.append(f"{self.receipts} delivery receipts match their entries, "
                     f"{self.unreceipted_count} deliveries not receipted")
        if self.kept_heads_checked is not None:
            parts.append(f"{self.kept_heads_checked} kept heads match")
        return "; ".join(parts)


@dataclass(slots=True)
class RecordExport:
    """An export read whole after its audit: the entries (None for those held as leaf hashes
    only), the heads in order, and the cosignatures on each head by size."""

    report: AuditReport
    log_key: bytes
    entries: list[Entry | None] = field(default_factory=list)
    heads: list[TreeHead] = field(default_factory=list)
    cosignatures: dict[int, list[Cosignature]] = field(default_factory=dict)


def audit_export(
    lines: Iterable[bytes],
    *,
    log_key: bytes | None = None,
    kept_heads: Iterable[TreeHead] | None = None,
    grace_s: float | None = None,
    hasher: Hasher = RFC9162_SHA256,
) -> AuditReport:
    """Verify an export given as its lines (a file opened in binary mode will do).

    ``log_key`` pins the log's public key (otherwise the export's own is used, and its id is
    reported for the party to compare); ``kept_heads`` are tree heads the party saw, which
    must all agree with the recomputed tree. With ``grace_s`` (seconds), every entry must be
    under a settled head unless the first head that holds it was signed less than ``grace_s``
    before the export's last head.
    """
    audit = _Audit(log_key, kept_heads, hasher, keep=None)
    number = 0
    for number, raw in enumerate(lines, 1):
        audit.line(number, raw)
    return audit.finish(number, grace_s)


def read_export(lines: Iterable[bytes], *, log_key: bytes | None = None,
                grace_s: float | None = None, hasher: Hasher = RFC9162_SHA256) -> RecordExport:
    """``audit_export``, keeping what it read: for a replay, which needs it all."""
    keep = RecordExport(report=None, log_key=b"")  # type: ignore[arg-type]
    audit = _Audit(log_key, None, hasher, keep=keep)
    number = 0
    for number, raw in enumerate(lines, 1):
        audit.line(number, raw)
    keep.report = audit.finish(number, grace_s)
    keep.log_key = audit.log_key
    return keep


@dataclass(slots=True)
class _HeadSeen:
    size: int
    time: int
    line: int
    cosigned: tuple[str, ...]


class _Audit:
    def __init__(self, pinned: bytes | None, kept: Iterable[TreeHead] | None, hasher: Hasher,
                 keep: RecordExport | None) -> None:
        self.pinned, self.hasher, self.keep = pinned, hasher, keep
        self.kept_given = kept is not None
        # Size 0 is the empty tree for every log: nothing to compare.
        self.kept: Mapping[int, TreeHead] = {h.size: h for h in kept or () if h.size > 0}
        self.tree = CompactRange(hasher)
        self.keys = KeyRing()
        self.log_key = b""
        self.origin = ""
        self.copy_of: str | None = None
        self.last_head: TreeHead | None = None
        self.heads = self.settled = self.kept_checked = self.in_full = self.receipts = 0
        self.settled_head: _HeadSeen | None = None
        self.first_unsettled: _HeadSeen | None = None
        # Per entry: its audience, or None for one held as a leaf hash only (a reference to
        # one of a few tuples: 8 bytes an entry).
        self.audiences: list[tuple[str, ...] | None] = []
        # Per entry, packed (33 bytes an entry): its leaf hash, and what it told a party
        # (the position of its kind in _TOLD, 0 for anything else).
        self.leaf_hashes = bytearray()
        self.told_kinds = bytearray()
        # Who has not yet answered an entry with a delivery receipt: bits of ``self.named``.
        self.waiting: dict[int, int] = {}
        self.named: dict[str, int] = {}

    def line(self, number: int, raw: bytes) -> None:
        where = "header" if number == 1 else f"line after {self.tree.size} entries"
        try:
            if not raw.endswith(b"\n"):
                raise VerificationError("line does not end with a newline (truncated?)")
            value = parse_canonical(raw[:-1], "line")
            if number == 1:
                self._header(value)
            elif isinstance(value, dict) and set(value) == {"index", "leaf"}:
                where = f"entry {self.tree.size}"
                self._entry(value, raw)
            elif isinstance(value, dict) and set(value) == {"index", "leaf_hash"}:
                where = f"entry {self.tree.size}"
                self._hashed(value)
            elif isinstance(value, dict) and set(value) == {"checkpoint", "consistency"}:
                # Named by its place: the size it must have, whatever size it claims.
                where = f"tree head of size {self.tree.size}"
                self._head(value, number)
            else:
                got = sorted(value) if isinstance(value, dict) else type(value).__name__
                raise VerificationError(f"neither an entry nor a tree head: {got}")
        except DetenteError as exc:
            raise RecordVerificationError(number, where, str(exc)) from exc

    def _header(self, value: Any) -> None:
        if isinstance(value, dict) and value.get("format") == "detente-record/1":
            raise VerificationError(
                "format 'detente-record/1' is an earlier detente's (entries without salt or "
                "audience, tree heads that are not C2SP checkpoints); this version checks "
                f"{EXPORT_FORMAT} only: verify it with the detente that wrote it")
        if not isinstance(value, dict) or set(value) != {"format", "log_key", "origin", "party"}:
            raise VerificationError("not a detente record header")
        if value["format"] != EXPORT_FORMAT:
            raise VerificationError(f"format {value['format']!r}, want {EXPORT_FORMAT!r}")
        if not isinstance(value["log_key"], str) or not isinstance(value["origin"], str):
            raise VerificationError("log_key and origin must be text")
        self.log_key = b64decode_strict(value["log_key"], "log_key")
        kid = key_id(self.log_key)
        if self.pinned is not None and self.log_key != self.pinned:
            raise VerificationError(f"log key {kid} is not the pinned key {key_id(self.pinned)}")
        self.origin = value["origin"]
        if value["party"] is not None:
            self.copy_of = check_party(value["party"], "party")

    def _index(self, value: dict[str, Any]) -> int:
        index = value["index"]
        if index != self.tree.size or isinstance(index, bool):
            raise VerificationError(f"entry numbered {index!r}, want {self.tree.size}")
        return index

    def _entry(self, value: dict[str, Any], raw: bytes) -> None:
        index = self._index(value)
        # The line is canonical, so the entry's bytes are the ones inside it.
        leaf = raw[len(b'{"index":') + len(str(index)) + len(b',"leaf":'):-2]
        entry = Entry.from_leaf(value["leaf"], leaf, f"entry {index}")
        st = entry.statement
        if self.copy_of is not None and not entry.visible_to(self.copy_of):
            raise VerificationError(f"this is {self.copy_of}'s copy, but entry {index} is "
                                    f"addressed to {list(entry.audience)}")
        public = self.keys.authorize(entry, index)
        KeyRing.check_signature(entry, index, public)
        by_log = public == self.log_key

        def ref_audience(i: int) -> tuple[str, ...] | None:
            return self.audiences[i] if 0 <= i < len(self.audiences) else None

        want = audience_for(st, by_log=by_log, ref_audience=ref_audience)
        if want != entry.audience:
            raise VerificationError(f"entry {index} ({st.kind} by {st.author}) is addressed to "
                                    f"{list(entry.audience)}; its kind's rule gives {list(want)}")
        leaf_hash = self.hasher.hash_leaf(leaf)
        if st.kind == KIND_DELIVERY_RECEIPT:
            assert st.ref is not None, "audience_for requires it"
            code = self.told_kinds[st.ref]
            size = self.hasher.size
            check_delivery_receipt(st, _TOLD[code],
                                   bytes(self.leaf_hashes[st.ref * size:(st.ref + 1) * size]))
            waiting = self.waiting.get(st.ref, 0) & ~self._bit(party_of(st.author))
            if waiting:
                self.waiting[st.ref] = waiting
            else:
                self.waiting.pop(st.ref, None)
            self.receipts += 1
        if st.kind in RECEIPTED_KINDS:
            expected = expected_receipts(st, entry.audience, by_log)
            if expected:
                self.waiting[index] = sum(self._bit(p) for p in expected)
        self.audiences.append(entry.audience)
        self.in_full += 1
        self._append(leaf_hash, _TOLD.index(st.kind) if st.kind in RECEIPTED_KINDS else 0)
        if self.keep is not None:
            self.keep.entries.append(entry)

    def _hashed(self, value: dict[str, Any]) -> None:
        index = self._index(value)
        if self.copy_of is None:
            raise VerificationError(f"entry {index} is a leaf hash only, in what says it is the "
                                    "operator's full export (header party null)")
        if not isinstance(value["leaf_hash"], str):
            raise VerificationError("leaf_hash must be base64 text")
        leaf_hash = b64decode_strict(value["leaf_hash"], "leaf_hash")
        if len(leaf_hash) != self.hasher.size:
            raise VerificationError(f"leaf_hash has {len(leaf_hash)} bytes, want "
                                    f"{self.hasher.size}")
        self.audiences.append(None)
        self._append(leaf_hash)
        if self.keep is not None:
            self.keep.entries.append(None)

    def _bit(self, party: str) -> int:
        return 1 << self.named.setdefault(party, len(self.named))

    def _append(self, leaf_hash: bytes, told: int = 0) -> None:
        self.leaf_hashes += leaf_hash
        self.told_kinds.append(told)
        self.tree.append(leaf_hash)
        kept = self.kept.get(self.tree.size)
        if kept is not None:
            # Any head the log signed, exported or not, must be a prefix of this history.
            kept.verify(self.log_key)
            if kept.origin != self.origin or kept.root != self.tree.root():
                raise VerificationError(
                    f"the head of size {kept.size} you kept has root {kept.root.hex()}, the "
                    f"entries give {self.tree.root().hex()}: the log rewrote history")
            self.kept_checked += 1

    def _head(self, value: dict[str, Any], number: int) -> None:
        if not isinstance(value["checkpoint"], str):
            raise VerificationError("checkpoint must be a signed note (text)")
        head, cosignatures = TreeHead.from_note(value["checkpoint"])
        size = self.tree.size
        if head.size != size:
            raise VerificationError(f"head of size {head.size} placed after {size} entries")
        if head.origin != self.origin:
            raise VerificationError(f"head of log {head.origin!r}, not {self.origin!r}")
        head.verify(self.log_key)
        root = self.tree.root()
        if head.root != root:
            raise VerificationError(f"head of size {size} has root {head.root.hex()}, the "
                                    f"entries give {root.hex()}")
        last = self.last_head
        if last is None and size != 0:
            raise VerificationError("the first tree head must be the empty one (size 0)")
        if last is not None:
            if size <= last.size:
                raise VerificationError(f"head of size {size} after head of size {last.size}")
            if head.time < last.time:
                raise VerificationError(f"head time {head.time} before previous {last.time}")
        proof = value["consistency"]
        if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
            raise VerificationError("consistency must be a list of base64 hashes")
        hashes = [b64decode_strict(p, "consistency proof") for p in proof]
        if last is not None and last.size > 0:
            verify_consistency(self.hasher, last.size, size, hashes, last.root, head.root)
        elif hashes:
            raise VerificationError("a consistency proof from the empty tree")
        parties = self._cosignatures(head, cosignatures)
        if size > 0:
            self._settle(_HeadSeen(size, head.time, number, parties))
        self.last_head = head
        self.heads += 1
        if self.keep is not None:
            self.keep.heads.append(head)
            self.keep.cosignatures[size] = cosignatures

    def _cosignatures(self, head: TreeHead, cosignatures: list[Cosignature]) -> tuple[str, ...]:
        parties = []
        for c in cosignatures:
            known = next((k for k in self.keys.keys_of(c.party) if c.made_with(k.public_key)),
                         None)
            if known is None:
                raise VerificationError(f"cosignature by {c.party!r} with key id "
                                        f"{c.key_hash.hex()}, not a key of that party")
            if not known.active_at(head.size):
                raise VerificationError(f"cosignature by {c.party!r} with key "
                                        f"{known.key_id}, not active at size {head.size}")
            c.verify(head, known.public_key)
            parties.append(c.party)
        if parties != sorted(set(parties)):
            raise VerificationError("cosignatures must be one per party, sorted by party")
        return tuple(parties)

    def _settle(self, seen: _HeadSeen) -> None:
        signers = self._cosigners()
        if signers and set(signers) <= set(seen.cosigned):
            self.settled += 1
            self.settled_head = seen
            self.first_unsettled = None
        elif self.first_unsettled is None:
            self.first_unsettled = seen

    def _cosigners(self) -> list[str]:
        """The parties whose cosignatures settle a head: every author with a key in the log
        but the log itself (its own key, registered as an author) and officials (``PARTY/x``:
        their party co-signs)."""
        return [p for p in self.keys.parties() if "/" not in p
                and self.keys.current(p).public_key != self.log_key]  # type: ignore[union-attr]

    def finish(self, number: int, grace_s: float | None) -> AuditReport:
        end = number + 1
        last = self.last_head
        if last is None:
            raise RecordVerificationError(end, "end", "no tree head in the export")
        if last.size != self.tree.size:
            raise RecordVerificationError(
                end, "end", f"entries {last.size} to {self.tree.size - 1} are "
                "not covered by a signed tree head")
        for size in sorted(self.kept):
            if size > self.tree.size:
                raise RecordVerificationError(
                    end, "end", f"you kept a head of size {size} but the export ends at "
                    f"size {self.tree.size}: the log lost entries")
        signers = self._cosigners()
        first = self.first_unsettled
        settled = self.settled_head
        if grace_s is not None and first is not None and last.time - first.time > grace_s:
            missing = sorted(set(signers) - set(first.cosigned))
            why = ("no party has registered a key to co-sign it" if not signers
                   else f"not co-signed by {', '.join(missing)}")
            raise RecordVerificationError(
                first.line, f"tree head of size {first.size}",
                f"not settled ({why}), and signed {last.time - first.time} s before the "
                f"export's last head (grace {grace_s:g} s). The largest head co-signed by "
                f"every party is of size {0 if settled is None else settled.size}: entries from "
                f"{0 if settled is None else settled.size} on rest on the log key alone, whose "
                "holder can rewrite them (pass --allow-unsettled to check the rest anyway)")
        # Entries were added in index order, and dicts keep it.
        pairs = ((index, party) for index, waiting in self.waiting.items()
                 for party, bit in sorted(self.named.items()) if waiting >> bit & 1)
        unreceipted = tuple(itertools.islice(pairs, UNRECEIPTED_KEPT))
        count = sum(waiting.bit_count() for waiting in self.waiting.values())
        return AuditReport(
            self.origin, key_id(self.log_key), self.tree.size, self.heads, self.settled,
            tuple(signers), last.root, self.kept_checked if self.kept_given else None,
            copy_of=self.copy_of, in_full=self.in_full,
            settled_size=0 if settled is None else settled.size,
            settled_time=None if settled is None else settled.time, last_time=last.time,
            unsettled_from=None if first is None else (first.size, first.time),
            receipts=self.receipts, unreceipted=unreceipted, unreceipted_count=count)
