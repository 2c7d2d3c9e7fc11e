"""Units, geodesy and the local projection: the only place that knows the Earth is not flat."""

from detente.geo.geodesic import (
    WGS84,
    geodesic_destination,
    geodesic_distance,
    geodesic_inverse,
)
from detente.geo.projection import MEAN_EARTH_RADIUS_M, LocalProjection
from detente.geo.units import (
    FOOT_M,
    FPM_MPS,
    KNOT_MPS,
    NAUTICAL_MILE_M,
    fpm_to_mps,
    ft_to_m,
    kt_to_mps,
    m_to_ft,
    mps_to_kt,
    nm_to_m,
)

__all__ = [
    "FOOT_M",
    "FPM_MPS",
    "KNOT_MPS",
    "MEAN_EARTH_RADIUS_M",
    "NAUTICAL_MILE_M",
    "WGS84",
    "LocalProjection",
    "fpm_to_mps",
    "ft_to_m",
    "geodesic_destination",
    "geodesic_distance",
    "geodesic_inverse",
    "kt_to_mps",
    "m_to_ft",
    "mps_to_kt",
    "nm_to_m",
]
