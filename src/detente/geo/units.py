"""Aviation units to SI, in one place.

Every edge that reads knots, feet, feet per minute or nautical miles converts here, once; the
rest of the package sees metres, metres per second and seconds only.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

__all__ = [
    "FOOT_M",
    "FPM_MPS",
    "KNOT_MPS",
    "NAUTICAL_MILE_M",
    "fpm_to_mps",
    "ft_to_m",
    "kt_to_mps",
    "m_to_ft",
    "mps_to_kt",
    "nm_to_m",
]

FOOT_M = 0.3048  # international foot, exact by definition (1959)
NAUTICAL_MILE_M = 1852.0  # international nautical mile, exact
KNOT_MPS = NAUTICAL_MILE_M / 3600.0
FPM_MPS = FOOT_M / 60.0

T = TypeVar("T", float, np.ndarray)


def ft_to_m(ft: T) -> T:
    """Feet to metres. ``ft`` : float or array_like, ft."""
    return ft * FOOT_M


def m_to_ft(m: T) -> T:
    """Metres to feet. ``m`` : float or array_like, m."""
    return m / FOOT_M


def kt_to_mps(kt: T) -> T:
    """Knots to metres per second. ``kt`` : float or array_like, kt."""
    return kt * KNOT_MPS


def mps_to_kt(mps: T) -> T:
    """Metres per second to knots. ``mps`` : float or array_like, m/s."""
    return mps / KNOT_MPS


def fpm_to_mps(fpm: T) -> T:
    """Feet per minute to metres per second. ``fpm`` : float or array_like, ft/min."""
    return fpm * FPM_MPS


def nm_to_m(nm: T) -> T:
    """Nautical miles to metres. ``nm`` : float or array_like, NM."""
    return nm * NAUTICAL_MILE_M
