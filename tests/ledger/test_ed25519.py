"""The one Ed25519 check (libsodium) against RFC 8032's test vectors and against OpenSSL's
check (``cryptography``) on random keys, messages and damaged signatures."""

from __future__ import annotations

import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.ledger.keys import ed25519_verifies, public_key_bytes

# RFC 8032, section 7.1, TEST 1 to 3: (secret key, public key, message, signature), hex.
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]


@pytest.mark.parametrize(("secret", "public", "message", "signature"), RFC8032)
def test_rfc8032_vectors(secret, public, message, signature):
    pk, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert public_key_bytes(key) == pk and key.sign(msg) == sig  # the vector is as printed
    assert ed25519_verifies(pk, sig, msg)
    assert not ed25519_verifies(pk, sig, msg + b"\x00")
    assert not ed25519_verifies(pk, sig[:63] + bytes([sig[63] ^ 0x01]), msg)


def test_agrees_with_openssl_on_random_and_damaged_signatures():
    for k in range(300):
        key = Ed25519PrivateKey.generate()
        pk, msg = public_key_bytes(key), os.urandom(k % 97)
        sig = bytearray(key.sign(msg))
        if k % 3:
            sig[k % 64] ^= 1 << (k % 8)  # one bit flipped somewhere
        try:
            key.public_key().verify(bytes(sig), msg)
            openssl = True
        except InvalidSignature:
            openssl = False
        assert ed25519_verifies(pk, bytes(sig), msg) == openssl, k
    assert not ed25519_verifies(b"\x00" * 31, bytes(64), b"")  # wrong sizes: no
    assert not ed25519_verifies(bytes(32), bytes(63), b"")
