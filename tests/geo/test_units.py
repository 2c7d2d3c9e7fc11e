import numpy as np
import pytest

from detente.geo import units


def test_exact_definitions():
    # The foot and the nautical mile are exact by international agreement (1959, 1929).
    assert units.ft_to_m(1000.0) == pytest.approx(304.8, abs=1e-12)
    assert units.nm_to_m(5.0) == 9260.0
    assert units.kt_to_mps(3600.0) == pytest.approx(1852.0, abs=1e-9)
    assert units.fpm_to_mps(60.0) == pytest.approx(0.3048, abs=1e-15)


def test_round_trips_and_arrays():
    ft = np.array([0.0, 10_000.0, 41_000.0])
    np.testing.assert_allclose(units.m_to_ft(units.ft_to_m(ft)), ft, rtol=1e-15)
    kt = np.array([0.0, 250.0, 480.0])
    np.testing.assert_allclose(units.mps_to_kt(units.kt_to_mps(kt)), kt, rtol=1e-15)
    # 480 kt is 246.93 m/s (480 * 1852 / 3600, by hand).
    assert units.kt_to_mps(480.0) == pytest.approx(246.9333333, rel=1e-9)
