import dataclasses
import itertools

import pytest
from ledger_helpers import Clock, fixed_key
from merkle_reference import ReferenceTree

from detente.errors import ConflictingWriteError, InputError, VerificationError
from detente.ledger import (
    Ledger,
    LedgerReader,
    TreeHead,
    key_statement,
    origin_for,
    sign_statement,
)
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.heads import cosign
from detente.ledger.keys import public_key_bytes
from detente.ledger.statements import SignedStatement
from detente.ledger.verify import verify_consistency, verify_inclusion
from detente.store.database import open_database


def alert(key, author, n, ref=None):
    return sign_statement(key, kind="alert", author=author, time=1448355600.0 + n,
                          body={"n": n}, ref=ref)


def leaves(ledger):
    return [ledger.entry_bytes(i) for i in range(ledger.size)]


def test_receipts_verify_and_match_the_reference_tree(ledger, tur, syr):
    receipts = []
    n = 2
    for batch in (1, 3, 1, 8, 5, 13):
        items = [alert(tur if k % 2 else syr, "TUR" if k % 2 else "SYR", n + k)
                 for k in range(batch)]
        got = ledger.append_many(items)
        assert [r.index for r in got] == list(range(n, n + batch))
        receipts += got
        n += batch
    ref = ReferenceTree(leaves(ledger))
    for r in receipts:
        # Oracles: the reference tree for the root and path, and the RFC 9162 verifier.
        assert r.head.root == ref.root(r.head.size)
        assert list(r.proof) == ref.inclusion(r.index, r.head.size)
        assert r.leaf_hash == ref.leaf_hash(r.index)
        r.verify(ledger.log_public_key, ledger.entry_bytes(r.index))


def test_proofs_at_every_size_match_the_reference(ledger, tur):
    for n in range(2, 40):
        ledger.append(alert(tur, "TUR", n))
    size = ledger.size
    ref = ReferenceTree(leaves(ledger))
    for n in range(1, size + 1):
        for i in range(n):
            assert ledger.inclusion_proof(i, n) == ref.inclusion(i, n)
        for m in range(1, n + 1):
            assert ledger.consistency_proof(m, n) == ref.consistency(m, n)
    heads = ledger.heads()
    assert [h.size for h in heads] == list(range(size + 1))
    for older, newer in itertools.pairwise(heads[1:]):
        verify_consistency(RFC9162_SHA256, older.size, newer.size,
                           ledger.consistency_proof(older.size, newer.size),
                           older.root, newer.root)


def test_reopening_continues_the_same_tree(db_url, ledger, log_key, tur):
    for n in range(2, 11):
        ledger.append(alert(tur, "TUR", n))
    again = Ledger(open_database(db_url), log_key, origin="detente/test", clock=Clock(2e9))
    assert again.tree_head() == ledger.tree_head()
    assert again.keys.parties() == ["SYR", "TUR"]
    receipt = again.append(alert(tur, "TUR", 11))
    ref = ReferenceTree(leaves(again))
    assert receipt.head.root == ref.root(12)
    assert again.tree_head().time >= ledger.tree_head().time
    reader = LedgerReader(open_database(db_url))
    assert reader.tree_head() == again.tree_head()
    assert reader.inclusion_proof(3) == ref.inclusion(3, 12)


def test_a_second_writer_on_the_same_database_is_refused_whole(db_url, ledger, log_key, tur):
    other = Ledger(open_database(db_url), log_key, origin="detente/test", clock=Clock(2e9))
    ledger.append_many([alert(tur, "TUR", 2), alert(tur, "TUR", 3)])
    before = ledger.tree_head()
    with pytest.raises(ConflictingWriteError, match="another writer"):
        other.append_many([alert(tur, "TUR", 4), alert(tur, "TUR", 5)])
    reader = LedgerReader(open_database(db_url))
    assert reader.tree_head() == before
    assert [reader.entry_bytes(i) for i in range(4)] == leaves(ledger)
    with pytest.raises(InputError):
        reader.entry_bytes(4)


def test_a_database_belongs_to_one_log_key_and_origin(db_url, ledger, log_key):
    with pytest.raises(ConflictingWriteError, match="log key"):
        Ledger(open_database(db_url), fixed_key(7), origin="detente/test")
    with pytest.raises(ConflictingWriteError, match="origin"):
        Ledger(open_database(db_url), log_key, origin="elsewhere")


def test_reader_refuses_a_database_without_a_ledger(tmp_path):
    with pytest.raises(InputError, match="no ledger"):
        LedgerReader(open_database(f"sqlite:///{tmp_path / 'empty.sqlite'}"))


def _refused(ledger, item, error, match):
    before = (ledger.size, ledger.tree_head())
    with pytest.raises(error, match=match):
        ledger.append(item)
    # Never stored: neither in memory nor in the database.
    assert (ledger.size, ledger.tree_head()) == before
    reader = LedgerReader(ledger._store._engine)
    assert reader.size == before[0]
    with pytest.raises(InputError):
        reader.entry_bytes(before[0])


def test_bad_signature_is_refused_and_not_stored(ledger, tur):
    good = alert(tur, "TUR", 5)
    sig = bytearray(good.signature)
    sig[10] ^= 0x04
    _refused(ledger, SignedStatement(good.statement, bytes(sig)), VerificationError,
             "does not verify")


def test_altered_statement_is_refused(ledger, tur):
    good = alert(tur, "TUR", 5)
    altered = dataclasses.replace(good.statement, body={"n": 6})
    _refused(ledger, SignedStatement(altered, good.signature), VerificationError,
             "does not verify")


def test_statement_in_another_partys_name_is_refused(ledger, syr):
    # SYR signs with its own key but claims to be TUR.
    _refused(ledger, alert(syr, "TUR", 5), VerificationError, "is not a key of 'TUR'")


def test_unregistered_party_is_refused(ledger):
    _refused(ledger, alert(fixed_key(8), "RUS", 5), ConflictingWriteError, "no registered key")


def test_non_canonical_bytes_are_refused(ledger, tur):
    data = alert(tur, "TUR", 5).canonical()
    _refused(ledger, data.replace(b'"n":5', b'"n":5.0'), VerificationError, "canonical")
    _refused(ledger, data + b" ", VerificationError, "canonical")


def test_reference_must_point_back(ledger, tur):
    _refused(ledger, alert(tur, "TUR", 5, ref=2), InputError, "not an earlier entry")
    ledger.append(alert(tur, "TUR", 5, ref=1))


def test_second_registration_is_refused(ledger, tur):
    _refused(ledger, key_statement(fixed_key(9), fixed_key(9), author="TUR", time=3.0),
             ConflictingWriteError, "already has key")


def test_rotation_retires_the_old_key(ledger, tur):
    new = fixed_key(10)
    # A rotation signed by someone else's key is refused.
    _refused(ledger, key_statement(fixed_key(11), new, author="TUR", time=3.0),
             VerificationError, "not a key of 'TUR'")
    ledger.append(key_statement(tur, new, author="TUR", time=3.0))
    _refused(ledger, alert(tur, "TUR", 6), VerificationError, "retired at entry 2")
    ledger.append(alert(new, "TUR", 7))
    assert ledger.keys.current("TUR").public_key == public_key_bytes(new)


def test_a_batch_is_all_or_nothing(ledger, tur, syr):
    bad = alert(syr, "TUR", 4)
    with pytest.raises(VerificationError, match="entry 3"):
        ledger.append_many([alert(tur, "TUR", 3), bad, alert(tur, "TUR", 5)])
    assert ledger.size == 2
    # Keys registered earlier in a refused batch are forgotten with it.
    with pytest.raises(VerificationError):
        ledger.append_many([key_statement(fixed_key(12), fixed_key(12), author="RUS", time=1.0),
                            bad])
    assert ledger.keys.current("RUS") is None


def test_cosignatures_settle_a_head(ledger, tur, syr):
    head = ledger.tree_head()
    ledger.add_cosignature(cosign(head, "TUR", tur, 1448355700.9))
    assert not ledger.is_settled(head.size, ["TUR", "SYR"])
    with pytest.raises(VerificationError, match="not that of a key of 'SYR'"):
        ledger.add_cosignature(cosign(head, "SYR", tur, 1448355700))
    bad = dataclasses.replace(cosign(head, "SYR", syr, 1448355700), time=1448355701)
    with pytest.raises(VerificationError, match="does not verify"):
        ledger.add_cosignature(bad)
    ledger.add_cosignature(cosign(head, "SYR", syr, 1448355700))
    assert ledger.is_settled(head.size, ["TUR", "SYR"])
    assert [c.party for c in ledger.cosignatures(head.size)] == ["SYR", "TUR"]
    with pytest.raises(ConflictingWriteError, match="already co-signed"):
        ledger.add_cosignature(cosign(head, "SYR", syr, 1448355800))


def test_cosigning_keys_must_be_active_in_the_signed_tree(ledger, tur, syr):
    # SYR registered at entry 1: its key is not in the tree of size 1.
    with pytest.raises(VerificationError, match="not active in the tree of size 1"):
        ledger.add_cosignature(cosign(ledger.head(1), "SYR", syr, 1448355700))
    new = fixed_key(13)
    ledger.append(key_statement(tur, new, author="TUR", time=3.0))  # entry 2
    ledger.append(alert(new, "TUR", 4))
    with pytest.raises(VerificationError, match="retired at 2"):
        ledger.add_cosignature(cosign(ledger.tree_head(), "TUR", tur, 1448355700))
    with pytest.raises(VerificationError, match="registered at entry 2"):
        ledger.add_cosignature(cosign(ledger.head(2), "TUR", new, 1448355700))
    # The old key co-signs the trees before its rotation (entry 2); the new key those after.
    ledger.add_cosignature(cosign(ledger.head(2), "TUR", tur, 1448355700))
    ledger.add_cosignature(cosign(ledger.head(3), "TUR", new, 1448355700))
    with pytest.raises(InputError, match="parties"):
        ledger.is_settled(3, [])


def test_proof_requests_out_of_range_are_input_errors(ledger):
    with pytest.raises(InputError):
        ledger.inclusion_proof(2, 2)
    with pytest.raises(InputError):
        ledger.consistency_proof(0, 2)
    with pytest.raises(InputError):
        ledger.consistency_proof(1, 3)
    with pytest.raises(InputError):
        ledger.head(7)


def test_inclusion_proof_verifies_independently(ledger, tur):
    for n in range(2, 20):
        ledger.append(alert(tur, "TUR", n))
    head = ledger.tree_head()
    for i in range(head.size):
        verify_inclusion(RFC9162_SHA256, i, head.size,
                         RFC9162_SHA256.hash_leaf(ledger.entry_bytes(i)),
                         ledger.inclusion_proof(i, head.size), head.root)


def _bad_signature(signed):
    sig = bytearray(signed.signature)
    sig[0] ^= 1
    return SignedStatement(signed.statement, bytes(sig))


@pytest.mark.parametrize("workers", [0, 1])
def test_the_earliest_bad_entry_is_named_with_or_without_workers(tmp_path, log_key, tur, workers):
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    with Ledger(open_database(url), log_key, origin="detente/test", clock=Clock(),
                verify_workers=workers) as ledger:
        ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
        good = [alert(tur, "TUR", n) for n in range(1, 151)]
        receipts = ledger.append_many(good)
        assert receipts[-1].head.root == ReferenceTree(leaves(ledger)).root(151)
        batch = [alert(tur, "TUR", n) for n in range(151, 301)]
        cases = [
            ({100: _bad_signature}, "entry 251 .* does not verify"),
            ({130: _bad_signature, 20: _bad_signature}, "entry 171 .* does not verify"),
            # A signature before a broken key rule is reported first, and the other way round.
            ({10: _bad_signature, 120: lambda s: alert(fixed_key(40), "RUS", 0)},
             "entry 161 .* does not verify"),
            ({5: lambda s: alert(fixed_key(40), "RUS", 0), 100: _bad_signature},
             "entry 156 .* no registered key"),
        ]
        for edits, match in cases:
            items = [edits.get(k, lambda s: s)(s) for k, s in enumerate(batch)]
            with pytest.raises((VerificationError, ConflictingWriteError), match=match):
                ledger.append_many(items)
            assert ledger.size == 151
        assert len(ledger.append_many(batch)) == 150


def test_a_database_of_an_earlier_detente_is_refused_with_a_clear_message(tmp_path, log_key):
    from detente.store.ledger_tables import LedgerStore

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    genesis = (0, RFC9162_SHA256.empty_root(), 0, bytes(64), bytes(64))
    LedgerStore(open_database(url)).create(
        {"origin": b"detente/test", "log_key": public_key_bytes(log_key)}, genesis)
    for open_it in (lambda: Ledger(open_database(url), log_key, origin="detente/test"),
                    lambda: LedgerReader(open_database(url))):
        with pytest.raises(ConflictingWriteError, match=r"earlier detente .* start a new database"):
            open_it()


def test_origins_are_c2sp_key_names(db_url, log_key):
    assert origin_for("detente/Hatay border") == "detente/Hatay-border"
    assert origin_for("a + b\tc") == "a-b-c"
    with pytest.raises(InputError, match="origin"):
        Ledger(open_database(db_url), log_key, origin="detente/Hatay border")


def test_a_checkpoint_carries_the_parties_cosignatures(ledger, tur, syr):
    head = ledger.tree_head()
    for party, key in (("TUR", tur), ("SYR", syr)):
        ledger.add_cosignature(cosign(head, party, key, 1448355700))
    note = ledger.checkpoint()
    again, cosignatures = TreeHead.from_note(note)
    assert again == head and [c.party for c in cosignatures] == ["SYR", "TUR"]
    assert note.startswith(f"detente/test\n{head.size}\n")
