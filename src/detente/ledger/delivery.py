"""Delivery receipts: what a party was told, proved by the party's own signature.

When a party's client receives a statement addressed to it (an alert, an intent overlap, a
hotline message: ``RECEIPTED_KINDS``) with its entry (salt included), it recomputes the leaf
hash and signs a ``delivery.receipt`` statement: ``ref`` is the entry's index, ``body`` is
``{"leaf_hash": base64}``. The author is the party, or one of its officials. In the record,
the receipt is addressed to the audience of the entry it receipts.

"We warned you" then rests on the recipient's signature, not on the operator's word; and a
log-key holder who later rewrites the entry cannot make the receipt match it: ``detente
verify`` names the receipt whose leaf hash is no longer that of the entry at its index. A
statement that was never receipted is a fact the record shows too (``AuditReport``).
"""

from __future__ import annotations

from typing import Any

from detente.errors import InputError
from detente.ledger.audience import KIND_DELIVERY_RECEIPT, RECEIPTED_KINDS
from detente.ledger.entries import Entry
from detente.ledger.hashing import RFC9162_SHA256, Hasher
from detente.ledger.keys import Ed25519PrivateKey, b64decode_strict, b64encode
from detente.ledger.statements import SignedStatement, Statement, sign_statement

__all__ = ["KIND_DELIVERY_RECEIPT", "check_delivery_receipt", "delivery_receipt",
           "receipted_leaf_hash"]


def delivery_receipt(
    key: Ed25519PrivateKey,
    *,
    author: str,
    index: int,
    entry: Entry,
    time: float,
    hasher: Hasher = RFC9162_SHA256,
) -> SignedStatement:
    """What a party's client signs on delivery of entry ``index`` (received whole, salt
    included): a ``delivery.receipt`` naming the entry's leaf hash."""
    if entry.statement.kind not in RECEIPTED_KINDS:
        raise InputError(f"a delivery receipt answers {', '.join(sorted(RECEIPTED_KINDS))}, "
                         f"not {entry.statement.kind}")
    return sign_statement(key, kind=KIND_DELIVERY_RECEIPT, author=author, time=time,
                          body={"leaf_hash": b64encode(hasher.hash_leaf(entry.leaf()))},
                          ref=index)


def receipted_leaf_hash(statement: Statement) -> bytes:
    """The leaf hash a delivery receipt names; InputError if its body is not one."""
    body: Any = statement.body
    if set(body) != {"leaf_hash"} or not isinstance(body["leaf_hash"], str):
        raise InputError('a delivery receipt\'s body is {"leaf_hash": base64}')
    value = b64decode_strict(body["leaf_hash"], "body.leaf_hash")
    if len(value) != RFC9162_SHA256.size:
        raise InputError(f"body.leaf_hash has {len(value)} bytes, want {RFC9162_SHA256.size}")
    return value


def check_delivery_receipt(statement: Statement, receipted_kind: str, leaf_hash: bytes) -> None:
    """InputError unless ``statement`` receipts an entry of ``receipted_kind`` whose leaf hash
    is ``leaf_hash`` (the entry its ``ref`` names, as the log or the verifier holds it)."""
    if receipted_kind not in RECEIPTED_KINDS:
        raise InputError(f"a delivery receipt answers {', '.join(sorted(RECEIPTED_KINDS))}; "
                         f"entry {statement.ref} is a {receipted_kind}")
    named = receipted_leaf_hash(statement)
    if named != leaf_hash:
        raise InputError(
            f"{statement.author}'s delivery receipt names leaf hash {named.hex()} for entry "
            f"{statement.ref}, whose leaf hash is {leaf_hash.hex()}: that entry is not the "
            "one delivered")
