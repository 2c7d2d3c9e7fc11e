"""``detect_between``: pairs of parties, each held to its own minima, and where both aircraft
are at closest approach.

Oracles: ``detect`` run on each pair of parties alone with that pair's minima (the general
path, itself held to the definition in test_tactical.py and to the ellipsoid in
test_tactical_geodesic.py), and, for the positions, each aircraft flown along its geodesic
(pyproj) for t_cpa seconds; a hand-worked head-on for the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from detente.engines.tactical import PairMinima, detect, detect_between
from detente.geo import WGS84, LocalProjection, geodesic_destination
from detente.model import States

CENTRE = LocalProjection(36.0, 36.0)
MINIMA = [PairMinima(("A", "B")),  # 5 NM, 1,000 ft, 300 s
          PairMinima(("C", "B"), horizontal_m=20_000.0, vertical_m=600.0, lookahead_s=600.0)]


def picture(seed: int, n: int = 600) -> States:
    rng = np.random.default_rng(seed)
    az, dist = rng.uniform(0, 360, n), np.sqrt(rng.uniform(0, 1, n)) * 250_000.0
    lon, lat, _ = WGS84.fwd(np.full(n, 36.0), np.full(n, 36.0), az, dist)
    return States.from_columns(
        [f"t{k}" for k in range(n)], lat, lon, rng.choice([5000.0, 5300.0, 5600.0], n),
        rng.uniform(100, 250, n), rng.uniform(0, 360, n),
        np.where(rng.random(n) < 0.2, rng.uniform(-10, 10, n), 0.0),
        party=rng.choice(["A", "B", "C"], n))


def rows(c, index=None) -> dict:
    """{(i, j): (t_in, t_out, t_cpa, d_cpa, dv_cpa)}, i and j mapped through ``index``."""
    index = np.arange(max(c.i.max(initial=0), c.j.max(initial=0)) + 1) if index is None \
        else index
    return {(int(index[i]), int(index[j])): (a, b, t, d, v) for i, j, a, b, t, d, v in zip(
        c.i, c.j, c.t_in, c.t_out, c.t_cpa, c.d_cpa_m, c.dv_cpa_m, strict=True)}


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("method", ["general", "compiled"])
def test_each_pair_of_parties_by_its_own_minima(seed, method):
    s = picture(seed)
    found = detect_between(s, MINIMA, projection=CENTRE, method=method)
    expected, rule = {}, {}
    for k, m in enumerate(MINIMA):
        (sel,) = np.nonzero(np.isin(s.party, m.parties))
        alone = detect(s.take(sel), horizontal_m=m.horizontal_m, vertical_m=m.vertical_m,
                       lookahead_s=m.lookahead_s, projection=CENTRE, method="general")
        got = rows(alone, sel)
        expected |= got
        rule |= dict.fromkeys(got, k)
    assert len(expected) > 10  # dense enough to mean something
    have = rows(found.conflicts)
    assert set(have) == set(expected)  # A-C pairs, and same-party ones, are never judged
    for pair, values in expected.items():
        np.testing.assert_allclose(have[pair], values, rtol=1e-9, atol=1e-6)
    pairs = zip(found.conflicts.i.tolist(), found.conflicts.j.tolist(), strict=True)
    assert dict(zip(pairs, found.minima.tolist(), strict=True)) == rule
    assert list(have) == sorted(have)  # rows sorted by (i, j)


def test_positions_at_closest_approach_are_on_each_geodesic():
    s = picture(4)
    found = detect_between(s, MINIMA, projection=CENTRE)
    c = found.conflicts
    assert len(c) > 10
    for k, (i, j) in enumerate(zip(c.i, c.j, strict=True)):
        for a, lat, lon in ((i, found.lat_i[k], found.lon_i[k]),
                            (j, found.lat_j[k], found.lon_j[k])):
            want_lat, want_lon = geodesic_destination(s.lat[a], s.lon[a], s.trk_deg[a],
                                                      s.gs_mps[a] * c.t_cpa[k])
            _, _, off = WGS84.inv(lon, lat, want_lon, want_lat)
            # Straight in the grid, not along the geodesic: metres apart within 300 km of
            # the grid's centre over ten minutes (the module docstring's figure).
            assert off < 60.0, (k, a, off)


def test_head_on_between_two_parties_by_hand():
    # 100 km apart on the equator, 200 m/s towards each other: closest approach at 250 s,
    # both at the midpoint, 50 km east of the first; t_in = (100,000 - 9,260) / 400.
    lat_b, lon_b = geodesic_destination(0.0, 0.0, 90.0, 100_000.0)
    s = States.from_columns(["a", "b"], [0.0, lat_b], [0.0, lon_b], [5000, 5000], [200, 200],
                            [90, 270], [0, 0], party=["A", "B"])
    found = detect_between(s, [PairMinima(("B", "A"))])
    assert len(found) == 1 and found.minima.tolist() == [0]
    assert found.conflicts.t_in[0] == pytest.approx(226.85, abs=0.01)
    mid_lat, mid_lon = geodesic_destination(0.0, 0.0, 90.0, 50_000.0)
    for lat, lon in ((found.lat_i[0], found.lon_i[0]), (found.lat_j[0], found.lon_j[0])):
        assert WGS84.inv(lon, lat, mid_lon, mid_lat)[2] < 1.0
    assert len(detect_between(s, [PairMinima(("A", "C"))])) == 0
    assert len(detect_between(s, [])) == 0
    with pytest.raises(ValueError, match="minima"):
        detect_between(s, [PairMinima(("A", "B"), horizontal_m=0.0)])
    with pytest.raises(ValueError, match="party"):
        detect_between(States.from_columns(["a"], [0], [0], [0], [0], [0], [0]), MINIMA)
