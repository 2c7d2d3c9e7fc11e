"""Digests that anchor the recorded track reports in the signed record.

The recording of accepted reports is the service's database, which its operator could change
after the fact. So the service hashes the reports in the order they are committed and, every
few seconds, says in the record (a ``recording.anchor`` statement, signed with the log key)
which rows it recorded since the last anchor and the SHA-256 of them. Once that statement is
in the record, no one can change, add or remove a report of those rows without a replay
finding out: it recomputes the digest from the exported recording.

A report is identified by its number (``first_row`` and on in ``report_segments``; the
``rowid`` in ``track_reports`` of a database written by an earlier version); an anchor covers
the contiguous numbers ``first_row`` to ``last_row``, and says with what ``tolerance`` they
were kept (``report_thinning``; absent: every report, as received). The reports an anchor
covers are exactly those the recording kept, no more, no fewer. The bytes hashed, report after
report in number order, are fixed here and nowhere else (a replay and the service share this
definition, nothing more):

    u16 big-endian length, UTF-8 party; u16 big-endian length, UTF-8 track id;
    8 IEEE-754 float64, little-endian: received, t, lat, lon, alt_m, gs_mps, trk_deg, vs_mps

Negative zero is hashed as zero: SQLite stores a REAL without a fractional part as an integer
and gives -0.0 back as 0.0, so only the value, not the sign of a zero, survives the database.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from detente.model.reports import REPORT_COLUMNS

__all__ = ["ANCHOR_KIND", "Anchor", "ReportChain", "rows_bytes"]

ANCHOR_KIND = "recording.anchor"
_ROW_FLOATS = 1 + len(REPORT_COLUMNS)  # received, then the report's columns


def _text(value: str) -> bytes:
    raw = value.encode("utf-8")
    return len(raw).to_bytes(2, "big") + raw


def rows_bytes(party: str, ids: Sequence[str], values: np.ndarray, received: float | np.ndarray
               ) -> bytes:
    """The hashed bytes of one party's reports: ``values`` (n, 7) in REPORT_COLUMNS order,
    ``received`` one time for all or one per row."""
    n = len(ids)
    floats = np.empty((n, _ROW_FLOATS), dtype="<f8")
    floats[:, 0] = received
    floats[:, 1:] = values
    floats += 0.0  # -0.0 + 0.0 == +0.0
    head = _text(party)
    names = [i.encode("utf-8") for i in ids]
    size = len(names[0]) if names else 0
    if all(len(b) == size for b in names):
        # The usual case (a fleet's ids of one length): the rows as one record array, about
        # ten times faster than joining them one by one.
        rows = np.empty(n, dtype=[("party", f"S{len(head)}"), ("size", ">u2"),
                                  ("id", f"S{size}"), ("floats", "<f8", (_ROW_FLOATS,))])
        rows["party"] = head
        rows["size"] = size
        rows["id"] = names
        rows["floats"] = floats
        return rows.tobytes()
    raw = floats.tobytes()
    width = 8 * _ROW_FLOATS
    return b"".join(head + len(b).to_bytes(2, "big") + b + raw[k * width:(k + 1) * width]
                    for k, b in enumerate(names))


@dataclass(frozen=True, slots=True)
class Anchor:
    """Rows ``first_row`` to ``last_row`` (inclusive), received between ``received_from`` and
    ``received_to`` (s, UTC epoch), and the SHA-256 of their bytes; ``tolerance``: how they
    were kept (``report_thinning.Tolerance.body()``; None: every report, as received)."""

    first_row: int
    last_row: int
    received_from: float
    received_to: float
    sha256: str
    tolerance: dict[str, Any] | None = None

    @property
    def reports(self) -> int:
        return self.last_row - self.first_row + 1

    def body(self) -> dict[str, Any]:
        """The statement body (JSON numbers: rows are integers, times floats)."""
        body = {"first_row": self.first_row, "last_row": self.last_row,
                "reports": self.reports, "received_from": self.received_from,
                "received_to": self.received_to, "sha256": self.sha256}
        if self.tolerance is not None:
            body["tolerance"] = self.tolerance
        return body

    @classmethod
    def from_body(cls, body: Any) -> Anchor:
        """Read a statement body; ValueError if it is not one."""
        if not isinstance(body, dict):
            raise ValueError("not an object")
        first, last = body.get("first_row"), body.get("last_row")
        if not (type(first) is int and type(last) is int and 1 <= first <= last):
            raise ValueError(f"rows {first!r} to {last!r}")
        digest = body.get("sha256")
        if not isinstance(digest, str) or len(digest) != 64:
            raise ValueError(f"sha256 {digest!r}")
        bytes.fromhex(digest)
        r0, r1 = body.get("received_from"), body.get("received_to")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (r0, r1)):
            raise ValueError(f"received {r0!r} to {r1!r}")
        tolerance = body.get("tolerance")
        if tolerance is not None and not isinstance(tolerance, dict):
            raise ValueError(f"tolerance {tolerance!r}")
        return cls(first, last, float(r0), float(r1), digest, tolerance)


class _Segment:
    __slots__ = ("first", "hash", "last", "r0", "r1", "tolerance")

    def __init__(self, first: int, tolerance: dict[str, Any] | None) -> None:
        self.first = first
        self.last = first - 1
        self.hash = hashlib.sha256()
        self.r0 = float("inf")
        self.r1 = float("-inf")
        self.tolerance = tolerance

    def anchor(self) -> Anchor:
        return Anchor(self.first, self.last, self.r0, self.r1, self.hash.hexdigest(),
                      self.tolerance)


class ReportChain:
    """The running digest of the reports committed since the last anchor.

    The recorder's thread ``add``s each batch once its transaction is committed, in commit
    order; the service ``cut``s anchors to say in the record and ``confirm``s them once they
    are there. Anchors that could not be said are cut again, with what came after them.
    Rows that do not follow the previous ones (another writer, a sequence with gaps), or kept
    with another tolerance, start a new anchor: an anchor never claims rows it did not see.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: _Segment | None = None
        self._closed: list[Anchor] = []

    def add(self, first_row: int, party: str, ids: Sequence[str], values: np.ndarray,
            received: float | np.ndarray, tolerance: dict[str, Any] | None = None) -> None:
        if not len(ids):
            return
        data = rows_bytes(party, ids, values, received)
        lo, hi = float(np.min(received)), float(np.max(received))
        with self._lock:
            seg = self._open
            if seg is None or seg.last + 1 != first_row or seg.tolerance != tolerance:
                if seg is not None:
                    self._closed.append(seg.anchor())
                seg = self._open = _Segment(first_row, tolerance)
            seg.hash.update(data)
            seg.last = first_row + len(ids) - 1
            seg.r0, seg.r1 = min(seg.r0, lo), max(seg.r1, hi)

    def cut(self) -> list[Anchor]:
        """Every anchor not yet confirmed, the rows added so far closing the last one."""
        with self._lock:
            if self._open is not None:
                self._closed.append(self._open.anchor())
                self._open = None
            return list(self._closed)

    def confirm(self, anchors: Sequence[Anchor]) -> None:
        """These anchors (the first ones ``cut`` gave) are in the record."""
        with self._lock:
            assert self._closed[:len(anchors)] == list(anchors)
            del self._closed[:len(anchors)]
