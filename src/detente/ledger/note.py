"""C2SP signed notes (c2sp.org/signed-note): text, signature lines, key names, key ids, vkeys.

A signed note is a text ending in a newline, a blank line, then one or more signature lines
``— <key name> <base64(4-byte key id || signature)>``. A key id is the first four bytes of
``SHA-256(key name || 0x0A || signature type || public key)``: the type byte keeps one key used
for two kinds of signature apart. detente uses two types, both Ed25519:

- ``0x01`` (``SIG_ED25519``): a plain Ed25519 signature over the note text;
- ``0x04`` (``SIG_COSIGNATURE_V1``): a timestamped cosignature (c2sp.org/tlog-cosignature):
  the bytes are a big-endian u64 time then the Ed25519 signature over ``cosignature/v1\\n``,
  ``time <seconds>\\n`` and the note text.

Parsing is strict where the specification lets a reader choose: one spelling of base64, no
control character but the newline, valid UTF-8, key names without spaces or ``+``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from detente.errors import InputError

__all__ = [
    "COSIGNATURE_V1_HEADER",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "NoteSignature",
    "check_key_name",
    "cosignature_v1_message",
    "format_note",
    "key_hash",
    "parse_note",
    "parse_vkey",
    "vkey",
]

SIG_ED25519 = 0x01
SIG_COSIGNATURE_V1 = 0x04
COSIGNATURE_V1_HEADER = b"cosignature/v1\n"
EM_DASH = "\u2014"
KEY_HASH_SIZE = 4
# A verifier must accept at least 16 signatures (signed-note); detente's notes carry the log's
# two and one per party.
MAX_SIGNATURES = 256


def _has_space(text: str) -> bool:
    return any(c.isspace() or unicodedata.category(c) == "Zs" for c in text)


def check_key_name(name: str, what: str) -> str:
    """``name`` if it is a valid key name (non-empty, no Unicode space, no ``+``, no control
    character); InputError otherwise."""
    if (not isinstance(name, str) or not name or _has_space(name) or "+" in name
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)):
        raise InputError(f"{what} must be a C2SP key name (non-empty, no spaces or '+'), "
                         f"got {name!r}")
    return name


def key_hash(name: str, signature_type: int, public_key: bytes) -> bytes:
    """The 4-byte key id: ``SHA-256(name || 0x0A || type || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type])
                          + public_key).digest()[:KEY_HASH_SIZE]


def vkey(name: str, signature_type: int, public_key: bytes) -> str:
    """The verifier key ``<name>+<hex key id>+<base64(type || public key)>``, which a C2SP
    client or witness is configured with."""
    check_key_name(name, "key name")
    return (f"{name}+{key_hash(name, signature_type, public_key).hex()}+"
            + base64.b64encode(bytes([signature_type]) + public_key).decode())


def parse_vkey(text: str) -> tuple[str, int, bytes]:
    """The key name, signature type and public key of a verifier key; InputError if it is
    malformed or its key id is not the one its name, type and key give."""
    name, _, rest = text.partition("+")
    hash_hex, _, blob = rest.partition("+")
    check_key_name(name, "verifier key name")
    try:
        raw = base64.b64decode(blob, validate=True)
        claimed = bytes.fromhex(hash_hex)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"verifier key {text!r}: not name+hex+base64 ({exc})") from exc
    if len(claimed) != KEY_HASH_SIZE or len(raw) < 2:
        raise InputError(f"verifier key {text!r}: not name+hex+base64")
    if key_hash(name, raw[0], raw[1:]) != claimed:
        raise InputError(f"verifier key {text!r}: key id {hash_hex} is not that of its key")
    return name, raw[0], raw[1:]


def cosignature_v1_message(time: int, text: bytes) -> bytes:
    """What a cosignature/v1 signs: the header line, ``time <seconds>`` and the note text."""
    if isinstance(time, bool) or not isinstance(time, int) or not 0 <= time < 1 << 63:
        raise InputError(f"a cosignature time is whole seconds in [0, 2^63), got {time!r}")
    return COSIGNATURE_V1_HEADER + f"time {time}\n".encode() + text


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, 4-byte key id, and the signature bytes after it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        """``— <name> <base64>`` and the newline."""
        blob = base64.b64encode(self.key_hash + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


def format_note(text: str, signatures: Sequence[NoteSignature]) -> str:
    """The signed note: ``text`` (ending in a newline), a blank line, the signature lines."""
    if not text.endswith("\n"):
        raise InputError("a note text ends with a newline")
    if not signatures:
        raise InputError("a signed note has at least one signature")
    return text + "\n" + "".join(s.line() for s in signatures)


def parse_note(note: str, what: str = "note") -> tuple[str, list[NoteSignature]]:
    """The text and the signature lines of a signed note; InputError if it is malformed.

    The text is separated from the signatures by the last blank line. Signatures are only
    parsed, not checked: the caller knows which keys it trusts.
    """
    if not isinstance(note, str):
        raise InputError(f"{what}: a signed note is text")
    if any((ord(c) < 0x20 and c != "\n") or ord(c) == 0x7F for c in note):
        raise InputError(f"{what}: a control character other than newline")
    if not note.endswith("\n"):
        raise InputError(f"{what}: does not end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise InputError(f"{what}: no blank line before the signatures")
    text, block = note[:cut + 1], note[cut + 2:]
    if not block:
        raise InputError(f"{what}: no signature")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InputError(f"{what}: {len(lines)} signatures, at most {MAX_SIGNATURES} read")
    signatures = []
    for k, line in enumerate(lines, 1):
        dash, _, rest = line.partition(" ")
        name, _, blob = rest.partition(" ")
        where = f"{what}, signature line {k}"
        if dash != EM_DASH or " " in blob:
            raise InputError(f"{where}: not '— <key name> <base64>'")
        check_key_name(name, f"{where}: key name")
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InputError(f"{where}: not base64 ({exc})") from exc
        if base64.b64encode(raw).decode() != blob:
            raise InputError(f"{where}: base64 not in canonical form")
        if len(raw) <= KEY_HASH_SIZE:
            raise InputError(f"{where}: {len(raw)} bytes, want a key id and a signature")
        signatures.append(NoteSignature(name, raw[:KEY_HASH_SIZE], raw[KEY_HASH_SIZE:]))
    return text, signatures
