"""Signed tree heads, cosignatures and receipts.

A tree head is a checkpoint in the style of C2SP tlog-checkpoint: the note body ::

    <origin>\\n<size>\\n<base64 root hash>\\ntime <seconds, RFC 8785 number>\\n

signed by the log's Ed25519 key. A party that checked a head against the last one it saw
co-signs it, in the style of C2SP tlog-cosignature: an Ed25519 signature over ::

    cosignature/v1\\ntime <integer seconds>\\n<note body>

A receipt is what ``Ledger.append`` returns: the entry's index and leaf hash, the signed head of
the tree that contains it, and the inclusion proof under that head.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detente.errors import InputError, VerificationError
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.keys import (
    Ed25519PrivateKey,
    b64decode_strict,
    b64encode,
    key_id,
    public_key_bytes,
    verify_signature,
)
from detente.ledger.statements import canonical_json, check_fields
from detente.ledger.verify import verify_inclusion

__all__ = ["COSIGNATURE_CONTEXT", "Cosignature", "Receipt", "TreeHead", "cosign", "sign_tree_head"]

COSIGNATURE_CONTEXT = b"cosignature/v1\n"


def _field(value: dict[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    item = value.get(name)
    if not isinstance(item, kind) or isinstance(item, bool):
        raise InputError(f"{what}: field {name!r} missing or of the wrong type")
    return item


@dataclass(frozen=True, slots=True)
class TreeHead:
    """The log's signed statement that its tree of ``size`` leaves has root hash ``root``."""

    origin: str
    size: int
    root: bytes
    time: float
    signature: bytes

    def body(self) -> bytes:
        """The checkpoint note body the log signs (and cosigners sign after a context line)."""
        return _head_body(self.origin, self.size, self.root, self.time)

    def verify(self, log_public_key: bytes) -> None:
        """VerificationError unless the log's key signed this head."""
        verify_signature(log_public_key, self.signature, self.body(), f"tree head {self.size}")

    def to_json(self) -> dict[str, Any]:
        return {"origin": self.origin, "root": b64encode(self.root),
                "signature": b64encode(self.signature), "size": self.size, "time": self.time}

    @classmethod
    def from_json(cls, value: Any, what: str = "tree head") -> TreeHead:
        value = check_fields(value, {"origin", "root", "signature", "size", "time"}, what)
        return cls(
            origin=_field(value, "origin", str, what),
            size=_field(value, "size", int, what),
            root=b64decode_strict(_field(value, "root", str, what), f"{what} root"),
            time=_field(value, "time", (int, float), what),
            signature=b64decode_strict(_field(value, "signature", str, what), f"{what} signature"),
        )


def _head_body(origin: str, size: int, root: bytes, time: float) -> bytes:
    if "\n" in origin or not origin:
        raise InputError(f"origin must be one non-empty line, got {origin!r}")
    if size < 0 or not math.isfinite(time):
        raise InputError(f"tree head needs size >= 0 and a finite time, got {size}, {time}")
    return (f"{origin}\n{size}\n{b64encode(root)}\ntime ".encode()
            + canonical_json(time) + b"\n")


def sign_tree_head(
    log_key: Ed25519PrivateKey, origin: str, size: int, root: bytes, time: float
) -> TreeHead:
    return TreeHead(origin, size, root, time, log_key.sign(_head_body(origin, size, root, time)))


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A party's signature on a tree head it checked; ``time`` in whole seconds (C2SP)."""

    party: str
    key_id: str
    size: int
    time: int
    signature: bytes

    def verify(self, head: TreeHead, public_key: bytes) -> None:
        what = f"cosignature of {self.party!r} on tree head {head.size}"
        if head.size != self.size:
            raise VerificationError(f"{what}: signs size {self.size}")
        if key_id(public_key) != self.key_id:
            raise VerificationError(f"{what}: names key {self.key_id}")
        verify_signature(public_key, self.signature, _cosigned(head, self.time), what)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "party": self.party, "signature": b64encode(self.signature),
                "size": self.size, "time": self.time}

    @classmethod
    def from_json(cls, value: Any, what: str = "cosignature") -> Cosignature:
        value = check_fields(value, {"key_id", "party", "signature", "size", "time"}, what)
        return cls(
            party=_field(value, "party", str, what),
            key_id=_field(value, "key_id", str, what),
            size=_field(value, "size", int, what),
            time=_field(value, "time", int, what),
            signature=b64decode_strict(_field(value, "signature", str, what), f"{what} signature"),
        )


def _cosigned(head: TreeHead, time: int) -> bytes:
    return COSIGNATURE_CONTEXT + f"time {time}\n".encode() + head.body()


def cosign(head: TreeHead, party: str, key: Ed25519PrivateKey, time: float) -> Cosignature:
    """Co-sign ``head``. Call only after checking it (``LogClient.observe`` does both)."""
    seconds = int(time)
    return Cosignature(party, key_id(public_key_bytes(key)), head.size, seconds,
                       key.sign(_cosigned(head, seconds)))


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that entry ``index`` (leaf hash ``leaf_hash``) is in the log under ``head``."""

    index: int
    leaf_hash: bytes
    head: TreeHead
    proof: tuple[bytes, ...]

    def verify(self, log_public_key: bytes, leaf: bytes | None = None,
               hasher: Hasher = RFC9162_SHA256) -> None:
        """VerificationError unless the head is the log's and the proof leads to its root.

        Pass the entry bytes as ``leaf`` to check that the receipt is for them.
        """
        if leaf is not None and hasher.hash_leaf(leaf) != self.leaf_hash:
            raise VerificationError(f"receipt for entry {self.index} is for another entry")
        self.head.verify(log_public_key)
        verify_inclusion(hasher, self.index, self.head.size, self.leaf_hash, self.proof,
                         self.head.root)

    def to_json(self) -> dict[str, Any]:
        return {"head": self.head.to_json(), "index": self.index,
                "leaf_hash": b64encode(self.leaf_hash),
                "proof": [b64encode(p) for p in self.proof]}

    @classmethod
    def from_json(cls, value: Any, what: str = "receipt") -> Receipt:
        value = check_fields(value, {"head", "index", "leaf_hash", "proof"}, what)
        proof: Sequence[Any] = _field(value, "proof", list, what)
        if not all(isinstance(p, str) for p in proof):
            raise InputError(f"{what}: proof must be a list of base64 hashes")
        return cls(
            index=_field(value, "index", int, what),
            leaf_hash=b64decode_strict(_field(value, "leaf_hash", str, what), f"{what} leaf"),
            head=TreeHead.from_json(value["head"], f"{what} head"),
            proof=tuple(b64decode_strict(p, f"{what} proof") for p in proof),
        )
