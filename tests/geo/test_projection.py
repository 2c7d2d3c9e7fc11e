import numpy as np
import pytest
from pyproj import Proj

from detente.geo import LocalProjection, geodesic_destination, geodesic_inverse


@pytest.fixture(scope="module")
def proj():
    return LocalProjection(37.0, 37.5)


def test_round_trip(proj):
    rng = np.random.default_rng(0)
    lat = rng.uniform(30, 44, 1000)
    lon = rng.uniform(28, 47, 1000)
    x, y = proj.forward(lat, lon)
    lat2, lon2 = proj.inverse(x, y)
    np.testing.assert_allclose(lat2, lat, atol=1e-9)
    np.testing.assert_allclose(lon2, lon, atol=1e-9)


def test_distances_from_centre_are_geodesic(proj):
    # The defining property of the azimuthal equidistant projection.
    rng = np.random.default_rng(1)
    lat = rng.uniform(30, 44, 200)
    lon = rng.uniform(28, 47, 200)
    x, y = proj.forward(lat, lon)
    _, _, d = geodesic_inverse(proj.lat0, proj.lon0, lat, lon)
    np.testing.assert_allclose(np.hypot(x, y), d, rtol=1e-9)


def test_centre_of_points_across_antimeridian():
    p = LocalProjection.about([10.0, 10.0], [179.0, -179.0])
    assert abs(p.lon0) == pytest.approx(180.0, abs=1e-9)
    assert p.lat0 == pytest.approx(10.0, abs=0.01)


def test_grid_velocity_turns_by_meridian_convergence(proj):
    # Oracle: PROJ's own meridian convergence at the point. A northbound aircraft 200 km east of
    # the centre moves along the meridian, which the grid shows turned by the convergence.
    lat, lon = geodesic_destination(37.0, 37.5, 90.0, 200_000.0)
    vx, vy = proj.grid_velocity(lat, lon, 200.0, 0.0)
    grid_bearing = np.degrees(np.arctan2(vx, vy))
    p = Proj(proj="aeqd", lat_0=37.0, lon_0=37.5, datum="WGS84")
    convergence = p.get_factors(lon, lat).meridian_convergence
    assert abs(convergence) > 1.0  # the case the issue warns about
    assert grid_bearing == pytest.approx(-convergence, abs=1e-3)
    # Speed in the grid: the meridian at this point runs nearly tangential, where AEQD stretches.
    assert np.hypot(vx, vy) == pytest.approx(200.0, rel=2e-3)


def test_tangential_scale_matches_measured_stretch(proj):
    # Oracle: grid length of a short tangential step over its geodesic length.
    for dist in (100e3, 500e3, 1000e3):
        lat, lon = geodesic_destination(proj.lat0, proj.lon0, 60.0, dist)
        _, back, _ = geodesic_inverse(proj.lat0, proj.lon0, lat, lon)
        across = back + 90.0  # perpendicular to the radius at the point
        lat_a, lon_a = geodesic_destination(lat, lon, across, 50.0)
        lat_b, lon_b = geodesic_destination(lat, lon, across + 180.0, 50.0)
        xa, ya = proj.forward(lat_a, lon_a)
        xb, yb = proj.forward(lat_b, lon_b)
        measured = np.hypot(xb - xa, yb - ya) / 100.0
        x, y = proj.forward(lat, lon)
        k = LocalProjection.tangential_scale(x, y)
        assert k == pytest.approx(measured, rel=5e-5)
    assert LocalProjection.tangential_scale(0.0, 0.0) == 1.0


@pytest.mark.parametrize("centre", [(37.0, 37.5), (30.0, 30.0), (0.0, 0.0), (-60.0, 170.0)])
def test_motion_fast_path_agrees_with_projection_and_finite_differences(centre):
    proj = LocalProjection(*centre)
    rng = np.random.default_rng(3)
    n = 2000
    lat = centre[0] + rng.uniform(-9, 9, n)
    lon = centre[1] + rng.uniform(-9, 9, n)
    lat[0], lon[0] = centre  # the centre itself, where the radial direction is undefined
    gs, trk = rng.uniform(0, 300, n), rng.uniform(-360, 360, n)
    x, y, vx, vy = proj.motion(lat, lon, gs, trk)
    fx, fy = proj.forward(lat, lon)
    np.testing.assert_allclose(x, fx, atol=1e-3)
    np.testing.assert_allclose(y, fy, atol=1e-3)
    gvx, gvy = proj.grid_velocity(lat, lon, gs, trk)
    # The spherical stretch formula is within 6e-5 of the ellipsoid's at 1,000 km.
    np.testing.assert_allclose(vx, gvx, atol=1e-4 * 300)
    np.testing.assert_allclose(vy, gvy, atol=1e-4 * 300)
