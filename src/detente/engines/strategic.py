"""Strategic conflict detection: which 4-D volumes of different parties' intents intersect.

Two volumes intersect when their footprints, altitude bands and time windows all do. Every
interval is closed, so touching counts: footprints whose ground gap is at most
``TOUCH_TOLERANCE_M`` (1 cm), altitude bands whose gap is at most 1 cm, time windows that share
an instant. The engine decides the footprint test to better than 2 mm (``DENSIFY_TOLERANCE_M``
twice), so only gaps within 2 mm of the 1 cm tolerance can go either way.

How footprints are compared, in one local azimuthal equidistant grid (``LocalProjection``):

- Polygon edges are geodesics. Their images in the grid are curves; each edge is cut into
  pieces (at points on the geodesic) until every chord lies within ``DENSIFY_TOLERANCE_M`` of
  the curve. The bound on the curve's sagitta, ``_SAGITTA_COEFF * L^2 * rho / R^2`` for a chord
  of length L at distance rho from the grid's centre, was measured over 600,000 random edges
  up to 2,500 km from the centre (largest coefficient 0.086; tests/engines keep checking it).
- Polygon against polygon: the grid gap. AEQD stretches lengths by at most k - 1 = 0.4 % at
  1,000 km from the centre, i.e. 0.04 mm on a 1 cm gap.
- Circle against circle: the geodesic distance between the centres against r1 + r2, exactly.
- Circle against polygon: the geodesic distance from the centre to the polygon against r.
  The grid gives it to within (k - 1) of itself; pairs that this leaves undecided are settled
  exactly: golden-section search along each nearby geodesic piece of the polygon's boundary,
  measuring true geodesic distances from the centre (pyproj.Geod, Karney's algorithm).

Two paths give the same answer, as in the tactical engine:

- ``touching`` is the exact test on given pairs of volume rows (the general path);
- ``find_conflicts`` prunes candidate pairs with a shapely STRtree over the footprints'
  envelopes, then keeps the pairs of different owners whose altitude and time intervals meet
  and runs the exact test on the survivors.

Pure: no clock, no I/O, no module state. Units: m, s (float UTC epoch), deg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from detente.errors import GeometryError
from detente.geo.geodesic import (
    WGS84,
    geodesic_destination,
    geodesic_distance,
    geodesic_inverse,
)
from detente.geo.projection import MEAN_EARTH_RADIUS_M, LocalProjection
from detente.model.intent import Circle, OperationalIntent

__all__ = [
    "DENSIFY_TOLERANCE_M",
    "MAX_REGION_RADIUS_M",
    "TOUCH_TOLERANCE_M",
    "IntentConflicts",
    "Volumes",
    "find_conflicts",
    "project_volumes",
    "region_projection",
    "touching",
]

TOUCH_TOLERANCE_M = 0.01

# Largest distance between a densified chord and the geodesic edge it stands for, in the grid.
DENSIFY_TOLERANCE_M = 1e-3

# Beyond this from the grid's centre the projection's stretch (k - 1 = 8 % at 5,000 km) and the
# densification grow without bound; a deployment's region is far smaller.
MAX_REGION_RADIUS_M = 2_500_000.0

# Measured sagitta coefficient is 0.086 (see module docstring); the margin makes it a bound.
_SAGITTA_COEFF = 0.125

# Golden-section iterations for the exact circle-polygon distance: the bracket shrinks by
# 0.618^60 = 3e-13 of a piece (0.3 um on a 1,000 km edge).
_GOLDEN_STEPS = 60
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True, slots=True)
class Volumes:
    """4-D volumes projected into one grid, one row per volume.

    Attributes
    ----------
    intent : ndarray of intp
        Index of the owning intent in the caller's sequence.
    volume : ndarray of intp
        Index of the volume within its intent.
    group : ndarray of intp
        Owner code: two rows of the same group never conflict.
    geometry : ndarray of object
        shapely geometry in the grid (m): the densified Polygon, or the centre Point of a circle.
    lat, lon : ndarray, deg
        Circle centre; NaN for polygons.
    radius_m : ndarray, m
        Circle radius; NaN for polygons.
    xmin, ymin, xmax, ymax : ndarray, m
        Envelope in the grid, covering the whole circle for circles.
    alt_lo, alt_hi : ndarray, m
        Altitude band.
    t_lo, t_hi : ndarray, s
        Time window, float UTC epoch.
    """

    intent: np.ndarray
    volume: np.ndarray
    group: np.ndarray
    geometry: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    radius_m: np.ndarray
    xmin: np.ndarray
    ymin: np.ndarray
    xmax: np.ndarray
    ymax: np.ndarray
    alt_lo: np.ndarray
    alt_hi: np.ndarray
    t_lo: np.ndarray
    t_hi: np.ndarray

    def __len__(self) -> int:
        return int(self.intent.size)

    def take(self, index: ArrayLike) -> Volumes:
        idx = np.asarray(index)
        return Volumes(*(getattr(self, f)[idx] for f in self.__slots__))

    def boxes(self, pad_m: float = 0.0) -> np.ndarray:
        """Envelopes as shapely boxes, grown by ``pad_m`` (m) on every side."""
        return shapely.box(
            self.xmin - pad_m, self.ymin - pad_m, self.xmax + pad_m, self.ymax + pad_m
        )


@dataclass(frozen=True, slots=True)
class IntentConflicts:
    """Intersecting volume pairs of different owners' intents, one row per pair of volumes.

    ``i < j`` index the caller's intents, ``volume_i`` and ``volume_j`` their volumes; rows are
    sorted by (i, j, volume_i, volume_j).
    """

    i: np.ndarray
    j: np.ndarray
    volume_i: np.ndarray
    volume_j: np.ndarray

    def __len__(self) -> int:
        return int(self.i.size)

    def intent_pairs(self) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """(i, j, [(volume_i, volume_j), ...]) per conflicting pair of intents, sorted."""
        out: list[tuple[int, int, list[tuple[int, int]]]] = []
        for i, j, vi, vj in zip(
            self.i.tolist(), self.j.tolist(), self.volume_i.tolist(), self.volume_j.tolist(),
            strict=True,
        ):
            if not out or out[-1][:2] != (i, j):
                out.append((i, j, []))
            out[-1][2].append((vi, vj))
        return out


def region_projection(intents: Sequence[OperationalIntent]) -> LocalProjection:
    """An AEQD grid centred on the footprints of ``intents`` (their vertices and centres)."""
    lat: list[float] = []
    lon: list[float] = []
    for intent in intents:
        for v in intent.volumes:
            fp = v.footprint
            if isinstance(fp, Circle):
                lat.append(fp.lat)
                lon.append(fp.lon)
            else:
                lat.extend(fp.lat)
                lon.extend(fp.lon)
    return LocalProjection.about(lat, lon)


def project_volumes(
    intents: Sequence[OperationalIntent],
    projection: LocalProjection,
    group: ArrayLike | None = None,
) -> Volumes:
    """The volumes of ``intents`` as grid rows, in intent then volume order.

    ``group`` (array_like of int, one per intent) sets the owner codes; by default intents are
    grouped by ``owner``. Raises GeometryError for a footprint beyond ``MAX_REGION_RADIUS_M``
    from the grid's centre, naming the intent and the volume.
    """
    if group is None:
        owners = [it.owner for it in intents]
        codes = {o: k for k, o in enumerate(dict.fromkeys(owners))}
        group = [codes[o] for o in owners]
    group_arr = np.asarray(group, dtype=np.intp).reshape(-1)
    if group_arr.size != len(intents):
        raise ValueError("group must hold one code per intent")

    # One pass over the volumes, then one projection call for every circle centre and polygon
    # vertex together: a write projects one intent, where per-call overheads are the cost.
    rows_intent: list[int] = []
    rows_volume: list[int] = []
    n_points: list[int] = []  # 1 for a circle (its centre), the vertex count for a polygon
    p_lat: list[float] = []
    p_lon: list[float] = []
    radius_list: list[float] = []  # NaN for a polygon
    alt_lo: list[float] = []
    alt_hi: list[float] = []
    t_lo: list[float] = []
    t_hi: list[float] = []
    nan = float("nan")
    for i, intent in enumerate(intents):
        for k, v in enumerate(intent.volumes):
            rows_intent.append(i)
            rows_volume.append(k)
            alt_lo.append(v.altitude_lower_m)
            alt_hi.append(v.altitude_upper_m)
            t_lo.append(v.time_start_s)
            t_hi.append(v.time_end_s)
            fp = v.footprint
            if isinstance(fp, Circle):
                n_points.append(1)
                p_lat.append(fp.lat)
                p_lon.append(fp.lon)
                radius_list.append(fp.radius_m)
            else:
                n_points.append(len(fp.lat))
                p_lat.extend(fp.lat)
                p_lon.extend(fp.lon)
                radius_list.append(nan)

    n = len(rows_intent)
    intent_idx = np.array(rows_intent, dtype=np.intp)
    volume_idx = np.array(rows_volume, dtype=np.intp)
    radius = np.array(radius_list, dtype=float)
    counts = np.array(n_points, dtype=np.intp)
    pt_lat = np.array(p_lat, dtype=float)
    pt_lon = np.array(p_lon, dtype=float)
    pt_x, pt_y = projection.forward(pt_lat, pt_lon)
    first = np.cumsum(counts) - counts
    is_circle = ~np.isnan(radius)
    geometry = np.empty(n, dtype=object)
    lat = np.full(n, np.nan)
    lon = np.full(n, np.nan)
    bounds = np.empty((n, 4))
    reach = np.zeros(n)

    rows = np.flatnonzero(is_circle)
    if rows.size:
        at = first[rows]
        lat[rows], lon[rows] = pt_lat[at], pt_lon[at]
        x, y = pt_x[at], pt_y[at]
        rho = np.hypot(x, y)
        reach[rows] = rho + radius[rows]
        # Ground lengths are never longer in the grid than k times, k taken at the far edge.
        # (LocalProjection.tangential_scale, written out: np.sinc costs more than the rest
        # of this block on one write; reach >= radius > 0.)
        arc = reach[rows] / MEAN_EARTH_RADIUS_M
        half = radius[rows] * (arc / np.sin(arc)) * 1.001
        geometry[rows] = shapely.points(x, y)
        bounds[rows] = np.column_stack((x - half, y - half, x + half, y + half))

    rows = np.flatnonzero(~is_circle)
    if rows.size:
        vertex = np.repeat(~is_circle, counts)
        x, y, ring = _densify(
            pt_lat[vertex], pt_lon[vertex], pt_x[vertex], pt_y[vertex], counts[rows], projection
        )
        xy = np.column_stack((x, y))
        if rows.size == 1:
            polys = np.array([shapely.polygons(xy)], dtype=object)
        else:
            polys = shapely.polygons(shapely.linearrings(xy, indices=ring))
        geometry[rows] = polys
        bounds[rows] = shapely.bounds(polys)
        reach[rows] = np.maximum.reduceat(
            np.hypot(x, y), np.searchsorted(ring, np.arange(rows.size))
        )

    beyond = np.flatnonzero(reach > MAX_REGION_RADIUS_M)
    if beyond.size:
        r = int(beyond[0])
        intent = intents[int(intent_idx[r])]
        raise GeometryError(
            f"intent {intent.id!r}, volume {int(volume_idx[r])}: the footprint reaches "
            f"{reach[r] / 1000:.0f} km from the centre of the region served "
            f"({projection.lat0:.4f}, {projection.lon0:.4f}); the limit is "
            f"{MAX_REGION_RADIUS_M / 1000:.0f} km"
        )
    return Volumes(
        intent=intent_idx,
        volume=volume_idx,
        group=group_arr[intent_idx],
        geometry=geometry,
        lat=lat,
        lon=lon,
        radius_m=radius,
        xmin=bounds[:, 0],
        ymin=bounds[:, 1],
        xmax=bounds[:, 2],
        ymax=bounds[:, 3],
        alt_lo=np.array(alt_lo, dtype=float),
        alt_hi=np.array(alt_hi, dtype=float),
        t_lo=np.array(t_lo, dtype=float),
        t_hi=np.array(t_hi, dtype=float),
    )


def _densify(
    lat: np.ndarray,
    lon: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    counts: np.ndarray,
    projection: LocalProjection,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut the geodesic edges of open rings (``counts`` vertices each) into pieces.

    ``x``, ``y`` are the vertices in the grid. Returns grid x, y (m) of the densified open
    rings and each point's ring index. Inserted points lie on the geodesic (pyproj.Geod direct
    problem), so every piece is itself a piece of the geodesic edge.
    """
    start = np.cumsum(counts) - counts
    ring = np.repeat(np.arange(counts.size), counts)
    nxt = np.arange(lat.size) + 1
    last = start + counts - 1
    nxt[last] = start
    chord = np.hypot(x[nxt] - x, y[nxt] - y)
    rho = np.maximum(np.hypot(x, y), np.hypot(x[nxt], y[nxt]))
    sagitta = _SAGITTA_COEFF * chord * chord * rho / MEAN_EARTH_RADIUS_M**2
    pieces = np.maximum(np.ceil(np.sqrt(sagitta / DENSIFY_TOLERANCE_M)), 1.0).astype(np.intp)
    if not np.any(pieces > 1):
        return x, y, ring

    edges = np.flatnonzero(pieces > 1)
    # pyproj.Geod directly: these are float arrays already, and on the few points of one
    # write the geodesic module's broadcasting costs as much as the geodesics.
    az, _, length = WGS84.inv(lon[edges], lat[edges], lon[nxt[edges]], lat[nxt[edges]])
    extra = pieces[edges] - 1
    edge_of = np.repeat(np.arange(edges.size), extra)
    step = np.arange(edge_of.size) - np.repeat(np.cumsum(extra) - extra, extra) + 1
    frac = step / pieces[edges][edge_of]
    e = edges[edge_of]
    ilon, ilat, _ = WGS84.fwd(lon[e], lat[e], az[edge_of], length[edge_of] * frac)
    ix, iy = projection.forward(ilat, ilon)

    # Vertex v goes to offset[v]; the points inside its outgoing edge follow it.
    offset = np.cumsum(pieces) - pieces
    out_x = np.empty(int(pieces.sum()))
    out_y = np.empty_like(out_x)
    out_x[offset], out_y[offset] = x, y
    where = offset[e] + step
    out_x[where], out_y[where] = ix, iy
    return out_x, out_y, np.repeat(ring, pieces)


def _intervals_meet(a: Volumes, ia: np.ndarray, b: Volumes, ib: np.ndarray) -> np.ndarray:
    """Closed altitude bands within 1 cm and closed time windows sharing an instant."""
    tol = TOUCH_TOLERANCE_M
    return (
        (a.alt_lo[ia] <= b.alt_hi[ib] + tol)
        & (b.alt_lo[ib] <= a.alt_hi[ia] + tol)
        & (a.t_lo[ia] <= b.t_hi[ib])
        & (b.t_lo[ib] <= a.t_hi[ia])
    )


def touching(
    a: Volumes, ia: ArrayLike, b: Volumes, ib: ArrayLike, projection: LocalProjection
) -> np.ndarray:
    """For each pair (a[ia[k]], b[ib[k]]): do the two 4-D volumes intersect? (general path)

    Owners are not looked at. ``projection`` must be the grid both tables were projected in.
    Returns a boolean array, one entry per pair.
    """
    ia = np.asarray(ia, dtype=np.intp).reshape(-1)
    ib = np.asarray(ib, dtype=np.intp).reshape(-1)
    hit = _intervals_meet(a, ia, b, ib)
    # Only the rows in play: the tables may be an index's 200,000 rows.
    ca, cb = ~np.isnan(a.radius_m[ia]), ~np.isnan(b.radius_m[ib])

    k = np.flatnonzero(hit & ~ca & ~cb)
    if k.size:
        hit[k] = shapely.dwithin(a.geometry[ia[k]], b.geometry[ib[k]], TOUCH_TOLERANCE_M)

    k = np.flatnonzero(hit & ca & cb)
    if k.size:
        d = geodesic_distance(a.lat[ia[k]], a.lon[ia[k]], b.lat[ib[k]], b.lon[ib[k]])
        hit[k] = d <= a.radius_m[ia[k]] + b.radius_m[ib[k]] + TOUCH_TOLERANCE_M

    for circles, ic, polys, ip, mask in ((a, ia, b, ib, ca & ~cb), (b, ib, a, ia, ~ca & cb)):
        k = np.flatnonzero(hit & mask)
        if k.size:
            hit[k] = _circle_polygon_touch(circles, ic[k], polys.geometry[ip[k]], projection)
    return hit


def _circle_polygon_touch(
    circles: Volumes, ic: np.ndarray, polys: np.ndarray, projection: LocalProjection
) -> np.ndarray:
    """Geodesic distance from each circle's centre to its polygon <= radius + 1 cm."""
    centre = circles.geometry[ic]
    limit = circles.radius_m[ic] + TOUCH_TOLERANCE_M
    d_grid = shapely.distance(centre, polys)
    rho = np.hypot(shapely.get_x(centre), shapely.get_y(centre))
    # The grid gap is within (k - 1) of the ground gap, k the largest stretch it crosses, plus
    # the chords' offset from the geodesic edges.
    slack = (
        (LocalProjection.tangential_scale(rho + d_grid, 0.0) - 1.0) * 1.1 * d_grid
        + 1e-6 * d_grid
        + 2.0 * DENSIFY_TOLERANCE_M
    )
    hit = d_grid + slack <= limit
    unsure = np.flatnonzero(~hit & (d_grid - slack <= limit))
    if unsure.size:
        hit[unsure] = _exact_distance(
            circles.lat[ic[unsure]],
            circles.lon[ic[unsure]],
            shapely.get_x(centre[unsure]),
            shapely.get_y(centre[unsure]),
            polys[unsure],
            limit[unsure] + slack[unsure],
            projection,
        ) <= limit[unsure]
    return hit


def _exact_distance(
    lat: np.ndarray,
    lon: np.ndarray,
    xc: np.ndarray,
    yc: np.ndarray,
    polys: np.ndarray,
    reach: np.ndarray,
    projection: LocalProjection,
) -> np.ndarray:
    """Geodesic distance (m) from (lat, lon) to each polygon, exact where it is <= ``reach``.

    Zero inside. Only the boundary pieces whose grid distance is within ``reach`` are measured
    on the ellipsoid; a polygon with none of them gets +inf (it is farther than ``reach``).
    """
    out = np.full(lat.size, np.inf)
    inside = shapely.contains_xy(polys, xc, yc)
    out[inside] = 0.0
    coords, owner = shapely.get_coordinates(polys, return_index=True)
    # Consecutive coordinates of one closed ring are the pieces of its boundary.
    same = owner[:-1] == owner[1:]
    p0, p1, q = coords[:-1][same], coords[1:][same], owner[:-1][same]
    seg = p1 - p0
    rel = np.column_stack((xc[q], yc[q])) - p0
    seg_len2 = np.einsum("ij,ij->i", seg, seg)
    t = np.clip(np.einsum("ij,ij->i", rel, seg) / np.where(seg_len2 > 0, seg_len2, 1.0), 0, 1)
    d_seg = np.hypot(*(rel - seg * t[:, None]).T)
    keep = np.flatnonzero((d_seg <= reach[q]) & ~inside[q])
    if keep.size == 0:
        return out
    q = q[keep]
    lat0, lon0 = projection.inverse(p0[keep, 0], p0[keep, 1])
    lat1, lon1 = projection.inverse(p1[keep, 0], p1[keep, 1])
    az, _, length = geodesic_inverse(lat0, lon0, lat1, lon1)
    clat, clon = lat[q], lon[q]

    def dist(s: np.ndarray) -> np.ndarray:
        plat, plon = geodesic_destination(lat0, lon0, az, s)
        return geodesic_distance(clat, clon, plat, plon)

    # The distance from a point to the points of a geodesic piece shorter than half the Earth
    # has a single minimum along it: golden-section search finds it.
    lo = np.zeros_like(length)
    hi = length.copy()
    c = hi - _GOLDEN * (hi - lo)
    d = lo + _GOLDEN * (hi - lo)
    fc, fd = dist(c), dist(d)
    for _ in range(_GOLDEN_STEPS):
        left = fc < fd
        hi = np.where(left, d, hi)
        lo = np.where(left, lo, c)
        c_new = hi - _GOLDEN * (hi - lo)
        d_new = lo + _GOLDEN * (hi - lo)
        probe = np.where(left, c_new, d_new)
        fp = dist(probe)
        c, d = np.where(left, c_new, d), np.where(left, c, d_new)
        fc, fd = np.where(left, fp, fd), np.where(left, fc, fp)
    best = np.minimum.reduce([fc, fd, dist(lo), dist(hi), dist(np.zeros_like(length)),
                              dist(length)])
    np.minimum.at(out, q, best)
    return out


def find_conflicts(
    intents: Sequence[OperationalIntent],
    projection: LocalProjection | None = None,
) -> IntentConflicts:
    """Every pair of volumes of intents of different owners that intersect in 4-D.

    Parameters
    ----------
    intents : sequence of OperationalIntent
        Their states are not looked at: the F3548 rules (``engines.f3548``) decide what an
        overlap means for a write.
    projection : LocalProjection, optional
        Grid to compute in; by default one centred on the footprints.
    """
    if not intents:
        e = np.empty(0, np.intp)
        return IntentConflicts(e, e, e, e)
    proj = projection or region_projection(intents)
    vols = project_volumes(intents, proj)
    tree = shapely.STRtree(vols.boxes())
    qa, qb = tree.query(vols.boxes(TOUCH_TOLERANCE_M))
    keep = (qa < qb) & (vols.group[qa] != vols.group[qb])
    qa, qb = qa[keep], qb[keep]
    hit = touching(vols, qa, vols, qb, proj)
    qa, qb = qa[hit], qb[hit]
    # Row order within ``vols`` follows intent order, so qa < qb gives intent[qa] <= intent[qb];
    # equal intents cannot occur (same owner).
    i, j = vols.intent[qa], vols.intent[qb]
    vi, vj = vols.volume[qa], vols.volume[qb]
    order = np.lexsort((vj, vi, j, i))
    return IntentConflicts(i[order], j[order], vi[order], vj[order])
