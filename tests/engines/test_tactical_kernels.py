"""The compiled fast path against the general path: same pairs, same values.

``method="general"`` is STRtree pruning plus the numpy ``pair_conflicts``; ``method="compiled"``
is the numba grid with the exact test written per pair. Both are held to the definition by the
oracle tests in test_tactical.py; here they are held to each other, exactly for the pairs and to
1e-9 for the values, over random pictures and the degenerate ones a grid can trip on: every
aircraft in one cell, nobody moving, a look-ahead of zero, aircraft at the projection's centre,
a few aircraft scattered over the globe, non-finite states, and more conflicts than the kernel
reserves room for.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detente.engines.tactical import Conflicts, detect, detect_xy
from detente.geo import FOOT_M, LocalProjection
from detente.model import States
from tests.engines.test_tactical import scenario

FIELDS = ("t_in", "t_out", "t_cpa", "d_cpa_m", "dv_cpa_m")


def assert_same(fast: Conflicts, general: Conflicts) -> None:
    assert np.array_equal(fast.i, general.i), "pairs differ"
    assert np.array_equal(fast.j, general.j), "pairs differ"
    for name in FIELDS:
        # 1e-9 absolute for values that are 0 (t_in now, d_cpa head-on): a nanometre.
        np.testing.assert_allclose(getattr(fast, name), getattr(general, name),
                                   rtol=1e-9, atol=1e-9, err_msg=name)


def both(*args, **kwargs) -> Conflicts:
    fast = detect_xy(*args, method="compiled", **kwargs)
    general = detect_xy(*args, method="general", **kwargs)
    assert_same(fast, general)
    return fast


def traffic_xy(rng: np.random.Generator, n: int, half_m: float, climbing: float = 0.2):
    x, y = rng.uniform(-half_m, half_m, n), rng.uniform(-half_m, half_m, n)
    z = rng.uniform(3048, 12192, n)
    gs, trk = rng.uniform(100, 250, n), rng.uniform(0, 2 * np.pi, n)
    vz = np.where(rng.random(n) < climbing, rng.uniform(-15, 15, n), 0.0)
    return x, y, z, gs * np.sin(trk), gs * np.cos(trk), vz


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario(), st.booleans(), st.booleans(), st.sampled_from([0.0, 60.0, 300.0]),
       st.data())
def test_same_on_random_scenarios(s, aeqd, grouped, lookahead, data):
    x, y, z, vx, vy, vz, g = s
    subset = data.draw(st.one_of(st.none(), st.lists(st.integers(0, len(x) - 1), max_size=4)))
    both(x, y, z, vx, vy, vz, g if grouped else None, lookahead_s=lookahead,
         aeqd_metric=aeqd, subset=subset)


@pytest.mark.parametrize("aeqd", [False, True])
def test_same_on_dense_traffic_far_from_the_centre(aeqd):
    # 1,500 km from the centre the AEQD stretch is 0.9 %: the unstretch and the padded boxes
    # both matter. Parties and a subset as the service uses them.
    rng = np.random.default_rng(11)
    x, y, z, vx, vy, vz = traffic_xy(rng, 6000, 300e3)
    x += 1.2e6
    y -= 0.9e6
    group = rng.integers(0, 3, x.size)
    found = both(x, y, z, vx, vy, vz, aeqd_metric=aeqd)
    assert len(found) > 1000
    both(x, y, z, vx, vy, vz, group, aeqd_metric=aeqd)
    both(x, y, z, vx, vy, vz, group, aeqd_metric=aeqd, subset=rng.choice(x.size, 50))


def test_same_with_more_conflicts_than_room_reserved():
    # 300 aircraft within 3 km at one level: every pair conflicts, ~150 per aircraft, far above
    # the rows the kernel reserves, so chunks overflow and run again.
    rng = np.random.default_rng(5)
    n = 300
    x, y = rng.uniform(-3e3, 3e3, n), rng.uniform(-3e3, 3e3, n)
    trk = rng.uniform(0, 2 * np.pi, n)
    found = both(x, y, np.full(n, 5000.0), 150 * np.sin(trk), 150 * np.cos(trk), np.zeros(n))
    assert len(found) == n * (n - 1) // 2


@pytest.mark.parametrize("aeqd", [False, True])
def test_same_on_degenerate_pictures(aeqd):
    n = 40
    zeros, ones = np.zeros(n), np.ones(n)
    # Everybody at the projection's centre (no radial direction), identical, still.
    both(zeros, zeros, 5000 * ones, zeros, zeros, zeros, aeqd_metric=aeqd)
    # Identical and moving together; and with a look-ahead of zero.
    both(zeros, zeros, 5000 * ones, 100 * ones, zeros, zeros, aeqd_metric=aeqd)
    both(zeros, zeros, 5000 * ones, 100 * ones, zeros, zeros, aeqd_metric=aeqd, lookahead_s=0)
    # A column of adjacent flight levels from feet: one vertical minimum apart, no conflicts.
    levels = np.arange(n) * 1000 * FOOT_M + 3048
    assert len(both(zeros, zeros, levels, zeros, zeros, zeros, aeqd_metric=aeqd)) == 0
    # A row of still aircraft 9,259 m and 9,260 m apart: just in, just out.
    assert len(both(np.arange(n) * 9259.0, zeros, 5000 * ones, zeros, zeros, zeros,
                    aeqd_metric=aeqd)) == n - 1
    assert len(both(np.arange(n) * 9260.0, zeros, 5000 * ones, zeros, zeros, zeros)) == 0
    # A few aircraft scattered over 20,000 km: the grid coarsens rather than grow.
    rng = np.random.default_rng(2)
    x, y, z, vx, vy, vz = traffic_xy(rng, n, 1e7)
    x[:5], y[:5] = 0.0, 0.0  # and a cluster among them
    both(x, y, z, vx, vy, vz, aeqd_metric=aeqd)


def test_nonfinite_states_conflict_with_nothing_on_both_paths():
    x = [0.0, np.nan, 100.0, 200.0, np.inf]
    found = both(x, [0.0] * 5, [5000.0] * 5, [0.0, 0.0, np.nan, 0.0, 0.0], [0.0] * 5, [0.0] * 5)
    assert {(int(i), int(j)) for i, j in zip(found.i, found.j, strict=True)} == {(0, 3)}


def test_small_and_empty():
    for n in (0, 1, 2):
        both(np.zeros(n), np.zeros(n), np.full(n, 5000.0), np.zeros(n), np.zeros(n), np.zeros(n))


def test_unknown_method_lists_the_valid_ones():
    with pytest.raises(ValueError, match="compiled, general"):
        detect_xy([0, 1], [0, 0], [0, 0], [0, 0], [0, 0], [0, 0], method="fast")


def test_detect_same_on_both_paths_with_threaded_projection():
    # Above the size where detect projects in threads: lat/lon in, the same pairs out.
    rng = np.random.default_rng(4)
    n = 25_000
    proj = LocalProjection(37.0, 37.5)
    x, y = rng.uniform(-400e3, 400e3, n), rng.uniform(-400e3, 400e3, n)
    lat, lon = proj.inverse(x, y)
    s = States.from_columns(np.arange(n).astype(str), lat, lon, rng.uniform(3048, 12192, n),
                            rng.uniform(100, 250, n), rng.uniform(0, 360, n),
                            np.where(rng.random(n) < 0.2, rng.uniform(-15, 15, n), 0.0),
                            party=rng.choice(["A", "B", "C"], n))
    fast = detect(s, method="compiled")
    assert len(fast) > 5000
    assert_same(fast, detect(s, method="general"))
