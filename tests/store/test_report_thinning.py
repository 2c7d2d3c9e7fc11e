"""Which reports the recording keeps, held to an oracle written from the definition: every
report left out is, by pyproj's geodesics (the direct problem to fly the last kept report on,
the inverse for the distance), within the tolerance of its track's last kept report flown on
to its time; every report kept departs from it beyond the tolerance (or is a track's first,
or the gap is reached, or it is the last before the track left)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from detente.store.report_thinning import EXACT, Thinner, Tolerance, departures

GEOD = Geod(ellps="WGS84")
TOL = Tolerance()


def oracle_departs(ref: list[float], new: list[float], tol: Tolerance = TOL) -> bool | None:
    """From the definition, report by report; None when within a centimetre (or a
    thousandth of a unit) of a limit, where the two computations may round differently."""
    t0, lat0, lon0, alt0, gs0, trk0, vs0 = ref
    t, lat, lon, alt, gs, trk, vs = new
    dt = t - t0
    lon_p, lat_p, _ = GEOD.fwd(lon0, lat0, trk0, gs0 * dt)
    off = GEOD.inv(lon_p, lat_p, lon, lat)[2]
    turned = abs((trk - trk0 + 180.0) % 360.0 - 180.0)
    margins = [(off, tol.position_m, 0.01), (abs(alt - (alt0 + vs0 * dt)), tol.altitude_m, 1e-3),
               (abs(gs - gs0), tol.speed_mps, 1e-3), (turned, tol.track_deg, 1e-3),
               (abs(vs - vs0), tol.vertical_mps, 1e-3)]
    if dt >= tol.max_gap_s:
        return True
    if any(abs(x - limit) < eps for x, limit, eps in margins):
        return None
    return any(x > limit for x, limit, _ in margins)


@settings(max_examples=300, deadline=None)
@given(st.floats(-60, 60), st.floats(-180, 180), st.floats(0, 359.9), st.floats(50, 300),
       st.floats(0.5, 40), st.floats(-200, 200), st.floats(0, 360), st.floats(-30, 30),
       st.floats(-3, 3), st.floats(-5, 5), st.floats(-3, 3))
def test_departures_agree_with_the_geodesic_oracle(lat, lon, trk, gs, dt, off_m, off_az,
                                                   dalt, dgs, dtrk, dvs):
    ref = [1000.0, lat, lon, 7000.0, gs, trk, 2.0]
    lon_p, lat_p, _ = GEOD.fwd(lon, lat, trk, gs * dt)
    lon_n, lat_n, _ = GEOD.fwd(lon_p, lat_p, off_az, abs(off_m))
    new = [1000.0 + dt, lat_n, lon_n, 7000.0 + 2.0 * dt + dalt, gs + dgs, (trk + dtrk) % 360,
           2.0 + dvs]
    want = oracle_departs(ref, new)
    got = bool(departures(np.array([ref]), np.array([new]), TOL)[0])
    if want is not None:
        assert got == want, (ref, new)


def circling(n: int, t0: float = 1_000.0) -> np.ndarray:
    """An aircraft at 1 Hz: 60 s straight north, a standard-rate turn of 180 deg (60 s), 60 s
    straight south, climbing for the last 30 s: reports flown with pyproj step by step."""
    rows, lat, lon, trk, alt = [], 36.0, 36.0, 0.0, 7000.0
    for k in range(n):
        turning = 60 <= k < 120
        vs = 10.0 if k >= 150 else 0.0
        rows.append([t0 + k, lat, lon, alt, 200.0, trk % 360.0, vs])
        lon, lat, _ = GEOD.fwd(lon, lat, trk, 200.0)
        trk += 3.0 if turning else 0.0
        alt += vs
    return np.array(rows)


def test_every_report_left_out_is_within_the_tolerance_of_the_last_kept_one():
    track = circling(180)
    thinner = Thinner(TOL)
    kept_rows = []
    last_kept = None
    for row in track:
        mask, held = thinner.select("A", ["x"], row[None, :], float(row[0]))
        keep = bool(mask[0])
        thinner.commit()
        if held is not None:  # the report held back: kept first, max_gap_s after the last
            assert last_kept is not None and row[0] - last_kept[0] >= TOL.max_gap_s
            last_kept = held.values[0]
            kept_rows.append(last_kept[0])
        if last_kept is None:
            assert keep  # a track's first report
        else:
            want = oracle_departs(last_kept.tolist(), row.tolist())
            if want is not None:
                assert keep == want, row[0]
        if keep:
            last_kept = row
            kept_rows.append(row[0])
    gaps = np.diff(kept_rows)
    assert gaps.max() < TOL.max_gap_s  # the track reported all along
    # Straight and level, a report a gap; in the turn and the climb, nearly every one.
    assert 2 <= sum(t < 1060 for t in kept_rows) <= 4
    assert sum(1060 < t < 1120 for t in kept_rows) >= 50
    assert len(kept_rows) < 0.6 * len(track)


def test_a_track_that_leaves_keeps_its_last_report_and_is_forgotten():
    track = circling(20)  # straight: only the first is kept as it comes
    thinner = Thinner(TOL)
    keeps = [bool(thinner.select("A", ["x"], row[None, :], float(row[0]) + 0.5)[0][0])
             for row in track]
    assert keeps == [True] + [False] * 19
    assert thinner.stale(before=track[-1, 0]) == []  # its latest report is not that old
    (held,) = thinner.stale(before=track[-1, 0] + 0.1)
    assert held.party == "A" and held.ids == ["x"]
    assert held.values.tolist() == [track[-1].tolist()]
    assert held.received.tolist() == [track[-1, 0] + 0.5]
    assert len(thinner) == 0
    # Back later: a new track, its first report kept.
    assert thinner.select("A", ["x"], track[:1] + np.array([[100, 0, 0, 0, 0, 0, 0]]), 2000.0)[0][0]


def test_reports_of_one_track_in_one_batch_are_judged_in_order():
    track = circling(3)
    thinner = Thinner(TOL)
    stop = track[2].copy()
    stop[4] = 0.0  # stopped dead: departs in speed
    batch = np.array([track[0], track[1], stop])
    keep, held = thinner.select("A", ["x", "x", "x"], batch, 1_003.0)
    assert keep.tolist() == [True, False, True] and held is None


def test_exact_keeps_everything():
    track = circling(30)
    thinner = Thinner(EXACT)
    assert thinner.select("A", ["x"] * 30, track, 1_030.0)[0].all()
    assert EXACT.exact and not TOL.exact
    assert Tolerance.from_body(TOL.body()) == TOL and Tolerance.from_body(EXACT.body()) == EXACT


def test_kept_reports_less_than_the_gap_apart_had_the_track_reporting_in_between():
    track = circling(100)[:60]  # straight: kept for the gap alone
    thinner = Thinner(TOL)
    kept = []
    for row in np.concatenate([track[:20], track[55:]]):  # silent from 20 to 55 s
        keep, held = thinner.select("A", ["x"], row[None, :], float(row[0]))
        kept += [] if held is None else held.values[:, 0].tolist()
        kept += [row[0]] if keep[0] else []
    # The first; the last before the silence (kept when the next came) and the first after.
    assert kept == [1000.0, 1019.0, 1055.0]
    # Silent for less than the gap: the reports either side may stay unkept; those kept
    # are less than the gap apart.
    thinner = Thinner(TOL)
    kept = []
    for row in np.concatenate([track[:20], track[40:]]):  # silent from 20 to 40 s
        keep, held = thinner.select("A", ["x"], row[None, :], float(row[0]))
        kept += [] if held is None else held.values[:, 0].tolist()
        kept += [row[0]] if keep[0] else []
    assert kept == [1000.0, 1019.0, 1048.0]


def test_instances_that_learn_each_others_kept_reports_judge_against_the_last_kept_anywhere():
    """A track's reports reach one instance of a node, then another (its client failed over).
    Each instance learns what the other kept, as its follower reads the other's segments: every
    report left out, at either instance, is within the tolerance of the track's last kept
    report by either, flown on (the oracle); the second instance does not keep the track's
    first report it sees afresh; the first does not keep, late, the report it held when the
    track moved on (the second kept a later one)."""
    track = circling(180)
    one, two = Thinner(TOL), Thinner(TOL)
    kept: list[np.ndarray] = []
    for k, row in enumerate(track):
        here, there = (one, two) if k < 40 else (two, one)
        mask, held = here.select("A", ["x"], row[None, :], float(row[0]))
        here.commit()
        now_kept = ([] if held is None else list(held.values)) + ([row] if mask[0] else [])
        if now_kept:  # the other instance follows the segment just committed
            there.learn("A", ["x"] * len(now_kept), np.array(now_kept))
            there.commit()
        if not mask[0]:
            last = max((r for r in kept + now_kept if r[0] < row[0]), key=lambda r: r[0])
            assert oracle_departs(last.tolist(), row.tolist()) in (False, None), row[0]
        if k == 40:
            assert not mask[0]  # judged against the first instance's last kept report
        kept += now_kept
    assert one.stale(before=track[-1, 0] + 1e6) == []  # its held report was overtaken
    assert len(kept) < 0.6 * len(track)


def test_what_was_learnt_is_undone_with_a_failed_transaction():
    track = circling(2)
    thinner = Thinner(TOL)
    thinner.learn("A", ["x"], track[:1])
    thinner.rollback()
    assert len(thinner) == 0
    assert thinner.select("A", ["x"], track[1:], 1_001.0)[0][0]  # the track's first, kept
