"""The 2015 case through the mechanism, and what each party's copy of the record holds.

Issue 14's scenario: the built-in configuration (TUR, RUS, COA; RUS shares nothing with COA).
The Su-24s approach Turkey and the lead enters: warnings, automatic flash messages, anchors.
The oracle is the issue's rule, independent of the code: COA's copy, its receipts and its
stream hold no RUS aircraft's id, position or count; TUR's and RUS's copies hold whole every
statement addressed to them, and the leaf hashes of the rest verify the same tree.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from detente.ledger import audit_export
from detente.store import recording as rec
from tests.service.yayladagi_run import demo_config, fly

RUS_IDS = (b"SU24", b"SU-24")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = fly(tmp_path_factory.mktemp("views"), demo_config(), until_s=120.0)
    # The reports recorded, said in the record (the service anchors every anchor_s).
    assert asyncio.run(run.mechanism.anchor()) > 0
    yield run
    run.close()


def copy_of(run, party):
    return b"".join(run.ledger.export_lines(party))


def whole(export: bytes) -> list[dict]:
    return [json.loads(line)["leaf"] for line in export.splitlines() if b'"leaf"' in line]


def test_the_run_recorded_warnings_and_messages(run):
    kinds = {e["statement"]["kind"] for e in whole(copy_of(run, None))}
    assert {"alert", "hotline.message", "recording.anchor"} <= kinds


def test_coalitions_copy_receipts_and_stream_tell_nothing_of_russia(run):
    copy = copy_of(run, "COA")
    for name in RUS_IDS:
        assert name not in copy
    # Whole in COA's copy: the keys (everyone's) and nothing else; no anchor (counts).
    assert {e["statement"]["kind"] for e in whole(copy)} == {"key.register"}
    assert b"recording.anchor" not in copy
    # Its receipts give it no entry of the others.
    for i in range(run.ledger.size):
        entry = run.ledger.entry_for(i, "COA")
        assert entry is None or entry.statement.kind == "key.register"
    # Its stream: nothing of the Su-24s.
    for _, kind, data in rec.events_since(run.mechanism.engine, "COA", 0):
        text = json.dumps(data).encode()
        assert not any(name in text for name in RUS_IDS), kind


def test_each_partys_copy_holds_what_it_was_told_and_verifies(run):
    full = whole(copy_of(run, None))
    for party in ("TUR", "RUS", "COA"):
        export = copy_of(run, party)
        audit_export(export.splitlines(keepends=True))  # roots, heads, signatures
        told = [e for e in full if e["audience"] == ["*"] or party in e["audience"]]
        assert whole(export) == told, party
    # The Su-24 lead's warning is in Russia's and Turkey's copies, each its own statement.
    warned = {e["statement"]["body"]["to"] for e in full if e["statement"]["kind"] == "alert"
              and e["statement"]["body"]["severity"] in ("warning", "critical")}
    assert warned == {"RUS", "TUR"}
