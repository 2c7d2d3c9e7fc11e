"""The geographic front against the ellipsoid itself: dense sampling of geodesic paths.

The oracle flies every aircraft along its geodesic (pyproj.Geod.fwd) at 1 s steps and measures
every pair's geodesic distance (pyproj.Geod.inv) at each step; a pair conflicts when some sample
is within both minima. It shares nothing with the engine but the WGS84 ellipsoid.
"""

from __future__ import annotations

import numpy as np
import pytest

from detente.engines.tactical import detect
from detente.geo import WGS84, LocalProjection
from detente.model import States

R, V, T = 9_260.0, 304.8, 300.0
STEP_S = 1.0


def sampled_conflicts(s: States) -> tuple[set, set]:
    """(pairs surely in conflict, pairs that might be) by dense sampling, with margins.

    Straight lines in a plane and geodesics differ slightly, and sampling misses the true
    minimum by up to (speed * step)^2 / (8 R): "surely" uses minima 1 % tighter, "might"
    1 % looser, so only pairs within 1 % of a minimum are left undecided.
    """
    n = len(s)
    times = np.arange(0.0, T + STEP_S / 2, STEP_S)
    lat = np.empty((n, times.size))
    lon = np.empty((n, times.size))
    for k in range(n):
        lo, la, _ = WGS84.fwd(np.full(times.size, s.lon[k]), np.full(times.size, s.lat[k]),
                              np.full(times.size, s.trk_deg[k]), s.gs_mps[k] * times)
        lat[k], lon[k] = la, lo
    alt = s.alt_m[:, None] + s.vs_mps[:, None] * times[None, :]
    sure, maybe = set(), set()
    ii, jj = np.triu_indices(n, 1)
    for i, j in zip(ii, jj, strict=True):
        _, _, d = WGS84.inv(lon[i], lat[i], lon[j], lat[j])
        dz = np.abs(alt[i] - alt[j])
        if np.any((d < R * 0.99) & (dz < V * 0.99)):
            sure.add((int(i), int(j)))
        if np.any((d < R * 1.01) & (dz < V * 1.01)):
            maybe.add((int(i), int(j)))
    return sure, maybe


def random_states(rng, n, lat0, lon0, spread_m):
    az = rng.uniform(0, 360, n)
    dist = np.sqrt(rng.uniform(0, 1, n)) * spread_m
    lon, lat, _ = WGS84.fwd(np.full(n, lon0), np.full(n, lat0), az, dist)
    return States.from_columns(
        [str(k) for k in range(n)], lat, lon,
        rng.choice([5000.0, 5200.0, 5400.0], n) + rng.uniform(-50, 50, n),
        rng.uniform(100, 250, n), rng.uniform(0, 360, n),
        np.where(rng.random(n) < 0.2, rng.uniform(-10, 10, n), 0.0),
    )


@pytest.mark.parametrize(
    ("seed", "centre"),
    [
        (1, None),  # projection centred on the traffic
        # Projection centred 1,100 km away: meridian convergence ~8 deg and a 0.5 % stretch.
        # Without grid-frame velocities or the per-pair unstretch, pairs flip here.
        (2, LocalProjection(30.0, 30.0)),
        (3, LocalProjection(45.0, 48.0)),
    ],
)
def test_pairs_match_dense_geodesic_sampling(seed, centre):
    rng = np.random.default_rng(seed)
    s = random_states(rng, 90, 37.0, 37.5, 60_000.0)
    got = detect(s, projection=centre)
    pairs = set(zip(got.i.tolist(), got.j.tolist(), strict=True))
    sure, maybe = sampled_conflicts(s)
    assert len(sure) > 20
    assert sure <= pairs, f"missed {sorted(sure - pairs)}"
    assert pairs <= maybe, f"spurious {sorted(pairs - maybe)}"


CENTRES = [None, LocalProjection(30.0, 30.0), LocalProjection(45.0, 48.0)]


@pytest.mark.parametrize("centre", CENTRES)
def test_current_distance_is_the_geodesic_distance(centre):
    # Pairs in loss of separation now and diverging have t_cpa = 0, so d_cpa is today's
    # distance: no extrapolation, only the metric. It must be the geodesic distance to 0.01 %;
    # 1,100 km from the centre the projection stretches lengths by up to 0.5 %.
    rng = np.random.default_rng(5)
    n = 200
    lat_i, lon_i = 37.0 + rng.uniform(-0.5, 0.5, n), 37.5 + rng.uniform(-0.5, 0.5, n)
    bearing = rng.uniform(0, 360, n)
    lon_j, lat_j, _ = WGS84.fwd(lon_i, lat_i, bearing, rng.uniform(1000, 9000, n))
    s = States.from_columns(
        np.arange(2 * n).astype(str), np.r_[lat_i, lat_j], np.r_[lon_i, lon_j],
        np.full(2 * n, 5000.0), np.full(2 * n, 150.0), np.r_[(bearing + 180) % 360, bearing],
        np.zeros(2 * n),
    )
    got = detect(s, projection=centre)
    mine = got.j == got.i + n  # the constructed pairs (others may also meet by chance)
    assert mine.sum() == n
    i, j = got.i[mine], got.j[mine]
    assert np.all(got.t_cpa[mine] == 0.0)
    _, _, d = WGS84.inv(s.lon[i], s.lat[i], s.lon[j], s.lat[j])
    np.testing.assert_allclose(got.d_cpa_m[mine], d, rtol=1e-4)


@pytest.mark.parametrize("centre", CENTRES)
def test_miss_distance_is_the_geodesic_distance_between_extrapolated_points(centre):
    # The engine flies straight lines in its grid. Take the two points it extrapolates to at
    # the reported closest approach, back to lat/lon: the geodesic distance between them is the
    # miss distance, to 0.02 %, wherever the projection is centred (its stretch is 0.5 %
    # 1,100 km from the centre).
    rng = np.random.default_rng(11)
    s = random_states(rng, 120, 37.0, 37.5, 60_000.0)
    got = detect(s, projection=centre)
    assert len(got) > 30
    proj = centre or LocalProjection.about(s.lat, s.lon)
    x, y = proj.forward(s.lat, s.lon)
    vx, vy = proj.grid_velocity(s.lat, s.lon, s.gs_mps, s.trk_deg)
    i, j, t = got.i, got.j, got.t_cpa
    lat_i, lon_i = proj.inverse(x[i] + vx[i] * t, y[i] + vy[i] * t)
    lat_j, lon_j = proj.inverse(x[j] + vx[j] * t, y[j] + vy[j] * t)
    _, _, d = WGS84.inv(lon_i, lat_i, lon_j, lat_j)
    np.testing.assert_allclose(got.d_cpa_m, d, rtol=2e-4, atol=0.5)


def test_miss_distance_matches_geodesic_flight():
    # With the grid centred on the traffic (the default), straight grid lines stay within a few
    # metres of the geodesics the aircraft would fly over five minutes.
    rng = np.random.default_rng(11)
    s = random_states(rng, 120, 37.0, 37.5, 60_000.0)
    got = detect(s)
    i, j, t = got.i, got.j, got.t_cpa
    lon_i, lat_i, _ = WGS84.fwd(s.lon[i], s.lat[i], s.trk_deg[i], s.gs_mps[i] * t)
    lon_j, lat_j, _ = WGS84.fwd(s.lon[j], s.lat[j], s.trk_deg[j], s.gs_mps[j] * t)
    _, _, d = WGS84.inv(lon_i, lat_i, lon_j, lat_j)
    np.testing.assert_allclose(got.d_cpa_m, d, rtol=5e-4, atol=5.0)
