import base64
import io
import itertools
import json
import random

import pytest
from ledger_helpers import Clock, fixed_key
from merkle_reference import ReferenceTree

from detente.errors import VerificationError
from detente.ledger import (
    Ledger,
    RecordVerificationError,
    audit_export,
    key_statement,
    sign_statement,
)
from detente.ledger.heads import cosign
from detente.ledger.keys import public_key_bytes
from detente.store.database import open_database


def alert(key, author, n, ref=None):
    return sign_statement(key, kind="alert", author=author, time=1448355600.0 + n,
                          body={"n": n, "text": f"warning {n}"}, ref=ref)


@pytest.fixture
def record(ledger, tur, syr):
    """A log with batches, a rotation, references and cosignatures, and its export."""
    new_tur = fixed_key(20)
    ledger.append_many([alert(tur, "TUR", 2), alert(syr, "SYR", 3, ref=2)])
    ledger.append(key_statement(tur, new_tur, author="TUR", time=4.0))
    for n in range(5, 12, 3):
        ledger.append_many([alert(new_tur, "TUR", n), alert(syr, "SYR", n + 1, ref=n - 1),
                            alert(new_tur, "TUR", n + 2)])
    for size in (4, ledger.size):
        head = ledger.head(size)
        ledger.add_cosignature(cosign(head, "SYR", syr, head.time + 1))
        key = tur if size == 4 else new_tur
        ledger.add_cosignature(cosign(head, "TUR", key, head.time + 2))
    ledger.add_cosignature(cosign(ledger.head(5), "SYR", syr, 1448355700))
    out = io.BytesIO()
    ledger.export(out)
    return ledger, out.getvalue()


def lines(data):
    return io.BytesIO(data)


def head_row(rows, size):
    """The position of the export line of the head of ``size``."""
    return next(k for k, r in enumerate(rows) if r.startswith(b'{"checkpoint"')
                and json.loads(r)["checkpoint"].split("\n")[1] == str(size))


def test_a_true_export_verifies(record):
    ledger, data = record
    report = audit_export(lines(data), log_key=ledger.log_public_key)
    ref = ReferenceTree([ledger.entry_bytes(i) for i in range(ledger.size)])
    assert report.entries == ledger.size == 14
    assert report.root == ref.root(14)
    # Heads: the empty one, one per append call (2 registrations, 1 pair, 1 rotation, 3 triples).
    assert report.heads == 8
    # Heads 4 and 14 have both parties' cosignatures; head 5 only SYR's.
    assert report.settled == 2
    assert report.parties == ("SYR", "TUR")


def test_every_line_is_canonical_and_numbered(record):
    _, data = record
    rows = data.split(b"\n")
    assert rows[-1] == b""
    indexes = [json.loads(r)["index"] for r in rows[:-1] if r.startswith(b'{"index"')]
    assert indexes == list(range(14))


def test_a_flipped_bit_anywhere_is_found(record):
    _, data = record
    rng = random.Random(20151124)
    positions = rng.sample(range(len(data) * 8), 400)
    for bit in positions:
        bad = bytearray(data)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(RecordVerificationError):
            audit_export(lines(bytes(bad)))


def test_the_bad_entry_is_named(record, syr):
    _, data = record
    rows = data.split(b"\n")
    at = next(k for k, r in enumerate(rows) if r.startswith(b'{"index":6,'))
    entry = json.loads(rows[at])
    entry["leaf"]["statement"]["body"]["n"] = 0  # "no warning was given"
    rows[at] = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode()
    with pytest.raises(RecordVerificationError, match="does not verify") as info:
        audit_export(lines(b"\n".join(rows)))
    assert (info.value.line, info.value.where) == (at + 1, "entry 6")


def test_the_bad_head_is_named(record):
    _, data = record
    rows = data.split(b"\n")
    at = head_row(rows, 8)
    head = json.loads(rows[at])
    # RFC 9162 SUBPROOF(5, D[8], true) = [leaf 4, leaf 5, MTH(D[6:8]), MTH(D[0:4])]
    assert len(head["consistency"]) == 4
    head["consistency"] = head["consistency"][::-1]
    rows[at] = json.dumps(head, separators=(",", ":"), sort_keys=True,
                          ensure_ascii=False).encode()
    with pytest.raises(RecordVerificationError) as info:
        audit_export(lines(b"\n".join(rows)))
    assert (info.value.line, info.value.where) == (at + 1, "tree head of size 8")


@pytest.mark.parametrize("edit", ["drop entry", "swap entries", "drop last head", "duplicate"])
def test_missing_or_moved_lines_are_found(record, edit):
    _, data = record
    rows = data.split(b"\n")[:-1]
    k = next(k for k, r in enumerate(rows) if r.startswith(b'{"index":9,'))
    if edit == "drop entry":
        del rows[k]
    elif edit == "swap entries":
        rows[k], rows[k + 1] = rows[k + 1], rows[k]
    elif edit == "drop last head":
        del rows[-1]
    else:
        rows.insert(k, rows[k])
    with pytest.raises(RecordVerificationError):
        audit_export(lines(b"\n".join(rows) + b"\n"))


def test_pinned_log_key_must_match(record):
    _, data = record
    with pytest.raises(RecordVerificationError, match="not the pinned key"):
        audit_export(lines(data), log_key=public_key_bytes(fixed_key(30)))


def test_kept_heads_catch_a_truncated_or_rewritten_log(record, tmp_path, log_key, tur, syr):
    ledger, data = record
    kept = [ledger.head(4), ledger.tree_head()]
    assert audit_export(lines(data), kept_heads=kept).kept_heads_checked == 2
    # Cut at a head boundary, the export is a valid shorter log: only kept heads tell.
    rows = data.split(b"\n")
    cut = head_row(rows, 5)
    short = b"\n".join(rows[: cut + 1]) + b"\n"
    assert audit_export(lines(short)).entries == 5
    with pytest.raises(RecordVerificationError, match="lost entries"):
        audit_export(lines(short), kept_heads=kept)
    # Another history under the same log key, diverging at entry 2.
    other = Ledger(open_database(f"sqlite:///{tmp_path / 'other.sqlite'}"), log_key,
                   origin="detente/test", clock=Clock())
    other.append(ledger.entry(0))  # the same entries, salts included
    other.append(ledger.entry(1))
    other.append_many([alert(tur, "TUR", 99), alert(tur, "TUR", 2), alert(syr, "SYR", 3)])
    out = io.BytesIO()
    other.export(out)
    with pytest.raises(RecordVerificationError, match="rewrote history"):
        audit_export(lines(out.getvalue()), kept_heads=kept)


def test_a_truncated_file_is_found(record):
    _, data = record
    with pytest.raises(RecordVerificationError, match="newline"):
        audit_export(lines(data[:-1]))
    with pytest.raises(VerificationError, match="no tree head"):
        audit_export(lines(data.split(b"\n", 1)[0] + b"\n"))


def test_export_proofs_are_the_stores_with_or_without_nodes_in_memory(ledger, tur, monkeypatch):
    # The export computes consistency proofs from the entries it streams; past a bound on the
    # nodes it keeps it reads them from the store. Both must give the store's proofs.
    import detente.ledger.export as export

    n = 2
    for batch in (1, 2, 5, 1, 9, 16, 3, 1, 1, 33):
        ledger.append_many([alert(tur, "TUR", n + k) for k in range(batch)])
        n += batch
    out = io.BytesIO()
    ledger.export(out)
    rows = [json.loads(r) for r in out.getvalue().splitlines()]
    heads = [r for r in rows if "checkpoint" in r]
    assert len(heads) == 13
    for older, newer in itertools.pairwise(heads):
        m, size = (int(h["checkpoint"].split("\n")[1]) for h in (older, newer))
        want = ledger.consistency_proof(m, size) if m else []
        assert newer["consistency"] == [base64.b64encode(p).decode() for p in want], (m, size)
    monkeypatch.setattr(export, "EXPORT_NODES_IN_MEMORY", 4)
    again = io.BytesIO()
    ledger.export(again)
    assert again.getvalue() == out.getvalue()
    assert audit_export(lines(again.getvalue()), log_key=ledger.log_public_key).entries == n


def test_a_head_settles_with_the_parties_cosignatures_not_the_logs_or_officials(
        ledger, log_key, tur, syr):
    """The service registers its own key as an author, and officials sign for their party:
    neither co-signs tree heads, and neither is waited for."""
    official = fixed_key(31)
    ledger.append_many([key_statement(log_key, log_key, author="detente", time=5.0),
                        key_statement(official, official, author="TUR/tur-watch", time=5.0),
                        alert(official, "TUR/tur-watch", 6)])
    head = ledger.head(ledger.size)
    ledger.add_cosignature(cosign(head, "SYR", syr, head.time + 1))
    ledger.add_cosignature(cosign(head, "TUR", tur, head.time + 2))
    out = io.BytesIO()
    ledger.export(out)
    report = audit_export(lines(out.getvalue()), log_key=ledger.log_public_key)
    assert report.parties == ("SYR", "TUR")
    assert report.settled == 1


# --- copies, audiences, settlement ---------------------------------------------------------

def scenario(ledger, log_key, tur, syr):
    """The service and two parties; an alert to both, one to SYR alone, a message."""
    from ledger_helpers import said

    ledger.append(key_statement(log_key, log_key, author="detente", time=5.0))
    ledger.append_many([said(log_key, "alert", {"parties": ["SYR", "TUR"], "n": 1}),
                        said(log_key, "alert", {"parties": ["SYR", "TUR"], "to": "SYR"}),
                        sign_statement(tur, kind="hotline.message", author="TUR", time=6.0,
                                       body={"to_party": "SYR", "body": "Confirm"})])


def rows_of(data):
    return [json.loads(r) for r in data.splitlines()]


def canonical_lines(rows):
    import rfc8785

    return b"".join(rfc8785.dumps(r) + b"\n" for r in rows)


def test_a_partys_copy_verifies_to_the_same_root(ledger, log_key, tur, syr):
    scenario(ledger, log_key, tur, syr)
    full = audit_export(ledger.export_lines())
    copy = audit_export(ledger.export_lines("TUR"), log_key=ledger.log_public_key)
    assert (copy.root, copy.entries, copy.heads) == (full.root, full.entries, full.heads)
    # TUR: the three key registrations, the alert to both and its own message.
    assert (copy.copy_of, copy.in_full) == ("TUR", 5)
    assert "TUR's copy: 5 entries in full, 1 as leaf hashes only" in copy.summary()


def test_a_copy_holding_what_its_party_may_not_see_is_refused(ledger, log_key, tur, syr):
    scenario(ledger, log_key, tur, syr)
    rows = rows_of(b"".join(ledger.export_lines("TUR")))
    k = next(k for k, r in enumerate(rows) if r.get("index") == 4)
    assert set(rows[k]) == {"index", "leaf_hash"}
    rows[k] = {"index": 4, "leaf": ledger.entry(4).to_json()}
    with pytest.raises(RecordVerificationError, match="TUR's copy, but entry 4 is addressed to"):
        audit_export(canonical_lines(rows).splitlines(keepends=True))
    # And the full export holds every entry whole.
    rows = rows_of(b"".join(ledger.export_lines()))
    rows[k] = {"index": 4, "leaf_hash": "A" * 43 + "="}
    with pytest.raises(RecordVerificationError, match="leaf hash only"):
        audit_export(canonical_lines(rows).splitlines(keepends=True))


def test_an_entry_addressed_against_its_rule_is_named(ledger, log_key, tur, syr):
    scenario(ledger, log_key, tur, syr)
    rows = rows_of(b"".join(ledger.export_lines()))
    k = next(k for k, r in enumerate(rows) if r.get("index") == 4)
    rows[k]["leaf"]["audience"] = ["SYR", "TUR"]  # the author's signature does not cover it
    with pytest.raises(RecordVerificationError, match=r"entry 4 \(alert by detente\) is "
                       r"addressed to \['SYR', 'TUR'\]; its kind's rule gives \['SYR'\]"):
        audit_export(canonical_lines(rows).splitlines(keepends=True))


def test_an_earlier_detentes_export_is_refused_with_a_clear_message():
    old = b'{"format":"detente-record/1","log_key":"AAAA","origin":"detente/x"}\n'
    with pytest.raises(RecordVerificationError, match=r"earlier detente's .* verify it with "
                       r"the detente that wrote it"):
        audit_export([old])


def test_settlement_by_the_heads_own_times(tmp_path, log_key, tur):
    times = iter(range(1_448_349_600, 1_448_349_600 + 10_000, 100))
    ledger = Ledger(open_database(f"sqlite:///{tmp_path / 's.sqlite'}"), log_key,
                    origin="detente/test", clock=lambda: float(next(times)))
    for n in range(4):
        ledger.append(alert(tur, "TUR", n) if n else key_statement(tur, tur, author="TUR",
                                                                   time=1.0))
    # No party co-signed: nothing is settled, and the oldest head is 300 s older than the last.
    report = audit_export(ledger.export_lines(), grace_s=300)
    assert (report.settled_size, report.unsettled_from[0]) == (0, 1)
    with pytest.raises(RecordVerificationError, match="tree head of size 1: not settled"):
        audit_export(ledger.export_lines(), grace_s=299)
    head = ledger.head(3)
    ledger.add_cosignature(cosign(head, "TUR", tur, head.time))
    ledger.append(alert(tur, "TUR", 9))  # the head of size 5, 100 s after that of size 4
    report = audit_export(ledger.export_lines(), grace_s=100)
    assert (report.settled_size, report.unsettled_from) == (3, (4, head.time + 100))
    with pytest.raises(RecordVerificationError, match="tree head of size 4: not settled "
                       r"\(not co-signed by TUR\), and signed 100 s before"):
        audit_export(ledger.export_lines(), grace_s=99)
