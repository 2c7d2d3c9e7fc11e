"""The recording of track reports, compact: the kept reports in compressed column segments.

At 10,000 tracks reporting once a second, a row per report (``track_reports``, ~120 bytes
with its index) filled 730 GB in the 7 days of retention. Here the reports a transaction
keeps (``report_thinning``: within a stated tolerance of dead reckoning, on a grid) are ONE
row: a segment of one party's reports, numbered ``first_row`` to ``last_row`` (the numbers
the record's anchors name, continuing those of ``track_reports``), with the times they were
received, in columns, compressed (``encode_segment``). The bytes hashed into the anchors are
the reports decoded from their segment, exactly (``report_digest.rows_bytes``).

A segment's body (zlib, level 6) holds, after a 4-byte magic and a flags byte: the number of
reports (u32), each track id (u16 length, UTF-8), then eight columns, received and the
REPORT_COLUMNS. On the grid (flag 0), each column is integers of the grid's steps, each row
the difference from the row before (zigzag), in the fewest bytes that hold them all, byte
planes one after the other (the high planes of small numbers compress to nothing). EXACT
(flag 1): the float64 values as received, byte planes too.

Portable SQL only (SQLAlchemy Core; the body a LargeBinary), so the same table serves SQLite
and PostgreSQL. On PostgreSQL several instances of a node write segments (each the reports it
took in): a transaction takes the next number under ``append_lock``, so numbers follow the
order of the commits, and the other instances follow the table by number
(``segments_following``), woken by a notice at each commit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Index,
    LargeBinary,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)

from detente.store.database import Base, BigId, append_lock, notify, reading
from detente.store.report_digest import ReportChain
from detente.store.report_thinning import (
    GRID,
    Held,
    Thinner,
    Tolerance,
    quantize,
    quantize_times,
)

__all__ = [
    "ReportSegments", "Segment", "decode_segment", "encode_segment", "first_segment_received",
    "last_segment_row", "prune_segments_before", "segments_after", "segments_between",
    "segments_following", "segments_table",
]

segments_table = Table(
    "report_segments", Base.metadata,
    # 64-bit report numbers on PostgreSQL (BigId).
    Column("first_row", BigId, primary_key=True, autoincrement=False),
    Column("last_row", BigId, nullable=False),
    Column("party", String(64), nullable=False),
    Column("received_from", Float, nullable=False),
    Column("received_to", Float, nullable=False),
    Column("body", LargeBinary, nullable=False),
    # Retention and the export's window find segments by when they were received.
    Index("ix_report_segments_received_to", "received_to"),
)

_MAGIC = b"DRS1"
_EXACT = 1
_TIME_STEPS = 1e3  # received, on the grid: ms
_SCALES = np.concatenate([[_TIME_STEPS], GRID])  # received, then REPORT_COLUMNS

Segment = tuple[int, str, list[str], np.ndarray, np.ndarray]
"""(first row, party, ids, (n, 7) values in REPORT_COLUMNS order, (n,) received)."""


def _planes(a: np.ndarray) -> bytes:
    """An array's bytes as planes: every element's first byte, then every second byte..."""
    return a.view(np.uint8).reshape(len(a), a.itemsize).T.tobytes()


def _unplanes(raw: bytes, n: int, dtype: np.dtype) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    return np.frombuffer(raw, np.uint8).reshape(width, n).T.copy().view(dtype).ravel()


def encode_segment(ids: Sequence[str], values: np.ndarray, received: np.ndarray,
                   exact: bool) -> bytes:
    """The body of a segment of ``ids``, ``values`` (n, 7) and ``received`` (n,); on the grid
    unless ``exact`` (then values and times go as they are, to the bit)."""
    n = len(ids)
    names = [i.encode("utf-8") for i in ids]
    parts = [struct.pack("<I", n), np.fromiter(map(len, names), dtype="<u2", count=n).tobytes(),
             b"".join(names)]
    columns = np.column_stack([np.asarray(received, dtype=np.float64), values])
    if exact:
        for k in range(columns.shape[1]):
            parts.append(_planes(columns[:, k].astype("<f8")))
    else:
        steps = np.rint(columns * _SCALES).astype(np.int64)
        for k in range(steps.shape[1]):
            d = np.diff(steps[:, k], prepend=np.int64(0))
            z = ((d << 1) ^ (d >> 63)).view(np.uint64)  # zigzag: small magnitudes stay small
            top = int(z.max()) if n else 0
            width = next(w for w in (1, 2, 4, 8) if top < 1 << (8 * w))
            parts.append(bytes([width]) + _planes(z.astype(f"<u{width}")))
    return _MAGIC + bytes([_EXACT if exact else 0]) + zlib.compress(b"".join(parts), 6)


def decode_segment(body: bytes) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, (n, 7) values, (n,) received) of a segment's body; ValueError if it is not one."""
    if body[:4] != _MAGIC or len(body) < 5:
        raise ValueError("not a segment of track reports")
    exact = body[4] == _EXACT
    raw = zlib.decompress(body[5:])
    (n,) = struct.unpack_from("<I", raw, 0)
    at = 4
    sizes = np.frombuffer(raw, dtype="<u2", count=n, offset=at).tolist()
    at += 2 * n
    ids = []
    for size in sizes:
        ids.append(raw[at:at + size].decode("utf-8"))
        at += size
    columns = np.empty((n, len(_SCALES)))
    for k in range(len(_SCALES)):
        if exact:
            columns[:, k] = _unplanes(raw[at:at + 8 * n], n, np.dtype("<f8"))
            at += 8 * n
            continue
        width = raw[at]
        z = _unplanes(raw[at + 1:at + 1 + width * n], n, np.dtype(f"<u{width}"))
        at += 1 + width * n
        z = z.astype(np.uint64)
        d = (z >> np.uint64(1)).astype(np.int64) ^ -(z & np.uint64(1)).astype(np.int64)
        columns[:, k] = np.cumsum(d) / _SCALES[k]
    columns += 0.0
    return ids, columns[:, 1:], columns[:, 0]


def _write(conn: Connection, first_row: int, party: str, ids: Sequence[str], values: np.ndarray,
           received: np.ndarray, exact: bool) -> None:
    conn.execute(insert(segments_table).values(
        first_row=first_row, last_row=first_row + len(ids) - 1, party=party,
        received_from=float(received.min()), received_to=float(received.max()),
        body=encode_segment(ids, values, received, exact)))


def last_segment_row(source: Engine | Connection) -> int:
    """The last report number of the segments (0: none)."""
    with reading(source) as conn:
        return int(conn.execute(select(func.max(segments_table.c.last_row))).scalar() or 0)


def first_segment_received(source: Engine | Connection) -> float | None:
    with reading(source) as conn:
        value = conn.execute(select(func.min(segments_table.c.received_from))).scalar()
    return None if value is None else float(value)


# Gets a Connection inside the open transaction; may return what to do once it is committed.
Work = Callable[[Any], "Callable[[], None] | None"]


class ReportSegments:
    """The writer of the compact recording: thins each batch (``Thinner``), numbers and
    writes what it keeps as a segment, and adds it to the anchors' digest once committed.

    Its works run in the recorder's thread, one transaction at a time; ``rollback`` (the
    recorder calls it when a transaction fails) forgets what the thinner learnt from it.
    ``floor_row``: the last number ``track_reports`` gave (a database of an earlier version).
    ``on_segment``, if set, is given each segment written here once it is committed, in commit
    order, in the recorder's thread (an instance of a node hands its own to its follower).

    One of several instances of a node learns what the others keep (``learn``): a track's
    reports may reach one instance, then another (a client that fails over), and each report
    must be judged against the track's last kept report whoever kept it.
    """

    def __init__(self, tolerance: Tolerance, chain: ReportChain | None = None,
                 floor_row: int = 0) -> None:
        self.tolerance = tolerance
        self.thinner = Thinner(tolerance)
        self.chain = chain
        self.floor_row = floor_row
        self.on_segment: Callable[[Segment], None] | None = None
        self.kept = 0  # reports kept, and received, since the start (for /health and benches)
        self.received = 0

    def insert(self, party: str, ids: Sequence[str], values: np.ndarray, received: float
               ) -> Work:
        """One party's accepted reports (``values`` (n, 7), track in [0, 360)), received at
        ``received`` (s): the work that records those the tolerance keeps."""
        exact = self.tolerance.exact

        def work(conn: Any) -> Callable[[], None] | None:
            if not len(ids):
                return None
            got = values if exact else quantize(values)
            at = float(received if exact else quantize_times(received))
            keep, held = self.thinner.select(party, ids, got, at)
            kept = [i for i, k in zip(ids, keep.tolist(), strict=True) if k] \
                if not keep.all() else list(ids)
            kept_values, kept_received = got[keep], np.full(len(kept), at)
            if held is not None:  # reports held back, kept now: before the batch's own
                kept = held.ids + kept
                kept_values = np.concatenate([held.values, kept_values])
                kept_received = np.concatenate([held.received, kept_received])
            written = self._segment(conn, party, kept, kept_values, kept_received)
            n = len(ids)

            def then() -> None:
                self.thinner.commit()
                self.received += n
                if written is not None:
                    self._anchor(*written)
            return then
        return work

    def flush(self, before: float | None) -> Work:
        """The work that keeps the held reports of tracks whose latest report is older than
        ``before`` (s: they left the live picture); of every track if None (a clean stop)."""
        def work(conn: Any) -> Callable[[], None]:
            held = (self.thinner.everything_held() if before is None
                    else self.thinner.stale(before))
            written = [w for h in held if (w := self._held(conn, h)) is not None]

            def then() -> None:
                self.thinner.commit()
                for w in written:
                    self._anchor(*w)
            return then
        return work

    def learn(self, kept: Sequence[tuple[str, Sequence[str], np.ndarray]]) -> Work:
        """The work that tells the thinner of reports kept elsewhere (another instance's
        segments, or the recording read back at a start or a take-over): (party, ids, (n, 7)
        values) each. Nothing is written."""
        def work(conn: Any) -> Callable[[], None]:
            self.learn_now(kept)
            return self.thinner.commit
        return work

    def learn_now(self, kept: Sequence[tuple[str, Sequence[str], np.ndarray]]) -> None:
        """``learn``, in the calling thread: only where no work of this writer can run at the
        same time (before the recorder is given any). Not committed: ``rollback`` undoes it."""
        for party, ids, values in kept:
            self.thinner.learn(party, ids, values)

    def rollback(self) -> None:
        self.thinner.rollback()

    def _held(self, conn: Connection, h: Held) -> Segment | None:
        order = np.argsort(h.received, kind="stable")  # as they were received
        return self._segment(conn, h.party, [h.ids[k] for k in order.tolist()],
                             h.values[order], h.received[order])

    def _segment(self, conn: Connection, party: str, ids: list[str], values: np.ndarray,
                 received: np.ndarray) -> Segment | None:
        if not ids:
            return None
        # One writer at a time (write_transaction in this process, append_lock among the
        # instances of a node): the next number is the last one + 1, and numbers follow the
        # order of the commits.
        append_lock(conn, segments_table.name)
        first = max(self.floor_row, last_segment_row(conn)) + 1
        _write(conn, first, party, ids, values, received, self.tolerance.exact)
        notify(conn, "reports")
        return first, party, ids, values, received

    def _anchor(self, first: int, party: str, ids: list[str], values: np.ndarray,
                received: np.ndarray) -> None:
        self.kept += len(ids)
        if self.chain is not None:
            self.chain.add(first, party, ids, values, received, self.tolerance.body())
        if self.on_segment is not None:
            self.on_segment((first, party, ids, values, received))


def segments_between(source: Engine | Connection, t0: float | None, t1: float | None,
                     after_row: int = 0, chunk: int = 200) -> Iterator[Segment]:
    """The segments holding reports received in [t0, t1] (either None: unbounded), after
    report ``after_row``, in report order, decoded (their reports outside [t0, t1] too: the
    caller filters). Read ``chunk`` segments at a time (from one snapshot if ``source`` is a
    ``read_snapshot``)."""
    t = segments_table.c
    cond = t.last_row > after_row
    if t0 is not None:
        cond = cond & (t.received_to >= t0)
    if t1 is not None:
        cond = cond & (t.received_from <= t1)
    last = -1  # pages by first number (a segment that holds after_row + 1 starts before it)
    while True:
        with reading(source) as conn:
            rows = conn.execute(
                select(t.first_row, t.party, t.body).where(cond & (t.first_row > last))
                .order_by(t.first_row).limit(chunk)).all()
        if not rows:
            return
        for first, party, body in rows:
            ids, values, received = decode_segment(body)
            yield int(first), party, ids, values, received
        last = int(rows[-1][0])


def segments_following(source: Engine | Connection, row: int, before: int | None = None,
                       limit: int = 1_000) -> tuple[int, list[Segment]]:
    """Another instance of a node following the recording: the segments that start after
    report ``row`` (and before ``before``; at most ``limit``), in order, decoded. Returns the
    last number read (``row`` if none) and the segments."""
    t = segments_table.c
    query = select(t.first_row, t.party, t.body).where(t.first_row > row)
    if before is not None:
        query = query.where(t.first_row < before)
    with reading(source) as conn:
        rows = conn.execute(query.order_by(t.first_row).limit(limit)).all()
    out: list[Segment] = []
    for first, party, body in rows:
        ids, values, received = decode_segment(body)
        out.append((int(first), party, ids, values, received))
    return (out[-1][0] + len(out[-1][2]) - 1 if out else row), out


def segments_after(source: Engine | Connection, row: int) -> Iterator[Segment]:
    """The segments of reports numbered after ``row`` (those holding it too), in order."""
    return segments_between(source, None, None, after_row=row)


def prune_segments_before(t: float, chunk: int) -> Callable[[Any], int]:
    """A function of an open transaction: delete up to ``chunk`` segments whose every report
    was received before ``t`` (s), oldest first, never the latest one (its last number is where
    the next segment's start: a number the record's anchors name is never given again).
    Returns how many it deleted."""
    c = segments_table.c

    def run(conn: Any) -> int:
        latest = select(func.max(c.first_row)).scalar_subquery()
        doomed = select(c.first_row).where((c.received_to < t) & (c.first_row < latest)) \
            .order_by(c.first_row).limit(chunk)
        return int(conn.execute(delete(segments_table).where(
            c.first_row.in_(doomed))).rowcount or 0)
    return run
