"""Delivery receipts: checked by the log against the entry they name, addressed as it is."""

import base64
import hashlib

import pytest
from ledger_helpers import T0, Clock, party_keys, register_all, said

from detente.errors import InputError, VerificationError
from detente.ledger import (
    Entry,
    Ledger,
    LogClient,
    delivery_receipt,
    public_key_bytes,
    sign_statement,
)
from detente.store.database import open_database


@pytest.fixture
def log(db_url, log_key):
    """TUR, RUS, COA, two officials and the service registered (entries 0 to 5)."""
    ledger = Ledger(open_database(db_url), log_key, origin="detente/test", clock=Clock())
    keys = party_keys()
    register_all(ledger, log_key, keys)
    return ledger, keys


def test_a_party_receipts_what_it_was_told(log, log_key):
    ledger, keys = log
    (told,) = ledger.append_many([said(log_key, "alert", {"parties": ["RUS", "TUR"], "n": 1})])
    leaf_hash = hashlib.sha256(b"\x00" + ledger.entry_bytes(told.index)).digest()
    receipt = delivery_receipt(keys["RUS"], author="RUS", index=told.index, entry=told.entry,
                               time=T0 + 2)
    assert receipt.statement.body == {"leaf_hash": base64.b64encode(leaf_hash).decode()}
    assert receipt.statement.ref == told.index
    (r,) = ledger.append_many([receipt])
    assert r.entry.audience == ("RUS", "TUR")
    # An official receipts for its party; the client does it with the party's key.
    ledger.append(delivery_receipt(keys["TUR/tur-watch"], author="TUR/tur-watch",
                                   index=told.index, entry=told.entry, time=T0 + 3))
    client = LogClient("TUR", keys["TUR"], public_key_bytes(log_key), "detente/test",
                       clock=lambda: T0 + 4)
    ledger.append(client.delivery_receipt(told.index, told.entry))


def test_a_receipt_in_the_same_batch_as_its_entry(log, log_key):
    ledger, keys = log
    alert = said(log_key, "alert", {"parties": ["COA", "RUS"]})
    index = ledger.size
    entry = Entry.make(alert, ["COA", "RUS"])
    got = ledger.append_many([entry, delivery_receipt(keys["COA"], author="COA", index=index,
                                                      entry=entry, time=T0)])
    assert got[0].entry.salt == entry.salt and got[1].entry.audience == ("COA", "RUS")


def test_receipts_that_do_not_match_are_refused(log, log_key):
    ledger, keys = log
    (told,) = ledger.append_many([said(log_key, "alert", {"parties": ["RUS", "TUR"]})])
    size = ledger.size
    # The leaf hash of another entry than the one at that index.
    other = ledger.entry(0)
    forged = sign_statement(keys["RUS"], kind="delivery.receipt", author="RUS", time=T0,
                            ref=told.index, body={"leaf_hash": base64.b64encode(
                                hashlib.sha256(b"\x00" + other.leaf()).digest()).decode()})
    with pytest.raises(InputError, match="not the one delivered"):
        ledger.append(forged)
    # COA was not told: it may not receipt.
    with pytest.raises(InputError, match="not addressed to 'COA'"):
        ledger.append(delivery_receipt(keys["COA"], author="COA", index=told.index,
                                       entry=told.entry, time=T0))
    # A key registration is not something a party is told.
    with pytest.raises(InputError, match="a delivery receipt answers"):
        ledger.append(sign_statement(
            keys["RUS"], kind="delivery.receipt", author="RUS", time=T0, ref=0,
            body={"leaf_hash": base64.b64encode(hashlib.sha256(
                b"\x00" + ledger.entry_bytes(0)).digest()).decode()}))
    with pytest.raises(InputError, match="leaf_hash"):
        ledger.append(sign_statement(keys["RUS"], kind="delivery.receipt", author="RUS",
                                     time=T0, ref=told.index, body={"hash": "x"}))
    assert ledger.size == size
    client = LogClient("COA", keys["COA"], public_key_bytes(log_key), "detente/test")
    with pytest.raises(VerificationError, match="not to COA"):
        client.delivery_receipt(told.index, told.entry)
