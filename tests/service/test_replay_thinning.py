"""A thinned recording replays within its tolerance of the full-rate picture.

The oracle is the live picture itself: ``Picture`` fed every report at full rate, as the
service's is. Beside it, the recording as the service keeps it (``Thinner``: each batch
thinned, the tracks that left the picture flushed every second, as the detection cycle
does), and the replay's picture rebuilt from the kept reports alone with ``flown_on``. At
every second, both hold the same tracks, and each track of the replay is within the tolerance
of the live one flown on to the same instant (pyproj's geodesics)."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

from detente.model.reports import ReportBatch
from detente.service.picture import Picture
from detente.service.replay_thinning import flown_on
from detente.store.report_thinning import Thinner, Tolerance, quantize, quantize_times

GEOD = Geod(ellps="WGS84")
TOL = Tolerance(max_gap_s=10.0)  # under the staleness, as the configuration requires
STALE_S = 20.0


class Batch:
    def __init__(self, party: str, received: float, ids: list[str], values: np.ndarray
                 ) -> None:
        self.party, self.received, self.ids, self.values = party, received, ids, values


def traffic(seconds: int) -> dict[int, list[tuple[str, list[float]]]]:
    """Per second, the reports sent: a straight flyer; one turning and climbing; one that
    stops reporting at 40 s; one that goes quiet from 30 to 45 s (longer than the gap, under
    the staleness), then turns; one quiet from 50 to 55 s (under the gap); one that appears at
    20 s."""
    out: dict[int, list[tuple[str, list[float]]]] = {s: [] for s in range(seconds)}
    flights = {
        "straight": (0, seconds, 35.0, 36.0, 45.0, 0.0, 0.0),
        "turner": (0, seconds, 35.2, 36.2, 90.0, 2.0, 6.0),
        "stopper": (0, 40, 35.4, 36.4, 180.0, 0.0, 0.0),
        "quiet": (0, seconds, 35.6, 36.6, 270.0, 0.0, 0.0),
        "pause": (0, seconds, 35.7, 36.7, 300.0, 0.0, 0.0),
        "late": (20, seconds, 35.8, 36.8, 10.0, -1.5, -4.0),
    }
    for ident, (first, last, lat, lon, trk, turn, vs) in flights.items():
        alt = 7000.0
        for s in range(seconds):
            if first <= s < last and not (ident == "quiet" and 30 <= s < 45) and not (
                    ident == "pause" and 50 <= s < 55):
                out[s].append((ident, [1000.0 + s, lat, lon, alt, 180.0, trk % 360.0, vs]))
            if s >= first:
                lon, lat, _ = GEOD.fwd(lon, lat, trk, 180.0)
                trk += turn if not (ident == "quiet" and s < 45) else 0.0
                alt += vs
    return out


def test_the_replay_of_a_thinned_recording_is_the_live_picture_within_the_tolerance():
    seconds = 90
    sent = traffic(seconds)
    live = Picture(STALE_S)
    thinner = Thinner(TOL)
    kept: list[Batch] = []
    total = 0
    for s in range(seconds):
        now = 1000.0 + s + 0.3
        if sent[s]:
            ids = [i for i, _ in sent[s]]
            values = np.array([v for _, v in sent[s]])
            total += len(ids)
            live.accept("A", ReportBatch(ids, values), now)
            q = quantize(values)
            at = float(quantize_times(now))
            keep, held = thinner.select("A", ids, q, at)
            if held is not None:
                kept += [Batch("A", float(r), [i], v[None, :])
                         for i, v, r in zip(held.ids, held.values, held.received, strict=True)]
            if keep.any():
                kept.append(Batch("A", at, [i for i, k in zip(ids, keep, strict=True) if k],
                                  q[keep]))
        live.expire(now)
        for h in thinner.stale(now - STALE_S):  # the cycle's flush
            kept.append(Batch(h.party, float(h.received[0]), h.ids, h.values))
        thinner.commit()
    assert sum(len(b.ids) for b in kept) < 0.5 * total

    kept.sort(key=lambda b: b.received)
    replayed = 0
    for s in range(5, seconds):
        t = 1000.0 + s + 0.5
        truth = Picture(STALE_S)  # the live picture at t: every report received by then
        for k in range(s + 1):
            if sent[k]:
                truth.accept("A", ReportBatch([i for i, _ in sent[k]],
                                              np.array([v for _, v in sent[k]])), t)
        truth.expire(t)
        replay = Picture(STALE_S)
        window = [b for b in kept if t - STALE_S - 5 <= b.received <= t + STALE_S]
        for b in window:
            if b.received <= t:
                replay.accept(b.party, ReportBatch(b.ids, b.values), b.received)
        for party, batch in flown_on(window, [t], TOL):
            replay.accept(party, batch, t)
        replay.expire(t)
        want = {key[1]: truth.current(*key) for key in ((p, i) for p, i in zip(
            *truth.columns()[:2], strict=True))}
        got = {i: replay.current("A", i) for i in replay.columns().ids.tolist()}
        assert set(got) == set(want), (s, sorted(got), sorted(want))
        for ident, live_row in want.items():
            row = got[ident]
            # The live report flown on to the replay's instant (its t: t, or an unmoved
            # last report).
            dt = row[0] - live_row[0]
            lon_p, lat_p, _ = GEOD.fwd(live_row[2], live_row[1], live_row[5], live_row[4] * dt)
            off = GEOD.inv(lon_p, lat_p, row[2], row[1])[2]
            assert off <= TOL.position_m + 0.05, (s, ident, off)
            assert abs(row[3] - (live_row[3] + live_row[6] * dt)) <= TOL.altitude_m + 0.05
            assert abs(row[4] - live_row[4]) <= TOL.speed_mps + 1e-6
            assert abs((row[5] - live_row[5] + 180) % 360 - 180) <= TOL.track_deg + 1e-3
            assert abs(row[6] - live_row[6]) <= TOL.vertical_mps + 1e-6
            replayed += 1
    assert replayed > 300
