"""The live picture: each party's own aircraft, as last reported, in columns.

One source of truth for a track's state. The current state of every track lives in one row of
a float array, so a detection cycle or a picture frame costs array operations, not a walk over
Python objects. Reports older than a track's current one never move it backwards; when sharing
agreements delay what a party sees, the recent reports are kept too, in columns of their own
(a row of the picture and the report's values per entry), so that what a delayed share shows
is found with array operations as well. A track with no report for ``stale_s`` leaves the
picture.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from detente.geo.geodesic import geodesic_destination
from detente.model.reports import REPORT_COLUMNS, ReportBatch, TrackReport
from detente.model.states import States

__all__ = ["COLUMNS", "Accepted", "Columns", "Picture", "Track", "View", "extrapolate"]

TrackKey = tuple[str, str]  # (party, id)


class Columns(NamedTuple):
    """The live tracks: owning party and id (object arrays), and an (n, 7) float array of
    their current state, columns as in COLUMNS (SI, track in [0, 360))."""

    party: np.ndarray
    ids: np.ndarray
    values: np.ndarray
COLUMNS = REPORT_COLUMNS
_T = 0
_TRK = REPORT_COLUMNS.index("trk_deg")


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


@dataclass(frozen=True)
class Accepted:
    """What a batch did to the picture: how many reports entered (were not already stale),
    and the ids of the tracks whose prediction changed: new tracks, and tracks whose report
    departs from where and how their previous report said they would fly (see
    ``_prediction_changed``). Only those can reveal a conflict the last look did not see
    (but for the look-ahead horizon moving on, which the next cycle covers)."""

    entered: int
    changed: list[str]


# A report changes its track's prediction when it departs from the previous report flown on
# by more than these: a little over what position and rate noise of a real feed give, far
# under the separation minima (9,260 m, 300 m) a conflict is judged by.
_CHANGED_POSITION_M = 500.0
_CHANGED_ALTITUDE_M = 30.0
_CHANGED_SPEED_MPS = 2.0
_CHANGED_TRACK_DEG = 2.0
_CHANGED_VERTICAL_MPS = 1.0
_M_PER_DEG = 111_195.0  # on the mean sphere; a flat-Earth step, accurate enough for a threshold


def _prediction_changed(old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """Rows of ``new`` (state columns) that depart from ``old`` (the previous report of the
    same track, or t = -inf for a track new to the picture) flown on to the new time."""
    dt = new[:, _T] - old[:, _T]
    fresh = ~np.isfinite(dt)
    dt = np.where(fresh, 0.0, dt)
    lat, lon, alt, gs, trk, vs = (old[:, k] for k in range(1, 7))
    rad = np.radians(trk)
    coslat = np.cos(np.radians(lat))
    north = (new[:, 1] - lat) * _M_PER_DEG - gs * np.cos(rad) * dt
    dlon = (new[:, 2] - lon + 180.0) % 360.0 - 180.0
    east = dlon * _M_PER_DEG * coslat - gs * np.sin(rad) * dt
    turned = np.abs((new[:, _TRK] - trk + 180.0) % 360.0 - 180.0)
    with np.errstate(invalid="ignore"):
        return (fresh | (np.abs(lat) > 85.0)  # near a pole the flat step says nothing
                | (np.hypot(north, east) > _CHANGED_POSITION_M)
                | (np.abs(new[:, 3] - (alt + vs * dt)) > _CHANGED_ALTITUDE_M)
                | (np.abs(new[:, 4] - gs) > _CHANGED_SPEED_MPS)
                | (turned > _CHANGED_TRACK_DEG)
                | (np.abs(new[:, 6] - vs) > _CHANGED_VERTICAL_MPS))


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
        # Row-aligned columns: a snapshot is a few fancy-indexing operations, never a walk
        # over the tracks in Python. Free rows have alive False and are reused.
        self._cols = np.empty((0, len(COLUMNS)), dtype=np.float64)
        self._party = np.empty(0, dtype=object)
        self._ids = np.empty(0, dtype=object)
        self._alive = np.zeros(0, dtype=bool)
        self._size = 0  # rows ever used; rows beyond it are spare capacity
        self._free: list[int] = []
        # Recent reports, for delayed shares (history_s > 0): the picture row and the values
        # of each, in arrival order, in buffers that grow by doubling. Entries up to
        # ``_h_len`` are never written again (appends go after them, and trimming makes new
        # buffers), so that a View taken on the event loop stays true in a worker thread.
        self._h_rows = np.empty(0, dtype=np.intp)
        self._h_vals = np.empty((0, len(COLUMNS)), dtype=np.float64)
        self._h_len = 0
        self._h_trimmed = 0  # entries left by the last trim

    def __len__(self) -> int:
        return len(self._index)

    def count(self, party: str) -> int:
        """How many of ``party``'s tracks are in the picture."""
        used = self._size
        return int(np.count_nonzero(self._alive[:used] & (self._party[:used] == party)))

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
            mine = np.flatnonzero(self._h_rows[: self._h_len] == row)
            values = self._h_vals[mine]
            # Oldest first; of equal times, the later to arrive (the latest word) alone.
            order = np.lexsort((mine, values[:, _T]))
            last = np.r_[values[order[1:], _T] != values[order[:-1], _T], True]
            return Track(party, track_id, [TrackReport(track_id, *v)
                                           for v in values[order[last]].tolist()])
        c = self._cols[row]
        return Track(party, track_id, [TrackReport(track_id, *map(float, c))])

    def current(self, party: str, track_id: str) -> np.ndarray | None:
        """The track's current state (a copy of its row of COLUMNS), or None."""
        row = self._index.get((party, track_id))
        return None if row is None else self._cols[row].copy()

    def _allocate(self, key: TrackKey) -> int:
        if self._free:
            row = self._free.pop()
        else:
            row = self._size
            self._size += 1
            if row >= self._cols.shape[0]:
                cap = max(64, 2 * self._cols.shape[0])
                self._cols = np.resize(self._cols, (cap, len(COLUMNS)))
                self._party = np.resize(self._party, cap)
                self._ids = np.resize(self._ids, cap)
                alive = np.zeros(cap, dtype=bool)
                alive[: self._alive.size] = self._alive
                self._alive = alive
        self._party[row], self._ids[row] = key
        self._cols[row, _T] = -np.inf
        self._alive[row] = True
        self._index[key] = row
        return row

    def accept(self, party: str, reports: Iterable[TrackReport] | ReportBatch,
               now: float) -> int:
        """Add validated reports; those already stale at ``now`` are not shown. Returns the
        number that entered the picture."""
        return self.accept_batch(party, reports, now).entered

    def accept_batch(self, party: str, reports: Iterable[TrackReport] | ReportBatch,
                     now: float) -> Accepted:
        """``accept``, also telling which tracks changed their prediction (see Accepted)."""
        batch = (reports if isinstance(reports, ReportBatch) else ReportBatch.from_reports(
            list(reports))).normalised()
        v = batch.values
        keep = np.flatnonzero(v[:, _T] >= now - self.stale_s)
        if keep.size == 0:
            return Accepted(0, [])
        ids = batch.ids
        index, allocate = self._index, self._allocate
        rows = np.fromiter(
            (index.get((party, ids[k])) if (party, ids[k]) in index
             else allocate((party, ids[k])) for k in keep.tolist()),
            dtype=np.intp, count=keep.size)
        # The newest report of each track wins; of equal times, the later in the batch (a
        # repeat of the same instant: the latest word). Never a step back in time.
        t = v[keep, _T]
        order = np.lexsort((np.arange(keep.size), t, rows))
        last = np.r_[rows[order][1:] != rows[order][:-1], True]
        win = order[last]
        ahead = t[win] >= self._cols[rows[win], _T]
        win = win[ahead]
        new = v[keep[win]]
        changed = _prediction_changed(self._cols[rows[win]], new)
        self._cols[rows[win]] = new
        if self.history_s > 0:
            self._remember(rows, v[keep])
        return Accepted(int(keep.size), [ids[k] for k in keep[win[changed]].tolist()])

    def _remember(self, rows: np.ndarray, values: np.ndarray) -> None:
        n = self._h_len + rows.size
        if n > self._h_rows.size:
            cap = max(1024, 2 * n)
            h_rows, h_vals = np.empty(cap, dtype=np.intp), np.empty((cap, len(COLUMNS)))
            h_rows[: self._h_len] = self._h_rows[: self._h_len]
            h_vals[: self._h_len] = self._h_vals[: self._h_len]
            self._h_rows, self._h_vals = h_rows, h_vals
        self._h_rows[self._h_len : n] = rows
        self._h_vals[self._h_len : n] = values
        self._h_len = n
        # Trimmed when it has doubled: the cost of a trim is spread over the entries it read.
        if n > 2 * self._h_trimmed + 64:
            self._trim()

    def _trim(self, gone: np.ndarray | None = None) -> None:
        """Keep of each track its newest report at or before (its latest report's time less
        history_s), the one a delayed share may still show, and those after it; none of the
        rows ``gone``."""
        rows, values = self._h_rows[: self._h_len], self._h_vals[: self._h_len]
        t = values[:, _T]
        cut = self._cols[rows, _T] - self.history_s
        old = t <= cut
        newest_old = np.full(self._cols.shape[0], -np.inf)
        np.maximum.at(newest_old, rows[old], t[old])
        keep = ~old | (t == newest_old[rows])
        if gone is not None and gone.size:
            dead = np.zeros(self._cols.shape[0], dtype=bool)
            dead[gone] = True
            keep &= ~dead[rows]
        n = int(keep.sum())
        # New buffers, never a compaction in place: a View may be reading the old ones.
        h_rows, h_vals = np.empty(max(1024, 2 * n), dtype=np.intp), np.empty(
            (max(1024, 2 * n), len(COLUMNS)))
        h_rows[:n], h_vals[:n] = rows[keep], values[keep]
        self._h_rows, self._h_vals, self._h_len, self._h_trimmed = h_rows, h_vals, n, n

    def expire(self, now: float) -> list[TrackKey]:
        """Drop tracks whose last report is older than ``stale_s``; return their keys."""
        rows = self._active_rows()
        stale = rows[self._cols[rows, _T] < now - self.stale_s]
        gone = list(zip(self._party[stale].tolist(), self._ids[stale].tolist(), strict=True))
        for key in gone:
            del self._index[key]
        if self.history_s > 0 and stale.size:
            self._trim(stale)  # before the rows are given to other tracks
        self._alive[stale] = False
        self._party[stale] = None
        self._ids[stale] = None
        self._free.extend(stale.tolist())
        return gone

    def _active_rows(self) -> np.ndarray:
        return np.flatnonzero(self._alive[: self._size])

    def columns(self) -> Columns:
        """(party, id, values): object arrays of keys and an (n, 7) float array of the current
        state of every track, columns as in COLUMNS (SI, track in [0, 360))."""
        rows = self._active_rows()
        return Columns(self._party[rows], self._ids[rows], self._cols[rows])

    def view(self) -> View:
        """The columns and the recent reports behind them, as they stand: a View reads
        nothing of the picture afterwards, so it may be used in another thread."""
        rows = self._active_rows()
        return View(Columns(self._party[rows], self._ids[rows], self._cols[rows]), rows,
                    self._h_rows[: self._h_len], self._h_vals[: self._h_len])

    def positions(self, keys: Iterable[TrackKey]) -> np.ndarray:
        """Where the tracks ``keys`` are in ``columns()`` and ``snapshot()`` (sorted; keys not
        in the picture are left out), until the picture next changes."""
        index = self._index
        rows = np.fromiter((index[k] for k in keys if k in index), dtype=np.intp)
        return np.searchsorted(self._active_rows(), np.sort(rows))

    def snapshot(self, now: float) -> tuple[States, np.ndarray]:
        """Every track extrapolated to ``now`` along its geodesic, and each report's age (s).

        Detection needs one instant; reports arrive at different times within a cycle.
        """
        return extrapolate(self.columns(), now)


@dataclass(frozen=True)
class View:
    """``Picture.view``: the live tracks' ``columns``, the picture ``rows`` they are in, and
    the recent reports (``history_rows``, ``history_values``: a row and the values of each)."""

    columns: Columns
    rows: np.ndarray
    history_rows: np.ndarray
    history_values: np.ndarray

    def as_of(self, which: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """For the tracks at positions ``which`` of ``columns``: the latest report of each at
        or before ``t`` (s), as (positions, (m, 7) values) of those that have one, in the
        order of ``which``. Of reports of equal times, the later to arrive."""
        none = which[:0], np.empty((0, len(COLUMNS)))
        if which.size == 0 or self.history_rows.size == 0:
            return none
        slot = np.full(int(self.rows.max()) + 1, -1, dtype=np.intp)
        slot[self.rows[which]] = np.arange(which.size)
        h_rows = self.history_rows
        h_slot = np.where(h_rows < slot.size, slot[np.minimum(h_rows, slot.size - 1)], -1)
        entries = np.flatnonzero((h_slot >= 0) & (self.history_values[:, _T] <= t))
        if entries.size == 0:
            return none
        e_slot = h_slot[entries]
        order = np.lexsort((entries, self.history_values[entries, _T], e_slot))
        last = np.r_[e_slot[order][1:] != e_slot[order][:-1], True]
        chosen = entries[order[last]]
        return which[h_slot[chosen]], self.history_values[chosen]


def extrapolate(columns: tuple[np.ndarray, np.ndarray, np.ndarray], now: float
                ) -> tuple[States, np.ndarray]:
    """``Picture.snapshot`` of columns taken earlier (``Picture.columns()``): it touches
    nothing of the picture, so it may run in another thread while the picture changes."""
    party, ids, c = columns
    age = now - c[:, 0]
    lat, lon = geodesic_destination(c[:, 1], c[:, 2], c[:, 5], c[:, 4] * age)
    states = States.from_columns(
        ids, lat, lon, c[:, 3] + c[:, 6] * age, c[:, 4], c[:, 5], c[:, 6], party=party,
    )
    return states, age
