"""Checking a full export of the record, offline: what ``detente verify`` runs.

The export (written by ``Ledger.export``) is JSON lines, each in RFC 8785 canonical form, so a
value has exactly one spelling and any changed byte changes a value or breaks the format. The
audit replays it from nothing but the file (and, if given, the log key and tree heads the
party kept):

- every line is canonical JSON of the expected shape; entries are numbered 0, 1, 2... in order;
- every entry's statement verifies with its author's key, replaying ``key.register`` and
  ``key.rotate`` entries (``detente.ledger.keyring``);
- every tree head is signed by the log key, follows the entry that completes its size, and its
  root equals the root recomputed from the entries (so heads are prefixes of one history);
- each head's consistency proof from the previous head verifies (``detente.ledger.verify``);
- each cosignature verifies with a key its party registered;
- the last line is a head covering every entry; heads the party kept match the recomputation.

The first failure is raised as ``RecordVerificationError`` naming the line, and the entry or head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from detente.errors import DetenteError, VerificationError
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.heads import Cosignature, TreeHead
from detente.ledger.keyring import KeyRing
from detente.ledger.keys import b64decode_strict, key_id
from detente.ledger.log import EXPORT_FORMAT
from detente.ledger.statements import SignedStatement, canonical_json, parse_canonical
from detente.ledger.tree import CompactRange
from detente.ledger.verify import verify_consistency

__all__ = ["AuditReport", "RecordVerificationError", "audit_export"]


class RecordVerificationError(VerificationError):
    """One line of an export does not verify; ``line`` is 1-based, ``where`` names the item."""

    def __init__(self, line: int, where: str, problem: str) -> None:
        self.line, self.where, self.problem = line, where, problem
        super().__init__(f"line {line}, {where}: {problem}")


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What a successful audit established."""

    origin: str
    log_key_id: str
    entries: int
    heads: int
    settled: int
    parties: tuple[str, ...]
    root: bytes
    kept_heads_checked: int

    def summary(self) -> str:
        return (f"OK: {self.entries} entries and {self.heads} tree heads of log {self.origin!r} "
                f"(key {self.log_key_id}) verify; root at size {self.entries} is "
                f"{self.root.hex()}; {self.settled} heads co-signed by every registered party; "
                f"parties {', '.join(self.parties) or '-'}; "
                f"{self.kept_heads_checked} kept heads match")


def audit_export(
    lines: Iterable[bytes],
    *,
    log_key: bytes | None = None,
    kept_heads: Iterable[TreeHead] = (),
    hasher: Hasher = RFC9162_SHA256,
) -> AuditReport:
    """Verify an export given as its lines (a file opened in binary mode will do).

    ``log_key`` pins the log's public key (otherwise the export's own is used, and its id is
    reported for the party to compare); ``kept_heads`` are tree heads the party saw, which
    must all agree with the recomputed tree.
    """
    audit = _Audit(log_key, {h.size: h for h in kept_heads}, hasher)
    number = 0
    for number, raw in enumerate(lines, 1):
        audit.line(number, raw)
    return audit.finish(number)


class _Audit:
    def __init__(self, pinned: bytes | None, kept: Mapping[int, TreeHead], hasher: Hasher) -> None:
        self.pinned, self.hasher = pinned, hasher
        # Size 0 is the empty tree for every log: nothing to compare.
        self.kept = {size: head for size, head in kept.items() if size > 0}
        self.tree = CompactRange(hasher)
        self.keys = KeyRing()
        self.log_key = b""
        self.origin = ""
        self.last_head: TreeHead | None = None
        self.heads = self.settled = self.kept_checked = 0

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
                self._entry(value)
            elif isinstance(value, dict) and set(value) == {"consistency", "cosignatures", "head"}:
                # Named by its place: the size it must have, whatever size it claims.
                where = f"tree head of size {self.tree.size}"
                self._head(value)
            else:
                got = sorted(value) if isinstance(value, dict) else type(value).__name__
                raise VerificationError(f"neither an entry nor a tree head: {got}")
        except DetenteError as exc:
            raise RecordVerificationError(number, where, str(exc)) from exc

    def _header(self, value: Any) -> None:
        if not isinstance(value, dict) or set(value) != {"format", "log_key", "origin"}:
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

    def _entry(self, value: dict[str, Any]) -> None:
        index = value["index"]
        if index != self.tree.size or isinstance(index, bool):
            raise VerificationError(f"entry numbered {index!r}, want {self.tree.size}")
        signed = SignedStatement.from_json(value["leaf"], f"entry {index}")
        self.keys.accept(signed, index)
        self.tree.append(self.hasher.hash_leaf(canonical_json(value["leaf"])))
        kept = self.kept.pop(self.tree.size, None)
        if kept is not None:
            # Any head the log signed, exported or not, must be a prefix of this history.
            kept.verify(self.log_key)
            if kept.origin != self.origin or kept.root != self.tree.root():
                raise VerificationError(
                    f"the head of size {kept.size} you kept has root {kept.root.hex()}, the "
                    f"entries give {self.tree.root().hex()}: the log rewrote history")
            self.kept_checked += 1

    def _head(self, value: dict[str, Any]) -> None:
        head = TreeHead.from_json(value["head"])
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
        self._cosignatures(head, value["cosignatures"])
        self.last_head = head
        self.heads += 1

    def _cosignatures(self, head: TreeHead, items: Any) -> None:
        if not isinstance(items, list):
            raise VerificationError("cosignatures must be a list")
        parties = []
        for item in items:
            cosig = Cosignature.from_json(item)
            known = self.keys.key(cosig.key_id)
            if known is None or known.party != cosig.party:
                raise VerificationError(f"cosignature by {cosig.party!r} with key "
                                        f"{cosig.key_id}, not a key of that party")
            if not known.active_at(head.size):
                raise VerificationError(f"cosignature by {cosig.party!r} with key "
                                        f"{cosig.key_id}, not active at size {head.size}")
            cosig.verify(head, known.public_key)
            parties.append(cosig.party)
        if parties != sorted(set(parties)):
            raise VerificationError("cosignatures must be one per party, sorted by party")
        signers = self._cosigners()
        if signers and set(signers) <= set(parties):
            self.settled += 1

    def _cosigners(self) -> list[str]:
        """The parties whose cosignatures settle a head: every author with a key in the log
        but the log itself (its own key, registered as an author) and officials (``PARTY/x``:
        their party co-signs)."""
        return [p for p in self.keys.parties() if "/" not in p
                and self.keys.current(p).public_key != self.log_key]  # type: ignore[union-attr]

    def finish(self, number: int) -> AuditReport:
        if self.last_head is None:
            raise RecordVerificationError(number + 1, "end", "no tree head in the export")
        if self.last_head.size != self.tree.size:
            raise RecordVerificationError(
                number + 1, "end", f"entries {self.last_head.size} to {self.tree.size - 1} are "
                "not covered by a signed tree head")
        for size in sorted(self.kept):
            if size > self.tree.size:
                raise RecordVerificationError(
                    number + 1, "end", f"you kept a head of size {size} but the export ends at "
                    f"size {self.tree.size}: the log lost entries")
        return AuditReport(self.origin, key_id(self.log_key), self.tree.size, self.heads,
                           self.settled, tuple(self._cosigners()), self.last_head.root,
                           self.kept_checked)
