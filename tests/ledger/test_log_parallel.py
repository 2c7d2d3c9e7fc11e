"""Signature checks in threads, and several callers' groups in one commit (append_groups)."""

import pytest
from ledger_helpers import Clock, fixed_key
from merkle_reference import ReferenceTree

from detente.errors import ConflictingWriteError, DetenteError, InputError, VerificationError
from detente.ledger import Entry, Ledger, LedgerReader, key_statement, sign_statement
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.keys import public_key_bytes
from detente.ledger.signatures import SignatureChecks, invalid_signatures
from detente.ledger.statements import SignedStatement
from detente.ledger.verify import verify_inclusion
from detente.store.database import open_database


def alert(key, author, n, ref=None):
    return sign_statement(key, kind="alert", author=author, time=1448355600.0 + n,
                          body={"n": n}, ref=ref)


def bad_signature(signed):
    sig = bytearray(signed.signature)
    sig[7] ^= 0x10
    return SignedStatement(signed.statement, bytes(sig))


def open_ledger(url, log_key, workers):
    return Ledger(open_database(url), log_key, origin="detente/test", clock=Clock(),
                  verify_workers=workers)


def stored(url):
    """What the database holds, read afresh: (size, latest head, every entry's bytes)."""
    reader = LedgerReader(open_database(url))
    return reader.size, reader.tree_head(), [reader.entry_bytes(i) for i in range(reader.size)]


def check_receipts(ledger, receipts, statements):
    """Each receipt is for its statement, and its proof verifies with the RFC 9162 verifier
    (which shares only the hash functions with the prover) against the log-signed head."""
    for receipt, statement in zip(receipts, statements, strict=True):
        data = ledger.entry_bytes(receipt.index)
        assert Entry.parse(data).signed == statement
        assert receipt.entry.leaf() == data
        receipt.head.verify(ledger.log_public_key)
        verify_inclusion(RFC9162_SHA256, receipt.index, receipt.head.size,
                         RFC9162_SHA256.hash_leaf(data), list(receipt.proof), receipt.head.root)


@pytest.fixture
def url(database_url):
    return database_url


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_a_bad_signature_in_a_big_batch_stores_nothing(url, log_key, tur, syr, workers):
    with open_ledger(url, log_key, workers) as ledger:
        ledger.append_many([key_statement(tur, tur, author="TUR", time=1.0),
                            key_statement(syr, syr, author="SYR", time=2.0)])
        batch = [alert(tur if n % 3 else syr, "TUR" if n % 3 else "SYR", n)
                 for n in range(2, 1202)]
        before = stored(url)
        for position in (0, 577, 1199):
            items = list(batch)
            items[position] = bad_signature(items[position])
            with pytest.raises(VerificationError,
                               match=f"entry {2 + position} .* does not verify"):
                ledger.append_many(items)
            assert ledger.size == 2
            assert stored(url) == before
        receipts = ledger.append_many(batch)
        # In order, one head, and the tree is the reference tree of these bytes.
        assert [r.index for r in receipts] == list(range(2, 1202))
        assert {r.head for r in receipts} == {ledger.tree_head()}
        size, head, leaves = stored(url)
        assert (size, head) == (1202, ledger.tree_head())
        assert head.root == ReferenceTree(leaves).root(1202)
        check_receipts(ledger, receipts, batch)


def test_signature_checks_report_every_failure_in_order():
    key = fixed_key(20)
    raw = public_key_bytes(key)
    messages = [bytes([n]) * 40 for n in range(200)]
    checks = [(n, raw, key.sign(m), m) for n, m in enumerate(messages)]
    checks[5] = (5, raw, key.sign(b"other"), messages[5])
    checks[150] = (150, b"\x00" * 31 + b"\x01", checks[150][2], messages[150])
    checks[190] = (190, raw, checks[190][2][:63], messages[190])
    assert invalid_signatures(checks) == [5, 150, 190]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        queued = SignatureChecks(pool, chunk=7)
        for check in checks:
            queued.add(*check)
        assert queued.finish() == [5, 150, 190]
        assert queued.tags == list(range(200))


def test_groups_share_one_commit_and_a_bad_group_refuses_only_itself(url, log_key, tur, syr):
    with open_ledger(url, log_key, 1) as ledger:
        ledger.append_many([key_statement(tur, tur, author="TUR", time=1.0),
                            key_statement(syr, syr, author="SYR", time=2.0)])
        heads = len(ledger.heads())
        good1 = [alert(tur, "TUR", n) for n in range(10, 110)]
        bad = [alert(syr, "SYR", 200), bad_signature(alert(syr, "SYR", 201)),
               alert(syr, "SYR", 202)]
        good2 = [alert(syr, "SYR", 300)]
        unknown = [alert(fixed_key(30), "RUS", 400)]
        good3 = [alert(tur, "TUR", n) for n in range(500, 560)]
        results = ledger.append_groups([good1, bad, good2, unknown, good3])
        assert isinstance(results[1], VerificationError)
        assert "entry 103" in str(results[1])  # its place had it come after good1
        assert isinstance(results[3], ConflictingWriteError)
        assert "no registered key" in str(results[3])
        # One transaction, one head, the good groups back to back in their order.
        assert len(ledger.heads()) == heads + 1
        assert [r.index for r in results[0]] == list(range(2, 102))
        assert [r.index for r in results[2]] == [102]
        assert [r.index for r in results[4]] == list(range(103, 163))
        for receipts, group in ((results[0], good1), (results[2], good2), (results[4], good3)):
            assert {r.head for r in receipts} == {ledger.tree_head()}
            check_receipts(ledger, receipts, group)
        assert stored(url)[0] == 163


def test_a_group_out_takes_its_key_changes_with_it(url, log_key, tur, syr):
    """Groups are judged as if appended one after the other: when one with a key rotation has
    a bad signature, the groups after it see the keys as they were without it."""
    new = fixed_key(31)
    with open_ledger(url, log_key, 1) as ledger:
        ledger.append_many([key_statement(tur, tur, author="TUR", time=1.0),
                            key_statement(syr, syr, author="SYR", time=2.0)])
        rotate = [key_statement(tur, new, author="TUR", time=3.0),
                  bad_signature(alert(new, "TUR", 4))]
        with_new = [alert(new, "TUR", 5)]
        with_old = [alert(tur, "TUR", 6)]
        register = [key_statement(fixed_key(32), fixed_key(32), author="RUS", time=7.0)]
        # Many statements after them, so that the threads take part.
        filler = [alert(syr, "SYR", n) for n in range(100, 300)]
        results = ledger.append_groups([rotate, with_new, with_old, register, filler])
        assert isinstance(results[0], VerificationError)
        assert isinstance(results[1], VerificationError)
        assert "is not a key of 'TUR'" in str(results[1])
        assert [r.index for r in results[2]] == [2]
        assert [r.index for r in results[3]] == [3]
        assert [r.index for r in results[4]] == list(range(4, 204))
        assert ledger.keys.current("TUR").public_key == public_key_bytes(tur)
        assert ledger.keys.current("RUS") is not None
        check_receipts(ledger, results[2] + results[3] + results[4],
                       with_old + register + filler)


def test_a_group_refused_by_a_key_rule_is_judged_after_the_bad_groups_leave(url, log_key, tur):
    """RUS registers twice, in two groups; the first group has a bad signature, so the second
    registration is the first one that counts."""
    rus, rus2 = fixed_key(33), fixed_key(34)
    with open_ledger(url, log_key, 0) as ledger:
        ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
        first = [key_statement(rus, rus, author="RUS", time=2.0),
                 bad_signature(alert(rus, "RUS", 3))]
        second = [key_statement(rus2, rus2, author="RUS", time=4.0), alert(rus2, "RUS", 5)]
        third = [key_statement(rus, rus, author="RUS", time=6.0)]
        results = ledger.append_groups([first, second, third])
        assert isinstance(results[0], VerificationError)
        assert [r.index for r in results[1]] == [1, 2]
        assert isinstance(results[2], ConflictingWriteError)
        assert "already has key" in str(results[2])
        assert ledger.keys.current("RUS").public_key == public_key_bytes(rus2)


def test_groups_that_all_fail_store_nothing_and_bytes_that_do_not_parse_are_refused(
        url, log_key, tur):
    with open_ledger(url, log_key, 0) as ledger:
        ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
        before = stored(url)
        results = ledger.append_groups([[bad_signature(alert(tur, "TUR", 2))],
                                        [b"{not json"],
                                        [alert(tur, "TUR", 3).canonical() + b" "]])
        assert all(isinstance(r, DetenteError) for r in results)
        assert isinstance(results[1], InputError)
        assert "canonical" in str(results[2])
        assert stored(url) == before
        assert ledger.append_groups([]) == []
        assert ledger.append_groups([[], [alert(tur, "TUR", 4)]])[0] == []
