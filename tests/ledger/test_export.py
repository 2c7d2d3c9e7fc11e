"""Each party's copy of the record: in full exactly what it is party to, leaf hashes for the
rest, and the same roots, heads and proofs as the operator's export. Streamed from one snapshot
with bounded memory."""

import base64
import hashlib
import io
import json
import secrets
import tempfile
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_helpers import T0, Clock, fixed_key, said

from detente.ledger import (
    EVERYONE,
    Ledger,
    audit_export,
    delivery_receipt,
    key_statement,
    sign_statement,
)
from detente.store.database import open_database

PARTIES = ("COA", "RUS", "SYR", "TUR")
LOG = fixed_key(1)


def keys_of(parties):
    return {p: fixed_key(10 + k) for k, p in enumerate(PARTIES) if p in parties}


# One action of a random history; indexes into earlier actions are taken modulo their count.
ACTION = st.one_of(
    st.tuples(st.just("alert"), st.lists(st.integers(0, 3), min_size=2, max_size=2),
              st.booleans()),
    st.tuples(st.just("message"), st.integers(0, 3), st.integers(0, 3), st.booleans()),
    st.tuples(st.just("ack"), st.integers(0, 99)),
    st.tuples(st.just("receipt"), st.integers(0, 99), st.integers(0, 3)),
    st.tuples(st.just("overlap"), st.integers(0, 3), st.integers(0, 3)),
    st.tuples(st.just("anchor"), st.booleans()),
)


def build(ledger, parties, actions):
    """Append a history; return, per entry index, the parties it must be shown to (worked
    out from the actions here, not by the ledger's rules), and a marker only its body holds
    (delivery receipts hold none: their body is a leaf hash)."""
    keys = keys_of(parties)
    want: dict[int, frozenset[str]] = {}
    markers: dict[int, str] = {}
    ledger.append(key_statement(LOG, LOG, author="detente", time=T0))
    want[0] = frozenset({EVERYONE})
    for p in parties:
        r = ledger.append(key_statement(keys[p], keys[p], author=p, time=T0))
        want[r.index] = frozenset({EVERYONE})
    told: list[tuple[int, frozenset[str], str]] = []  # index, audience, sender
    messages: list[tuple[int, frozenset[str], str]] = []  # index, audience, addressee
    for n, action in enumerate(actions):
        marker = f"secret-{n}-{secrets.token_hex(4)}"
        body = {"marker": marker}
        kind = action[0]
        if kind == "alert":
            two = sorted({parties[i % len(parties)] for i in action[1]})
            to = two[-1] if action[2] else None
            statement = said(LOG, "alert", {**body, "parties": two,
                                            **({"to": to} if to else {})}, n=n)
            audience, sender = frozenset([to] if to else two), "detente"
        elif kind == "message":
            frm, to = parties[action[1] % len(parties)], parties[action[2] % len(parties)]
            if action[3]:  # an automatic warning, said on the sender's behalf
                statement = said(LOG, "hotline.message",
                                 {**body, "to_party": to, "from_party": frm}, n=n)
            else:
                statement = sign_statement(keys[frm], kind="hotline.message", author=frm,
                                           time=T0 + n, body={**body, "to_party": to})
            audience, sender = frozenset({frm, to}), frm
        elif kind == "ack" and messages:
            index, audience, to = messages[action[1] % len(messages)]
            statement = sign_statement(keys[to], kind="hotline.ack", author=to, time=T0 + n,
                                       body=body, ref=index)
            sender = to
        elif kind == "receipt" and told:
            index, audience, sender = told[action[1] % len(told)]
            by = sorted(audience)[action[2] % len(audience)]
            statement = delivery_receipt(keys[by], author=by, index=index,
                                         entry=ledger.entry(index), time=T0 + n)
        elif kind == "overlap":
            two = sorted({parties[action[1] % len(parties)], parties[action[2] % len(parties)]})
            statement = said(LOG, "intent.overlap", {**body, "parties": two}, n=n)
            audience, sender = frozenset(two), "detente"
        elif kind == "anchor":
            one = parties[0] if action[1] else None
            statement = said(LOG, "recording.anchor", {**body, **({"party": one} if one else {})},
                             n=n)
            audience, sender = frozenset([one] if one else []), "detente"
        else:
            continue
        r = ledger.append(statement)
        want[r.index] = audience
        if kind != "receipt":
            markers[r.index] = marker
        if kind in ("alert", "message", "overlap"):
            told.append((r.index, audience, sender))
        if kind == "message":
            messages.append((r.index, audience, statement.statement.body["to_party"]))
    return want, markers


def check_copy(ledger, party, want, markers):
    copy = b"".join(ledger.export_lines(party))
    report = audit_export(io.BytesIO(copy), log_key=ledger.log_public_key)
    assert report.copy_of == party and report.root == ledger.tree_head().root
    assert report.entries == ledger.size
    lines = [json.loads(line) for line in copy.splitlines()]
    assert lines[0]["party"] == party
    entries = {line["index"]: line for line in lines if "index" in line}
    for index, audience in want.items():
        data = ledger.entry_bytes(index)
        shown = party in audience or EVERYONE in audience
        line = entries[index]
        if shown:
            assert json.dumps(line["leaf"], separators=(",", ":"), sort_keys=True,
                              ensure_ascii=False).encode() == data
        else:
            # The hash the tree needs, and nothing of the entry: no salt, no signature, no
            # word of its body anywhere in the copy.
            assert set(line) == {"index", "leaf_hash"}
            assert base64.b64decode(line["leaf_hash"]) == hashlib.sha256(b"\x00" + data).digest()
            entry = ledger.entry(index)
            for secret in (base64.b64encode(entry.salt), base64.b64encode(entry.signature)):
                assert secret not in copy
            if index in markers:
                assert markers[index].encode() not in copy
    assert report.in_full == sum(party in a or EVERYONE in a for a in want.values())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 4), st.lists(ACTION, min_size=1, max_size=25))
def test_each_party_holds_in_full_exactly_what_it_is_party_to(count, actions):
    parties = PARTIES[:count]
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'log.sqlite'}"
        with Ledger(open_database(url), LOG, origin="detente/test", clock=Clock(),
                    verify_workers=0) as ledger:
            want, markers = build(ledger, parties, actions)
            full = b"".join(ledger.export_lines())
            assert audit_export(io.BytesIO(full)).in_full == ledger.size
            for party in parties:
                check_copy(ledger, party, want, markers)


def big_log(folder: str, n: int) -> Ledger:
    ledger = Ledger(open_database(f"sqlite:///{Path(folder) / f'{n}.sqlite'}"), LOG,
                    origin="detente/test", clock=Clock(), verify_workers=0)
    ledger.append(key_statement(LOG, LOG, author="detente", time=T0))
    pool = [said(LOG, "alert", {"parties": ["RUS", "TUR"], "point": [36.1, 35.8 + k / 1e4]},
                 n=k) for k in range(500)]
    while ledger.size < n:
        ledger.append_many(pool[: min(500, n - ledger.size)])
    return ledger


def export_peak(ledger, party):
    tracemalloc.start()
    try:
        size = sum(len(line) for line in ledger.export_lines(party))
        return size, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_export_streams_in_bounded_memory(tmp_path):
    small, large = big_log(str(tmp_path), 4_000), big_log(str(tmp_path), 20_000)
    for party in (None, "COA"):
        size_small, peak_small = export_peak(small, party)
        size_large, peak_large = export_peak(large, party)
        assert size_large > 4.5 * size_small
        # Five times the log, not five times the memory: pages of rows, one at a time.
        assert peak_large < 1.5 * peak_small + 1e6, (party, peak_small, peak_large)
        if party is None:
            # Whole in memory, the full export would take more than its size.
            assert peak_large < size_large / 3, (peak_large, size_large)


def test_the_export_reads_one_snapshot_while_the_log_grows(ledger, tur):
    for n in range(40):
        ledger.append(sign_statement(tur, kind="alert", author="TUR", time=T0 + n, body={}))
    head = ledger.tree_head()
    lines = ledger.export_lines("TUR")
    got = [next(lines) for _ in range(10)]
    for n in range(40, 60):  # committed while the export is half read
        ledger.append(sign_statement(tur, kind="alert", author="TUR", time=T0 + n, body={}))
    got += list(lines)
    report = audit_export(got)
    assert (report.entries, report.root) == (head.size, head.root)


def test_the_export_may_be_read_from_one_thread_then_another(ledger, tur):
    for n in range(30):
        ledger.append(sign_statement(tur, kind="alert", author="TUR", time=T0 + n, body={}))
    lines = ledger.export_lines("SYR")
    threads = [ThreadPoolExecutor(1), ThreadPoolExecutor(1)]
    got = []
    try:
        for k in range(10_000):
            line = threads[k % 2].submit(next, lines, None).result()
            if line is None:
                break
            got.append(line)
    finally:
        for t in threads:
            t.shutdown()
    assert audit_export(got).entries == ledger.size
    # Left half read, it lets its snapshot go when closed.
    again = ledger.export_lines()
    next(again)
    again.close()
    ledger.append(sign_statement(tur, kind="alert", author="TUR", time=T0, body={}))


def test_chunks_are_whole_lines(ledger, tur):
    for n in range(30):
        ledger.append(sign_statement(tur, kind="alert", author="TUR", time=T0 + n, body={}))
    chunks = list(ledger.export_chunks("TUR", size=1000))
    assert len(chunks) > 3 and all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks) == b"".join(ledger.export_lines("TUR"))


def test_a_party_gets_an_entry_beside_a_receipt_only_if_it_is_addressed_to_it(ledger, log_key,
                                                                               tur, syr):
    ledger.append(key_statement(log_key, log_key, author="detente", time=T0))
    r = ledger.append(said(log_key, "alert", {"parties": ["SYR", "TUR"]}))
    assert ledger.entry_for(r.index, "TUR") == r.entry
    assert ledger.entry_for(r.index, "COA") is None
    assert ledger.entry_for(0, "COA") is not None  # a key registration: everyone's


def test_coas_copy_of_the_2015_record_holds_nothing_of_russias_aircraft(tmp_path):
    """The built-in case: RUS shares nothing with COA. The service says each party's view of
    an alert as its own statement (``to``); TUR-RUS alerts and hotline traffic are theirs;
    an anchor of every party's reports (a count) is nobody's. COA's copy must not hold a RUS
    aircraft id, position or report count."""
    keys = {p: fixed_key(10 + k) for k, p in enumerate(("COA", "RUS", "TUR"))}
    ledger = Ledger(open_database(f"sqlite:///{tmp_path / 'c.sqlite'}"), LOG,
                    origin="detente/Hatay-border", clock=Clock(), verify_workers=0)
    ledger.append_many([key_statement(LOG, LOG, author="detente", time=T0)]
                       + [key_statement(k, k, author=p, time=T0) for p, k in keys.items()])
    exact = [36.16532813666011, 35.81604344829289]
    ledger.append_many([
        said(LOG, "alert", {"parties": ["RUS", "TUR"], "tracks": [["RUS", "SU24-LEAD"],
                                                                   ["TUR", "F16-1"]],
                            "point": exact}),
        sign_statement(keys["TUR"], kind="hotline.message", author="TUR", time=T0,
                       body={"to_party": "RUS", "body": "SU24-LEAD, turn south"}),
        said(LOG, "hotline.message", {"to_party": "RUS", "from_party": "TUR",
                                      "body": "Automatic warning to SU24-WING"}),
        # RUS-COA: each party's own view, COA's rounded to 5,000 m and without RUS's ids.
        said(LOG, "alert", {"parties": ["COA", "RUS"], "to": "RUS",
                            "tracks": [["RUS", "SU24-WING"], ["COA", "COA-1"]],
                            "point": [35.91, 36.41]}),
        said(LOG, "alert", {"parties": ["COA", "RUS"], "to": "COA",
                            "tracks": [["COA", "COA-1"]], "point": [35.9, 36.4],
                            "precision_m": 5000}),
        said(LOG, "recording.anchor", {"first_row": 1, "last_row": 412, "reports": 412}),
    ])
    copy = b"".join(ledger.export_lines("COA"))
    for secret in (b"SU24", b"36.1653", b"35.816", b"35.91", b"36.41", b"412", b"F16-1"):
        assert secret not in copy, secret
    assert b"COA-1" in copy and b'"precision_m":5000' in copy
    report = audit_export(copy.splitlines(keepends=True))
    assert (report.in_full, report.entries) == (5, 10)
