"""Signed tree heads as C2SP checkpoints, cosignatures as C2SP cosignature/v1, and receipts.

A tree head is a checkpoint (c2sp.org/tlog-checkpoint) in signed-note form (``note``)::

    <origin>
    <size>
    <base64 root hash>

    — <origin> <base64(key id 0x01 || Ed25519 signature of the text)>
    — <origin> <base64(key id 0x04 || u64 time || Ed25519 signature of the cosignature/v1 message)>

The log signs each head twice with its one key, under its origin as key name: a plain Ed25519
note signature (type 0x01), which an off-the-shelf witness is configured to check, and a
timestamped cosignature/v1 (type 0x04), which gives the head its time (whole seconds, UTC
epoch): the log's own claim of when it signed. The two messages cannot be taken for each other
(a cosignature/v1 message starts with ``cosignature/v1\\ntime``, which is no checkpoint: its
second line is not a number). A checkpoint has no extension lines: cosigners implement them
differently (c2sp.org/tlog-cosignature signs them, filippo.io/torchwood does not).

A party that checked a head against the last one it saw co-signs it with cosignature/v1, under
its party id as key name: one more signature line on the same note. ``Cosignature`` is that
line with the size of the head it signs.

A receipt is what ``Ledger.append`` returns: the entry's index and leaf hash, the signed head
of the tree that contains it, the inclusion proof under that head and, for its author, the
entry itself (its salt is needed to recompute the leaf hash).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detente.errors import InputError, VerificationError
from detente.ledger.entries import Entry
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.keys import (
    Ed25519PrivateKey,
    b64decode_strict,
    b64encode,
    public_key_bytes,
    verify_signature,
)
from detente.ledger.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    NoteSignature,
    check_key_name,
    cosignature_v1_message,
    format_note,
    key_hash,
    parse_note,
)
from detente.ledger.statements import check_fields
from detente.ledger.verify import verify_inclusion

__all__ = [
    "Cosignature",
    "Receipt",
    "TreeHead",
    "checkpoint_text",
    "cosign",
    "parse_checkpoint_text",
    "sign_tree_head",
]

SIGNATURE_SIZE = 64


def _field(value: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    item = value.get(name)
    if not isinstance(item, kind) or isinstance(item, bool):
        raise InputError(f"{what}: field {name!r} missing or of the wrong type")
    return item


def checkpoint_text(origin: str, size: int, root: bytes) -> bytes:
    """The checkpoint's note text: origin, size and base64 root hash, one line each."""
    check_key_name(origin, "origin")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InputError(f"tree size must be an integer >= 0, got {size!r}")
    return f"{origin}\n{size}\n{b64encode(root)}\n".encode()


def parse_checkpoint_text(text: str, what: str = "checkpoint") -> tuple[str, int, bytes]:
    """Origin, size and root of a checkpoint text of exactly three lines."""
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise InputError(f"{what}: want three lines (origin, size, root hash) and no "
                         f"extension line, got {len(lines) - 1}")
    origin, size_text, root_text = lines[:3]
    check_key_name(origin, f"{what}: origin")
    if not size_text.isascii() or not size_text.isdigit() or str(int(size_text)) != size_text:
        raise InputError(f"{what}: size {size_text!r} is not a decimal without leading zeros")
    root = b64decode_strict(root_text, f"{what}: root hash")
    if len(root) != RFC9162_SHA256.size:
        raise InputError(f"{what}: root hash has {len(root)} bytes, want {RFC9162_SHA256.size}")
    return origin, int(size_text), root


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The log's signed statement that its tree of ``size`` leaves has root hash ``root``.

    ``time`` is whole seconds (UTC epoch) from the log's cosignature/v1; ``signature`` is its
    Ed25519 note signature, ``time_signature`` the cosignature's; ``key_hash`` and
    ``time_key_hash`` are their 4-byte C2SP key ids.
    """

    origin: str
    size: int
    root: bytes
    time: int
    signature: bytes
    time_signature: bytes
    key_hash: bytes
    time_key_hash: bytes

    def body(self) -> bytes:
        """The checkpoint text the log signs (and cosigners sign after two header lines)."""
        return checkpoint_text(self.origin, self.size, self.root)

    def log_signatures(self) -> list[NoteSignature]:
        """The log's two signature lines."""
        stamped = self.time.to_bytes(8, "big") + self.time_signature
        return [NoteSignature(self.origin, self.key_hash, self.signature),
                NoteSignature(self.origin, self.time_key_hash, stamped)]

    def note(self, cosignatures: Sequence[Cosignature] = ()) -> str:
        """The checkpoint in signed-note form, with ``cosignatures`` after the log's lines."""
        return format_note(self.body().decode(), self.log_signatures()
                           + [c.note_signature() for c in cosignatures])

    def verify(self, log_public_key: bytes) -> None:
        """VerificationError unless the log's key made both signatures under the origin."""
        what = f"tree head {self.size}"
        if self.key_hash != key_hash(self.origin, SIG_ED25519, log_public_key):
            raise VerificationError(f"{what}: signed by key id {self.key_hash.hex()}, not the "
                                    "log key's")
        if self.time_key_hash != key_hash(self.origin, SIG_COSIGNATURE_V1, log_public_key):
            raise VerificationError(f"{what}: time signed by key id {self.time_key_hash.hex()},"
                                    " not the log key's")
        body = self.body()
        verify_signature(log_public_key, self.signature, body, what)
        verify_signature(log_public_key, self.time_signature,
                         cosignature_v1_message(self.time, body), f"{what} time")

    def to_json(self) -> dict[str, Any]:
        """The signed note and, for display, its values (``signature``: the note signature)."""
        return {"checkpoint": self.note(), "origin": self.origin, "root": b64encode(self.root),
                "signature": b64encode(self.signature), "size": self.size, "time": self.time}

    @classmethod
    def from_note(cls, note: str, what: str = "tree head") -> tuple[TreeHead, list[Cosignature]]:
        """A head and the cosignatures on it from a signed note whose first two signatures are
        the log's (note signature, then its cosignature/v1); not verified."""
        text, signatures = parse_note(note, what)
        origin, size, root = parse_checkpoint_text(text, what)
        if len(signatures) < 2 or any(s.name != origin for s in signatures[:2]):
            raise InputError(f"{what}: want the log's two signatures (key name {origin!r}) "
                             "first")
        plain, stamped = signatures[:2]
        if len(plain.signature) != SIGNATURE_SIZE or len(stamped.signature) != 8 + SIGNATURE_SIZE:
            raise InputError(f"{what}: the log's signatures have the wrong length")
        head = cls(origin, size, root, _time(stamped.signature, what), plain.signature,
                   stamped.signature[8:], plain.key_hash, stamped.key_hash)
        return head, [Cosignature.from_note_signature(s, size, f"{what} cosignature")
                      for s in signatures[2:]]

    @classmethod
    def from_json(cls, value: Any, what: str = "tree head") -> TreeHead:
        if isinstance(value, dict) and "checkpoint" not in value and "signature" in value:
            raise InputError(f"{what}: a tree head of an earlier detente (no C2SP checkpoint); "
                             "this version reads checkpoints only: keep heads again")
        value = check_fields(value, {"checkpoint", "origin", "root", "signature", "size",
                                     "time"}, what)
        head, cosignatures = cls.from_note(_field(value, "checkpoint", str, what), what)
        if cosignatures:
            raise InputError(f"{what}: the checkpoint carries cosignatures; a head has the "
                             "log's signatures only")
        if head.to_json() != value:
            raise InputError(f"{what}: its fields disagree with its checkpoint")
        return head


def _time(stamped: bytes, what: str) -> int:
    time = int.from_bytes(stamped[:8], "big")
    if time >= 1 << 63:
        raise InputError(f"{what}: a cosignature time beyond 2^63 - 1")
    return time


def sign_tree_head(
    log_key: Ed25519PrivateKey, origin: str, size: int, root: bytes, time: int
) -> TreeHead:
    """The log's head: both signatures, ``time`` in whole seconds."""
    body = checkpoint_text(origin, size, root)
    public = public_key_bytes(log_key)
    return TreeHead(origin, size, root, time, log_key.sign(body),
                    log_key.sign(cosignature_v1_message(time, body)),
                    key_hash(origin, SIG_ED25519, public),
                    key_hash(origin, SIG_COSIGNATURE_V1, public))


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A party's cosignature/v1 on the tree head of ``size``: key name ``party``, C2SP key id
    ``key_hash`` (4 bytes), ``time`` in whole seconds, the Ed25519 ``signature``."""

    party: str
    size: int
    time: int
    key_hash: bytes
    signature: bytes

    def note_signature(self) -> NoteSignature:
        return NoteSignature(self.party, self.key_hash,
                             self.time.to_bytes(8, "big") + self.signature)

    def line(self) -> str:
        """The signature line, ``— <party> <base64(key id || u64 time || signature)>``."""
        return self.note_signature().line()

    def made_with(self, public_key: bytes) -> bool:
        """Whether the key id is that of ``public_key`` under the party's name."""
        return self.key_hash == key_hash(self.party, SIG_COSIGNATURE_V1, public_key)

    def verify(self, head: TreeHead, public_key: bytes) -> None:
        what = f"cosignature of {self.party!r} on tree head {head.size}"
        if head.size != self.size:
            raise VerificationError(f"{what}: signs size {self.size}")
        if not self.made_with(public_key):
            raise VerificationError(f"{what}: key id {self.key_hash.hex()} is not that key's")
        verify_signature(public_key, self.signature,
                         cosignature_v1_message(self.time, head.body()), what)

    def to_json(self) -> dict[str, Any]:
        return {"cosignature": self.line()[:-1], "size": self.size}

    @classmethod
    def from_note_signature(cls, s: NoteSignature, size: int, what: str = "cosignature"
                            ) -> Cosignature:
        if len(s.signature) != 8 + SIGNATURE_SIZE:
            raise InputError(f"{what} by {s.name!r}: {len(s.signature)} bytes after the key id, "
                             f"want {8 + SIGNATURE_SIZE} (time and Ed25519 signature)")
        return cls(s.name, size, _time(s.signature, what), s.key_hash, s.signature[8:])

    @classmethod
    def from_json(cls, value: Any, what: str = "cosignature") -> Cosignature:
        value = check_fields(value, {"cosignature", "size"}, what)
        size = _field(value, "size", int, what)
        line = _field(value, "cosignature", str, what)
        # One signature line, read as the signature block of a note.
        _text, signatures = parse_note("-\n\n" + line + "\n", what)
        if len(signatures) != 1:
            raise InputError(f"{what}: want one signature line")
        return cls.from_note_signature(signatures[0], size, what)


def cosign(head: TreeHead, party: str, key: Ed25519PrivateKey, time: float) -> Cosignature:
    """Co-sign ``head`` as ``party``. Call only after checking it (``LogClient.observe``)."""
    check_key_name(party, "cosigner (party id)")
    seconds = int(time)
    return Cosignature(party, head.size, seconds,
                       key_hash(party, SIG_COSIGNATURE_V1, public_key_bytes(key)),
                       key.sign(cosignature_v1_message(seconds, head.body())))


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that entry ``index`` (leaf hash ``leaf_hash``) is in the log under ``head``;
    ``entry`` is the entry itself when the receipt goes to one party to it."""

    index: int
    leaf_hash: bytes
    head: TreeHead
    proof: tuple[bytes, ...]
    entry: Entry | None = None

    def verify(self, log_public_key: bytes, leaf: bytes | None = None,
               hasher: Hasher = RFC9162_SHA256) -> None:
        """VerificationError unless the head is the log's and the proof leads to its root.

        The receipt's own entry, or ``leaf`` (entry bytes) if given, must be the one hashed.
        """
        for data in (leaf, None if self.entry is None else self.entry.leaf()):
            if data is not None and hasher.hash_leaf(data) != self.leaf_hash:
                raise VerificationError(f"receipt for entry {self.index} is for another entry")
        self.head.verify(log_public_key)
        verify_inclusion(hasher, self.index, self.head.size, self.leaf_hash, self.proof,
                         self.head.root)

    def without_entry(self) -> Receipt:
        return Receipt(self.index, self.leaf_hash, self.head, self.proof)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"head": self.head.to_json(), "index": self.index,
                               "leaf_hash": b64encode(self.leaf_hash),
                               "proof": [b64encode(p) for p in self.proof]}
        if self.entry is not None:
            out["entry"] = self.entry.to_json()
        return out

    @classmethod
    def from_json(cls, value: Any, what: str = "receipt") -> Receipt:
        names = {"head", "index", "leaf_hash", "proof"}
        if isinstance(value, dict) and "entry" in value:
            names.add("entry")
        value = check_fields(value, names, what)
        proof: Sequence[Any] = _field(value, "proof", list, what)
        if not all(isinstance(p, str) for p in proof):
            raise InputError(f"{what}: proof must be a list of base64 hashes")
        return cls(
            index=_field(value, "index", int, what),
            leaf_hash=b64decode_strict(_field(value, "leaf_hash", str, what), f"{what} leaf"),
            head=TreeHead.from_json(value["head"], f"{what} head"),
            proof=tuple(b64decode_strict(p, f"{what} proof") for p in proof),
            entry=None if "entry" not in value else Entry.from_json(value["entry"],
                                                                    f"{what} entry"),
        )
