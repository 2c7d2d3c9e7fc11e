"""The digest of recorded reports, held to bytes packed by hand and to the rows as the
database holds them (read back with the database's own driver, not through detente), on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from detente.store import recording as rec
from detente.store.database import open_database
from detente.store.report_digest import Anchor, ReportChain, rows_bytes
from tests.postgres import raw_rows


def by_hand(party: str, track_id: str, received: float, *values: float) -> bytes:
    p, i = party.encode(), track_id.encode()
    return (struct.pack(">H", len(p)) + p + struct.pack(">H", len(i)) + i
            # The layout hashes -0.0 as 0.0 (SQLite gives it back as 0.0, PostgreSQL as -0.0).
            + struct.pack("<8d", *(v + 0.0 for v in (received, *values))))


def test_the_bytes_of_a_row_are_the_documented_layout():
    values = np.array([[100.5, 36.1, 35.9, 7000.0, 210.0, 359.5, -2.5],
                       [101.0, -0.5, 179.9, 0.0, 0.0, 0.0, -0.0]])
    got = rows_bytes("RUS", ["SU24-1", "Ç-2"], values, 99.25)
    assert got == (by_hand("RUS", "SU24-1", 99.25, 100.5, 36.1, 35.9, 7000.0, 210.0, 359.5, -2.5)
                   + by_hand("RUS", "Ç-2", 99.25, 101.0, -0.5, 179.9, 0.0, 0.0, 0.0, 0.0))
    # Negative zero, which SQLite gives back as zero, is hashed as zero.
    assert struct.pack("<d", -0.0) not in got[-8:]
    # Per-row received times.
    two = rows_bytes("A", ["x", "y"], np.zeros((2, 7)), np.array([1.0, 2.0]))
    assert two == by_hand("A", "x", 1.0, *[0.0] * 7) + by_hand("A", "y", 2.0, *[0.0] * 7)


def test_a_chain_anchors_contiguous_rows_and_starts_again_at_a_gap():
    chain = ReportChain()
    v = np.arange(14, dtype=float).reshape(2, 7)
    chain.add(1, "A", ["a1", "a2"], v, 10.0)
    chain.add(3, "B", ["b1"], v[:1], 11.0)
    chain.add(7, "A", ["a3"], v[1:], 12.0)  # rows 4-6 are not the chain's: a new anchor
    first, second = chain.cut()
    want = hashlib.sha256(by_hand("A", "a1", 10.0, *v[0]) + by_hand("A", "a2", 10.0, *v[1])
                          + by_hand("B", "b1", 11.0, *v[0])).hexdigest()
    assert first == Anchor(1, 3, 10.0, 11.0, want)
    assert second == Anchor(7, 7, 12.0, 12.0,
                            hashlib.sha256(by_hand("A", "a3", 12.0, *v[1])).hexdigest())
    assert first.body()["reports"] == 3


def test_anchors_not_confirmed_are_cut_again_with_what_came_after():
    chain = ReportChain()
    v = np.zeros((1, 7))
    chain.add(1, "A", ["a"], v, 1.0)
    failed = chain.cut()
    chain.add(2, "A", ["b"], v, 2.0)  # not the same anchor: the first was cut
    again = chain.cut()
    assert again[0] == failed[0] and [(a.first_row, a.last_row) for a in again] == [(1, 1),
                                                                                       (2, 2)]
    chain.confirm(again)
    assert chain.cut() == []


@pytest.mark.parametrize("body", [
    None, {}, {"first_row": 0, "last_row": 3, "sha256": "00" * 32, "received_from": 1,
               "received_to": 2},
    {"first_row": 5, "last_row": 3, "sha256": "00" * 32, "received_from": 1, "received_to": 2},
    {"first_row": 1, "last_row": 3, "sha256": "zz" * 32, "received_from": 1, "received_to": 2},
    {"first_row": True, "last_row": 3, "sha256": "00" * 32, "received_from": 1,
     "received_to": 2},
    {"first_row": 1, "last_row": 3, "sha256": "00" * 32, "received_from": "1",
     "received_to": 2},
])
def test_a_body_that_is_not_an_anchor_is_refused(body):
    with pytest.raises(ValueError):
        Anchor.from_body(body)


def test_the_recorder_chains_exactly_the_committed_rows(database_url):
    engine = open_database(database_url)
    recorder = rec.Recorder(engine)
    chain = ReportChain()
    rng = np.random.default_rng(3)
    futures = []
    for k in range(12):
        n = int(rng.integers(1, 40))
        values = rng.normal(size=(n, 7)) * 100
        futures.append(recorder.submit(rec.insert_reports(
            "ABC"[k % 3], [f"t{k}-{j}" for j in range(n)], values, 1000.0 + k, chain)))
    for f in futures:
        f.result(10)

    # A group whose other work fails is retried one by one: the good batch is chained once.
    def bad(conn):
        raise RuntimeError("a bug in a work item")
    good = rec.insert_reports("A", ["late"], np.ones((1, 7)), 2000.0, chain)
    recorder.close()
    done: list = []
    recorder._commit([(good, _Done(done), False), (bad, _Done(done), True)])
    assert done[0] == "ok" and isinstance(done[1], RuntimeError)
    anchors = chain.cut()

    rows = raw_rows(database_url, "SELECT rowid, party, track_id, received, t, lat, lon, alt_m, "
                                  "gs_mps, trk_deg, vs_mps FROM track_reports ORDER BY rowid")
    assert rows[-1][2] == "late"
    if database_url.startswith("sqlite"):
        # SQLite numbers rows max + 1: no gap, one anchor.
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
        assert len(anchors) == 1
    else:
        # A sequence does not give back the numbers of a rolled-back insert: the retried
        # batch's row comes after a gap, and the chain starts a new anchor there rather than
        # claim a row that does not exist.
        assert len(anchors) == 2 and anchors[1].first_row > anchors[0].last_row + 1
    covered = []
    for anchor in anchors:
        inside = [r for r in rows if anchor.first_row <= r[0] <= anchor.last_row]
        assert len(inside) == anchor.reports
        assert anchor.sha256 == hashlib.sha256(
            b"".join(by_hand(r[1], r[2], *r[3:]) for r in inside)).hexdigest()
        covered += [r[0] for r in inside]
    assert covered == [r[0] for r in rows]
    assert (anchors[0].received_from, anchors[-1].received_to) == (1000.0, 2000.0)
    engine.dispose()


class _Done:
    """A stand-in for the Future a work item's caller waits on."""

    def __init__(self, log: list) -> None:
        self.log = log

    def set_result(self, value: object) -> None:
        self.log.append("ok")

    def set_exception(self, exc: BaseException) -> None:
        self.log.append(exc)
