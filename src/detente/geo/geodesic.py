"""Geodesic distance and direct problem on the WGS84 ellipsoid (pyproj.Geod, Karney's method).

These are the ground truth the projected engines are tested against.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from pyproj import Geod

__all__ = ["WGS84", "geodesic_destination", "geodesic_distance", "geodesic_inverse"]

WGS84 = Geod(ellps="WGS84")


def geodesic_inverse(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward azimuth at 1, back azimuth at 2 (deg) and distance (m) from point 1 to point 2.

    Parameters are float or array_like in degrees and broadcast together.
    """
    lat1, lon1, lat2, lon2 = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lat1, lon1, lat2, lon2))
    )
    az12, az21, dist = WGS84.inv(lon1, lat1, lon2, lat2)
    return np.asarray(az12), np.asarray(az21), np.asarray(dist)


def geodesic_distance(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> np.ndarray:
    """Geodesic distance in metres between points 1 and 2 (degrees, broadcast together)."""
    return geodesic_inverse(lat1, lon1, lat2, lon2)[2]


def geodesic_destination(
    lat: ArrayLike, lon: ArrayLike, azimuth_deg: ArrayLike, distance_m: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Point reached from (lat, lon) after ``distance_m`` metres along ``azimuth_deg`` (true).

    Negative distances go backwards. Returns (lat, lon) in degrees.
    """
    lat, lon, az, d = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (lat, lon, azimuth_deg, distance_m))
    )
    lon2, lat2, _ = WGS84.fwd(lon, lat, az, d)
    return np.asarray(lat2), np.asarray(lon2)
