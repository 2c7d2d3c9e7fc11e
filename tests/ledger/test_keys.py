import os
import stat

import pytest
from ledger_helpers import fixed_key

from detente.errors import InputError, VerificationError
from detente.ledger.keys import (
    b64decode_strict,
    load_private_key,
    public_key_bytes,
    verify_signature,
    write_private_key,
)


def test_private_key_file_round_trip_and_mode(tmp_path):
    path = tmp_path / "k.pem"
    write_private_key(path, fixed_key(4))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert public_key_bytes(load_private_key(path)) == public_key_bytes(fixed_key(4))
    with pytest.raises(InputError, match="File exists"):
        write_private_key(path, fixed_key(5))


def test_unreadable_keys_are_input_errors(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(InputError, match="not an unencrypted PEM"):
        load_private_key(bad)
    with pytest.raises(InputError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")


def test_base64_has_one_spelling():
    assert b64decode_strict("AA==", "x") == b"\x00"
    # "AB==" decodes to the same byte with lenient decoders: a second spelling of one value.
    for spelling in ("AB==", "AA", "AA==\n", "A A=="):
        with pytest.raises(InputError):
            b64decode_strict(spelling, "x")


def test_signature_errors_are_verification_errors():
    key = fixed_key(4)
    sig = key.sign(b"m")
    verify_signature(public_key_bytes(key), sig, b"m", "t")
    with pytest.raises(VerificationError, match="64"):
        verify_signature(public_key_bytes(key), sig[:-1], b"m", "t")
    with pytest.raises(VerificationError, match="does not verify"):
        verify_signature(public_key_bytes(key), sig, b"n", "t")
    with pytest.raises(VerificationError, match="unusable public key"):
        verify_signature(b"\x00" * 31, sig, b"m", "t")
