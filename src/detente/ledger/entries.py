"""Log entries: a signed statement as the log holds it, salted and addressed.

An entry, and so the Merkle leaf, is the RFC 8785 canonical JSON ::

    {"audience": [party, ...], "salt": base64, "signature": base64, "statement": {...}}

- ``salt``: at least 16 random bytes (128 bits; the log draws 16), chosen when the entry is
  made. A party that holds only an entry's leaf hash cannot confirm a guess of the statement
  by hashing candidates (an alert between two known parties at a guessed time is short): it
  would have to guess the salt too. The salt is disclosed only with the statement.
- ``audience``: the parties the statement is addressed to (``detente.ledger.audience`` says
  who, per kind), sorted, or ``["*"]`` for everyone (key registrations). A party's copy of the
  record holds in full exactly the entries whose audience names it or is ``["*"]``; since the
  audience is inside the leaf, anyone holding an entry can check that it was theirs to see.

Both are inside the leaf hash and under every tree head, so neither can be changed later. The
author's signature covers the statement only: the audience follows from the statement by the
rules of ``detente.ledger.audience``, which ``detente verify`` checks for every entry it holds.
"""

from __future__ import annotations

import binascii
import functools
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from detente.errors import InputError, VerificationError
from detente.ledger.keys import b64decode_strict, b64encode
from detente.ledger.statements import (
    SignedStatement,
    Statement,
    canonical_json,
    check_fields,
    parse_canonical,
)

__all__ = [
    "EVERYONE",
    "SALT_BYTES",
    "Entry",
    "audience_of_leaf",
    "check_audience",
    "check_party",
    "visible_to",
]

SALT_BYTES = 16
EVERYONE = "*"
# Party ids in an audience: what a C2SP key name and a JSON string hold without escaping.
_PARTY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_ENTRY_FIELDS = frozenset({"audience", "salt", "signature", "statement"})
_PREFIX = b'{"audience":['


def check_party(name: Any, what: str) -> str:
    """``name`` if it can be a party id in an audience; InputError otherwise."""
    if not isinstance(name, str) or not _PARTY.fullmatch(name):
        raise InputError(f"{what}: a party id is 1 to 128 letters, digits, '_', '.', ':' or "
                         f"'-', got {name!r}")
    return name


def check_audience(value: Any, what: str = "audience") -> tuple[str, ...]:
    """An audience as a tuple: ``("*",)``, or party ids sorted and without repeats (none at
    all: the operator's alone)."""
    if not isinstance(value, list | tuple):
        raise InputError(f"{what}: want a list of party ids, got {type(value).__name__}")
    items = tuple(value)
    if not all(isinstance(name, str) for name in items):
        raise InputError(f"{what}: a party id is text, got {list(items)}")
    checked, problem = _checked_audience(items)
    if problem:
        raise InputError(f"{what}{problem}")
    return checked


@functools.lru_cache(maxsize=4096)
def _checked_audience(items: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The audience (one tuple object for every equal audience: a log of a million entries
    holds a few of them) and what is wrong with it, or "". Cached: a log has few audiences."""
    if items == (EVERYONE,):
        return items, ""
    for k, name in enumerate(items):
        try:
            check_party(name, f"[{k}]")
        except InputError as exc:
            return items, str(exc)
    if list(items) != sorted(set(items)):
        return items, f": party ids must be sorted, each once, got {list(items)}"
    return items, ""


def visible_to(audience: tuple[str, ...], party: str) -> bool:
    """Whether an entry with ``audience`` is ``party``'s to see in full."""
    return party in audience or audience == (EVERYONE,)


@functools.lru_cache(maxsize=4096)
def _audience_json(audience: tuple[str, ...]) -> bytes:
    return canonical_json(list(audience))


@dataclass(frozen=True, slots=True)
class Entry(SignedStatement):
    """A signed statement with its ``salt`` and ``audience``: one log entry."""

    salt: bytes
    audience: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.salt, bytes) or len(self.salt) < SALT_BYTES:
            raise InputError(f"an entry's salt has at least {SALT_BYTES} bytes")
        object.__setattr__(self, "audience", check_audience(self.audience))

    @classmethod
    def make(cls, signed: SignedStatement, audience: tuple[str, ...] | list[str],
             salt: bytes | None = None) -> Entry:
        """The entry of ``signed`` for ``audience``, with a fresh random salt unless given."""
        return cls(signed.statement, signed.signature,
                   os.urandom(SALT_BYTES) if salt is None else salt, tuple(audience))

    @property
    def signed(self) -> SignedStatement:
        """The signed statement alone, as its author sent it."""
        return SignedStatement(self.statement, self.signature)

    def visible_to(self, party: str) -> bool:
        return visible_to(self.audience, party)

    def leaf(self) -> bytes:
        """The entry's bytes, ``canonical_json(self.to_json())``: the Merkle leaf is the RFC
        9162 hash of these. Spliced as ``SignedStatement.canonical`` is, for the same reasons
        (keys in RFC 8785 order, base64 and checked party ids need no escaping)."""
        return (b'{"audience":' + _audience_json(self.audience) + b',"salt":"'
                + binascii.b2a_base64(self.salt, newline=False) + b'","signature":"'
                + binascii.b2a_base64(self.signature, newline=False) + b'","statement":'
                + self.statement.canonical() + b"}")

    def to_json(self) -> dict[str, Any]:
        return {"audience": list(self.audience), "salt": b64encode(self.salt),
                "signature": b64encode(self.signature), "statement": self.statement.to_json()}

    @classmethod
    def from_json(cls, value: Any, what: str = "entry") -> Entry:
        if isinstance(value, dict) and set(value) == {"signature", "statement"}:
            raise InputError(f"{what}: a signed statement without salt and audience, as "
                             "entries were before detente-record/2; not an entry of this log")
        value = check_fields(value, _ENTRY_FIELDS, what)
        if not isinstance(value["salt"], str) or not isinstance(value["signature"], str):
            raise InputError(f"{what}: salt and signature must be base64 text")
        return cls(Statement.from_json(value["statement"], f"{what} statement"),
                   b64decode_strict(value["signature"], f"{what} signature"),
                   b64decode_strict(value["salt"], f"{what} salt"),
                   check_audience(value["audience"], f"{what} audience"))

    @classmethod
    def parse(cls, leaf: bytes, what: str = "entry") -> Entry:
        """Parse entry bytes, which must be canonical JSON."""
        return cls.from_leaf(parse_canonical(leaf, what), leaf, what)

    @classmethod
    def from_leaf(cls, value: Any, leaf: bytes, what: str = "entry") -> Entry:
        """The entry ``value`` (parsed JSON) whose canonical bytes are ``leaf``, as the caller
        has checked: the statement's bytes are taken from inside them, not serialized again."""
        entry = cls.from_json(value, what)
        start = (len(b'{"audience":' + _audience_json(entry.audience) + b',"salt":"')
                 + len(b64encode(entry.salt)) + len(b'","signature":"')
                 + len(b64encode(entry.signature)) + len(b'","statement":'))
        object.__setattr__(entry.statement, "_canonical", leaf[start:-1])
        return entry


def audience_of_leaf(leaf: bytes) -> tuple[str, ...]:
    """The audience of entry bytes the log wrote, read from their start without parsing the
    rest (the export decides each entry's fate with it). VerificationError if the bytes do not
    start as an entry does."""
    end = leaf.find(b"]", len(_PREFIX))
    if not leaf.startswith(_PREFIX) or end < 0:
        raise VerificationError("stored entry does not start with its audience")
    return _audience_from_json(leaf[len(_PREFIX) - 1:end + 1])


@functools.lru_cache(maxsize=4096)
def _audience_from_json(text: bytes) -> tuple[str, ...]:
    try:
        return check_audience(json.loads(text))
    except (ValueError, InputError) as exc:
        raise VerificationError(f"stored entry has a malformed audience: {exc}") from exc
