"""The conformal grid of the incursion engine, against pyproj.Geod (geodesics) as the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from detente.geo.stereographic import StereographicProjection

GEOD = Geod(ellps="WGS84")


def test_centre_is_the_origin_and_inverse_undoes_forward():
    proj = StereographicProjection(36.0, 37.0)
    x, y = proj.forward(36.0, 37.0)
    assert (float(x), float(y)) == pytest.approx((0.0, 0.0), abs=1e-6)
    rng = np.random.default_rng(1)
    lat, lon = rng.uniform(32, 40, 1000), rng.uniform(32, 42, 1000)
    back_lat, back_lon = proj.inverse(*proj.forward(lat, lon))
    assert np.abs(back_lat - lat).max() < 1e-9 and np.abs(back_lon - lon).max() < 1e-9


def test_short_grid_distances_match_geodesics_by_the_scale_factor():
    # Near the centre the scale is 1: a 1 km geodesic is 1 km in the grid to ~1e-6.
    proj = StereographicProjection(36.0, 37.0)
    lon1, lat1, _ = GEOD.fwd(37.0, 36.0, 63.0, 1000.0)
    x, y = proj.forward(lat1, lon1)
    assert float(np.hypot(x, y)) == pytest.approx(1000.0, rel=1e-6)


def test_chord_bend_matches_the_projected_geodesic_midpoint():
    proj = StereographicProjection(36.0, 37.0)
    rng = np.random.default_rng(0)
    n = 200
    lat, lon = rng.uniform(33, 39, n), rng.uniform(33, 41, n)
    trk, length = rng.uniform(0, 360, n), rng.uniform(2e4, 2e5, n)
    lon1, lat1, _ = GEOD.fwd(lon, lat, trk, length)
    lonm, latm, _ = GEOD.fwd(lon, lat, trk, length / 2)
    x0, y0 = proj.forward(lat, lon)
    x1, y1 = proj.forward(lat1, lon1)
    xm, ym = proj.forward(latm, lonm)
    dx, dy = x1 - x0, y1 - y0
    norm = np.hypot(dx, dy)
    # Offset of the geodesic's midpoint to the left of the chord: c s (1 - s) at s = 1/2.
    measured = ((xm - (x0 + x1) / 2) * -dy + (ym - (y0 + y1) / 2) * dx) / norm
    predicted = proj.chord_bend(x0, y0, x1, y1) / 4.0
    assert np.abs(measured).max() > 10.0  # the bend is real at this size...
    error = np.abs(measured - predicted)
    assert error.max() < 0.002 * np.abs(measured).max() + 0.01  # ...and known
