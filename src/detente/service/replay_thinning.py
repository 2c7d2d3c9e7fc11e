"""What a replay shows of a thinned recording: each live track flown on from its last kept
report, within the recording's stated tolerance of what the live picture showed.

The recording keeps a report of a track when it departs from the track's last kept one,
flown on, beyond the tolerance; at least every ``max_gap_s``; and the last one before the
track leaves the live picture (``store.report_thinning``). So every report the live picture
held is, within the tolerance, its track's last kept report flown on to its time; and at an
instant T both flown on to T are within the tolerance of each other (and of what the speed
and rate tolerances add over the time since that live report: under a cycle). The replay
shows each track that the live picture held at T as its last kept report flown on to T (and,
where an agreement delays a share by d, to T - d), its ``t`` being T.

Which tracks the live picture held at T, and how: two consecutive kept reports of a track
less than ``max_gap_s`` apart had it reporting all the while (a report that comes that long
after the last kept one has the report held back before it kept first), so between them it
is flown on; two that far apart or more had it silent in between, so the live picture showed
the first unmoved (and dropped it ``stale_s`` after it, as the replay's picture does). After
a track's last kept report, it is flown on for under ``max_gap_s`` (it may have gone on
reporting: the recording's end), then shown unmoved: a track that leaves the live picture
has its last report kept when it leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from detente.geo.geodesic import geodesic_destination
from detente.model.reports import REPORT_COLUMNS, ReportBatch
from detente.store.report_thinning import Tolerance

__all__ = ["flown_on"]

_T, _LAT, _LON, _ALT, _GS, _TRK, _VS = range(len(REPORT_COLUMNS))


class _Batch(Protocol):
    party: str
    received: float
    ids: list[str]
    values: np.ndarray


def flown_on(batches: Sequence[_Batch], instants: Sequence[float], tolerance: Tolerance
             ) -> list[tuple[str, ReportBatch]]:
    """Reports at each of ``instants`` of every track reporting then, each flown on from its
    last kept report at or before that instant, per party, in time order.

    ``batches``: the recording's batches received from the instants' earliest less the
    picture's window to their latest plus ``max_gap_s`` at least (to see what follows)."""
    if tolerance.exact or not batches:
        return []
    by_track: dict[tuple[str, str], list[np.ndarray]] = {}
    for b in batches:
        for i, row in zip(b.ids, b.values, strict=True):
            by_track.setdefault((b.party, i), []).append(row)
    out: dict[tuple[str, float], tuple[list[str], list[np.ndarray]]] = {}
    for (party, ident), rows in by_track.items():
        v = np.array(rows)
        v = v[np.argsort(v[:, _T], kind="stable")]
        t = v[:, _T]
        for x in instants:
            k = int(np.searchsorted(t, x, side="right")) - 1
            if k < 0 or t[k] == x:
                continue  # not yet reporting, or a kept report at that very instant
            after = (t[k + 1] if k + 1 < len(t) else x) - t[k]
            if after < tolerance.max_gap_s:
                ids, values = out.setdefault((party, x), ([], []))
                ids.append(ident)
                values.append(v[k])
    result = []
    for (party, x), (ids, values) in sorted(out.items(), key=lambda kv: kv[0][1]):
        result.append((party, ReportBatch(ids, _fly(np.array(values), x), trk_normal=True)))
    return result


def _fly(kept: np.ndarray, x: float) -> np.ndarray:
    """Kept reports flown on to ``x`` along their geodesics, as the live picture flies them."""
    dt = x - kept[:, _T]
    lat, lon = geodesic_destination(kept[:, _LAT], kept[:, _LON], kept[:, _TRK],
                                    kept[:, _GS] * dt)
    out = kept.copy()
    out[:, _T] = x
    out[:, _LAT], out[:, _LON] = lat, lon
    out[:, _ALT] = kept[:, _ALT] + kept[:, _VS] * dt
    return out
