import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from ledger_helpers import fixed_key

from detente.errors import InputError, VerificationError
from detente.ledger.keys import key_id, public_key_bytes
from detente.ledger.statements import (
    STATEMENT_CONTEXT,
    SignedStatement,
    Statement,
    sign_statement,
)

KEY = fixed_key(2)
KID = key_id(public_key_bytes(KEY))


def test_key_id_is_sha256_prefix_of_raw_public_key():
    # echo -n "$PUB_B64" | base64 -d | sha256sum | cut -c1-32
    raw = public_key_bytes(KEY)
    assert KID == hashlib.sha256(raw).hexdigest()[:32]


def test_canonical_form_written_by_hand():
    # RFC 8785: keys sorted by UTF-16 code units, no whitespace, 1.50 -> 1.5, 2.0 -> 2.
    st = Statement(kind="alert", author="TUR", key_id=KID, time=2.0,
                   body={"zeta": 1.50, "alpha": "é", "n": [3, None, True]}, ref=7)
    want = ('{"author":"TUR","body":{"alpha":"é","n":[3,null,true],"zeta":1.5},'
            f'"key_id":"{KID}","kind":"alert","ref":7,"time":2}}').encode()
    assert st.canonical() == want


def test_signature_is_over_context_and_canonical_bytes():
    signed = sign_statement(KEY, kind="hotline.message", author="TUR", time=1448355600.5,
                            body={"text": "You are approaching Turkish airspace"})
    # Checked with cryptography directly, not through detente's verify.
    Ed25519PublicKey.from_public_bytes(public_key_bytes(KEY)).verify(
        signed.signature, STATEMENT_CONTEXT + signed.statement.canonical())
    assert SignedStatement.parse(signed.canonical()) == signed


@pytest.mark.parametrize("spelling", [
    b'{"signature": "x", "statement": {}}',               # whitespace
    b'{"statement":{},"signature":"x"}',                  # key order
])
def test_non_canonical_bytes_are_refused(spelling):
    with pytest.raises(VerificationError, match="canonical"):
        SignedStatement.parse(spelling)


def test_respelled_statement_is_refused():
    signed = sign_statement(KEY, kind="alert", author="TUR", time=5.0, body={"a": 1})
    data = signed.canonical()
    assert b'"time":5' in data
    for respelled in (data.replace(b'"time":5', b'"time":5.0'),
                      data.replace(b'"body":{"a":1}', b'"body":{"a":1,"a":1}')):
        with pytest.raises(VerificationError, match="canonical"):
            SignedStatement.parse(respelled)


def test_tampered_statement_does_not_verify():
    signed = sign_statement(KEY, kind="alert", author="TUR", time=5.0, body={"warnings": 10})
    forged = SignedStatement(Statement(**{**_fields(signed.statement), "body": {"warnings": 0}}),
                             signed.signature)
    with pytest.raises(VerificationError, match="does not verify"):
        forged.verify(public_key_bytes(KEY))
    with pytest.raises(VerificationError, match="names key"):
        signed.verify(public_key_bytes(fixed_key(9)))


def _fields(st):
    return {"kind": st.kind, "author": st.author, "key_id": st.key_id, "time": st.time,
            "body": st.body, "ref": st.ref}


@pytest.mark.parametrize(("field", "value"), [
    ("kind", ""), ("kind", "Alert!"), ("author", ""), ("key_id", "xyz"),
    ("time", float("nan")), ("time", -1.0), ("time", True), ("body", []), ("ref", -1),
    ("ref", True),
])
def test_malformed_statements_are_refused(field, value):
    fields = {"kind": "alert", "author": "TUR", "key_id": KID, "time": 1.0, "body": {},
              "ref": None, field: value}
    with pytest.raises(InputError):
        Statement(**fields)


def test_body_outside_json_numbers_is_refused():
    with pytest.raises(InputError, match="canonical JSON"):
        sign_statement(KEY, kind="alert", author="TUR", time=1.0, body={"n": 2**60})


def test_signed_statement_bytes_are_the_rfc8785_serialization():
    # The fast paths (canonical() by concatenation, parse() slicing the statement out) against
    # rfc8785 itself.
    import rfc8785

    signed = sign_statement(KEY, kind="alert", author="TÜR", time=0.1, ref=3,
                            body={"€": [1e21, -0.0, "\u2028"], "a": {"b": None}})
    assert signed.canonical() == rfc8785.dumps(signed.to_json())
    parsed = SignedStatement.parse(signed.canonical())
    assert parsed.statement.canonical() == rfc8785.dumps(signed.statement.to_json())
    parsed.verify(public_key_bytes(KEY))
