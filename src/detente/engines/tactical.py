"""Tactical conflict detection: which pairs of aircraft lose separation within the look-ahead.

Semantics are those of the air-traffic safety nets and of BlueSky's state-based detection
(TU Delft, ``bluesky/traffic/asas/statebased.py``): every aircraft flies on from its current
state in a straight line at constant velocity; a pair is in conflict when, at some common time t
in [0, lookahead], its horizontal distance is below the horizontal minimum AND its vertical
distance is below the vertical minimum. The horizontal interval comes from the closest-point-of-
approach quadratic, the vertical one from the altitude rate, and the conflict is their overlap.

Two paths compute the same answer, chosen by ``method`` in ``detect_xy`` and ``detect``
(``"auto"``, the default, takes the compiled one from ``AUTO_COMPILED_MIN`` aircraft on):

- ``"general"``: ``candidate_pairs`` prunes (swept boxes in altitude slabs, shapely's STRtree),
  then ``pair_conflicts``, the exact test in numpy on a given list of pairs, runs on the
  survivors;
- ``"compiled"``: the same swept boxes in a uniform grid and the same exact test,
  per pair, in one numba loop over both cores (``_tactical_kernels``). It is the fast path, and
  must report the same pairs with the same values as the general one; at 100,000 aircraft the
  general path spends 0.6 s in GEOS tree queries and numpy filtering of a few million raw pairs.

Memory is O(N + candidates) on both, never N x N.

``detect`` is the geographic front (``detect_between`` the same front for several pairs of
parties, each held to its own minima, with where both aircraft are at closest approach): it
projects lat/lon into a local azimuthal equidistant grid,
turns true tracks into grid-frame velocities (meridian convergence included) and removes the
projection's stretch per pair at the pair's closest approach, so that a reported distance is the
geodesic distance between the two extrapolated points to 0.02 %. Extrapolation itself is a
straight line in the grid: it departs from the geodesic an aircraft would fly by a few metres
over five minutes near the grid's centre, by ~40 m 1,100 km from it (and a constant true track
is a rhumb line, which departs from both by more): keep the centre near the traffic.

All inputs and outputs are SI: m, m/s, s.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from detente.geo.projection import MEAN_EARTH_RADIUS_M, LocalProjection
from detente.model.states import States

__all__ = [
    "AUTO_COMPILED_MIN",
    "DEFAULT_HORIZONTAL_M",
    "DEFAULT_LOOKAHEAD_S",
    "DEFAULT_VERTICAL_M",
    "METHODS",
    "VERTICAL_TOLERANCE_M",
    "Conflicts",
    "Encounters",
    "PairMinima",
    "candidate_pairs",
    "detect",
    "detect_between",
    "detect_xy",
    "pair_conflicts",
    "warm_up",
]

DEFAULT_HORIZONTAL_M = 9_260.0  # 5 NM
DEFAULT_VERTICAL_M = 304.8  # 1,000 ft
DEFAULT_LOOKAHEAD_S = 300.0

# Aircraft at adjacent flight levels are exactly one vertical minimum apart, and that is
# separation; float rounding of altitudes converted from feet must not turn it into a conflict.
# 1 mm is far above rounding (~1e-12 m) and far below any altimeter's resolution (25 ft).
VERTICAL_TOLERANCE_M = 1e-3

# Height of the altitude slabs of the pruning step. Lower slabs hold fewer aircraft (fewer false
# candidates per query) but climbing aircraft join more of them; measured with bench/tactical.py,
# 600 m (two vertical minima) was fastest from 1k to 100k aircraft (300 m to 1,500 m tried).
_SLAB_HEIGHT_M = 600.0

# Below this relative speed (squared, (m/s)^2) a pair is treated as not moving relative to each
# other: 1e-6 m/s changes a distance by 0.3 mm in five minutes, while squaring speeds of 1e-160
# m/s underflows to subnormals and the closest-approach arithmetic loses every digit.
_STILL_SQ = 1e-12

# The paths of detect_xy and detect (see the module docstring).
METHODS = ("auto", "compiled", "general")

# "auto" runs the compiled path from this many aircraft on. Below it both paths take under 10 ms
# (bench/tactical.py, 1,000 aircraft: 0.009 s general, 0.004 s compiled), and a process that only
# ever sees small pictures (a service's tests, a quiet sector) never imports numba nor waits for
# its compiler: 8 s for these kernels on this machine with an empty cache, ~1 s to load them
# from the cache.
AUTO_COMPILED_MIN = 1_000

# Largest number of grid cells of the compiled path, per aircraft: enough for cells about a swept
# box wide over a continent's traffic, while a few aircraft scattered over the globe get coarser
# cells instead of a grid larger than the picture.
_CELLS_PER_AIRCRAFT = 4

# Below this many aircraft the projection runs in the calling thread: a thread pool costs ~0.1
# ms to start, projecting 10,000 aircraft ~15 ms.
_PARALLEL_PROJECTION_MIN = 20_000


@dataclass(frozen=True, slots=True)
class Conflicts:
    """Conflicting pairs, one row per unordered pair, ``i < j``, sorted by (i, j).

    Attributes
    ----------
    i, j : ndarray of intp
        Indices into the caller's states.
    t_in, t_out : ndarray, s
        The common interval of horizontal and vertical loss of separation, clipped to
        [0, lookahead]: t_in = 0 when already in loss of separation.
    t_cpa : ndarray, s
        Time of the horizontal closest point of approach, clipped to [0, lookahead]
        (0 when the pair has no relative horizontal motion).
    d_cpa_m, dv_cpa_m : ndarray, m
        Horizontal and vertical (absolute) distance at t_cpa.
    """

    i: np.ndarray
    j: np.ndarray
    t_in: np.ndarray
    t_out: np.ndarray
    t_cpa: np.ndarray
    d_cpa_m: np.ndarray
    dv_cpa_m: np.ndarray

    def __len__(self) -> int:
        return int(self.i.size)

    def take(self, index: ArrayLike) -> Conflicts:
        idx = np.asarray(index)
        return Conflicts(*(getattr(self, f)[idx] for f in self.__slots__))

    @classmethod
    def empty(cls) -> Conflicts:
        e = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, np.intp), np.empty(0, np.intp), e, e, e, e, e)


def _as_float(*arrays: ArrayLike) -> list[np.ndarray]:
    return [np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in arrays]


def pair_conflicts(
    i: ArrayLike,
    j: ArrayLike,
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    aeqd_metric: bool = False,
) -> Conflicts:
    """Exact conflict test on the given pairs (i, j) of planar states; the general path.

    Parameters
    ----------
    i, j : array_like of int
        Pairs to test, indices into the state arrays. Returned rows keep i < j order as given;
        only conflicting pairs are returned, in input order.
    x, y : array_like, m
        Positions in a planar grid.
    z : array_like, m
        Altitudes.
    vx, vy, vz : array_like, m/s
        Velocities in the same grid, and vertical rates.
    horizontal_m, vertical_m : float, m
        Separation minima; distances strictly below both are a loss of separation.
    lookahead_s : float, s
    aeqd_metric : bool
        x, y are azimuthal-equidistant coordinates about (0, 0): undo the projection's
        tangential stretch in each pair's own frame (at the pair's midpoint).
    """
    i = np.asarray(i, dtype=np.intp).reshape(-1)
    j = np.asarray(j, dtype=np.intp).reshape(-1)
    x, y, z, vx, vy, vz = _as_float(x, y, z, vx, vy, vz)
    r2 = float(horizontal_m) ** 2
    v_min = float(vertical_m) - VERTICAL_TOLERANCE_M
    horizon = float(lookahead_s)

    # Relative position and velocity of j seen from i.
    dx = x[j] - x[i]
    dy = y[j] - y[i]
    du = vx[j] - vx[i]
    dv = vy[j] - vy[i]

    # Most candidates miss horizontally; drop them before the rest of the arithmetic. With the
    # AEQD metric the grid can only overstate a length, by at most the largest stretch k, so a
    # grid miss distance over k * R is a miss on the ground too.
    near = _miss_distance_sq(dx, dy, du, dv) < _near_r2(x, y, r2, aeqd_metric and i.size > 0)
    k = np.flatnonzero(near)
    i, j, dx, dy, du, dv = i[k], j[k], dx[k], dy[k], du[k], dv[k]
    if aeqd_metric:
        # Undo the stretch where it matters most: where the pair is at its closest approach
        # (in the grid, clipped to the look-ahead), not where it is now; the stretch varies by
        # ~7e-4 over 80 km 1,000 km from the centre.
        a = du * du + dv * dv
        t_near = np.clip(-(dx * du + dy * dv) / np.where(a > _STILL_SQ, a, 1.0), 0.0, horizon)
        t_near = np.where(a > _STILL_SQ, t_near, 0.0)
        dx, dy, du, dv = _unstretch(
            x[i] + x[j] + (vx[i] + vx[j]) * t_near,
            y[i] + y[j] + (vy[i] + vy[j]) * t_near,
            dx, dy, du, dv,
        )
    dz = z[j] - z[i]
    dw = vz[j] - vz[i]

    # Horizontal: |d + w t|^2 < R^2  <=>  a t^2 + 2 b t + (|d|^2 - R^2) < 0.
    a = du * du + dv * dv
    moving = a > _STILL_SQ
    safe_a = np.where(moving, a, 1.0)
    t_cpa_raw = np.where(moving, -(dx * du + dy * dv) / safe_a, 0.0)
    d2_min = _miss_distance_sq(dx, dy, du, dv)
    h_hit = d2_min < r2
    half = np.sqrt(np.maximum(r2 - d2_min, 0.0) / safe_a)
    h_lo = np.where(moving, t_cpa_raw - half, -np.inf)
    h_hi = np.where(moving, t_cpa_raw + half, np.inf)

    # Vertical: |dz + dw t| < V.
    climbing = dw != 0.0
    safe_w = np.where(climbing, dw, 1.0)
    with np.errstate(over="ignore"):  # a vertical rate of 1e-300 m/s crosses at +-inf: right
        t1 = (-v_min - dz) / safe_w
        t2 = (v_min - dz) / safe_w
    v_hit = climbing | (np.abs(dz) < v_min)
    v_lo = np.where(climbing, np.minimum(t1, t2), -np.inf)
    v_hi = np.where(climbing, np.maximum(t1, t2), np.inf)

    lo = np.maximum(h_lo, v_lo)
    hi = np.minimum(h_hi, v_hi)
    hit = h_hit & v_hit & (lo < hi) & (lo < horizon) & (hi > 0.0)

    k = np.flatnonzero(hit)
    t_cpa = np.clip(t_cpa_raw[k], 0.0, horizon)
    ex = dx[k] + du[k] * t_cpa
    ey = dy[k] + dv[k] * t_cpa
    return Conflicts(
        i=i[k],
        j=j[k],
        t_in=np.maximum(lo[k], 0.0),
        t_out=np.minimum(hi[k], horizon),
        t_cpa=t_cpa,
        d_cpa_m=np.hypot(ex, ey),
        dv_cpa_m=np.abs(dz[k] + dw[k] * t_cpa),
    )


def _near_r2(x: np.ndarray, y: np.ndarray, r2: float, aeqd_metric: bool) -> float:
    """Squared grid miss distance below which a pair may conflict on the ground (R^2 k_max^2)."""
    stretch = 1.0
    if aeqd_metric:
        stretch = float(LocalProjection.tangential_scale(np.hypot(x, y).max(), 0.0)) * 1.001
    return r2 * stretch * stretch


def _miss_distance_sq(
    dx: np.ndarray, dy: np.ndarray, du: np.ndarray, dv: np.ndarray
) -> np.ndarray:
    """Squared distance at the (unclipped) closest approach of relative motion d + w t.

    From the cross product, |d x w|^2 / |w|^2: no cancellation between |d|^2 and (d.w)^2/|w|^2.
    Pairs without relative motion keep their current distance.
    """
    a = du * du + dv * dv
    moving = a > _STILL_SQ
    cross = dx * dv - dy * du
    return np.where(moving, cross * cross / np.where(moving, a, 1.0), dx * dx + dy * dy)


def _unstretch(
    sx: np.ndarray, sy: np.ndarray, *vectors: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Undo the AEQD tangential stretch at the point (sx/2, sy/2) for pairs of (u, v) vectors.

    AEQD keeps radial distances and stretches the perpendicular direction by k(rho); dividing the
    tangential component by k at a pair's midpoint gives ground lengths in a local frame.
    """
    rho2 = sx * sx + sy * sy
    at_centre = rho2 == 0.0
    inv_rho = np.where(at_centre, 0.0, 1.0 / np.sqrt(np.where(at_centre, 1.0, rho2)))
    ux, uy = sx * inv_rho, sy * inv_rho  # radial unit vector (0 at the centre: no stretch)
    inv_k = 1.0 / LocalProjection.tangential_scale(0.5 * sx, 0.5 * sy)
    out: list[np.ndarray] = []
    for px, py in zip(vectors[0::2], vectors[1::2], strict=True):
        radial = px * ux + py * uy
        tangential = (-px * uy + py * ux) * inv_k
        out.append(radial * ux - tangential * uy)
        out.append(radial * uy + tangential * ux)
        # At the centre ux = uy = 0 would zero the vector: keep it as is there.
        out[-2] = np.where(at_centre, px, out[-2])
        out[-1] = np.where(at_centre, py, out[-1])
    return tuple(out)


def candidate_pairs(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    horizontal_pad_m: float | None = None,
    subset: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) whose swept boxes over the look-ahead overlap in x, y and z.

    A superset of the conflicting pairs: two aircraft that come within the minima at time t are
    both inside their swept boxes at t, and boxes padded by half a minimum each then overlap.
    ``horizontal_pad_m`` overrides the half-minimum pad (the AEQD front passes a larger one to
    cover the projection's stretch). ``subset`` (indices): only pairs with at least one member
    in it, for checking a few fresh reports against the whole picture. Returns index arrays
    with i < j, in no particular order.
    """
    x, y, z, vx, vy, vz = _as_float(x, y, z, vx, vy, vz)
    n = x.size
    if n < 2:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    pad = 0.5 * float(horizontal_m) if horizontal_pad_m is None else float(horizontal_pad_m)
    x0, x1, y0, y1, z0, z1 = _swept_boxes(
        x, y, z, vx, vy, vz, float(lookahead_s), pad, 0.5 * float(vertical_m))
    if subset is not None:
        return _candidates_of_subset(np.asarray(subset, dtype=np.intp).reshape(-1),
                                     x0, y0, x1, y1, z0, z1)

    # Altitude slabs: slab s holds every aircraft whose sweep [z0, z1] touches it. For a pair
    # whose sweeps overlap, the higher of the two bottoms lies inside the other's sweep, so the
    # aircraft with the higher bottom finds its partner by querying only the slab of its own
    # bottom. Each aircraft therefore runs one query, and a pair is kept once: from the side
    # whose bottom the partner's sweep contains (ties on equal bottoms broken by index).
    s0 = np.floor(z0 / _SLAB_HEIGHT_M).astype(np.int64)
    s1 = np.floor(z1 / _SLAB_HEIGHT_M).astype(np.int64)
    counts = s1 - s0 + 1
    member = np.repeat(np.arange(n, dtype=np.intp), counts)
    slab = np.repeat(s0, counts) + (
        np.arange(member.size) - np.repeat(np.cumsum(counts) - counts, counts)
    )
    order = np.argsort(slab, kind="stable")
    slab, member = slab[order], member[order]
    q_order = np.argsort(s0, kind="stable")
    q_slab = s0[q_order]

    boxes = shapely.box(x0, y0, x1, y1)
    found_i: list[np.ndarray] = []
    found_j: list[np.ndarray] = []
    for value in np.unique(s0):
        queriers = q_order[np.searchsorted(q_slab, value) : np.searchsorted(q_slab, value, "right")]
        members = member[np.searchsorted(slab, value) : np.searchsorted(slab, value, "right")]
        if members.size < 2:
            continue
        tree = shapely.STRtree(boxes[members])
        a, b = tree.query(boxes[queriers])  # boxes: envelope overlap is the exact predicate
        qi, mj = queriers[a], members[b]
        bottom_i, bottom_j = z0[qi], z0[mj]
        keep = (
            (bottom_j <= bottom_i)
            & (bottom_i <= z1[mj])
            & ((bottom_j < bottom_i) | (mj > qi))
        )
        found_i.append(qi[keep])
        found_j.append(mj[keep])
    if not found_i:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    ci = np.concatenate(found_i)
    cj = np.concatenate(found_j)
    return np.minimum(ci, cj), np.maximum(ci, cj)


def _swept_boxes(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
    horizon: float, pad: float, vpad: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x0, x1, y0, y1, z0, z1): each aircraft's path over the look-ahead, padded; both paths'."""
    x_end, y_end, z_end = x + vx * horizon, y + vy * horizon, z + vz * horizon
    x0, x1 = np.minimum(x, x_end) - pad, np.maximum(x, x_end) + pad
    y0, y1 = np.minimum(y, y_end) - pad, np.maximum(y, y_end) + pad
    z0, z1 = np.minimum(z, z_end) - vpad, np.maximum(z, z_end) + vpad
    return x0, x1, y0, y1, z0, z1


def _candidates_of_subset(
    sub: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray,
    z0: np.ndarray, z1: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with a member in ``sub``: one tree over every box, queried with the subset's."""
    sub = np.unique(sub)
    if sub.size == 0 or x0.size < 2:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    tree = shapely.STRtree(shapely.box(x0, y0, x1, y1))
    a, b = tree.query(shapely.box(x0[sub], y0[sub], x1[sub], y1[sub]))
    qi = sub[a]
    in_sub = np.zeros(x0.size, dtype=bool)
    in_sub[sub] = True
    # A pair of two subset members is found from both sides: keep it once.
    keep = (qi != b) & ((qi < b) | ~in_sub[b]) & (z0[qi] <= z1[b]) & (z0[b] <= z1[qi])
    qi, b = qi[keep], b[keep]
    return np.minimum(qi, b), np.maximum(qi, b)


def detect_xy(
    x: ArrayLike,
    y: ArrayLike,
    z: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    group: ArrayLike | None = None,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    aeqd_metric: bool = False,
    subset: ArrayLike | None = None,
    method: str = "auto",
) -> Conflicts:
    """All conflicting pairs of planar states (see ``pair_conflicts`` for parameters).

    ``group`` (array_like of int, optional): when given, only pairs of different groups count.
    ``subset`` (array_like of int, optional): only pairs with at least one member in it.
    ``method`` : {"auto", "compiled", "general"}
        "compiled": grid and exact test in numba, on ``numba.get_num_threads()`` threads; the
        first call in a process loads the kernels from numba's cache or, without one, compiles
        them (seconds). "general": STRtree pruning and ``pair_conflicts`` in numpy. Same
        answer. "auto" (default): "compiled" from ``AUTO_COMPILED_MIN`` aircraft on.
    """
    x, y, z, vx, vy, vz = _as_float(x, y, z, vx, vy, vz)
    method = _resolve(method, x.size)
    pad = 0.5 * float(horizontal_m)
    if aeqd_metric and x.size:
        # Grid distances exceed ground distances by up to the largest stretch in the region.
        reach = np.hypot(np.abs(x) + np.abs(vx) * lookahead_s, np.abs(y) + np.abs(vy) * lookahead_s)
        pad *= float(LocalProjection.tangential_scale(reach.max() + horizontal_m, 0.0)) * 1.001
    if method == "compiled":
        return _detect_compiled(
            x, y, z, vx, vy, vz, group, subset, pad,
            horizontal_m=horizontal_m, vertical_m=vertical_m, lookahead_s=lookahead_s,
            aeqd_metric=aeqd_metric,
        )
    i, j = candidate_pairs(
        x, y, z, vx, vy, vz,
        horizontal_m=horizontal_m, vertical_m=vertical_m, lookahead_s=lookahead_s,
        horizontal_pad_m=pad, subset=subset,
    )
    if group is not None:
        g = np.asarray(group).reshape(-1)
        differ = g[i] != g[j]
        i, j = i[differ], j[differ]
    found = pair_conflicts(
        i, j, x, y, z, vx, vy, vz,
        horizontal_m=horizontal_m, vertical_m=vertical_m, lookahead_s=lookahead_s,
        aeqd_metric=aeqd_metric,
    )
    return found.take(np.lexsort((found.j, found.i)))


def _resolve(method: str, n: int) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}: valid ones are {', '.join(METHODS)}")
    if method == "auto":
        return "compiled" if n >= AUTO_COMPILED_MIN else "general"
    return method


def _detect_compiled(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
    group: ArrayLike | None, subset: ArrayLike | None, pad: float, *,
    horizontal_m: float, vertical_m: float, lookahead_s: float, aeqd_metric: bool,
) -> Conflicts:
    """``detect_xy``'s fast path: the same boxes and test, in ``_tactical_kernels``."""
    # Imported here: numba takes ~0.5 s to import, which commands that never detect don't pay.
    from detente.engines._tactical_kernels import grid_conflicts

    n = x.size
    if n < 2:
        return Conflicts.empty()
    r2 = float(horizontal_m) ** 2
    g = None
    if group is not None:
        # Group labels of any kind become small integers; only their equality matters.
        g = np.unique(np.asarray(group).reshape(-1), return_inverse=True)[1].astype(np.int64)
    in_sub = None
    if subset is not None:
        in_sub = np.zeros(n, dtype=np.bool_)
        in_sub[np.asarray(subset, dtype=np.intp).reshape(-1)] = True
    i, j, v = grid_conflicts(
        _swept_boxes(x, y, z, vx, vy, vz, float(lookahead_s), pad, 0.5 * float(vertical_m)),
        x, y, z, vx, vy, vz, g, in_sub,
        r2=r2, near_r2=_near_r2(x, y, r2, aeqd_metric),
        v_min=float(vertical_m) - VERTICAL_TOLERANCE_M, horizon=float(lookahead_s),
        aeqd=aeqd_metric, still_sq=_STILL_SQ,
        earth_r=MEAN_EARTH_RADIUS_M, max_cells=_CELLS_PER_AIRCRAFT * n,
    )
    # Rows come in the order of grid cells: sort them by (i, j) as the general path does. One
    # key, i * n + j, sorts faster than a lexsort on two.
    order = np.argsort(i.astype(np.int64) * n + j, kind="stable")
    v = v[order]
    return Conflicts(i[order], j[order], *(np.ascontiguousarray(v[:, c]) for c in range(5)))


def _project(
    proj: LocalProjection, states: States
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``proj.motion`` on the states, in as many threads as numba uses for the kernels.

    pyproj's geodesic inverse releases the GIL and is the projection's cost (0.15 s at 100,000
    aircraft on one core); it is elementwise, so slices give the same numbers as one call.
    """
    n = len(states)
    threads = min(_kernel_threads(), os.cpu_count() or 1)
    if n < _PARALLEL_PROJECTION_MIN or threads < 2:
        return proj.motion(states.lat, states.lon, states.gs_mps, states.trk_deg)
    cuts = np.linspace(0, n, threads + 1).astype(int)
    slices = [slice(a, b) for a, b in itertools.pairwise(cuts)]
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(
            lambda sl: proj.motion(states.lat[sl], states.lon[sl], states.gs_mps[sl],
                                   states.trk_deg[sl]),
            slices,
        ))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))  # type: ignore[return-value]


def _kernel_threads() -> int:
    import numba  # see _detect_compiled for why here

    return int(numba.get_num_threads())


def _motion(proj: LocalProjection, states: States, method: str
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Grid positions and velocities of ``states``: the front shared by ``detect`` and
    ``detect_between`` (large pictures projected on numba's threads with "compiled")."""
    if method == "compiled":
        return _project(proj, states)
    return proj.motion(states.lat, states.lon, states.gs_mps, states.trk_deg)


def detect(
    states: States,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    all_pairs: bool = False,
    projection: LocalProjection | None = None,
    method: str = "auto",
) -> Conflicts:
    """All conflicting pairs among ``states`` (lat/lon WGS84), of different parties by default.

    Parameters
    ----------
    states : States
    horizontal_m, vertical_m : float, m
        Separation minima (defaults 9,260 m = 5 NM and 304.8 m = 1,000 ft).
    lookahead_s : float, s
        Look-ahead (default 300 s).
    all_pairs : bool
        Count pairs of the same party too. Without a party column every pair counts.
    projection : LocalProjection, optional
        Grid to compute in; by default an AEQD centred on the states.
    method : {"auto", "compiled", "general"}
        See ``detect_xy``. With "compiled", large pictures are also projected on numba's threads.
    """
    _check_minima(horizontal_m, vertical_m, lookahead_s)
    method = _resolve(method, len(states))
    if len(states) == 0:
        return Conflicts.empty()
    proj = projection or LocalProjection.about(states.lat, states.lon)
    x, y, vx, vy = _motion(proj, states, method)
    group = None
    if not all_pairs and states.party is not None:
        group = np.unique(states.party.astype(str), return_inverse=True)[1]
    return detect_xy(
        x, y, states.alt_m, vx, vy, states.vs_mps, group,
        horizontal_m=horizontal_m, vertical_m=vertical_m, lookahead_s=lookahead_s,
        aeqd_metric=True, method=method,
    )


def _check_minima(horizontal_m: float, vertical_m: float, lookahead_s: float) -> None:
    if not (horizontal_m > 0 and vertical_m > 0 and lookahead_s >= 0):
        raise ValueError("minima must be > 0 and the look-ahead >= 0")


@dataclass(frozen=True, slots=True)
class PairMinima:
    """The minima that the aircraft of two parties are held to against each other.

    Attributes
    ----------
    parties : tuple of str
        The two parties (in either order).
    horizontal_m, vertical_m : float, m
    lookahead_s : float, s
    """

    parties: tuple[str, str]
    horizontal_m: float = DEFAULT_HORIZONTAL_M
    vertical_m: float = DEFAULT_VERTICAL_M
    lookahead_s: float = DEFAULT_LOOKAHEAD_S


@dataclass(frozen=True, slots=True)
class Encounters:
    """``detect_between``'s answer, one row per conflicting pair.

    Attributes
    ----------
    conflicts : Conflicts
        The pairs and their times and distances, sorted by (i, j).
    minima : ndarray of intp
        Per row, the position in the ``minima`` given of the minima the pair was judged by.
    lat_i, lon_i, lat_j, lon_j : ndarray, degrees
        Aircraft i and j at ``conflicts.t_cpa``, flown on as the test flies them (a straight
        line at constant velocity in the grid), back in WGS84.
    """

    conflicts: Conflicts
    minima: np.ndarray
    lat_i: np.ndarray
    lon_i: np.ndarray
    lat_j: np.ndarray
    lon_j: np.ndarray

    def __len__(self) -> int:
        return len(self.conflicts)

    @classmethod
    def empty(cls) -> Encounters:
        e = np.empty(0, dtype=np.float64)
        return cls(Conflicts.empty(), np.empty(0, np.intp), e, e, e, e)


def detect_between(
    states: States,
    minima: Sequence[PairMinima],
    *,
    projection: LocalProjection | None = None,
    subset: ArrayLike | None = None,
    method: str = "auto",
) -> Encounters:
    """Conflicts between aircraft of two parties that ``minima`` names, each pair held to the
    minima of its two parties; pairs of parties no ``PairMinima`` names are not judged.

    One pass of ``detect_xy`` with the widest minima and look-ahead of all, then each pair it
    finds re-tested with its own minima (``pair_conflicts``): a conflict only shrinks as the
    minima and the look-ahead shrink, so the wide pass misses none.

    Parameters
    ----------
    states : States
        With a party column.
    minima : sequence of PairMinima
        Where two name the same parties, the later holds.
    projection : LocalProjection, optional
        Grid to compute in; by default an AEQD centred on the states.
    subset : array_like of int, optional
        Only pairs with at least one member in it (a few fresh reports against a picture).
    method : {"auto", "compiled", "general"}
        See ``detect``.
    """
    if states.party is None:
        raise ValueError("detect_between needs the states' party column")
    for m in minima:
        _check_minima(m.horizontal_m, m.vertical_m, m.lookahead_s)
    method = _resolve(method, len(states))
    if len(states) < 2 or not minima:
        return Encounters.empty()
    proj = projection or LocalProjection.about(states.lat, states.lon)
    x, y, vx, vy = _motion(proj, states, method)
    z, vz = states.alt_m, states.vs_mps
    names, group = np.unique(states.party.astype(str), return_inverse=True)
    wide = detect_xy(
        x, y, z, vx, vy, vz, group,
        horizontal_m=max(m.horizontal_m for m in minima),
        vertical_m=max(m.vertical_m for m in minima),
        lookahead_s=max(m.lookahead_s for m in minima),
        aeqd_metric=True, subset=subset, method=method,
    )
    # Which minima each pair of parties is held to: -1 where none.
    rule = np.full((names.size, names.size), -1, dtype=np.intp)
    where = {str(name): k for k, name in enumerate(names.tolist())}
    for k, m in enumerate(minima):
        a, b = (where.get(p) for p in m.parties)
        if a is not None and b is not None:
            rule[a, b] = rule[b, a] = k
    row_rule = rule[group[wide.i], group[wide.j]]
    parts, judged = [], []
    for k in np.unique(row_rule[row_rule >= 0]).tolist():
        rows = np.flatnonzero(row_rule == k)
        m = minima[k]
        found = pair_conflicts(
            wide.i[rows], wide.j[rows], x, y, z, vx, vy, vz,
            horizontal_m=m.horizontal_m, vertical_m=m.vertical_m, lookahead_s=m.lookahead_s,
            aeqd_metric=True,
        )
        parts.append(found)
        judged.append(np.full(len(found), k, dtype=np.intp))
    if not parts:
        return Encounters.empty()
    c = Conflicts(*(np.concatenate([getattr(p, f) for p in parts]) for f in Conflicts.__slots__))
    order = np.lexsort((c.j, c.i))
    c, by = c.take(order), np.concatenate(judged)[order]
    t = c.t_cpa
    # Both aircraft at closest approach, back to lat/lon in one call for all pairs.
    lat, lon = proj.inverse(np.r_[x[c.i] + vx[c.i] * t, x[c.j] + vx[c.j] * t],
                            np.r_[y[c.i] + vy[c.i] * t, y[c.j] + vy[c.j] * t])
    n = len(c)
    return Encounters(c, by, lat[:n], lon[:n], lat[n:], lon[n:])


def warm_up() -> None:
    """Compile (or load from numba's cache) the compiled path now, on a small synthetic
    picture, so that the first real detection of ``AUTO_COMPILED_MIN`` aircraft or more does
    not stall a live service for the 0.5-15 s that takes."""
    n = AUTO_COMPILED_MIN
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1e5, 1e5, n), rng.uniform(-1e5, 1e5, n)
    z, v = rng.uniform(3_000, 12_000, n), rng.uniform(-200, 200, n)
    detect_xy(x, y, z, v, v[::-1].copy(), np.zeros(n), method="compiled")
