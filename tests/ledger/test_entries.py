"""Entries: a signed statement with its salt and audience, one canonical spelling."""

import hashlib

import pytest
import rfc8785
from ledger_helpers import fixed_key

from detente.errors import InputError, VerificationError
from detente.ledger import Entry, SignedStatement, sign_statement
from detente.ledger.entries import SALT_BYTES, audience_of_leaf, check_audience
from detente.ledger.keys import public_key_bytes

KEY = fixed_key(2)


def signed(n=0, **kw):
    return sign_statement(KEY, kind="alert", author="TUR", time=1448349600.0 + n,
                          body={"parties": ["RUS", "TUR"], "n": n, **kw})


def test_entry_bytes_are_the_rfc8785_serialization():
    # The fast paths (leaf() by concatenation, parse() slicing the statement out) against
    # rfc8785 itself, with a statement that needs escaping and number rewriting.
    s = sign_statement(KEY, kind="alert", author="TÜR", time=0.1, ref=3,
                       body={"€": [1e21, -0.0, "\u2028"], "a": {"b": None}})
    entry = Entry.make(s, ["RUS", "TUR"], bytes(range(16)))
    assert entry.leaf() == rfc8785.dumps(entry.to_json())
    assert entry.leaf().startswith(b'{"audience":["RUS","TUR"],"salt":"AAECAwQFBgcICQoLDA0ODw=="')
    parsed = Entry.parse(entry.leaf())
    assert parsed == entry
    assert parsed.statement.canonical() == rfc8785.dumps(s.statement.to_json())
    parsed.verify(public_key_bytes(KEY))
    assert audience_of_leaf(entry.leaf()) == ("RUS", "TUR")


def test_each_entry_gets_its_own_128_bit_salt():
    salts = {Entry.make(signed(), ["RUS", "TUR"]).salt for _ in range(100)}
    assert len(salts) == 100 and {len(s) for s in salts} == {SALT_BYTES} == {16}
    with pytest.raises(InputError, match="salt"):
        Entry.make(signed(), ["TUR"], bytes(15))


def test_a_guessed_statement_cannot_be_confirmed_from_a_leaf_hash():
    """COA holds the leaf hash of a TUR-RUS alert and guesses it (a known pair, a time to the
    second): even knowing the exact signed statement, it cannot confirm it without the salt,
    where the unsalted leaf of the earlier format was found at once."""
    truth = signed(37)
    entry = Entry.make(truth, ["RUS", "TUR"])
    leaf_hash = hashlib.sha256(b"\x00" + entry.leaf()).digest()
    candidates = [signed(n) for n in range(60)]
    unsalted = [hashlib.sha256(b"\x00" + c.canonical()).digest() for c in candidates]
    old_leaf = hashlib.sha256(b"\x00" + truth.canonical()).digest()
    assert unsalted.index(old_leaf) == 37  # what the salt prevents
    for c in candidates:
        for salt in (bytes(16), b"\xff" * 16, entry.salt[:-1] + bytes([entry.salt[-1] ^ 1])):
            guess = Entry.make(c, ["RUS", "TUR"], salt)
            assert hashlib.sha256(b"\x00" + guess.leaf()).digest() != leaf_hash
        assert hashlib.sha256(b"\x00" + c.canonical()).digest() != leaf_hash


@pytest.mark.parametrize("audience, problem", [
    (["TUR", "RUS"], "sorted"),
    (["RUS", "RUS"], "sorted"),
    (["*", "RUS"], "party id"),
    (["RUS/rus-watch"], "party id"),
    ([""], "party id"),
    (['R"S'], "party id"),
    ("RUS", "list"),
])
def test_malformed_audiences_are_refused(audience, problem):
    with pytest.raises(InputError, match=problem):
        check_audience(audience)


def test_audiences_for_everyone_and_for_no_party():
    assert check_audience(["*"]) == ("*",)
    assert check_audience([]) == ()
    assert Entry.make(signed(), ["*"]).visible_to("COA")
    nobody = Entry.make(signed(), [])
    assert not any(nobody.visible_to(p) for p in ("TUR", "RUS", "COA"))


def test_json_reads_an_entry_or_a_signed_statement_as_what_it_is():
    s = signed()
    entry = Entry.make(s, ["RUS", "TUR"])
    assert SignedStatement.from_json(entry.to_json()) == entry
    assert type(SignedStatement.from_json(s.to_json())) is SignedStatement
    assert entry.signed == s
    with pytest.raises(InputError, match="without salt and audience"):
        Entry.from_json(s.to_json())
    with pytest.raises(InputError):
        SignedStatement.from_json({**entry.to_json(), "extra": 1})


def test_respelled_entries_are_refused():
    leaf = Entry.make(signed(), ["RUS", "TUR"], bytes(16)).leaf()
    for respelled in (leaf.replace(b'"audience":["RUS","TUR"]', b'"audience": ["RUS","TUR"]'),
                      leaf.replace(b'"n":0', b'"n":0.0')):
        with pytest.raises(VerificationError, match="canonical"):
            Entry.parse(respelled)
    with pytest.raises(VerificationError, match="audience"):
        audience_of_leaf(signed().canonical())
