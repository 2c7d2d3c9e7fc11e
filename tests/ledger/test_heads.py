import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from ledger_helpers import fixed_key

from detente.errors import InputError, VerificationError
from detente.ledger.heads import Cosignature, Receipt, TreeHead, cosign, sign_tree_head
from detente.ledger.keys import key_id, public_key_bytes

LOG = fixed_key(1)
ROOT = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")


def test_tree_head_body_is_a_checkpoint_written_by_hand():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600.25)
    want = (b"detente/test\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
            b"time 1448355600.25\n")
    assert head.body() == want
    # The signature checked with cryptography directly, over the hand-written body.
    Ed25519PublicKey.from_public_bytes(public_key_bytes(LOG)).verify(head.signature, want)
    head.verify(public_key_bytes(LOG))


def test_a_changed_head_does_not_verify():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600.25)
    for changed in (dataclasses.replace(head, size=9),
                    dataclasses.replace(head, root=bytes(32)),
                    dataclasses.replace(head, time=1448355600.0),
                    dataclasses.replace(head, origin="detente/other")):
        with pytest.raises(VerificationError, match="does not verify"):
            changed.verify(public_key_bytes(LOG))
    with pytest.raises(VerificationError):
        head.verify(public_key_bytes(fixed_key(2)))


def test_cosignature_message_is_written_by_hand():
    head = sign_tree_head(LOG, "detente/test", 8, ROOT, 1448355600.25)
    party = fixed_key(2)
    c = cosign(head, "TUR", party, 1448355601.9)
    assert (c.time, c.size, c.key_id) == (1448355601, 8, key_id(public_key_bytes(party)))
    message = b"cosignature/v1\ntime 1448355601\n" + head.body()
    Ed25519PublicKey.from_public_bytes(public_key_bytes(party)).verify(c.signature, message)
    c.verify(head, public_key_bytes(party))
    other = sign_tree_head(LOG, "detente/test", 9, ROOT, 1448355600.25)
    with pytest.raises(VerificationError):
        c.verify(other, public_key_bytes(party))


def test_json_round_trips():
    head = sign_tree_head(LOG, "detente/test", 1, ROOT, 5.0)
    assert TreeHead.from_json(head.to_json()) == head
    c = cosign(head, "SYR", fixed_key(3), 6)
    assert Cosignature.from_json(c.to_json()) == c
    r = Receipt(0, ROOT, head, ())
    assert Receipt.from_json(r.to_json()) == r
    r.verify(public_key_bytes(LOG))


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("time"),
    lambda d: d.update(size="8"),
    lambda d: d.update(size=True),
    lambda d: d.update(extra=1),
    lambda d: d.update(root=base64.b64encode(ROOT).decode().rstrip("=")),
])
def test_malformed_head_json_is_refused(mutate):
    value = sign_tree_head(LOG, "detente/test", 8, ROOT, 5.0).to_json()
    mutate(value)
    with pytest.raises(InputError):
        TreeHead.from_json(value)
