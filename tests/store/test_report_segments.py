"""The compact recording: a segment's bytes held to the documented layout, decoded here by
hand (struct, zlib and Python integers, not the codec's numpy); the writer's numbers, anchors
and rollback held to the database read back with its own driver (sqlite3, psycopg)."""

from __future__ import annotations

import hashlib
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.store import recording as rec
from detente.store.database import open_database, write_transaction
from detente.store.report_digest import ReportChain
from detente.store.report_segments import ReportSegments, decode_segment, encode_segment
from detente.store.report_thinning import EXACT, Tolerance, quantize, quantize_times
from tests.postgres import raw_rows
from tests.store.test_report_digest import by_hand

# Steps per unit of each column, as the module's docstring states them: received, t, lat,
# lon, alt_m, gs_mps, trk_deg, vs_mps.
SCALES = (1e3, 1e3, 1e7, 1e7, 1e2, 1e2, 1e3, 1e2)


def segment_by_hand(body: bytes) -> tuple[list[str], list[float], list[tuple[float, ...]]]:
    """(ids, received, rows of 7 values) of a segment, read per the documented layout."""
    assert body[:4] == b"DRS1"
    exact = body[4] == 1
    raw = zlib.decompress(body[5:])
    (n,) = struct.unpack_from("<I", raw, 0)
    at = 4
    sizes = [struct.unpack_from("<H", raw, at + 2 * k)[0] for k in range(n)]
    at += 2 * n
    ids = []
    for size in sizes:
        ids.append(raw[at:at + size].decode("utf-8"))
        at += size
    columns = []
    for scale in SCALES:
        width = 8 if exact else raw[at]
        at += 0 if exact else 1
        planes = [raw[at + p * n:at + (p + 1) * n] for p in range(width)]
        at += width * n
        numbers = [sum(planes[p][i] << (8 * p) for p in range(width)) for i in range(n)]
        if exact:
            columns.append([struct.unpack("<d", z.to_bytes(8, "little"))[0] for z in numbers])
            continue
        total, column = 0, []
        for z in numbers:
            total += (z >> 1) ^ -(z & 1)  # zigzag, then the running sum of differences
            column.append(total / scale)
        columns.append(column)
    assert at == len(raw)
    return ids, columns[0], list(zip(*columns[1:], strict=True))


def test_a_segment_on_the_grid_is_the_documented_layout():
    values = np.array([[1_448_349_000.125, 36.1234567, 35.9, 7000.25, 210.5, 359.999, -2.5],
                       [1_448_349_001.0, -0.5, 179.9999999, 0.0, 0.0, 0.0, 3.0]])
    received = np.array([1_448_349_001.5, 1_448_349_001.5])
    body = encode_segment(["SU24-1", "Ç-2"], values, received, exact=False)
    ids, got_received, rows = segment_by_hand(body)
    assert ids == ["SU24-1", "Ç-2"]
    assert got_received == received.tolist()
    assert rows == [tuple(v) for v in values.tolist()]
    assert decode_segment(body)[0] == ids


def test_an_exact_segment_keeps_every_bit():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(50, 7)) * 1e3
    received = rng.uniform(1e9, 2e9, 50)
    ids = [f"t{k}" for k in range(50)]
    body = encode_segment(ids, values, received, exact=True)
    by_hand_ids, by_hand_received, rows = segment_by_hand(body)
    assert by_hand_ids == ids and by_hand_received == received.tolist()
    assert rows == [tuple(v) for v in values.tolist()]
    d_ids, d_values, d_received = decode_segment(body)
    assert d_ids == ids and d_values.tobytes() == values.tobytes()
    assert d_received.tobytes() == received.tobytes()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(
    st.text(min_size=1, max_size=64),
    st.floats(1e9, 2e9), st.floats(-90, 90), st.floats(-180, 180), st.floats(-1000, 1e5),
    st.floats(0, 1500), st.floats(0, 359.999), st.floats(-200, 200)), max_size=40))
def test_any_reports_on_the_grid_come_back_exactly(rows):
    ids = [r[0] for r in rows]
    values = quantize(np.array([r[1:] for r in rows], dtype=np.float64).reshape(-1, 7))
    received = quantize_times(np.full(len(rows), 1.5e9))
    body = encode_segment(ids, values, received, exact=False)
    got_ids, got_received, got_rows = segment_by_hand(body)
    assert got_ids == ids and got_received == received.tolist()
    assert got_rows == [tuple(v) for v in values.tolist()]
    d_ids, d_values, _ = decode_segment(body)
    assert d_ids == ids and d_values.tobytes() == values.tobytes()


def test_quantize_puts_reports_on_the_grid_within_half_a_step():
    rng = np.random.default_rng(1)
    values = np.column_stack([rng.uniform(1e9, 2e9, 1000), rng.uniform(-90, 90, 1000),
                              rng.uniform(-180, 180, 1000), rng.uniform(-1000, 1e5, 1000),
                              rng.uniform(0, 1500, 1000), rng.uniform(0, 360, 1000),
                              rng.uniform(-200, 200, 1000)])
    q = quantize(values)
    for k, scale in enumerate(SCALES[1:]):
        assert np.all(np.abs(q[:, k] - values[:, k]) <= 0.5 / scale * (1 + 1e-6)), k
    assert np.all(q[:, 5] < 360.0)
    assert quantize(np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 359.9999, 0.0]]))[0, 5] == 0.0


def recorded(where) -> list[tuple]:
    """Every recorded report, read with the database's own driver (``where``: a database URL,
    or an SQLite file) and decoded by hand: (number, party, id, received, t, lat, lon, alt_m,
    gs_mps, trk_deg, vs_mps)."""
    url = where if "://" in str(where) else f"sqlite:///{where}"
    out = []
    for first, last, party, body in raw_rows(
            url, "SELECT first_row, last_row, party, body FROM report_segments ORDER BY first_row"):
        ids, received, rows = segment_by_hand(bytes(body))
        assert last - first + 1 == len(ids)
        out += [(first + k, party, i, r, *v)
                for k, (i, r, v) in enumerate(zip(ids, received, rows, strict=True))]
    return out


def test_the_writer_numbers_after_track_reports_and_anchors_what_it_kept(tmp_path):
    path = tmp_path / "s.sqlite"
    engine = open_database(f"sqlite:///{path}")
    with write_transaction(engine) as conn:  # an earlier version's rows: numbers 1 to 3
        rec.insert_reports("A", ["x", "y", "z"], np.zeros((3, 7)), received=50.0)(conn)
    chain = ReportChain()
    writer = ReportSegments(EXACT, chain, floor_row=rec.legacy_last_row(engine))
    values = np.array([[100.0, 36.0, 36.0, 7000.0, 200.0, 90.0, 0.0],
                       [100.0, 36.5, 36.5, 7000.0, 200.0, 90.0, 0.0]])
    recorder = rec.Recorder(engine, on_rollback=writer.rollback)
    recorder.submit(writer.insert("A", ["a", "b"], values, 100.25)).result(10)
    recorder.submit(writer.insert("B", ["c"], values[:1], 101.0)).result(10)
    recorder.submit(lambda conn: None).result(10)  # the chain is fed after each commit
    recorder.close()
    rows = recorded(path)
    assert [r[:4] for r in rows] == [(4, "A", "a", 100.25), (5, "A", "b", 100.25),
                                     (6, "B", "c", 101.0)]
    (anchor,) = chain.cut()
    assert (anchor.first_row, anchor.last_row, anchor.tolerance) == (4, 6, {"exact": True})
    assert anchor.sha256 == hashlib.sha256(b"".join(by_hand(*r[1:]) for r in rows)).hexdigest()
    assert rec.last_report_row(engine) == 6
    assert [r["rowid"] for r in rec.reports_received_between(engine, None, None)] == [
        1, 2, 3, 4, 5, 6]
    assert [r["rowid"] for r in rec.reports_received_between(engine, 100.5, None)] == [6]


def test_a_failed_transaction_leaves_the_thinner_as_it_was(tmp_path):
    path = tmp_path / "f.sqlite"
    engine = open_database(f"sqlite:///{path}")
    writer = ReportSegments(Tolerance(), ReportChain())
    recorder = rec.Recorder(engine, on_rollback=writer.rollback)
    v = np.array([[100.0, 36.0, 36.0, 7000.0, 0.0, 90.0, 0.0]])  # hovering: flown on, it stays
    recorder.submit(writer.insert("A", ["a"], v, 100.0)).result(10)

    def boom(conn):
        raise RuntimeError("the disk, say")
    # Moved 1.1 km in 1 s: kept; in a group with a failing item it is tried again alone.
    jumped = v + np.array([[1.0, 0.01, 0.0, 0.0, 0.0, 0.0, 0.0]])
    done = recorder.submit(writer.insert("A", ["a"], jumped, 101.0))
    failing = recorder.submit(boom)
    done.result(10)
    with pytest.raises(RuntimeError):
        failing.result(10)
    # Kept in a transaction that fails, a report must not become the reference.
    with pytest.raises(RuntimeError), write_transaction(engine) as conn:
        writer.insert("A", ["a"], jumped + np.array([[1.0, 0.01, 0, 0, 0, 0, 0]]), 102.0)(conn)
        raise RuntimeError("rolled back")
    writer.rollback()
    # Where the last kept report (at 101 s) says it is: not kept.
    later = jumped + np.array([[1.0, 0.0, 0, 0, 0, 0, 0]])
    again = recorder.submit(writer.insert("A", ["a"], later, 102.0))
    again.result(10)
    recorder.close()
    assert [r[2:5] for r in recorded(path)] == [("a", 100.0, 100.0), ("a", 101.0, 101.0)]
