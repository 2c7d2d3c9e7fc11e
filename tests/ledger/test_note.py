"""C2SP signed notes against the vectors published with the specification and its
implementations (tests/data/c2sp-notes: sources and licences there)."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from detente.errors import InputError
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.heads import Cosignature, TreeHead, cosign, parse_checkpoint_text
from detente.ledger.keys import ed25519_verifies, public_key_bytes
from detente.ledger.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    NoteSignature,
    cosignature_v1_message,
    format_note,
    key_hash,
    parse_note,
    parse_vkey,
    vkey,
)
from detente.ledger.verify import verify_consistency

V = json.loads((Path(__file__).parents[1] / "data" / "c2sp-notes" / "vectors.json").read_text())


def private_key(skey: str) -> Ed25519PrivateKey:
    """A Go-style ``PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>`` signer key."""
    blob = base64.b64decode(skey.split("+", 4)[4])
    assert blob[0] == SIG_ED25519
    return Ed25519PrivateKey.from_private_bytes(blob[1:])


def test_the_go_sumdb_note_vector_signs_and_opens():
    v = V["sumdb_note"]
    key = private_key(v["skey"])
    public = public_key_bytes(key)
    assert vkey("PeterNeumann", SIG_ED25519, public) == v["vkey"]
    assert key_hash("PeterNeumann", SIG_ED25519, public).hex() == "c74f20a3"
    # Ed25519 is deterministic: signing the text again gives the published line.
    line = NoteSignature("PeterNeumann", key_hash("PeterNeumann", SIG_ED25519, public),
                         key.sign(v["text"].encode())).line()
    assert line == v["signature_line"]
    text, sigs = parse_note(v["text"] + "\n" + v["signature_line"] + v["other_signature_line"])
    assert text == v["text"]
    assert [s.name for s in sigs] == ["PeterNeumann", "EnochRoot"]
    name, kind, enoch = parse_vkey(v["other_vkey"])
    assert (name, kind) == ("EnochRoot", SIG_ED25519)
    assert sigs[1].key_hash == key_hash(name, kind, enoch)
    assert ed25519_verifies(enoch, sigs[1].signature, text.encode())
    assert format_note(text, sigs) == v["text"] + "\n" + v["signature_line"] \
        + v["other_signature_line"]


def test_the_signed_note_spec_example_verifies():
    v = V["signed_note_spec"]
    name, kind, public = parse_vkey(v["vkey"])
    text, (sig,) = parse_note(v["note"])
    assert (sig.name, sig.key_hash.hex(), kind) == (name, "530d903a", SIG_ED25519)
    assert ed25519_verifies(public, sig.signature, text.encode())


def test_the_cosignature_spec_example_decodes_to_its_time_and_message():
    v = V["tlog_cosignature_spec"]
    head_sigs = parse_note(v["note"])[1]
    # The log's signature is a plain one; the witness line is key id || u64 time || signature.
    text = parse_note(v["note"])[0]
    assert parse_checkpoint_text(text) == (
        "example.com/behind-the-sofa", 20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="))
    c = Cosignature.from_note_signature(head_sigs[1], 20852163)
    assert (c.party, c.time, len(c.signature)) == ("witness.example.com/w1", 1679315147, 64)
    assert cosignature_v1_message(c.time, text.encode()) == v["signed_message"].encode()
    # And it is written back byte for byte.
    assert c.line() == v["note"].splitlines(keepends=True)[-1]


def test_the_witness_checkpoints_verify_with_their_consistency_proof():
    v = V["witness_checkpoints"]
    name, kind, public = parse_vkey(v["log_vkey"])
    roots = {}
    for which in ("init", "next"):
        text, (sig,) = parse_note(v[which])
        origin, size, root = parse_checkpoint_text(text)
        assert origin == name == sig.name
        assert sig.key_hash == key_hash(name, kind, public)
        assert ed25519_verifies(public, sig.signature, text.encode())
        roots[size] = root
    proof = [bytes.fromhex(h) for h in v["consistency_5_8_hex"]]
    verify_consistency(RFC9162_SHA256, 5, 8, proof, roots[5], roots[8])
    # The log key signs the same line again.
    key = private_key(v["log_skey"])
    text, (sig,) = parse_note(v["init"])
    assert key.sign(text.encode()) == sig.signature


def test_a_cosignature_v1_is_the_spec_message_under_the_type_4_key_id():
    v = V["witness_checkpoints"]
    witness = private_key(v["witness_skey"])
    public = public_key_bytes(witness)
    # The vkey published is the type 0x01 one; a cosigner's id uses type 0x04 (the spec's
    # formula, computed here with hashlib alone).
    assert parse_vkey(v["witness_vkey"])[2] == public
    want_id = hashlib.sha256(b"witness\n\x04" + public).digest()[:4]
    assert key_hash("witness", SIG_COSIGNATURE_V1, public) == want_id
    text, _ = parse_note(v["next"])
    head = TreeHead("monkeys", 8, parse_checkpoint_text(text)[2], 0, b"", b"", b"", b"")
    c = cosign(head, "witness", witness, 1679315147.9)
    assert (c.time, c.key_hash) == (1679315147, want_id)
    message = b"cosignature/v1\ntime 1679315147\n" + text.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(c.signature, message)
    blob = base64.b64decode(c.line().split(" ")[2])
    assert blob == want_id + (1679315147).to_bytes(8, "big") + c.signature


@pytest.mark.parametrize("note", [
    "text\n— a AAAAAAAA\n",                               # no blank line
    "text\n\n",                                           # no signature
    "text\n\n— a AAAAAAAA",                               # no final newline
    "te\x01xt\n\n— a AAAAAAAAAAA=\n",                     # a control character
    "text\n\n— a b AAAAAAAAAAA=\n",                       # a space in the key name
    "text\n\n— a+b AAAAAAAAAAA=\n",                       # a plus in the key name
    "text\n\n- a AAAAAAAAAAA=\n",                         # not an em dash
    "text\n\n— a AAAAAAAAAAB=\n",                         # base64 not canonical
    "text\n\n— a AAAA\n",                                 # no bytes after the key id
])
def test_malformed_notes_are_refused(note):
    with pytest.raises(InputError):
        parse_note(note)


def test_a_vkey_whose_id_is_not_its_keys_is_refused():
    good = V["sumdb_note"]["vkey"]
    with pytest.raises(InputError, match="key id"):
        parse_vkey(good.replace("c74f20a3", "c74f20a4"))
