"""Statements: what a party says, in canonical JSON (RFC 8785), signed with its Ed25519 key.

A statement is the JSON object ``{"author", "body", "key_id", "kind", "ref", "time"}``: the
author party, the id of the key that signs it, a kind (``alert``, ``hotline.message``,
``hotline.ack``...), the time it was made (float seconds, UTC epoch), a JSON object body, and
``ref``, the index of an earlier log entry it answers (or null). The author signs
``STATEMENT_CONTEXT + RFC8785(statement)`` and sends ``RFC8785({"signature": base64,
"statement": statement})``; the log adds a salt and the statement's audience around it to make
the entry (``detente.ledger.entries``).

Two kinds manage keys, and are checked by ``detente.ledger.keyring``:
``key.register`` (``body = {"public_key": base64}``, signed by that very key: proof of
possession) and ``key.rotate`` (same body, signed by the party's current key).

Parsing is strict: the bytes must be exactly the canonical serialization of what they parse to,
so one statement has one spelling, and a changed byte cannot leave the meaning intact.
"""

from __future__ import annotations

import binascii
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from detente.errors import InputError, VerificationError
from detente.ledger.keys import (
    Ed25519PrivateKey,
    b64decode_strict,
    b64encode,
    key_id,
    public_key_bytes,
    verify_signature,
)

__all__ = [
    "KIND_KEY_REGISTER",
    "KIND_KEY_ROTATE",
    "STATEMENT_CONTEXT",
    "SignedStatement",
    "Statement",
    "canonical_json",
    "key_statement",
    "parse_canonical",
    "sign_statement",
]

STATEMENT_CONTEXT = b"detente/statement/v1\n"
KIND_KEY_REGISTER = "key.register"
KIND_KEY_ROTATE = "key.rotate"

_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_KEY_ID = re.compile(r"[0-9a-f]{32}")
_STATEMENT_FIELDS = frozenset({"author", "body", "key_id", "kind", "ref", "time"})
_LEAF_FIELDS = frozenset({"signature", "statement"})


def canonical_json(value: Any) -> bytes:
    """RFC 8785 serialization of ``value``; InputError for what JSON cannot say exactly."""
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError(f"not representable in canonical JSON: {exc}") from exc


def check_fields(value: Any, names: set[str] | frozenset[str], what: str) -> dict[str, Any]:
    """``value`` if it is a JSON object with exactly the fields ``names``; else InputError."""
    if not isinstance(value, dict) or set(value) != names:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise InputError(f"{what}: want fields {sorted(names)}, got {got}")
    return value


def parse_canonical(data: bytes, what: str) -> Any:
    """Parse JSON that must be in RFC 8785 canonical form; VerificationError if it is not."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{what}: not JSON ({exc})") from exc
    try:
        canonical = rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise VerificationError(f"{what}: not representable in canonical JSON ({exc})") from exc
    if canonical != data:
        raise VerificationError(f"{what}: not in RFC 8785 canonical form")
    return value


@dataclass(frozen=True, slots=True)
class Statement:
    """One thing a party says. Validated on construction; see the module docstring."""

    kind: str
    author: str
    key_id: str
    time: float
    body: dict[str, Any] = field(default_factory=dict)
    ref: int | None = None
    # Serializing is a third of the log's cost per statement: done once, on first use.
    _canonical: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not _KIND.fullmatch(self.kind):
            raise InputError(f"statement kind must match {_KIND.pattern}, got {self.kind!r}")
        if not isinstance(self.author, str) or not 0 < len(self.author) <= 128:
            raise InputError(f"statement author must be 1 to 128 characters, got {self.author!r}")
        if not isinstance(self.key_id, str) or not _KEY_ID.fullmatch(self.key_id):
            raise InputError(f"statement key_id must be 32 hex digits, got {self.key_id!r}")
        if (isinstance(self.time, bool) or not isinstance(self.time, int | float)
                or not math.isfinite(self.time) or self.time < 0):
            raise InputError(f"statement time must be finite seconds >= 0, got {self.time!r}")
        if not isinstance(self.body, dict):
            raise InputError(
                f"statement body must be a JSON object, got {type(self.body).__name__}")
        if self.ref is not None and (
                isinstance(self.ref, bool) or not isinstance(self.ref, int) or self.ref < 0):
            raise InputError(f"statement ref must be an entry index >= 0 or null, got {self.ref!r}")

    def to_json(self) -> dict[str, Any]:
        return {"author": self.author, "body": self.body, "key_id": self.key_id,
                "kind": self.kind, "ref": self.ref, "time": self.time}

    def canonical(self) -> bytes:
        if self._canonical is None:
            object.__setattr__(self, "_canonical", canonical_json(self.to_json()))
        return self._canonical  # type: ignore[return-value]

    def signing_message(self) -> bytes:
        return STATEMENT_CONTEXT + self.canonical()

    @classmethod
    def from_json(cls, value: Any, what: str = "statement") -> Statement:
        value = check_fields(value, _STATEMENT_FIELDS, what)
        return cls(kind=value["kind"], author=value["author"], key_id=value["key_id"],
                   time=value["time"], body=value["body"], ref=value["ref"])


@dataclass(frozen=True, slots=True)
class SignedStatement:
    """A statement with its author's signature: one log entry."""

    statement: Statement
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {"signature": b64encode(self.signature), "statement": self.statement.to_json()}

    def canonical(self) -> bytes:
        """The signed statement as a party sends it: ``canonical_json(self.to_json())``.

        Spliced, not serialized: RFC 8785 sorts "signature" before "statement", base64
        needs no escaping, and a canonical object nests unchanged.
        """
        return (b'{"signature":"' + binascii.b2a_base64(self.signature, newline=False)
                + b'","statement":' + self.statement.canonical() + b"}")

    @classmethod
    def from_json(cls, value: Any, what: str = "entry") -> SignedStatement:
        """A signed statement ``{"signature", "statement"}``, or a log entry (those two fields
        with ``audience`` and ``salt``), which is read as the ``Entry`` it is."""
        if cls is SignedStatement and isinstance(value, dict) and set(value) > _LEAF_FIELDS:
            # Deferred: entries build on this module.
            from detente.ledger.entries import Entry

            return Entry.from_json(value, what)
        value = check_fields(value, _LEAF_FIELDS, what)
        return cls._from_fields(value, what)

    @classmethod
    def _from_fields(cls, value: dict[str, Any], what: str) -> SignedStatement:
        if not isinstance(value["signature"], str):
            raise InputError(f"{what}: signature must be base64 text")
        signature = b64decode_strict(value["signature"], f"{what} signature")
        return SignedStatement(Statement.from_json(value["statement"], f"{what} statement"),
                               signature)

    @classmethod
    def parse(cls, data: bytes, what: str = "statement") -> SignedStatement:
        """Parse the canonical bytes of a signed statement (``canonical``)."""
        value = parse_canonical(data, what)
        signed = SignedStatement._from_fields(check_fields(value, _LEAF_FIELDS, what), what)
        # The bytes are canonical, so the statement's canonical bytes are the ones inside.
        inner = data[len(b'{"signature":"') + len(b64encode(signed.signature))
                     + len(b'","statement":'):-1]
        object.__setattr__(signed.statement, "_canonical", inner)
        return signed

    def verify(self, public_key: bytes, what: str = "statement") -> None:
        """VerificationError unless the signature verifies with ``public_key``, whose id must be
        the statement's ``key_id``."""
        if key_id(public_key) != self.statement.key_id:
            raise VerificationError(
                f"{what}: names key {self.statement.key_id}, checked with {key_id(public_key)}")
        verify_signature(public_key, self.signature, self.statement.signing_message(), what)


def sign_statement(
    key: Ed25519PrivateKey,
    *,
    kind: str,
    author: str,
    time: float,
    body: dict[str, Any] | None = None,
    ref: int | None = None,
) -> SignedStatement:
    """What a party's client does: build a statement and sign it with ``key``."""
    statement = Statement(kind=kind, author=author, key_id=key_id(public_key_bytes(key)),
                          time=time, body={} if body is None else body, ref=ref)
    return SignedStatement(statement, key.sign(statement.signing_message()))


def key_statement(
    signer: Ed25519PrivateKey, new_key: Ed25519PrivateKey | bytes, *, author: str, time: float
) -> SignedStatement:
    """A ``key.register`` (when ``signer`` is the new key) or ``key.rotate`` statement."""
    new_public = new_key if isinstance(new_key, bytes) else public_key_bytes(new_key)
    kind = KIND_KEY_REGISTER if new_public == public_key_bytes(signer) else KIND_KEY_ROTATE
    return sign_statement(signer, kind=kind, author=author, time=time,
                          body={"public_key": b64encode(new_public)})
