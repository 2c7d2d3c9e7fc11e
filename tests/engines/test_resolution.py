"""The suggested resolution against oracles that do not share its method.

- Brute force over headings: for every candidate heading, the path sampled every 25 m along
  the geodesic (pyproj.Geod.fwd) and tested point by point against the airspace (shapely, in a
  local projection), or both aircraft sampled every 0.5 s and their geodesic distance compared
  with the minima. A heading whose samples come within a few tens of metres of the boundary (or
  of the minimum) may go either way and is not held against the engine.
- The choice of turn from a clear mask, against a plain-Python scan of the headings in the
  order of the turn, straight from the definition.
- Hand-worked geometry: a circular airspace ahead (the path misses it when the heading is at
  least asin(R / D) off the bearing to its centre, or when the path ends before reaching it:
  law of cosines), and a head-on pair (a turn of theta leaves a miss distance of
  D sin(theta / 2): at D = 40 km, 5 NM needs theta >= 2 asin(9260 / 80000) = 26.77 deg).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from detente.engines.incursion import AirspaceIndex
from detente.engines.resolution import (
    candidate_headings,
    incursion_clear,
    incursion_exits,
    incursion_turns,
    smallest_turns,
    tactical_clear,
    tactical_turns,
)
from detente.model.airspace import Airspace, AirspaceKind
from detente.model.states import States
from detente.scenario import turkey_territory
from detente.scenario.yayladagi_2015 import scenario_states

GEOD = Geod(ellps="WGS84")
H_MIN, V_MIN, LOOKAHEAD = 9_260.0, 304.8, 300.0


def states(*rows: tuple, party: str = "RUS") -> States:
    """rows of (lat, lon, alt_m, gs_mps, trk_deg, vs_mps)."""
    cols = list(zip(*rows, strict=True))
    return States.from_columns([f"a{k}" for k in range(len(rows))], *cols,
                               party=[party] * len(rows))


def circle(lat: float, lon: float, radius_m: float, **kw: object) -> Airspace:
    """A geodesic circle as a 720-gon (its chords sag 6 cm at 6 km)."""
    az = np.arange(0.0, 360.0, 0.5)
    lons, lats, _ = GEOD.fwd(np.full(az.size, lon), np.full(az.size, lat), az,
                             np.full(az.size, radius_m))
    fields: dict = {"name": "C", "owner": "TUR", "kind": AirspaceKind.RESTRICTED_AREA}
    fields.update(kw)
    return Airspace(geometry=shapely.Polygon(np.column_stack([lons, lats])), **fields)


# --- the choice of turn, from the definition --------------------------------------------------

def reference_side(trk: float, headings: list[float], clear: list[bool], side: str,
                   max_turn: float) -> tuple[float, float] | None:
    """(smallest clear turn, span) on one side, scanning headings by increasing turn."""
    def turn(h: float) -> float:
        t = ((h - trk) if side == "right" else (trk - h)) % 360.0
        return 0.0 if t > 360.0 - 1e-9 else t
    ranked = sorted((turn(h), c) for h, c in zip(headings, clear, strict=True))
    ranked = [(t, c) for t, c in ranked if t <= max_turn + 1e-9]
    first = next((k for k, (_, c) in enumerate(ranked) if c), None)
    if first is None:
        return None
    last = first
    while last + 1 < len(ranked) and ranked[last + 1][1]:
        last += 1
    return ranked[first][0], ranked[last][0] - ranked[first][0]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("max_turn", [180.0, 90.0, 30.0])
def test_smallest_turns_matches_a_scan_of_the_headings(seed, max_turn):
    rng = np.random.default_rng(seed)
    trk = rng.uniform(0, 360, 40)
    trk[:5] = [0.0, 90.0, 359.99, 180.0, 45.0]  # on the grid and next to it
    headings = candidate_headings(trk, 10.0)
    clear = rng.random(headings.shape) < rng.uniform(0.05, 0.95, (40, 1))
    clear[5] = False
    clear[6] = True
    # A grid heading equal to the track is the same heading: the same answer.
    same = np.isclose(headings, headings[:, :1])
    clear = np.where(same, clear[:, :1], clear)
    got = smallest_turns(trk, headings, clear, max_turn_deg=max_turn)
    for n in range(40):
        for side in ("right", "left"):
            want = reference_side(trk[n], list(headings[n]), list(clear[n]), side, max_turn)
            turn = getattr(got, f"{side}_deg")[n]
            if want is None:
                assert math.isnan(turn), (n, side)
                continue
            assert turn == pytest.approx(want[0], abs=1e-9), (n, side)
            assert getattr(got, f"{side}_span_deg")[n] == pytest.approx(want[1], abs=1e-9)
            sign = 1 if side == "right" else -1
            heading = getattr(got, f"{side}_heading_deg")[n]
            assert math.isclose((trk[n] + sign * want[0]) % 360, heading, abs_tol=1e-9)
        r, lt = got.right_deg[n], got.left_deg[n]
        want_side = ("clear" if clear[n, 0] else "none" if math.isnan(r) and math.isnan(lt)
                     else "right" if math.isnan(lt) or (not math.isnan(r) and r <= lt)
                     else "left")
        assert got.side[n] == want_side
        assert got.clear_now[n] == clear[n, 0]


def test_candidates_are_the_track_then_every_step():
    h = candidate_headings([123.4, 0.0], 5.0)
    assert h.shape == (2, 73)
    assert list(h[0, :3]) == [123.4, 0.0, 5.0] and h[1, 0] == 0.0
    with pytest.raises(ValueError, match="step_deg"):
        candidate_headings([0.0], 7.0)


# --- incursions: hand-worked ------------------------------------------------------------------

@pytest.mark.parametrize("gs, want", [
    # 60 km of path: misses only when asin(6 / 20) = 17.46 deg off; grid: 20 deg.
    (200.0, 20.0),
    # 15 km of path: reaches the circle only within acos((15^2 + 20^2 - 6^2) / (2 * 15 * 20))
    # = 10.98 deg of the bearing; grid: 15 deg.
    (50.0, 15.0),
])
def test_a_circle_ahead_is_cleared_by_the_hand_worked_turn(gs, want):
    lon_c, lat_c, _ = GEOD.fwd(30.0, 35.0, 90.0, 20_000.0)
    airspace = circle(lat_c, lon_c, 6_000.0)
    aircraft = states((35.0, 30.0, 5000.0, gs, 90.0, 0.0))
    got = incursion_turns(aircraft, [airspace], lookahead_s=LOOKAHEAD)
    # The bearing to the centre is 90 deg at the start, by construction: symmetric.
    assert (got.right_deg[0], got.left_deg[0]) == (want, want)
    assert (got.right_heading_deg[0], got.left_heading_deg[0]) == (90 + want, 90 - want)
    assert got.side[0] == "right"  # a tie: turn right
    assert not got.clear_now[0]
    # Turning on stays clear all the way round to the reverse course.
    assert got.right_span_deg[0] == 180.0 - want


def test_the_owner_and_an_aircraft_under_the_floor_need_no_turn():
    lon_c, lat_c, _ = GEOD.fwd(30.0, 35.0, 90.0, 20_000.0)
    own = incursion_turns(states((35.0, 30.0, 5000.0, 200.0, 90.0, 0.0), party="TUR"),
                          [circle(lat_c, lon_c, 6_000.0)])
    under = incursion_turns(states((35.0, 30.0, 5000.0, 200.0, 90.0, 0.0)),
                            [circle(lat_c, lon_c, 6_000.0, floor_m=6000.0)])
    for got in (own, under):
        assert got.side[0] == "clear" and got.right_deg[0] == 0.0 and got.left_deg[0] == 0.0


def test_nowhere_to_turn_inside_a_ring_of_airspace():
    # Inside a hole of radius 2 km in a big disc: every heading enters the disc.
    lon_c, lat_c = 30.0, 35.0
    outer = circle(lat_c, lon_c, 50_000.0).geometry
    hole = circle(lat_c, lon_c, 2_000.0).geometry
    ring = Airspace(name="R", owner="TUR", kind=AirspaceKind.RESTRICTED_AREA,
                    geometry=outer.difference(hole))
    got = incursion_turns(states((lat_c, lon_c, 5000.0, 100.0, 10.0, 0.0)), [ring])
    assert got.side[0] == "none" and math.isnan(got.right_deg[0]) and math.isnan(got.left_deg[0])


def test_inside_the_exit_heading_leaves_soonest():
    # 3 km inside a disc of 10 km, 7 km from its centre on a bearing of 90 deg: the nearest
    # way out is due east (3 km), the farthest due west (17 km).
    lon_c, lat_c = 30.0, 35.0
    lon0, lat0, _ = GEOD.fwd(lon_c, lat_c, 90.0, 7_000.0)
    aircraft = states((lat0, lon0, 5000.0, 100.0, 200.0, 0.0))
    got = incursion_exits(aircraft, [circle(lat_c, lon_c, 10_000.0)])
    assert got.inside[0]
    assert got.heading_deg[0] == pytest.approx(90.0)
    assert got.turn_deg[0] == pytest.approx(-110.0)  # from 200 to 90: left
    assert got.t_exit_s[0] == pytest.approx(30.0, abs=0.2)  # 3 km at 100 m/s
    outside = incursion_exits(states((34.0, 30.0, 5000.0, 100.0, 0.0, 0.0)),
                              [circle(lat_c, lon_c, 10_000.0)])
    assert not outside.inside[0] and math.isnan(outside.heading_deg[0])


# --- incursions: brute force on the real border -----------------------------------------------

def sampled_clear(lat: float, lon: float, gs: float, heading: float, grown: shapely.Geometry,
                  shrunk: shapely.Geometry, to_grid: Transformer) -> tuple[bool, bool]:
    """(surely clear, surely hit): the path sampled every 25 m against the airspace grown and
    shrunk by the tolerance."""
    d = np.arange(0.0, gs * LOOKAHEAD + 1.0, 25.0)
    lons, lats, _ = GEOD.fwd(np.full(d.size, lon), np.full(d.size, lat),
                             np.full(d.size, heading), d)
    x, y = to_grid.transform(lons, lats)
    return (not shapely.contains_xy(grown, x, y).any(),
            bool(shapely.contains_xy(shrunk, x, y).any()))


@pytest.fixture(scope="module")
def turkey():
    return turkey_territory()


def test_clear_headings_agree_with_dense_sampling_of_the_hatay_border(turkey):
    """Aircraft within 40 km south of the Yayladagi salient, every 5 deg heading."""
    to_grid = Transformer.from_crs(
        "EPSG:4326", "+proj=aeqd +lat_0=35.85 +lon_0=36.2 +datum=WGS84 +units=m", always_xy=True)
    local = shapely.clip_by_rect(turkey[0].geometry, 35.0, 35.0, 37.5, 37.0)
    grid = shapely.transform(local, lambda c: np.column_stack(to_grid.transform(c[:, 0], c[:, 1])))
    # 40 m: the sampling's reach (12.5 m) plus the engine's chord and the grid's scale, with
    # room to spare; a heading sampled within it of the border may go either way.
    grown, shrunk = grid.buffer(40.0), grid.buffer(-40.0)
    shapely.prepare(grown)
    shapely.prepare(shrunk)
    rng = np.random.default_rng(2015)
    n = 16
    rows = []
    for _ in range(n):
        az, dist = rng.uniform(120, 250), rng.uniform(2_000, 40_000)
        lon, lat, _ = GEOD.fwd(36.154, 35.808, az, dist)
        rows.append((lat, lon, 5791.0, rng.uniform(80, 250), rng.uniform(0, 360), 0.0))
    aircraft = states(*rows)
    index = AirspaceIndex.build(turkey)
    headings = candidate_headings(aircraft.trk_deg, 5.0)
    clear, _ = incursion_clear(aircraft, index, headings, lookahead_s=LOOKAHEAD)
    disagree, decided = [], 0
    for a in range(n):
        lat, lon, _, gs, _, _ = rows[a]
        for k in range(headings.shape[1]):
            surely_clear, surely_hit = sampled_clear(lat, lon, gs, headings[a, k], grown,
                                                     shrunk, to_grid)
            if surely_clear or surely_hit:
                decided += 1
                if clear[a, k] != surely_clear:
                    disagree.append((a, headings[a, k]))
    assert disagree == []
    assert decided > 0.9 * n * headings.shape[1]  # the ambiguous band is thin
    assert 0.1 < clear.mean() < 0.9  # both kinds of heading were tested


def test_the_2015_bombers_are_told_to_turn_south(turkey):
    """Turkey's warning said "change your heading south": the smallest turn is to the left
    (south of a westbound track), by 5 deg to 255 on the 5 deg grid."""
    s = scenario_states()
    got = incursion_turns(s, turkey)
    lead = list(s.id).index("SU24-LEAD")
    assert got.side[lead] == "left"
    assert got.left_heading_deg[lead] == 255.0
    assert got.right_deg[lead] > 90.0  # north means deeper into Turkey first


# --- tactical: brute force and hand-worked ----------------------------------------------------

def sampled_pair(a: tuple, b: tuple, heading: float) -> tuple[bool, bool]:
    """(surely clear, surely in conflict) for a on ``heading`` and b as it is, both sampled every
    0.5 s along their geodesics; 30 m of horizontal tolerance, 1 m vertical."""
    t = np.arange(0.0, LOOKAHEAD + 0.25, 0.5)
    (lat_a, lon_a, z_a, gs_a, _, vz_a), (lat_b, lon_b, z_b, gs_b, trk_b, vz_b) = a, b
    la, pa, _ = GEOD.fwd(np.full(t.size, lon_a), np.full(t.size, lat_a),
                         np.full(t.size, heading), gs_a * t)
    lb, pb, _ = GEOD.fwd(np.full(t.size, lon_b), np.full(t.size, lat_b),
                         np.full(t.size, trk_b), gs_b * t)
    _, _, d = GEOD.inv(la, pa, lb, pb)
    dz = np.abs((z_b - z_a) + (vz_b - vz_a) * t)
    hit = (d < H_MIN - 30.0) & (dz < V_MIN - 1.0)
    near = (d < H_MIN + 30.0) & (dz < V_MIN + 1.0)
    return not near.any(), bool(hit.any())


def test_tactical_clear_headings_agree_with_sampling_both_aircraft():
    rng = np.random.default_rng(24)
    pairs = []
    for _ in range(30):
        lat, lon = rng.uniform(35.5, 36.5), rng.uniform(35.5, 37.0)
        a = (lat, lon, 6000.0, rng.uniform(100, 250), rng.uniform(0, 360), 0.0)
        bearing, dist = rng.uniform(0, 360), rng.uniform(5_000, 60_000)
        lon_b, lat_b, _ = GEOD.fwd(lon, lat, bearing, dist)
        # Mostly towards a, at or near its level, some climbing through it.
        trk_b = (bearing + 180 + rng.normal(0, 25)) % 360
        z_b, vz_b = rng.choice([(6000.0, 0.0), (6200.0, 0.0), (5200.0, 5.0), (6900.0, 0.0)])
        pairs.append((a, (lat_b, lon_b, z_b, rng.uniform(100, 250), trk_b, vz_b)))
    flat = [r for p in pairs for r in p]
    s = states(*flat)
    own, other = np.arange(0, 60, 2), np.arange(1, 60, 2)
    headings = candidate_headings(s.trk_deg[own], 5.0)
    clear = tactical_clear(s, own, other, headings, horizontal_m=H_MIN, vertical_m=V_MIN,
                           lookahead_s=LOOKAHEAD)
    disagree, decided = [], 0
    for p, (a, b) in enumerate(pairs):
        for k in range(headings.shape[1]):
            surely_clear, surely_hit = sampled_pair(a, b, headings[p, k])
            if surely_clear or surely_hit:
                decided += 1
                if clear[p, k] != surely_clear:
                    disagree.append((p, headings[p, k]))
    assert disagree == []
    assert decided > 0.95 * clear.size
    assert 0.1 < clear.mean() < 0.95


def test_head_on_pair_hand_worked():
    # Own aircraft flying east at 200 m/s, the other 40 km east of it flying west at 200 m/s,
    # same level: a turn of theta misses by 40 km * sin(theta / 2); 5 NM needs 26.77 deg, so
    # 30 deg on the 5 deg grid, either side (right on the tie).
    lon_b, lat_b, _ = GEOD.fwd(30.0, 35.0, 90.0, 40_000.0)
    s = states((35.0, 30.0, 6000.0, 200.0, 90.0, 0.0), (lat_b, lon_b, 6000.0, 200.0, 270.0, 0.0))
    got = tactical_turns(s, [0], [1], horizontal_m=H_MIN, vertical_m=V_MIN)
    assert (got.right_deg[0], got.left_deg[0]) == (30.0, 30.0)
    assert (got.right_heading_deg[0], got.left_heading_deg[0]) == (120.0, 60.0)
    assert got.side[0] == "right"
    # 1,000 ft apart is separated already: no turn.
    s2 = states((35.0, 30.0, 6000.0, 200.0, 90.0, 0.0),
                (lat_b, lon_b, 6000.0 + V_MIN, 200.0, 270.0, 0.0))
    assert tactical_turns(s2, [0], [1]).side[0] == "clear"


def test_row_is_plain_numbers():
    lon_b, lat_b, _ = GEOD.fwd(30.0, 35.0, 90.0, 40_000.0)
    s = states((35.0, 30.0, 6000.0, 200.0, 90.0, 0.0), (lat_b, lon_b, 6000.0, 200.0, 270.0, 0.0))
    row = tactical_turns(s, [0], [1], max_turn_deg=20.0).row(0)
    assert row == {"side": "none",
                   "right": {"turn_deg": None, "heading_deg": None, "span_deg": None},
                   "left": {"turn_deg": None, "heading_deg": None, "span_deg": None}}
