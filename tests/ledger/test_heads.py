import base64
import dataclasses
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from ledger_helpers import fixed_key

from detente.errors import InputError, VerificationError
from detente.ledger import Entry, sign_statement
from detente.ledger.heads import Cosignature, Receipt, TreeHead, cosign, sign_tree_head
from detente.ledger.keys import public_key_bytes

LOG = fixed_key(1)
PUB = public_key_bytes(LOG)
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
B64ROOT = "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_a_tree_head_is_a_checkpoint_note_written_by_hand():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600)
    body = f"detente/test\n8\n{B64ROOT}\n".encode()
    assert head.body() == body
    # Key ids by the signed-note formula, with hashlib alone.
    id1 = hashlib.sha256(b"detente/test\n\x01" + PUB).digest()[:4]
    id4 = hashlib.sha256(b"detente/test\n\x04" + PUB).digest()[:4]
    stamped = b"cosignature/v1\ntime 1448355600\n" + body
    # Both signatures checked with cryptography directly, over the hand-written messages.
    Ed25519PublicKey.from_public_bytes(PUB).verify(head.signature, body)
    Ed25519PublicKey.from_public_bytes(PUB).verify(head.time_signature, stamped)
    stamp = (1448355600).to_bytes(8, "big")
    assert head.note() == (
        body.decode() + "\n"
        + f"\u2014 detente/test {b64(id1 + head.signature)}\n"
        + f"\u2014 detente/test {b64(id4 + stamp + head.time_signature)}\n")
    head.verify(PUB)


def test_a_changed_head_does_not_verify():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600)
    for changed in (dataclasses.replace(head, size=9),
                    dataclasses.replace(head, root=bytes(32)),
                    dataclasses.replace(head, time=1448355601)):
        with pytest.raises(VerificationError, match="does not verify"):
            changed.verify(PUB)
    with pytest.raises(VerificationError, match="not the log key"):
        dataclasses.replace(head, origin="detente/other").verify(PUB)
    with pytest.raises(VerificationError):
        head.verify(public_key_bytes(fixed_key(2)))


def test_cosignature_is_a_cosignature_v1_line_written_by_hand():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600)
    party = fixed_key(2)
    pub = public_key_bytes(party)
    c = cosign(head, "TUR", party, 1448355601.9)
    kid = hashlib.sha256(b"TUR\n\x04" + pub).digest()[:4]
    assert (c.party, c.time, c.size, c.key_hash) == ("TUR", 1448355601, 8, kid)
    message = b"cosignature/v1\ntime 1448355601\n" + head.body()
    Ed25519PublicKey.from_public_bytes(pub).verify(c.signature, message)
    assert c.line() == f"\u2014 TUR {b64(kid + (1448355601).to_bytes(8, 'big') + c.signature)}\n"
    c.verify(head, pub)
    other = sign_tree_head(LOG, "detente/test", 9, ROOT, 1448355600)
    with pytest.raises(VerificationError):
        c.verify(other, pub)
    with pytest.raises(InputError, match="key name"):
        cosign(head, "TUR watch", party, 1.0)


def test_a_head_and_its_cosignatures_are_one_note():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600)
    cosigs = [cosign(head, p, fixed_key(k), 1448355601) for p, k in (("RUS", 3), ("TUR", 2))]
    again, got = TreeHead.from_note(head.note(cosigs))
    assert again == head and got == cosigs


def test_json_round_trips():
    head = sign_tree_head(LOG, "detente/test", 1, ROOT, 5)
    assert TreeHead.from_json(head.to_json()) == head
    c = cosign(head, "SYR", fixed_key(3), 6)
    assert Cosignature.from_json(c.to_json()) == c
    r = Receipt(0, ROOT, head, ())
    assert Receipt.from_json(r.to_json()) == r
    r.verify(PUB)
    signed = sign_statement(fixed_key(3), kind="alert", author="SYR", time=5.0)
    entry = Entry.make(signed, ["SYR"])
    leaf_hash = hashlib.sha256(b"\x00" + entry.leaf()).digest()
    with_entry = Receipt(0, leaf_hash, sign_tree_head(LOG, "detente/test", 1, leaf_hash, 5), (),
                         entry)
    assert Receipt.from_json(with_entry.to_json()) == with_entry
    with_entry.verify(PUB)
    with pytest.raises(VerificationError, match="another entry"):
        dataclasses.replace(with_entry, entry=Entry.make(signed, ["SYR"])).verify(PUB)


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("time"),
    lambda d: d.update(size=9),
    lambda d: d.update(size="8"),
    lambda d: d.update(extra=1),
    lambda d: d.update(root=B64ROOT.rstrip("=")),
    lambda d: d.update(checkpoint=d["checkpoint"].replace("\n\n", "\nextension\n\n", 1)),
    lambda d: d.update(checkpoint=d["checkpoint"].replace("\n8\n", "\n08\n", 1)),
])
def test_malformed_head_json_is_refused(mutate):
    value = sign_tree_head(LOG, "detente/test", 8, ROOT, 5).to_json()
    mutate(value)
    with pytest.raises(InputError):
        TreeHead.from_json(value)


def test_a_head_of_an_earlier_detente_is_refused_with_a_clear_message():
    old = {"origin": "detente/test", "root": B64ROOT, "signature": b64(bytes(64)), "size": 8,
           "time": 5.5}
    with pytest.raises(InputError, match="earlier detente"):
        TreeHead.from_json(old)


def test_an_origin_with_a_space_is_refused():
    with pytest.raises(InputError, match="key name"):
        sign_tree_head(LOG, "detente/Hatay border", 0, ROOT, 5)
