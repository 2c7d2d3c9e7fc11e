import dataclasses

import pytest
from ledger_helpers import Clock, fixed_key

from detente.errors import VerificationError
from detente.ledger import Ledger, LogClient, SplitViewError, key_statement, sign_statement
from detente.ledger.keys import public_key_bytes
from detente.store.database import open_database


def alert(key, author, n):
    return sign_statement(key, kind="alert", author=author, time=1448355600.0 + n, body={"n": n})


@pytest.fixture
def fork(tmp_path, log_key, tur, syr):
    """Two databases under one log key that agree on 2 entries, then diverge: a split view."""
    ledgers = []
    for name, n in (("a", 5), ("b", 6)):
        ledger = Ledger(open_database(f"sqlite:///{tmp_path / name}.sqlite"), log_key,
                        origin="detente/test", clock=Clock())
        if ledgers:
            # The same entries, salts included: the same leaves.
            for i in (0, 1):
                ledger.append(ledgers[0].entry(i))
        else:
            ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
            ledger.append(key_statement(syr, syr, author="SYR", time=2.0))
        ledger.append(alert(tur, "TUR", n))
        ledgers.append(ledger)
    assert ledgers[0].head(2) == ledgers[1].head(2)
    assert ledgers[0].tree_head().root != ledgers[1].tree_head().root
    return ledgers


def client(log_key, party_key, party="TUR", **kw):
    return LogClient(party, party_key, public_key_bytes(log_key), "detente/test",
                     clock=Clock(), **kw)


def test_honest_heads_are_cosigned_in_turn(ledger, log_key, tur):
    c = client(log_key, tur)
    sizes = []
    for n in range(2, 9):
        ledger.append(alert(tur, "TUR", n))
        head = ledger.tree_head()
        last = c.last_head
        proof = ledger.consistency_proof(last.size, head.size) if last and last.size else []
        cosig = c.observe(head, proof)
        cosig.verify(head, public_key_bytes(tur))
        ledger.add_cosignature(cosig)
        sizes.append(c.last_head.size)
    assert sizes == list(range(3, 10))


def test_split_view_is_refused_with_evidence(fork, log_key, tur):
    a, b = fork
    c = client(log_key, tur)
    c.observe(a.tree_head())
    b.append(alert(tur, "TUR", 7))
    offered = b.tree_head()
    proof = b.consistency_proof(3, offered.size)
    with pytest.raises(SplitViewError) as info:
        c.observe(offered, proof)
    evidence = info.value.evidence
    assert (evidence.party, evidence.held, evidence.offered) == ("TUR", a.tree_head(), offered)
    # Both heads carry the log's valid signature: the evidence stands on its own.
    evidence.held.verify(public_key_bytes(log_key))
    evidence.offered.verify(public_key_bytes(log_key))
    assert c.last_head == a.tree_head()


def test_same_size_other_root_is_a_split_view(fork, log_key, syr):
    a, b = fork
    c = client(log_key, syr, party="SYR")
    c.observe(a.tree_head())
    with pytest.raises(SplitViewError, match="size 3"):
        c.observe(b.tree_head())
    with pytest.raises(SplitViewError):
        c.check_receipt(b.receipt(2), b.entry_bytes(2))


def test_a_head_not_signed_by_the_log_is_refused_without_alert(ledger, log_key, tur):
    c = client(log_key, tur)
    head = ledger.tree_head()
    forged = dataclasses.replace(head, signature=fixed_key(5).sign(head.body()))
    with pytest.raises(VerificationError, match="does not verify") as info:
        c.observe(forged)
    assert not isinstance(info.value, SplitViewError)
    with pytest.raises(VerificationError, match="not 'detente/test'"):
        c.observe(dataclasses.replace(head, origin="other"))
    assert c.last_head is None


def test_an_older_consistent_head_is_cosigned_but_not_kept(ledger, log_key, tur):
    for n in range(2, 6):
        ledger.append(alert(tur, "TUR", n))
    c = client(log_key, tur)
    c.observe(ledger.tree_head())
    old = ledger.head(3)
    c.observe(old, ledger.consistency_proof(3, ledger.size))
    assert c.last_head == ledger.tree_head()
    with pytest.raises(SplitViewError):
        c.observe(old, ledger.consistency_proof(4, ledger.size))


def test_receipts_are_checked(ledger, log_key, tur):
    receipt = ledger.append(alert(tur, "TUR", 3))
    c = client(log_key, tur)
    c.check_receipt(receipt, ledger.entry_bytes(receipt.index))
    with pytest.raises(VerificationError, match="another entry"):
        c.check_receipt(receipt, ledger.entry_bytes(0))
    bad = dataclasses.replace(receipt, proof=receipt.proof[:-1])
    with pytest.raises(VerificationError):
        c.check_receipt(bad)
