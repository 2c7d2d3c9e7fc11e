"""Strategic engine against hand-worked geometry and a brute-force oracle on exact geometry."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import shapely
from pyproj import CRS, Geod, Transformer

from detente.engines.strategic import (
    DENSIFY_TOLERANCE_M,
    TOUCH_TOLERANCE_M,
    find_conflicts,
    project_volumes,
)
from detente.errors import GeometryError
from detente.geo import LocalProjection
from detente.model.intent import Circle, OperationalIntent, Polygon, Volume4D

GEOD = Geod(ellps="WGS84")
A_WGS84 = 6_378_137.0
E2_WGS84 = 6.694379990141317e-3
T0 = 1_795_000_000.0


def intent(ident, owner, *volumes, priority=0, state="Accepted") -> OperationalIntent:
    return OperationalIntent(ident, owner, state, priority, tuple(volumes))


def vol(fp, lo=0.0, hi=120.0, t0=T0, t1=T0 + 600.0) -> Volume4D:
    return Volume4D(fp, lo, hi, t0, t1)


def box(lat0, lon0, lat1, lon1) -> Polygon:
    return Polygon((lat0, lat0, lat1, lat1), (lon0, lon1, lon1, lon0))


def metres_per_degree_lon(lat_deg: float) -> float:
    """One degree of a parallel on WGS84 (m): pi/180 * a cos(phi) / sqrt(1 - e^2 sin^2 phi)."""
    phi = math.radians(lat_deg)
    return math.pi / 180 * A_WGS84 * math.cos(phi) / math.sqrt(1 - E2_WGS84 * math.sin(phi) ** 2)


def pairs(found) -> set[tuple[int, int, int, int]]:
    return set(zip(found.i.tolist(), found.j.tolist(), found.volume_i.tolist(),
                   found.volume_j.tolist(), strict=True))


def conflict(a: Volume4D, b: Volume4D) -> bool:
    return len(find_conflicts([intent("a", "A", a), intent("b", "B", b)])) > 0


# --- hand-worked geometry ------------------------------------------------------------------

def test_shared_edge_touches():
    assert conflict(vol(box(40.0, 30.0, 40.01, 30.01)), vol(box(40.0, 30.01, 40.01, 30.02)))


@pytest.mark.parametrize(("gap_m", "expected"), [(0.005, True), (0.015, False)])
def test_gap_between_meridian_edges_to_one_centimetre(gap_m, expected):
    # Two boxes on meridian edges, 0.01 deg tall at 40 N: the closest points are at 40 N,
    # where the gap is the parallel arc (differs from the geodesic by ~1e-12 m at this size).
    dlon = gap_m / metres_per_degree_lon(40.0)
    a = vol(box(40.0, 30.0, 40.01, 30.01))
    b = vol(box(40.0, 30.01 + dlon, 40.01, 30.02))
    assert conflict(a, b) is expected


@pytest.mark.parametrize(("t0", "expected"), [(T0 + 600.0, True), (T0 + 600.001, False)])
def test_touching_times(t0, expected):
    fp = box(40.0, 30.0, 40.01, 30.01)
    assert conflict(vol(fp), vol(fp, t0=t0, t1=t0 + 60)) is expected


@pytest.mark.parametrize(
    ("lo", "expected"), [(120.0, True), (120.005, True), (120.015, False)]
)
def test_touching_altitudes_to_one_centimetre(lo, expected):
    fp = box(40.0, 30.0, 40.01, 30.01)
    assert conflict(vol(fp), vol(fp, lo=lo, hi=300.0)) is expected


def test_nested_volumes_conflict():
    outer = box(40.0, 30.0, 40.1, 30.1)
    inner = box(40.04, 30.04, 40.05, 30.05)
    assert conflict(vol(outer), vol(inner))
    assert conflict(vol(inner, lo=10, hi=20, t0=T0 + 10, t1=T0 + 20), vol(outer))
    assert conflict(vol(outer), vol(Circle(40.05, 30.05, 50.0)))  # circle inside polygon
    assert conflict(vol(Circle(40.05, 30.05, 50_000.0)), vol(inner))  # polygon inside circle
    assert conflict(vol(Circle(40.05, 30.05, 10.0)), vol(Circle(40.05, 30.0501, 5_000.0)))


def test_same_owner_never_conflicts():
    fp = box(40.0, 30.0, 40.01, 30.01)
    found = find_conflicts([intent("a", "A", vol(fp)), intent("b", "A", vol(fp))])
    assert len(found) == 0


@pytest.mark.parametrize(("slack_m", "expected"), [(0.005, True), (0.015, False)])
def test_circles_by_geodesic_centre_distance(slack_m, expected):
    _, _, d = GEOD.inv(30.0, 40.0, 30.05, 40.03)
    r1 = 1_000.0
    r2 = d - r1 - slack_m
    assert conflict(vol(Circle(40.0, 30.0, r1)), vol(Circle(40.03, 30.05, r2))) is expected


@pytest.mark.parametrize(("slack_m", "expected"), [(-0.5, True), (0.005, True), (0.015, False)])
def test_circle_tangent_to_a_vertex(slack_m, expected):
    # A thin triangle whose apex points at the centre: the nearest point is the apex, and the
    # gap is the geodesic distance from the centre to the apex, minus the radius.
    apex_lat, apex_lon = 40.0, 30.01
    tri = Polygon((apex_lat, 40.0005, 39.9995), (apex_lon, 30.0, 30.0))
    _, _, d = GEOD.inv(30.02, 40.0, apex_lon, apex_lat)
    assert conflict(vol(tri), vol(Circle(40.0, 30.02, d - slack_m))) is expected


@pytest.mark.parametrize("lat0", [0.0, 40.0, 65.0])
@pytest.mark.parametrize(("slack_m", "expected"), [(0.005, True), (0.015, False)])
def test_circle_tangent_to_an_edge(lat0, slack_m, expected):
    # Edge along the meridian 30.01 E (meridians are geodesics), circle centre 0.02 deg east.
    # Oracle: the geodesic distance from the centre to the meridian, the minimum of distances to
    # its points sampled every 1e-7 deg (1 cm) around the foot: a grid error of 5 mm in the
    # foot changes the distance by (5 mm)^2 / (2 * 1.7 km) < 1e-8 m.
    clat, clon = lat0 + 0.003, 30.03
    lats = clat + np.arange(-20_000, 20_001) * 1e-7
    d = GEOD.inv(np.full(lats.size, clon), np.full(lats.size, clat),
                 np.full(lats.size, 30.01), lats)[2].min()
    poly = box(lat0 - 0.01, 29.99, lat0 + 0.02, 30.01)
    # Computed in a grid centred ~250 km away, so that the grid does distort.
    proj = LocalProjection(lat0 + 2.0, 32.0)
    found = find_conflicts([intent("a", "A", vol(poly)),
                            intent("b", "B", vol(Circle(clat, clon, d - slack_m)))], proj)
    assert (len(found) > 0) is expected


def test_conflict_rows_name_the_volumes():
    fp = box(40.0, 30.0, 40.01, 30.01)
    far = box(41.0, 30.0, 41.01, 30.01)
    a = intent("a", "A", vol(far), vol(fp))
    b = intent("b", "B", vol(fp, t0=T0 + 700, t1=T0 + 800), vol(fp), vol(far))
    c = intent("c", "A", vol(far, t0=T0 + 5000, t1=T0 + 5100))
    found = find_conflicts([a, b, c])
    assert pairs(found) == {(0, 1, 0, 2), (0, 1, 1, 1)}
    assert found.intent_pairs() == [(0, 1, [(0, 2), (1, 1)])]


def test_outside_the_region_is_refused():
    a = intent("a", "A", vol(box(40.0, 30.0, 40.01, 30.01)))
    with pytest.raises(GeometryError, match=r"intent 'a', volume 0: the footprint reaches \d+ km"):
        project_volumes([a], LocalProjection(0.0, -60.0))


def test_empty():
    assert len(find_conflicts([])) == 0


# --- densification: projected chords stay within 1 mm of the geodesic edge ------------------

def test_densified_edges_follow_the_geodesic():
    rng = np.random.default_rng(7)
    proj = LocalProjection(35.8, 36.1)
    worst = 0.0
    for _ in range(40):
        # A long thin triangle far (up to 1,500 km) from the grid centre, edges up to 200 km.
        az0, r0 = rng.uniform(0, 360), rng.uniform(100e3, 1_500e3)
        lon0, lat0, _ = GEOD.fwd(36.1, 35.8, az0, r0)
        az, length = rng.uniform(0, 360), rng.uniform(1e3, 200e3)
        lon1, lat1, _ = GEOD.fwd(lon0, lat0, az, length)
        lon2, lat2, _ = GEOD.fwd(lon0, lat0, az + 3.0, length * 0.5)
        poly = Polygon((lat0, lat1, lat2), (lon0, lon1, lon2))
        ring = project_volumes([intent("a", "A", vol(poly))], proj).geometry[0].exterior
        # Independent: pyproj's own points along the geodesic, 1,000 per edge.
        pts = np.array(GEOD.npts(lon0, lat0, lon1, lat1, 1000))
        x, y = proj.forward(pts[:, 1], pts[:, 0])
        worst = max(worst, float(shapely.distance(ring, shapely.points(x, y)).max()))
    assert worst <= DENSIFY_TOLERANCE_M


# --- brute-force oracle --------------------------------------------------------------------

@functools.cache
def _aeqd(lat, lon) -> Transformer:
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={lat!r} +lon_0={lon!r} +datum=WGS84 +units=m")
    return Transformer.from_crs("EPSG:4326", crs, always_xy=True)


@functools.cache
def _geodesic_ring(poly: Polygon, spacing_m: float = 50.0) -> tuple[np.ndarray, np.ndarray]:
    """The polygon's boundary as points every ``spacing_m`` along its geodesic edges."""
    lats, lons = [], []
    n = len(poly.lat)
    for k in range(n):
        la0, lo0 = poly.lat[k], poly.lon[k]
        la1, lo1 = poly.lat[(k + 1) % n], poly.lon[(k + 1) % n]
        _, _, d = GEOD.inv(lo0, la0, lo1, la1)
        inner = GEOD.npts(lo0, la0, lo1, la1, int(d // spacing_m))
        lats += [la0] + [p[1] for p in inner]
        lons += [lo0] + [p[0] for p in inner]
    return np.array(lats), np.array(lons)


def oracle_gap(fa, fb) -> float:
    """Ground gap (m) between two footprints, straight from the definition, no engine code.

    Circles: geodesic distances. Polygons: boundaries sampled every 50 m along their geodesic
    edges, in an azimuthal equidistant grid centred on the circle's centre (where distances
    from the origin are geodesic distances) or on a vertex of the first polygon.
    """
    if isinstance(fa, Circle) and isinstance(fb, Circle):
        return GEOD.inv(fa.lon, fa.lat, fb.lon, fb.lat)[2] - fa.radius_m - fb.radius_m
    if isinstance(fb, Circle):
        fa, fb = fb, fa
    if isinstance(fa, Circle):
        fwd = _aeqd(fa.lat, fa.lon)
        lat, lon = _geodesic_ring(fb)
        poly = shapely.Polygon(np.column_stack(fwd.transform(lon, lat)))
        return shapely.distance(shapely.Point(0, 0), poly) - fa.radius_m
    fwd = _aeqd(fa.lat[0], fa.lon[0])
    pa = shapely.Polygon(np.column_stack(fwd.transform(*_geodesic_ring(fa)[::-1])))
    pb = shapely.Polygon(np.column_stack(fwd.transform(*_geodesic_ring(fb)[::-1])))
    return shapely.distance(pa, pb)


def random_intents(rng: np.random.Generator, n: int, lat0: float, lon0: float, span_m: float):
    """Intents of 3 owners, footprints up to 3 km, clustered so that many pairs nearly touch."""
    out = []
    for k in range(n):
        volumes = []
        for _ in range(rng.integers(1, 4)):
            lon, lat, _ = GEOD.fwd(lon0, lat0, rng.uniform(0, 360), rng.uniform(0, span_m))
            if rng.random() < 0.5:
                fp = Circle(lat, lon, float(rng.uniform(20, 1_500)))
            else:
                m = int(rng.integers(3, 9))
                ang = (np.arange(m) + rng.uniform(0.1, 0.9, m)) * 360.0 / m  # star: simple
                rad = rng.uniform(100, 3_000, m)
                plon, plat, _ = GEOD.fwd(np.full(m, lon), np.full(m, lat), ang, rad)
                fp = Polygon(tuple(plat), tuple(plon))
            lo = float(rng.choice([0.0, 60.0, 120.0]))
            t = T0 + float(rng.choice([0.0, 600.0, 1200.0]))
            volumes.append(vol(fp, lo, lo + 60.0, t, t + 600.0))
        out.append(intent(f"i{k}", "ABC"[k % 3], *volumes))
    return out


def far_apart(fa, fb) -> bool:
    """True when the footprints' bounding balls are over 1 m apart (a gap lower bound).

    A polygon lies in the geodesic ball about its first vertex through its farthest vertex:
    balls this small are geodesically convex, so they hold the edges too.
    """
    def ball(fp):
        if isinstance(fp, Circle):
            return fp.lat, fp.lon, fp.radius_m
        n = len(fp.lat)
        d = GEOD.inv([fp.lon[0]] * n, [fp.lat[0]] * n, fp.lon, fp.lat)[2]
        return fp.lat[0], fp.lon[0], float(np.max(d))

    (la, oa, ra), (lb, ob, rb) = ball(fa), ball(fb)
    return GEOD.inv(oa, la, ob, lb)[2] - ra - rb > 1.0


def oracle_conflicts(intents):
    """All pairs of volumes of different owners, checked one by one from the definition."""
    found, unsure = set(), 0
    flat = [(i, k, v) for i, it in enumerate(intents) for k, v in enumerate(it.volumes)]
    for a in range(len(flat)):
        for b in range(a + 1, len(flat)):
            (i, ki, va), (j, kj, vb) = flat[a], flat[b]
            if intents[i].owner == intents[j].owner:
                continue
            if not (va.altitude_lower_m <= vb.altitude_upper_m + TOUCH_TOLERANCE_M
                    and vb.altitude_lower_m <= va.altitude_upper_m + TOUCH_TOLERANCE_M
                    and va.time_start_s <= vb.time_end_s and vb.time_start_s <= va.time_end_s):
                continue
            if far_apart(va.footprint, vb.footprint):
                continue
            gap = oracle_gap(va.footprint, vb.footprint)
            # The oracle samples geodesic edges every 50 m: over the few km between a footprint
            # and the grid origin such a chord strays < 1e-6 m from the geodesic. Pairs within
            # 3 mm of the tolerance are the engine's documented grey zone, counted apart.
            if abs(gap - TOUCH_TOLERANCE_M) <= 3 * DENSIFY_TOLERANCE_M:
                unsure += 1
                continue
            if gap <= TOUCH_TOLERANCE_M:
                found.add((i, j, ki, kj))
    return found, unsure


@pytest.mark.parametrize(
    ("seed", "lat0", "lon0", "centre"),
    [
        (1, 35.8, 36.1, None),  # about the footprints
        (2, 60.0, 179.9, None),  # across the antimeridian
        (3, 35.8, 36.1, (31.5, 40.0)),  # 600 km from the grid's centre
    ],
)
def test_engine_equals_brute_force_oracle(seed, lat0, lon0, centre):
    rng = np.random.default_rng(seed)
    intents = random_intents(rng, 36, lat0, lon0, 6_000.0)
    proj = None if centre is None else LocalProjection(*centre)
    expected, unsure = oracle_conflicts(intents)
    found = find_conflicts(intents, proj)
    got = pairs(found)
    assert unsure <= 2
    # Pairs the oracle left undecided may go either way; every other pair must agree.
    assert got - expected == {p for p in got - expected if _undecided(intents, p)}
    assert expected <= got
    assert len(expected) > 20  # the draw does exercise conflicts


def _undecided(intents, p) -> bool:
    i, j, ki, kj = p
    gap = oracle_gap(intents[i].volumes[ki].footprint, intents[j].volumes[kj].footprint)
    return abs(gap - TOUCH_TOLERANCE_M) <= 3 * DENSIFY_TOLERANCE_M


def test_near_tangent_circles_and_polygons_against_oracle():
    # Circles set at +-(2..8) mm and +-(12..18) mm from tangency with random polygons far from
    # the grid's centre: the exact path (golden-section on the ellipsoid) must get each right.
    rng = np.random.default_rng(11)
    proj = LocalProjection(38.0, 33.0)
    for _ in range(12):
        lat, lon = 35.8 + rng.uniform(-0.5, 0.5), 36.1 + rng.uniform(-0.5, 0.5)
        m = int(rng.integers(3, 7))
        ang = (np.arange(m) + rng.uniform(0.1, 0.9, m)) * 360.0 / m
        plon, plat, _ = GEOD.fwd(np.full(m, lon), np.full(m, lat), ang, rng.uniform(200, 2000, m))
        poly = Polygon(tuple(plat), tuple(plon))
        clon, clat, _ = GEOD.fwd(lon, lat, rng.uniform(0, 360), 4_000.0)
        d = oracle_gap(Circle(clat, clon, 1e-9 + 1.0), poly) + 1.0
        for gap in (0.002, 0.008, 0.012, 0.018):
            found = find_conflicts(
                [intent("a", "A", vol(poly)),
                 intent("b", "B", vol(Circle(clat, clon, d - gap)))], proj)
            assert (len(found) > 0) is (gap <= TOUCH_TOLERANCE_M), (gap, d)
