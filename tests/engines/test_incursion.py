"""The incursion engine against oracles that do not share its method.

- Dense geodesic sampling (pyproj.Geod.fwd every 10 m, point-in-polygon on lon/lat) on the real
  Turkey-Syria border in Hatay: entry within 1 s and 50 m, as the issue asks.
- shapely's own line-polygon intersection for the planar parity logic, on integer grids where
  paths run through vertices.
- Hand-worked geometry on the equator, where a meridian edge and an equatorial path cross at a
  point anyone can compute: the equatorial degree is a * pi / 180 = 111,319.4908 m
  (python3 -c "import math; print(6378137 * math.pi / 180)").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod

from detente.engines.incursion import (
    AirspaceIndex,
    detect,
    path_intervals_xy,
)
from detente.geo.stereographic import StereographicProjection
from detente.model.airspace import Airspace, AirspaceKind
from detente.model.states import States
from detente.scenario import turkey_territory

GEOD = Geod(ellps="WGS84")
EQ_DEG_M = 6378137 * math.pi / 180  # length of one degree of longitude on the equator
# On the equator at 0.05 W, 3,000 m, flying east at 100 m/s, level.
EAST = (0.0, -0.05, 3000.0, 100.0, 90.0, 0.0)


@pytest.fixture(scope="module")
def turkey() -> list[Airspace]:
    return turkey_territory()


def states(*rows: tuple, party: str | None = "RUS") -> States:
    """rows of (lat, lon, alt_m, gs_mps, trk_deg, vs_mps)."""
    cols = list(zip(*rows, strict=True))
    parties = None if party is None else [party] * len(rows)
    return States.from_columns([f"a{k}" for k in range(len(rows))], *cols, party=parties)


def square(lon0: float, lat0: float, lon1: float, lat1: float, **kw: object) -> Airspace:
    defaults: dict = {"name": "SQ", "owner": "TUR", "kind": AirspaceKind.RESTRICTED_AREA}
    defaults.update(kw)
    return Airspace(geometry=shapely.box(lon0, lat0, lon1, lat1), **defaults)


# --- dense geodesic oracle on the real border -----------------------------------------------

def oracle_samples(
    lat: float, lon: float, trk: float, gs: float, horizon: float, polygon: shapely.Geometry
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Inside or not every 10 m along the geodesic (pyproj.Geod.fwd), lon/lat point-in-polygon.

    Returns inside, lats, lons, distances (m)."""
    d = np.arange(0.0, gs * horizon + 5.0, 10.0)
    lons, lats, _ = GEOD.fwd(np.full(d.size, lon), np.full(d.size, lat), np.full(d.size, trk), d)
    return shapely.contains_xy(polygon, lons, lats), lats, lons, d


def hatay_paths(polygon: shapely.Geometry, n: int, seed: int) -> np.ndarray:
    """n paths that each pass through a random vertex of the Hatay land border.

    The box 35.80-36.35 N, 36.10-36.70 E holds the Yayladağı salient and the border east to
    Reyhanlı and no coast. Returns rows (lat, lon, trk, gs, horizon).
    """
    coords = shapely.get_coordinates(shapely.boundary(polygon))
    near = coords[
        (coords[:, 1] > 35.80) & (coords[:, 1] < 36.35)
        & (coords[:, 0] > 36.10) & (coords[:, 0] < 36.70)
    ]
    rng = np.random.default_rng(seed)
    pick = near[rng.integers(0, len(near), n)]
    trk = rng.uniform(0.0, 360.0, n)
    gs = rng.uniform(60.0, 300.0, n)
    t_cross = rng.uniform(5.0, 250.0, n)
    lon0, lat0, back = GEOD.fwd(pick[:, 0], pick[:, 1], trk + 180.0, gs * t_cross)
    return np.column_stack([lat0, lon0, back % 360.0, gs, np.full(n, 300.0)])


def test_hatay_border_entry_time_and_point_agree_with_dense_geodesic_sampling(turkey):
    polygon = turkey[0].geometry
    shapely.prepare(polygon)
    paths = hatay_paths(polygon, 300, seed=2015)
    s = States.from_columns(
        [str(k) for k in range(len(paths))], paths[:, 0], paths[:, 1],
        np.full(len(paths), 5791.0), paths[:, 3], paths[:, 2], np.zeros(len(paths)),
        party=["RUS"] * len(paths),
    )
    found = detect(s, turkey, lookahead_s=300.0).incursions
    matched = 0
    for k in range(len(paths)):
        lat, lon, trk, gs, horizon = paths[k]
        inside, lats, lons, d = oracle_samples(lat, lon, trk, gs, horizon, polygon)
        rows = np.flatnonzero(found.i == k)
        t_in, t_out = found.t_entry[rows], np.nan_to_num(found.t_exit[rows], nan=np.inf)
        t = d / gs
        engine_inside = ((t[:, None] >= t_in) & (t[:, None] <= t_out)).any(axis=1)
        # 1. Every sample farther than 15 m of flight from an engine entry or exit agrees.
        events = np.r_[t_in[t_in > 0], t_out[np.isfinite(t_out)]]
        far = (
            np.abs(t[:, None] - events).min(axis=1) * gs > 15.0 if events.size
            else np.ones(t.size, bool)
        )
        assert np.array_equal(inside[far], engine_inside[far]), (k, found.take(rows))
        # 2. Every entry the samples see (out at j - 1, in at j) is an engine entry within
        #    1 s, and the engine's entry point is within 50 m of the first sample inside.
        for j in np.flatnonzero(inside[1:] & ~inside[:-1]) + 1:
            r = rows[np.argmin(np.abs(t_in - t[j]))] if rows.size else None
            assert r is not None and abs(found.t_entry[r] - t[j]) < 1.0, (k, t[j])
            miss = GEOD.inv(lons[j], lats[j], found.entry_lon[r], found.entry_lat[r])[2]
            assert miss < 50.0, (k, t[j], miss)
            matched += 1
    assert matched >= 200  # "hundreds of random paths crossing the Hatay section"


# --- planar parity against shapely's intersection ---------------------------------------------

def shapely_stays(polygon: shapely.Geometry, p: tuple, q: tuple) -> list[tuple[float, float]]:
    """Parameter intervals (0..1) of p -> q inside polygon, from shapely.intersection."""
    line = shapely.LineString([p, q])
    pieces = shapely.get_parts(shapely.line_merge(shapely.intersection(line, polygon)))
    stays = []
    for piece in pieces:
        if piece.geom_type != "LineString" or piece.length == 0:
            continue  # a point of contact is no stay
        a, b = shapely.line_locate_point(line, shapely.points(piece.coords[0])), \
            shapely.line_locate_point(line, shapely.points(piece.coords[-1]))
        stays.append((min(a, b) / line.length, max(a, b) / line.length))
    stays.sort()
    merged: list[list[float]] = []
    for a, b in stays:
        if merged and a <= merged[-1][1] + 1e-12:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged]


def test_planar_parity_matches_shapely_on_grid_polygons_through_vertices():
    rng = np.random.default_rng(7)
    proj = StereographicProjection(0.0, 0.0)
    compared = 0
    for _ in range(60):
        cells = rng.integers(0, 8, size=(12, 2))
        blob = shapely.unary_union([shapely.box(x, y, x + 1, y + 1) for x, y in cells])
        blob = shapely.affinity.scale(blob, 1000.0, 1000.0, origin=(0, 0))
        index = AirspaceIndex.from_grid(
            proj, [blob], owner=["X"], floor_m=[-np.inf], ceiling_m=[np.inf], buffer_m=[0.0]
        )
        # Integer end points: lines through grid vertices happen all the time. Collinear runs
        # along an edge are the one case where "on the boundary" differs from "inside", so
        # axis-parallel paths are left out.
        ends = rng.integers(-1, 10, size=(40, 4)) * 1000.0
        ends = ends[(ends[:, 0] != ends[:, 2]) & (ends[:, 1] != ends[:, 3])]
        path, _, s_in, s_out, _ = path_intervals_xy(
            index, ends[:, 0], ends[:, 1], ends[:, 2], ends[:, 3]
        )
        for k, (x0, y0, x1, y1) in enumerate(ends):
            want = shapely_stays(blob, (x0, y0), (x1, y1))
            # An entry exactly at the end (s = 1) flies nothing inside: shapely sees a point.
            got = [
                (a, min(b, 1.0))
                for a, b in zip(s_in[path == k], s_out[path == k], strict=True) if a < 1.0
            ]
            assert len(got) == len(want), (blob.wkt, (x0, y0, x1, y1), got, want)
            for (a, b), (c, e) in zip(got, want, strict=True):
                assert (a, b) == pytest.approx((c, e), abs=1e-9), (blob.wkt, (x0, y0, x1, y1))
            compared += 1
    assert compared > 1500


# --- hand-worked geometry on the equator ----------------------------------------------------

def test_equator_crossing_of_a_meridian_edge_hand_worked():
    # Square 0..0.1 E, -0.05..0.05 N; aircraft on the equator at 0.05 W flying east at 100 m/s.
    box = square(0.0, -0.05, 0.1, 0.05)
    found = detect(states(EAST), [box], lookahead_s=300).incursions
    assert len(found) == 1
    assert found.t_entry[0] == pytest.approx(0.05 * EQ_DEG_M / 100.0, abs=0.01)  # 55.66 s
    assert found.t_exit[0] == pytest.approx(0.15 * EQ_DEG_M / 100.0, abs=0.01)  # 166.98 s
    assert found.inside_m[0] == pytest.approx(0.1 * EQ_DEG_M, abs=1.0)
    assert found.entry_lat[0] == pytest.approx(0.0, abs=1e-9)
    assert found.entry_lon[0] == pytest.approx(0.0, abs=1e-6)
    assert not found.violation[0]


def test_exit_beyond_the_lookahead_is_nan_and_inside_distance_stops_there():
    box = square(0.0, -0.05, 0.1, 0.05)
    found = detect(states(EAST), [box], lookahead_s=100).incursions
    assert math.isnan(found.t_exit[0])
    assert found.inside_m[0] == pytest.approx(100 * 100.0 - 0.05 * EQ_DEG_M, abs=1.0)


def test_already_inside_is_a_violation_with_its_exit():
    box = square(0.0, -0.05, 0.1, 0.05)
    found = detect(states((0.0, 0.05, 3000.0, 100.0, 90.0, 0.0)), [box]).incursions
    assert found.violation.tolist() == [True]
    assert found.t_entry[0] == 0.0
    assert found.t_exit[0] == pytest.approx(0.05 * EQ_DEG_M / 100.0, abs=0.01)


def test_zero_lookahead_still_reports_a_violation():
    box = square(0.0, -0.05, 0.1, 0.05)
    found = detect(states((0.0, 0.05, 3000.0, 100.0, 90.0, 0.0)), [box], lookahead_s=0.0)
    assert found.incursions.violation.tolist() == [True]
    assert math.isnan(found.incursions.t_exit[0]) and found.incursions.inside_m[0] == 0.0


def test_owner_is_entitled_and_no_party_means_nobody_is():
    box = square(0.0, -0.05, 0.1, 0.05)
    row = EAST
    assert len(detect(states(row, party="TUR"), [box]).incursions) == 0
    assert len(detect(states(row, party=None), [box]).incursions) == 1


def test_altitude_band_enter_through_the_floor_and_pass_over_the_ceiling():
    box = square(0.0, -0.05, 0.1, 0.05, floor_m=1000.0, ceiling_m=5000.0)
    # Horizontally inside, 900 m, climbing 10 m/s: enters through the floor at 10 s, and leaves
    # through the ceiling at 410 s, beyond a 300 s look-ahead. It was not inside at t = 0.
    found = detect(states((0.0, 0.05, 900.0, 0.0, 90.0, 10.0)), [box]).incursions
    assert found.t_entry.tolist() == pytest.approx([10.0])
    assert math.isnan(found.t_exit[0]) and not found.violation[0]
    # Level above the ceiling: crosses the footprint and incurs nowhere.
    assert len(detect(states((0.0, -0.05, 5001.0, 100.0, 90.0, 0.0)), [box]).incursions) == 0
    # Descending through the ceiling while crossing: entry when the altitude reaches 5000 m.
    found = detect(states((0.0, -0.05, 6000.0, 100.0, 90.0, -10.0)), [box]).incursions
    assert found.t_entry[0] == pytest.approx(100.0)
    assert found.entry_lon[0] == pytest.approx(-0.05 + 10_000.0 / EQ_DEG_M, abs=1e-6)


def test_a_hole_splits_the_stay_in_two():
    outer = [(0.0, -0.05), (0.1, -0.05), (0.1, 0.05), (0.0, 0.05), (0.0, -0.05)]
    hole = [(0.03, -0.02), (0.03, 0.02), (0.07, 0.02), (0.07, -0.02), (0.03, -0.02)]
    ring = Airspace("R", "TUR", AirspaceKind.RESTRICTED_AREA, shapely.Polygon(outer, [hole]))
    found = detect(states(EAST), [ring]).incursions
    assert found.t_entry.tolist() == pytest.approx(
        [0.05 * EQ_DEG_M / 100, 0.12 * EQ_DEG_M / 100], abs=0.01
    )
    assert found.t_exit.tolist() == pytest.approx(
        [0.08 * EQ_DEG_M / 100, 0.15 * EQ_DEG_M / 100], abs=0.01
    )


def test_several_airspaces_are_indexed_in_the_callers_order():
    a = square(0.0, -0.05, 0.1, 0.05, name="A")
    b = square(0.2, -0.05, 0.3, 0.05, name="B", owner="SYR")
    found = detect(states((0.0, -0.05, 3000.0, 200.0, 90.0, 0.0)), [b, a]).incursions
    # Rows are sorted by (i, airspace, t_entry): B (index 0) first although entered later.
    assert found.airspace.tolist() == [0, 1]
    assert found.t_entry.tolist() == pytest.approx(
        [0.25 * EQ_DEG_M / 200, 0.05 * EQ_DEG_M / 200], abs=0.01
    )
    # A Turkish aircraft on the same path is entitled to A (TUR) and not to B (SYR).
    row = (0.0, -0.05, 3000.0, 200.0, 90.0, 0.0)
    found = detect(states(row, party="TUR"), [b, a]).incursions
    assert found.airspace.tolist() == [0]
    assert found.t_entry.tolist() == pytest.approx([0.25 * EQ_DEG_M / 200], abs=0.01)


def test_buffer_proximity_hand_worked_and_separate_from_incursions():
    box = square(0.0, -0.05, 0.1, 0.05, buffer_m=5000.0)
    # Path 1: along 0.068 N, passing north of the top edge (0.05 N); its distance to the edge is
    # the meridian arc from 0.05 to 0.068 N. Path 2: on the equator, it enters: no warning.
    arc = GEOD.inv(0.0, 0.05, 0.0, 0.068)[2]  # ~1,990 m
    start_to_corner_lon = GEOD.inv(-0.08, 0.068, 0.0, 0.068)[2]
    report = detect(
        states((0.068, -0.08, 3000.0, 100.0, 90.0, 0.0), (0.0, -0.05, 3000.0, 100.0, 90.0, 0.0)),
        [box],
    )
    assert report.incursions.i.tolist() == [1]
    near = report.proximities
    assert near.i.tolist() == [0]
    # First within 5 km of the corner (0 E, 0.05 N): sqrt(5000^2 - arc^2) before its meridian.
    t_warn = (start_to_corner_lon - math.sqrt(5000.0**2 - arc**2)) / 100.0
    assert near.t_warn[0] == pytest.approx(t_warn, abs=0.2)
    assert near.d_min_m[0] == pytest.approx(arc, abs=5.0)


def test_already_within_the_buffer_warns_at_once():
    box = square(0.0, -0.05, 0.1, 0.05, buffer_m=5000.0)
    arc = GEOD.inv(0.05, 0.05, 0.05, 0.068)[2]
    # Above the middle of the top edge, flying north (away): warned now, closest now.
    near = detect(states((0.068, 0.05, 3000.0, 100.0, 0.0, 0.0)), [box]).proximities
    assert near.t_warn.tolist() == [0.0]
    assert near.d_min_m[0] == pytest.approx(arc, abs=5.0)
    # The same above the ceiling: no warning.
    high = square(0.0, -0.05, 0.1, 0.05, buffer_m=5000.0, ceiling_m=2000.0)
    assert len(detect(states((0.068, 0.05, 3000.0, 100.0, 0.0, 0.0)), [high]).proximities) == 0


def test_nothing_in_nothing_out():
    box = square(0.0, -0.05, 0.1, 0.05)
    empty = States.from_columns([], [], [], [], [], [], [], party=[])
    assert len(detect(empty, [box]).incursions) == 0
    assert len(detect(states(EAST), []).incursions) == 0
    with pytest.raises(ValueError):
        detect(states(EAST), [box], lookahead_s=-1.0)


def test_a_reused_index_gives_the_same_answer_as_a_fresh_one(turkey):
    paths = hatay_paths(turkey[0].geometry, 50, seed=3)
    s = States.from_columns(
        [str(k) for k in range(50)], paths[:, 0], paths[:, 1], np.full(50, 5000.0),
        paths[:, 3], paths[:, 2], np.zeros(50), party=["RUS"] * 50,
    )
    index = AirspaceIndex.build(turkey, StereographicProjection.about(s.lat, s.lon))
    a = detect(s, index).incursions
    b = detect(s, turkey).incursions
    assert len(a) > 20
    for field in ("i", "airspace", "t_entry", "t_exit", "entry_lat", "inside_m"):
        assert np.array_equal(getattr(a, field), getattr(b, field), equal_nan=True)
