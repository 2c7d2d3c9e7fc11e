"""The 2015 reconstruction: the engine must see the incursion coming and measure it.

SCENARIO.md: ~17 s inside, over the salient's southern tip, from Syria into Syria. The issue:
raise the predicted incursion at least 60 s before the crossing, and report a time inside
within 3 s of 17 s. The track itself is first checked with the dense-sampling oracle.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from detente.engines.incursion import AirspaceIndex, detect
from detente.geo.stereographic import StereographicProjection
from detente.model.states import States
from detente.scenario import LABEL, REPORTED_SECONDS_INSIDE, scenario_states, turkey_territory
from detente.scenario.yayladagi_2015 import DESIGNED_ENTRY_S

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def turkey():
    return turkey_territory()


def sampled_stay(s: States, k: int, polygon: shapely.Geometry) -> tuple[float, float]:
    """(entry, exit) in s from samples every 10 m along aircraft k's geodesic over 400 s."""
    d = np.arange(0.0, s.gs_mps[k] * 400.0, 10.0)
    n = d.size
    start = (np.full(n, s.lon[k]), np.full(n, s.lat[k]), np.full(n, s.trk_deg[k]))
    lons, lats, _ = GEOD.fwd(*start, d)
    inside = np.flatnonzero(shapely.contains_xy(polygon, lons, lats))
    assert inside.size and np.all(np.diff(inside) == 1)  # one stay
    return d[inside[0]] / s.gs_mps[k], d[inside[-1] + 1] / s.gs_mps[k]


def test_the_reconstructed_track_clips_the_salient_for_17_s(turkey):
    s = scenario_states()
    lead_in, lead_out = sampled_stay(s, 0, turkey[0].geometry)
    assert lead_out - lead_in == pytest.approx(REPORTED_SECONDS_INSIDE, abs=0.5)
    assert lead_in == pytest.approx(DESIGNED_ENTRY_S, abs=0.5)
    lons, lats, _ = GEOD.fwd(s.lon[0], s.lat[0], s.trk_deg[0], s.gs_mps[0] * lead_in)
    # Over the southern tip (35.808 N, 36.154 E), and at 19,000 ft.
    assert GEOD.inv(lons, lats, 36.154, 35.808)[2] < 3_000.0
    assert s.alt_m[0] == pytest.approx(19_000 * 0.3048, abs=1.0)
    assert "Reconstruction" in LABEL


def test_engine_reports_both_bombers_and_not_the_owners_patrol(turkey):
    s = scenario_states()
    found = detect(s, turkey).incursions
    assert s.id[found.i].tolist() == ["SU24-LEAD", "SU24-WING"]
    for row, k in enumerate(found.i):
        want_in, want_out = sampled_stay(s, k, turkey[0].geometry)
        assert found.t_entry[row] == pytest.approx(want_in, abs=1.0)
        assert found.t_exit[row] == pytest.approx(want_out, abs=1.0)
        inside_s = found.t_exit[row] - found.t_entry[row]
        assert abs(inside_s - REPORTED_SECONDS_INSIDE) <= 3.0
        assert found.inside_m[row] == pytest.approx(inside_s * s.gs_mps[k])
        assert not found.violation[row]
    # The wingman, 2 km in trail at 120 m/s, enters 16.7 s after the lead.
    assert found.t_entry[1] - found.t_entry[0] == pytest.approx(2000.0 / 120.0, abs=0.5)


def test_warning_comes_at_least_60_s_before_the_crossing(turkey):
    # Fly the lead along its geodesic from 200 s before the scenario's start (350 s before its
    # entry), one engine cycle every 5 s, and note the first cycle that predicts the incursion.
    s = scenario_states()
    index = AirspaceIndex.build(turkey, StereographicProjection.about(s.lat, s.lon))
    entry = DESIGNED_ENTRY_S
    first_warning = None
    for tau in np.arange(-200.0, entry, 5.0):
        lon, lat, back = GEOD.fwd(s.lon[0], s.lat[0], s.trk_deg[0], s.gs_mps[0] * tau)
        heading = (back + 180.0) % 360.0  # the back azimuth there, turned around (any sign)
        now = States.from_columns(["SU24-LEAD"], [lat], [lon], [s.alt_m[0]], [s.gs_mps[0]],
                                  [heading], [0.0], party=["RUS"])
        found = detect(now, index, lookahead_s=300.0).incursions
        if len(found):
            assert found.t_entry[0] == pytest.approx(entry - tau, abs=1.0)
            first_warning = tau if first_warning is None else first_warning
        else:
            assert first_warning is None  # once predicted, it stays predicted
    assert first_warning is not None
    assert entry - first_warning >= 60.0
    assert entry - first_warning == pytest.approx(300.0, abs=5.0)  # the look-ahead, no less
