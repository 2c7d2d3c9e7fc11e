"""The live picture: each party's own aircraft, as last reported, in columns.

One source of truth for a track's state. The current state of every track lives in one row of
a float array, so a detection cycle or a picture frame costs array operations, not a walk over
Python objects. Reports older than a track's current one never move it backwards; when sharing
agreements delay what a party sees, a short per-track history is kept beside the columns. A
track with no report for ``stale_s`` leaves the picture.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from detente.geo.geodesic import geodesic_destination
from detente.model.reports import TrackReport
from detente.model.states import States

__all__ = ["COLUMNS", "Picture", "Track"]

TrackKey = tuple[str, str]  # (party, id)
COLUMNS = ("t", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps")
_T = 0


@dataclass
class Track:
    """One track with its history (oldest first; the last is the current state)."""

    party: str
    id: str
    history: list[TrackReport] = field(default_factory=list)

    @property
    def last(self) -> TrackReport:
        return self.history[-1]

    def as_of(self, t: float) -> TrackReport | None:
        """The latest report at or before ``t`` (s), or None when the track is younger."""
        k = bisect.bisect_right([r.t for r in self.history], t)
        return self.history[k - 1] if k else None


def _row(r: TrackReport) -> tuple[float, ...]:
    return (r.t, r.lat, r.lon, r.alt_m, r.gs_mps, r.trk_deg % 360.0, r.vs_mps)


class Picture:
    """Tracks keyed by (party, id).

    Parameters
    ----------
    stale_s : float, s
        A track with no report for this long leaves the picture.
    history_s : float, s
        How much history to keep per track (the longest sharing delay of any agreement; 0
        keeps none).
    """

    def __init__(self, stale_s: float = 60.0, history_s: float = 0.0) -> None:
        self.stale_s = float(stale_s)
        self.history_s = float(history_s)
        self._index: dict[TrackKey, int] = {}
        self._keys: list[TrackKey | None] = []
        self._cols = np.empty((0, len(COLUMNS)), dtype=np.float64)
        self._free: list[int] = []
        self._history: dict[TrackKey, list[TrackReport]] = {}

    def __len__(self) -> int:
        return len(self._index)

    def __iter__(self) -> Iterator[Track]:
        for key in list(self._index):
            track = self.get(*key)
            assert track is not None
            yield track

    def get(self, party: str, track_id: str) -> Track | None:
        row = self._index.get((party, track_id))
        if row is None:
            return None
        if self.history_s > 0:
            return Track(party, track_id, list(self._history[(party, track_id)]))
        c = self._cols[row]
        return Track(party, track_id, [TrackReport(track_id, *map(float, c))])

    def _allocate(self, key: TrackKey) -> int:
        if self._free:
            row = self._free.pop()
            self._keys[row] = key
        else:
            row = len(self._keys)
            self._keys.append(key)
            if row >= self._cols.shape[0]:
                grown = np.empty((max(64, 2 * self._cols.shape[0]), len(COLUMNS)))
                grown[: self._cols.shape[0]] = self._cols
                self._cols = grown
        self._index[key] = row
        return row

    def accept(self, party: str, reports: Iterable[TrackReport], now: float) -> int:
        """Add validated reports; those already stale at ``now`` are not shown. Returns the
        number that entered the picture."""
        newest: dict[int, TrackReport] = {}
        entered = 0
        horizon = now - self.stale_s
        for r in reports:
            if r.t < horizon:
                continue
            entered += 1
            key = (party, r.id)
            row = self._index.get(key)
            if row is None:
                row = self._allocate(key)
                self._cols[row, _T] = -np.inf
            if self.history_s > 0:
                self._remember(key, r)
            best = newest.get(row)
            if r.t >= (best.t if best is not None else self._cols[row, _T]):
                newest[row] = r  # a repeat of the same instant: the latest word wins
        if newest:
            rows = np.fromiter(newest, dtype=np.intp, count=len(newest))
            self._cols[rows] = [_row(r) for r in newest.values()]
        return entered

    def _remember(self, key: TrackKey, r: TrackReport) -> None:
        h = self._history.setdefault(key, [])
        if h and r.t < h[-1].t:
            h.insert(bisect.bisect_right([x.t for x in h], r.t), r)
        elif h and r.t == h[-1].t:
            h[-1] = r
        else:
            h.append(r)
        # Keep the newest report plus whatever a delayed share could still need.
        cut = h[-1].t - self.history_s
        while len(h) > 1 and h[1].t <= cut:
            h.pop(0)

    def expire(self, now: float) -> list[TrackKey]:
        """Drop tracks whose last report is older than ``stale_s``; return their keys."""
        rows = self._active_rows()
        stale = rows[self._cols[rows, _T] < now - self.stale_s]
        gone = []
        for row in stale.tolist():
            key = self._keys[row]
            assert key is not None
            gone.append(key)
            del self._index[key]
            self._history.pop(key, None)
            self._keys[row] = None
            self._free.append(row)
        return gone

    def _active_rows(self) -> np.ndarray:
        return np.fromiter(self._index.values(), dtype=np.intp, count=len(self._index))

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(party, id, values): object arrays of keys and an (n, 7) float array of the current
        state of every track, columns as in COLUMNS (SI, track in [0, 360))."""
        rows = self._active_rows()
        keys = [self._keys[r] for r in rows.tolist()]
        party = np.array([k[0] for k in keys], dtype=object)  # type: ignore[index]
        ids = np.array([k[1] for k in keys], dtype=object)  # type: ignore[index]
        return party, ids, self._cols[rows]

    def snapshot(self, now: float) -> tuple[States, np.ndarray]:
        """Every track extrapolated to ``now`` along its geodesic, and each report's age (s).

        Detection needs one instant; reports arrive at different times within a cycle.
        """
        party, ids, c = self.columns()
        age = now - c[:, 0]
        lat, lon = geodesic_destination(c[:, 1], c[:, 2], c[:, 5], c[:, 4] * age)
        states = States.from_columns(
            ids, lat, lon, c[:, 3] + c[:, 6] * age, c[:, 4], c[:, 5], c[:, 6], party=party,
        )
        return states, age
