"""Ed25519 keys of parties and of the log: generation, PEM files, key ids, signatures.

A public key travels as the base64 of its 32 raw bytes; its *key id* is the first 16 bytes of
SHA-256 over those raw bytes, in hex (recompute one with
``echo -n PUBLIC_KEY_B64 | base64 -d | sha256sum | cut -c1-32``). Every signature in detente
is over a message that starts with a context string naming what is signed, so a signature made
for one purpose (a statement) can never be replayed as another (a tree head).

Keys, PEM files and signing are ``cryptography``'s. Checking a signature is libsodium's
(PyNaCl), through ``ed25519_verifies`` alone: on this service's machine it costs 90 to 105 us
against 185 us for ``cryptography``'s (OpenSSL) check, and the check is most of what a log
append costs. libsodium's check is also the strict one (it refuses small-order keys and
non-canonical encodings of R and S). Errors are translated here: an unreadable key is an
InputError, a signature that does not verify a VerificationError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from detente.errors import InputError, VerificationError

__all__ = [
    "Ed25519PrivateKey",
    "b64decode_strict",
    "b64encode",
    "ed25519_verifies",
    "generate_private_key",
    "key_id",
    "load_private_key",
    "private_key_pem",
    "public_key_b64",
    "public_key_bytes",
    "sign",
    "verify_signature",
    "write_private_key",
]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


def b64encode(data: bytes) -> str:
    """Standard base64 with padding, as text."""
    return base64.b64encode(data).decode("ascii")


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode base64 that must be in its one canonical spelling.

    Lenient decoders map several spellings to the same bytes (unused low bits of the last
    character, missing padding); a tamper-evident record must not have two spellings of one
    value, so the re-encoding must give back ``text`` exactly.
    """
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InputError(f"{what}: not base64 ({exc})") from exc
    if b64encode(data) != text:
        raise InputError(f"{what}: base64 not in canonical form")
    return data


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of the public key of ``key``."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return b64encode(public_key_bytes(key))


def key_id(public_key: bytes) -> str:
    """Key id of a raw 32-byte Ed25519 public key: hex of the first 16 bytes of its SHA-256."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InputError(
            f"an Ed25519 public key has {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    return hashlib.sha256(public_key).hexdigest()[:32]


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's mode (0600) is what protects it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: str | os.PathLike[str], key: Ed25519PrivateKey) -> None:
    """Write ``key`` as PEM to a new file created with mode 0600; never overwrites a file.

    The mode is set when the file is created, so the key is never readable by others, not even
    for the moment between a create and a chmod.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InputError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(private_key_pem(key))
        out.flush()
        os.fsync(out.fileno())


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PEM file."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> bytes:
    return key.sign(message)


def ed25519_verifies(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` (64 bytes) over ``message`` verifies with the raw 32-byte key.

    The one Ed25519 check of detente. It releases the GIL (cffi), so threads check in
    parallel."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + message, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        return False
    return True


def verify_signature(public_key: bytes, signature: bytes, message: bytes, what: str) -> None:
    """Raise VerificationError unless ``signature`` over ``message`` verifies with the key."""
    if len(signature) != SIGNATURE_SIZE:
        raise VerificationError(
            f"{what}: signature has {len(signature)} bytes, want {SIGNATURE_SIZE}")
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise VerificationError(
            f"{what}: unusable public key ({len(public_key)} bytes, want {PUBLIC_KEY_SIZE})")
    if not ed25519_verifies(public_key, signature, message):
        raise VerificationError(
            f"{what}: signature does not verify with key {key_id(public_key)}")
