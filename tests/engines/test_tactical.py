"""The tactical engine against the plain per-pair oracle and hand-worked geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detente.engines.tactical import (
    VERTICAL_TOLERANCE_M,
    candidate_pairs,
    detect,
    detect_xy,
    pair_conflicts,
)
from detente.geo import FOOT_M, geodesic_destination
from detente.model import States
from tests.engines.reference_tactical import reference_conflicts

R, V, T = 9_260.0, 304.8, 300.0


def as_dict(c):
    return {
        (int(a), int(b)): (t0, t1, tc, d, dv)
        for a, b, t0, t1, tc, d, dv in zip(
            c.i, c.j, c.t_in, c.t_out, c.t_cpa, c.d_cpa_m, c.dv_cpa_m, strict=True
        )
    }


# --- scenarios -------------------------------------------------------------------------------
# Aircraft are drawn near each other so that conflicts are common, and each may copy another
# one's position, altitude or velocity to produce the degenerate cases the issue lists: identical
# positions, equal velocities (parallel), equal vertical speeds, adjacent flight levels.

coord = st.floats(-60_000, 60_000, allow_nan=False)
speed = st.floats(0, 300, allow_nan=False)
vrate = st.one_of(st.just(0.0), st.floats(-20, 20, allow_nan=False))
level = st.one_of(
    st.integers(100, 130).map(lambda fl: fl * 100 * FOOT_M),  # flight levels, from feet
    st.floats(3000, 4500, allow_nan=False),
)


@st.composite
def scenario(draw):
    n = draw(st.integers(2, 14))
    x, y, z, vx, vy, vz, g = [], [], [], [], [], [], []
    for k in range(n):
        src = draw(st.integers(0, k - 1)) if k else None
        copy = draw(st.sampled_from(["none", "pos", "vel", "both", "alt"])) if k else "none"
        if copy in ("pos", "both"):
            x.append(x[src])
            y.append(y[src])
        else:
            x.append(draw(coord))
            y.append(draw(coord))
        z.append(z[src] if copy in ("alt", "both") else draw(level))
        if copy in ("vel", "both"):
            vx.append(vx[src])
            vy.append(vy[src])
            vz.append(vz[src])
        else:
            s, trk = draw(speed), draw(st.floats(0, 360, allow_nan=False))
            vx.append(s * math.sin(math.radians(trk)))
            vy.append(s * math.cos(math.radians(trk)))
            vz.append(draw(vrate))
        g.append(draw(st.integers(0, 2)))
    return x, y, z, vx, vy, vz, g


def check_against_oracle(x, y, z, vx, vy, vz, group, R=R, V=V, T=T):
    # Both paths, whatever size "auto" would pick them at (test_tactical_kernels.py also holds
    # them to each other).
    got = as_dict(detect_xy(x, y, z, vx, vy, vz, group, horizontal_m=R, vertical_m=V,
                            lookahead_s=T, method="general"))
    assert as_dict(detect_xy(x, y, z, vx, vy, vz, group, horizontal_m=R, vertical_m=V,
                             lookahead_s=T, method="compiled")) == got
    tol = VERTICAL_TOLERANCE_M
    # A sandwich, so that pairs on a boundary (floating-point ties) cannot flake the test:
    # everything the oracle finds with slightly tighter minima must be found, and nothing it
    # misses with slightly looser minima may be.
    inner = reference_conflicts(x, y, z, vx, vy, vz, group, R * (1 - 1e-7), V - 2 * tol,
                                T * (1 - 1e-7))
    outer = reference_conflicts(x, y, z, vx, vy, vz, group, R * (1 + 1e-7), V - tol / 2,
                                T * (1 + 1e-7))
    exact = reference_conflicts(x, y, z, vx, vy, vz, group, R, V - tol, T)
    assert set(inner) <= set(got), f"missed {set(inner) - set(got)}"
    assert set(got) <= set(outer), f"spurious {set(got) - set(outer)}"
    for pair in inner:
        i, j = pair
        still = math.hypot(vx[j] - vx[i], vy[j] - vy[i]) < 1e-3
        names = ("t_in", "t_out") if still else ("t_in", "t_out", "t_cpa", "d_cpa", "dv_cpa")
        # Without relative motion the time of closest approach is any time (the engine says 0
        # by convention), and below 1 mm/s the oracle's textbook arithmetic cannot place it:
        # there only the interval is compared.
        for name, a, b in zip(names, got[pair], exact[pair], strict=False):
            assert a == pytest.approx(b, rel=1e-7, abs=1e-5), (pair, name)
    return got


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_engine_matches_oracle_on_random_scenarios(s):
    x, y, z, vx, vy, vz, g = s
    check_against_oracle(x, y, z, vx, vy, vz, g)
    check_against_oracle(x, y, z, vx, vy, vz, None)


def test_engine_matches_oracle_on_dense_traffic():
    # Thousands of pairs at once, so the pruning is exercised across many altitude slabs.
    rng = np.random.default_rng(7)
    n = 400
    x, y = rng.uniform(-150e3, 150e3, n), rng.uniform(-150e3, 150e3, n)
    z = rng.uniform(3048, 7000, n)
    gs, trk = rng.uniform(100, 250, n), rng.uniform(0, 2 * np.pi, n)
    vz = np.where(rng.random(n) < 0.2, rng.uniform(-15, 15, n), 0.0)
    got = check_against_oracle(x.tolist(), y.tolist(), z.tolist(), (gs * np.sin(trk)).tolist(),
                               (gs * np.cos(trk)).tolist(), vz.tolist(), None)
    assert len(got) > 100


def test_candidates_cover_every_conflict_and_repeat_none():
    rng = np.random.default_rng(3)
    n = 3000
    x, y = rng.uniform(-300e3, 300e3, n), rng.uniform(-300e3, 300e3, n)
    z = rng.uniform(3000, 12000, n)
    vx, vy = rng.uniform(-250, 250, n), rng.uniform(-250, 250, n)
    vz = np.where(rng.random(n) < 0.3, rng.uniform(-15, 15, n), 0.0)
    i, j = candidate_pairs(x, y, z, vx, vy, vz)
    assert np.all(i < j)
    assert len(set(zip(i.tolist(), j.tolist(), strict=True))) == i.size
    # Brute force over every pair with the exact test: nothing outside the candidates conflicts.
    ii, jj = np.triu_indices(n, 1)
    every = pair_conflicts(ii, jj, x, y, z, vx, vy, vz)
    assert len(every) > 50
    cand = set(zip(i.tolist(), j.tolist(), strict=True))
    assert set(zip(every.i.tolist(), every.j.tolist(), strict=True)) <= cand


# --- hand-worked cases -----------------------------------------------------------------------


def test_head_on_same_level():
    # Closing at 400 m/s from 100 km: CPA at 100,000 / 400 = 250 s; 5 NM is reached
    # (100,000 - 9,260) / 400 = 226.85 s from now and left (100,000 + 9,260) / 400 = 273.15 s.
    c = detect_xy([0, 100_000], [0, 0], [5000, 5000], [200, -200], [0, 0], [0, 0])
    assert len(c) == 1
    assert c.t_cpa[0] == pytest.approx(250.0)
    assert c.t_in[0] == pytest.approx(226.85)
    assert c.t_out[0] == pytest.approx(273.15)
    assert c.d_cpa_m[0] == pytest.approx(0.0)
    assert c.dv_cpa_m[0] == pytest.approx(0.0)


def test_head_on_on_the_ellipsoid():
    # The same encounter on the equator, where the geodesic is the equator itself.
    lat_b, lon_b = geodesic_destination(0.0, 0.0, 90.0, 100_000.0)
    s = States.from_columns(["a", "b"], [0.0, lat_b], [0.0, lon_b], [5000, 5000],
                            [200, 200], [90, 270], [0, 0])
    c = detect(s)
    assert len(c) == 1
    assert c.t_in[0] == pytest.approx(226.85, abs=0.01)
    assert c.t_cpa[0] == pytest.approx(250.0, abs=0.01)


def test_lookahead_cuts_the_encounter():
    # The same head-on, starting 200 km apart: CPA at 500 s, beyond 300 s: no conflict; with a
    # 480 s look-ahead t_in = (200,000 - 9,260) / 400 = 476.85 s and t_out clips to 480 s.
    args = ([0, 200_000], [0, 0], [5000, 5000], [200, -200], [0, 0], [0, 0])
    assert len(detect_xy(*args)) == 0
    c = detect_xy(*args, lookahead_s=480)
    assert c.t_in[0] == pytest.approx(476.85)
    assert c.t_out[0] == 480.0
    assert c.t_cpa[0] == 480.0
    assert c.d_cpa_m[0] == pytest.approx(200_000 - 480 * 400)


def test_adjacent_flight_levels_are_separated():
    # FL100 and FL110 from feet are one vertical minimum apart, give or take rounding.
    z = [10_000 * FOOT_M, 11_000 * FOOT_M]
    assert len(detect_xy([0, 0], [0, 0], z, [100, 100], [0, 0], [0, 0])) == 0
    z = [10_000 * FOOT_M, 10_999 * FOOT_M]
    assert len(detect_xy([0, 0], [0, 0], z, [100, 100], [0, 0], [0, 0])) == 1
    # And from decimal text, as a CSV would give them.
    assert len(detect_xy([0, 0], [0, 0], [3048.0, 3352.8], [0, 0], [0, 0], [0, 0])) == 0


def test_climbing_through_a_level():
    # B 2,000 m below A at the same place, climbing at 10 m/s, A level: |dz| < 304.8 m from
    # (2000 - 304.8) / 10 = 169.52 s to (2000 + 304.8) / 10 = 230.48 s.
    c = detect_xy([0, 0], [0, 0], [7000, 5000], [0, 0], [0, 0], [0, 10])
    assert c.t_in[0] == pytest.approx(169.52, abs=1e-3)
    assert c.t_out[0] == pytest.approx(230.48, abs=1e-3)
    assert c.t_cpa[0] == 0.0  # no relative horizontal motion: closest now
    assert c.dv_cpa_m[0] == pytest.approx(2000.0)


def test_parallel_and_identical_are_ordinary():
    # Same velocity 3 km apart: in loss of separation for the whole look-ahead, no NaN.
    c = detect_xy([0, 3000], [0, 0], [5000, 5000], [150, 150], [80, 80], [2, 2])
    assert (c.t_in[0], c.t_out[0], c.t_cpa[0]) == (0.0, 300.0, 0.0)
    assert c.d_cpa_m[0] == pytest.approx(3000.0)
    # Identical states.
    c = detect_xy([5, 5], [7, 7], [5000, 5000], [1, 1], [1, 1], [0, 0])
    assert (c.t_in[0], c.t_out[0], c.d_cpa_m[0], c.dv_cpa_m[0]) == (0.0, 300.0, 0.0, 0.0)
    # Parallel but 20 km apart: never.
    assert len(detect_xy([0, 20_000], [0, 0], [5000, 5000], [150, 150], [0, 0], [0, 0])) == 0
    for arr in (c.t_in, c.t_out, c.t_cpa, c.d_cpa_m, c.dv_cpa_m):
        assert np.all(np.isfinite(arr))


def test_diverging_pair_in_conflict_now():
    # 4 km apart and separating at 100 m/s: in conflict now until (9,260 - 4,000)/100 = 52.6 s.
    c = detect_xy([0, 4000], [0, 0], [5000, 5000], [-50, 50], [0, 0], [0, 0])
    assert c.t_in[0] == 0.0
    assert c.t_out[0] == pytest.approx(52.6)
    assert c.t_cpa[0] == 0.0
    assert c.d_cpa_m[0] == pytest.approx(4000.0)


def test_party_filter():
    s = States.from_columns(["a", "b", "c"], [37.0, 37.0, 37.0], [37.0, 37.01, 37.02],
                            [5000] * 3, [0] * 3, [0] * 3, [0] * 3, party=["X", "X", "Y"])
    assert {(int(i), int(j)) for i, j in zip(detect(s).i, detect(s).j, strict=True)} == {
        (0, 2), (1, 2)}
    assert len(detect(s, all_pairs=True)) == 3


def test_empty_and_single():
    empty = States.from_columns([], [], [], [], [], [], [])
    assert len(detect(empty)) == 0
    one = States.from_columns(["a"], [37.0], [37.0], [5000], [200], [0], [0])
    assert len(detect(one)) == 0


def test_subset_finds_exactly_the_pairs_touching_it():
    rng = np.random.default_rng(9)
    n = 2000
    x, y = rng.uniform(-200e3, 200e3, n), rng.uniform(-200e3, 200e3, n)
    z = rng.uniform(3000, 6000, n)
    vx, vy = rng.uniform(-250, 250, n), rng.uniform(-250, 250, n)
    vz = np.where(rng.random(n) < 0.3, rng.uniform(-15, 15, n), 0.0)
    everything = as_dict(detect_xy(x, y, z, vx, vy, vz))
    sub = rng.choice(n, 150, replace=False)
    got = as_dict(detect_xy(x, y, z, vx, vy, vz, subset=np.r_[sub, sub[:10]]))
    members = set(sub.tolist())
    want = {p: v for p, v in everything.items() if p[0] in members or p[1] in members}
    assert len(want) > 20
    assert got == want
