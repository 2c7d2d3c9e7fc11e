"""Public keys as the configuration writes them, and challenge signatures for login.

A key is written as base64 of its DER SubjectPublicKeyInfo (what ``detente keys new`` prints),
as a PEM block, or as base64 of the 32 raw Ed25519 bytes. Login signatures cover a domain-
separated message, so a login signature can never be replayed as a statement in the record.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from detente.errors import InputError

__all__ = ["LOGIN_CONTEXT", "login_message", "parse_public_key"]

LOGIN_CONTEXT = b"detente login v1\x00"


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM, base64 DER SubjectPublicKeyInfo or base64 raw bytes."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            key = (
                Ed25519PublicKey.from_public_bytes(raw)
                if len(raw) == 32
                else serialization.load_der_public_key(raw)
            )
    except (ValueError, binascii.Error, TypeError) as exc:
        raise InputError(f"not an Ed25519 public key: {text[:24]}...: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"not an Ed25519 public key: {type(key).__name__}")
    return key


def login_message(challenge: bytes) -> bytes:
    """The bytes a client signs to log in: a fixed context, then the server's challenge."""
    return LOGIN_CONTEXT + challenge
