"""The live picture: each party's own aircraft, as last reported, with a short history.

One source of truth for a track's state. Reports older than the current one for the same track
go into its history (a delayed share may need them) but never move the track backwards. A track
with no report for ``stale_s`` leaves the picture.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from detente.geo.geodesic import geodesic_destination
from detente.model.reports import TrackReport
from detente.model.states import States

__all__ = ["Picture", "Track"]

TrackKey = tuple[str, str]  # (party, id)


@dataclass
class Track:
    party: str
    id: str
    # Reports sorted by time; the last is the current state.
    history: list[TrackReport] = field(default_factory=list)

    @property
    def last(self) -> TrackReport:
        return self.history[-1]

    def as_of(self, t: float) -> TrackReport | None:
        """The latest report at or before ``t`` (s), or None when the track is younger."""
        k = bisect.bisect_right([r.t for r in self.history], t)
        return self.history[k - 1] if k else None


class Picture:
    """Tracks keyed by (party, id).

    Parameters
    ----------
    stale_s : float, s
        A track with no report for this long leaves the picture.
    history_s : float, s
        How much history to keep per track (the longest sharing delay of any agreement).
    """

    def __init__(self, stale_s: float = 60.0, history_s: float = 0.0) -> None:
        self.stale_s = float(stale_s)
        self.history_s = float(history_s)
        self._tracks: dict[TrackKey, Track] = {}

    def __len__(self) -> int:
        return len(self._tracks)

    def __iter__(self) -> Iterator[Track]:
        return iter(self._tracks.values())

    def get(self, party: str, track_id: str) -> Track | None:
        return self._tracks.get((party, track_id))

    def accept(self, party: str, reports: Iterable[TrackReport], now: float) -> int:
        """Add validated reports; those already stale at ``now`` are not shown. Returns the
        number that entered the picture."""
        entered = 0
        for r in reports:
            if r.t < now - self.stale_s:
                continue
            track = self._tracks.get((party, r.id))
            if track is None:
                track = self._tracks[(party, r.id)] = Track(party, r.id)
            h = track.history
            if h and r.t < h[-1].t:
                h.insert(bisect.bisect_right([x.t for x in h], r.t), r)
            elif h and r.t == h[-1].t:
                h[-1] = r  # a repeat of the same instant: the latest word wins
            else:
                h.append(r)
            # Keep the newest report plus whatever a delayed share could still need.
            cut = h[-1].t - self.history_s
            while len(h) > 1 and h[1].t <= cut:
                h.pop(0)
            entered += 1
        return entered

    def expire(self, now: float) -> list[TrackKey]:
        """Drop tracks whose last report is older than ``stale_s``; return their keys."""
        gone = [k for k, tr in self._tracks.items() if tr.last.t < now - self.stale_s]
        for k in gone:
            del self._tracks[k]
        return gone

    def snapshot(self, now: float) -> tuple[States, np.ndarray]:
        """Every track extrapolated to ``now`` along its geodesic, and each report's age (s).

        Detection needs one instant; reports arrive at different times within a cycle.
        """
        tracks = list(self._tracks.values())
        n = len(tracks)
        if n == 0:
            empty = np.empty(0)
            return States.from_columns([], empty, empty, empty, empty, empty, empty,
                                       party=[]), empty
        cols = np.array(
            [(t.last.t, t.last.lat, t.last.lon, t.last.alt_m, t.last.gs_mps, t.last.trk_deg,
              t.last.vs_mps) for t in tracks],
            dtype=np.float64,
        )
        age = now - cols[:, 0]
        lat, lon = geodesic_destination(cols[:, 1], cols[:, 2], cols[:, 5], cols[:, 4] * age)
        states = States.from_columns(
            np.array([t.id for t in tracks], dtype=object),
            lat, lon, cols[:, 3] + cols[:, 6] * age, cols[:, 4], cols[:, 5], cols[:, 6],
            party=np.array([t.party for t in tracks], dtype=object),
        )
        return states, age
