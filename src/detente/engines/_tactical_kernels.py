"""Compiled kernels of the tactical engine (numba): a uniform grid over swept boxes, and the exact
test in the same pass.

This is the fast path beside ``tactical.candidate_pairs`` (swept boxes in altitude slabs, shapely's
STRtree) followed by ``tactical.pair_conflicts`` (numpy), the general path. It must report the same
pairs with the same values; ``tests/engines/test_tactical_kernels.py`` holds it to that. Why it
exists: at 100,000 aircraft the general path spent its time building GEOS trees, querying them for a
few million raw pairs and filtering those in numpy (0.6 s), not in the arithmetic of the test. Here
each pair of overlapping boxes is looked at once, in a loop over grid cells that never materialises
the pairs it rejects, and the loop runs on every core numba is allowed (GEOS holds the GIL).

Grid: square cells of ``cell`` metres in x and y. Every aircraft is entered in each cell its swept
box [x0, x1] x [y0, y1] touches (closed intervals, as STRtree's envelope test). Two boxes that
overlap share every cell that holds the lower corner of their overlap, (max x0, max y0), so a pair
is tested in exactly one cell: the one whose integer coordinates are the maxima of the two boxes'
lowest cell coordinates (cell indices are a monotone function of the coordinate, so no floating
point decides it). Altitude is swept, not gridded: aircraft are numbered by the bottom z0 of their
box, so each cell lists its boxes bottom first, and a box meets in z exactly the boxes that follow
it with a bottom not above its top. The loop stops there. With 600 m altitude slabs as a third
grid dimension instead, the bench's 100,000 aircraft (a fifth of them climbing) made 933,000
entries and 10.7 million looked-at pairs; swept in z, 390,000 and 5.3 million, for the same
1.3 million pairs of overlapping boxes.

The exact test (``_exact``) is ``pair_conflicts`` written per pair, operation for operation in the
same order, so that both round alike: relative state of j seen from i with i < j, the miss-distance
filter with the stretch bound, the AEQD unstretch at the pair's closest approach, the horizontal
quadratic and the vertical interval.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

__all__ = ["grid_conflicts"]

# numpy's sinc, which tactical.py reaches through LocalProjection.tangential_scale, replaces an
# exact 0 by this before dividing; the kernel does the same so that both give 1 at the centre.
_SINC_ZERO = 1.0e-20

# Work chunks per thread. The machine is shared: a thread whose core is busy elsewhere should not
# hold the others up, so threads take chunks from a queue (parallel chunk size 1) and each thread
# gets several. More chunks cost a little bookkeeping each.
_CHUNKS_PER_THREAD = 8

# Below this many pairs of entries sharing a cell (a few ms of work on one core) the kernel runs on
# the calling thread alone: with the machine's load average at 7, waking a second thread and
# waiting for it at the end of the loop took a median 25 ms here, more than it saves.
_PARALLEL_MIN_WORK = 500_000

# Output rows reserved per aircraft before the first pass (see grid_conflicts).
_HITS_PER_AIRCRAFT = 4


@njit(cache=True, nogil=True)
def _exact(
    i: int, j: int, st: np.ndarray,
    r2: float, near_r2: float, v_min: float, horizon: float, aeqd: bool, still_sq: float,
    earth_r: float,
) -> tuple[bool, float, float, float, float, float]:
    """``pair_conflicts`` for one pair: (hit, t_in, t_out, t_cpa, d_cpa, dv_cpa).

    Rows i and j of ``st`` hold the states x, y, z, vx, vy, vz in columns 6 to 11.
    """
    dx = st[j, 6] - st[i, 6]
    dy = st[j, 7] - st[i, 7]
    du = st[j, 9] - st[i, 9]
    dv = st[j, 10] - st[i, 10]
    # Miss-distance filter, with the stretch bound folded into near_r2 (as in pair_conflicts).
    a = du * du + dv * dv
    moving = a > still_sq
    if moving:
        cross = dx * dv - dy * du
        m2 = cross * cross / a
    else:
        m2 = dx * dx + dy * dy
    if not m2 < near_r2:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    if aeqd:
        if moving:
            t_near = -(dx * du + dy * dv) / a
            t_near = min(max(t_near, 0.0), horizon)
        else:
            t_near = 0.0
        sx = st[i, 6] + st[j, 6] + (st[i, 9] + st[j, 9]) * t_near
        sy = st[i, 7] + st[j, 7] + (st[i, 10] + st[j, 10]) * t_near
        rho2 = sx * sx + sy * sy
        if rho2 != 0.0:  # at the grid's centre there is no stretch and no radial direction
            inv_rho = 1.0 / math.sqrt(rho2)
            ux = sx * inv_rho
            uy = sy * inv_rho
            # 1 / LocalProjection.tangential_scale(sx/2, sy/2), through numpy's sinc arithmetic.
            s = math.hypot(0.5 * sx, 0.5 * sy) / earth_r
            w = s / math.pi
            w = math.pi * (w if w != 0.0 else _SINC_ZERO)
            inv_k = 1.0 / (1.0 / (math.sin(w) / w))
            radial = dx * ux + dy * uy
            tangential = (-dx * uy + dy * ux) * inv_k
            dx = radial * ux - tangential * uy
            dy = radial * uy + tangential * ux
            radial = du * ux + dv * uy
            tangential = (-du * uy + dv * ux) * inv_k
            du = radial * ux - tangential * uy
            dv = radial * uy + tangential * ux
    dz = st[j, 8] - st[i, 8]
    dw = st[j, 11] - st[i, 11]

    # Horizontal: |d + w t|^2 < R^2 around the closest approach.
    a = du * du + dv * dv
    moving = a > still_sq
    safe_a = a if moving else 1.0
    t_cpa_raw = -(dx * du + dy * dv) / safe_a if moving else 0.0
    if moving:
        cross = dx * dv - dy * du
        d2_min = cross * cross / a
    else:
        d2_min = dx * dx + dy * dy
    if not d2_min < r2:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    half = math.sqrt(max(r2 - d2_min, 0.0) / safe_a)
    h_lo = t_cpa_raw - half if moving else -math.inf
    h_hi = t_cpa_raw + half if moving else math.inf

    # Vertical: |dz + dw t| < V.
    if dw != 0.0:
        t1 = (-v_min - dz) / dw
        t2 = (v_min - dz) / dw
        v_lo = min(t1, t2)
        v_hi = max(t1, t2)
    elif abs(dz) < v_min:
        v_lo = -math.inf
        v_hi = math.inf
    else:
        return False, 0.0, 0.0, 0.0, 0.0, 0.0

    lo = max(h_lo, v_lo)
    hi = min(h_hi, v_hi)
    if not (lo < hi and lo < horizon and hi > 0.0):
        return False, 0.0, 0.0, 0.0, 0.0, 0.0
    t_cpa = min(max(t_cpa_raw, 0.0), horizon)
    ex = dx + du * t_cpa
    ey = dy + dv * t_cpa
    return (True, max(lo, 0.0), min(hi, horizon), t_cpa, math.hypot(ex, ey),
            abs(dz + dw * t_cpa))


@njit(cache=True, nogil=True)
def _build(
    keep: np.ndarray, rows: np.ndarray, orig: np.ndarray, cx0: np.ndarray, cx1: np.ndarray,
    cy0: np.ndarray, cy1: np.ndarray, ncx: int, ncy: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells as a counting sort: cell c = iy * ncx + ix holds entries start[c]:start[c+1].

    Entry e copies its aircraft's row (box x0, x1, y0, y1, z0, z1, then state x, y, z, vx, vy,
    vz) to ent[e], its lowest cell (ix, iy) to elow[e] and the caller's index to eorig[e]. The
    pair loop then reads a cell from consecutive memory instead of jumping about arrays of all
    aircraft, which at 100,000 aircraft outgrow the caches (~3x faster there). Aircraft enter in
    number order, so each cell lists them by z0.
    """
    start = np.zeros(ncx * ncy + 1, np.int64)
    n = keep.size
    for k in range(n):
        if keep[k]:
            for iy in range(cy0[k], cy1[k] + 1):
                for ix in range(cx0[k], cx1[k] + 1):
                    start[iy * ncx + ix + 1] += 1
    for c in range(1, start.size):
        start[c] += start[c - 1]
    fill = start[:-1].copy()
    ent = np.empty((start[-1], rows.shape[1]), np.float64)
    elow = np.empty((start[-1], 2), np.int64)
    eorig = np.empty(start[-1], np.int64)
    for k in range(n):
        if keep[k]:
            for iy in range(cy0[k], cy1[k] + 1):
                for ix in range(cx0[k], cx1[k] + 1):
                    e = fill[iy * ncx + ix]
                    fill[iy * ncx + ix] += 1
                    for c in range(rows.shape[1]):
                        ent[e, c] = rows[k, c]
                    elow[e, 0] = cx0[k]
                    elow[e, 1] = cy0[k]
                    eorig[e] = orig[k]
    return start, ent, elow, eorig


@njit(cache=True, parallel=True, nogil=True)
def _scan(
    chunks: np.ndarray, bounds: np.ndarray, offset: np.ndarray, cap: np.ndarray,
    start: np.ndarray, ent: np.ndarray, elow: np.ndarray, eorig: np.ndarray, ncx: int,
    group: np.ndarray, use_group: bool, in_sub: np.ndarray, use_sub: bool,
    r2: float, near_r2: float, v_min: float, horizon: float, aeqd: bool, still_sq: float,
    earth_r: float,
    out_ij: np.ndarray, out_v: np.ndarray,
) -> np.ndarray:
    """Test every pair of overlapping boxes in the cells of the given chunks; write the hits.

    Chunk ``chunks[q]`` covers cells bounds[c]:bounds[c+1] (c = chunks[q]) and writes at most
    cap[q] rows from out row offset[q]. Returns the number of hits of each chunk, which may exceed
    its cap: the caller runs such a chunk again with room for all of them. Entries are laid out
    by ``_build``; rows are written with the caller's indices, i < j. ``group`` and ``in_sub``
    are indexed by the caller's indices.
    """
    count = np.zeros(chunks.size, np.int64)
    for q in prange(chunks.size):
        c = chunks[q]
        row = offset[q]
        room = cap[q]
        hits = 0
        for cell in range(bounds[c], bounds[c + 1]):
            s, e = start[cell], start[cell + 1]
            if e - s < 2:
                continue
            ix = cell % ncx
            iy = cell // ncx
            for a in range(s, e - 1):
                ax0, ax1, ay0, ay1, az1 = ent[a, 0], ent[a, 1], ent[a, 2], ent[a, 3], ent[a, 5]
                lix, liy = elow[a, 0], elow[a, 1]
                for b in range(a + 1, e):
                    # Bottoms are in increasing order: from here on no box meets a's in z.
                    if ent[b, 4] > az1:
                        break
                    # Non-short-circuit &: whether boxes meet is a coin toss the branch
                    # predictor loses; one combined branch is cheaper than four. The pair is
                    # tested only in the cell holding the lower corner of the overlap.
                    meet = ((ent[b, 0] <= ax1) & (ax0 <= ent[b, 1]) & (ent[b, 2] <= ay1)
                            & (ay0 <= ent[b, 3]) & (max(lix, elow[b, 0]) == ix)
                            & (max(liy, elow[b, 1]) == iy))
                    if not meet:
                        continue
                    i, j = eorig[a], eorig[b]
                    if use_group and group[i] == group[j]:
                        continue
                    if use_sub and not (in_sub[i] or in_sub[j]):
                        continue
                    # The exact test sees j from i with the caller's i < j, as the general
                    # path does, so that both round alike.
                    if i < j:
                        p, r = a, b
                    else:
                        p, r = b, a
                        i, j = j, i
                    hit, t_in, t_out, t_cpa, d, dv = _exact(
                        p, r, ent, r2, near_r2, v_min, horizon, aeqd, still_sq, earth_r)
                    if hit:
                        if hits < room:
                            out_ij[row + hits, 0] = i
                            out_ij[row + hits, 1] = j
                            out_v[row + hits, 0] = t_in
                            out_v[row + hits, 1] = t_out
                            out_v[row + hits, 2] = t_cpa
                            out_v[row + hits, 3] = d
                            out_v[row + hits, 4] = dv
                        hits += 1
        count[q] = hits
    return count


def _cells(lo: np.ndarray, hi: np.ndarray, origin: float, size: float) -> tuple[np.ndarray, ...]:
    # One formula for both ends and for the grid's extent, so that every index is in range.
    return (np.floor((lo - origin) / size).astype(np.int64),
            np.floor((hi - origin) / size).astype(np.int64))


def grid_conflicts(
    boxes: tuple[np.ndarray, ...],
    x: np.ndarray, y: np.ndarray, z: np.ndarray,
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
    group: np.ndarray | None, in_subset: np.ndarray | None,
    *,
    r2: float, near_r2: float, v_min: float, horizon: float, aeqd: bool, still_sq: float,
    earth_r: float, max_cells: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Conflicting pairs among aircraft whose swept boxes overlap: (i, j, values), unsorted.

    ``boxes`` = (x0, x1, y0, y1, z0, z1) as ``tactical._swept_boxes`` gives them; values is
    (t_in, t_out, t_cpa, d_cpa, dv_cpa) per row. ``group`` (int64, optional): only pairs of
    different groups; ``in_subset`` (bool, optional): only pairs with a member in it. The test
    parameters are those of ``pair_conflicts`` (r2 = R^2, near_r2 = (R * stretch)^2, v_min the
    vertical minimum less its tolerance). At most ``max_cells`` cells: a scattered picture gets
    coarser cells rather than a grid larger than the picture. Aircraft with a non-finite box
    conflict with nothing, as in the general path.
    """
    x0, x1, y0, y1, z0, z1 = boxes
    n = x.size
    empty = (np.empty(0, np.intp), np.empty(0, np.intp), np.empty((0, 5)))
    keep = np.isfinite(x0) & np.isfinite(x1) & np.isfinite(y0) & np.isfinite(y1)
    keep &= np.isfinite(z0) & np.isfinite(z1)
    if np.count_nonzero(keep) < 2:
        return empty
    ox, oy, oz = x0[keep].min(), y0[keep].min(), z0[keep].min()
    if not keep.all():
        # Left out of the grid; placed at its origin only so that their cell arithmetic is quiet.
        x0, x1, y0, y1, z0, z1 = (np.where(keep, b, o) for b, o in zip(
            boxes, (ox, ox, oy, oy, oz, oz), strict=True))
        boxes = (x0, x1, y0, y1, z0, z1)
    # Cells about as wide as a mean swept box: much smaller and each aircraft enters many cells,
    # much larger and each cell holds many boxes that do not meet.
    cell = float(np.mean((x1 - x0)[keep] + (y1 - y0)[keep])) / 2.0
    if not cell > 0.0:
        cell = 1.0
    span_x, span_y = x1[keep].max() - ox, y1[keep].max() - oy
    while (math.floor(span_x / cell) + 1) * (math.floor(span_y / cell) + 1) > max_cells:
        cell *= 2.0
    cx0, cx1 = _cells(x0, x1, ox, cell)
    cy0, cy1 = _cells(y0, y1, oy, cell)
    ncx = int(cx1[keep].max()) + 1
    ncy = int(cy1[keep].max()) + 1

    # Number the aircraft by the bottom of their box (see the module docstring).
    orig = np.argsort(z0, kind="stable")
    rows = np.stack((*boxes, x, y, z, vx, vy, vz), axis=1)[orig]
    start, ent, elow, eorig = _build(
        keep[orig], rows, orig, cx0[orig], cx1[orig], cy0[orig], cy1[orig], ncx, ncy)

    # Chunks of consecutive cells with about equal numbers of box pairs to look at.
    occupancy = np.diff(start)
    work = np.cumsum(occupancy * (occupancy - 1) // 2 + occupancy)
    n_chunks = max(1, numba.get_num_threads() * _CHUNKS_PER_THREAD)
    bounds = np.searchsorted(work, np.linspace(0, work[-1], n_chunks + 1)[1:-1], "right")
    bounds = np.concatenate(([0], bounds, [occupancy.size])).astype(np.int64)
    chunk_work = np.diff(np.concatenate(([0], work))[bounds])

    use_group = group is not None
    use_sub = in_subset is not None
    g = group if use_group else np.zeros(1, np.int64)
    sub = in_subset if use_sub else np.zeros(1, np.bool_)
    args = (start, ent, elow, eorig, ncx, g, use_group, sub, use_sub,
            r2, near_r2, v_min, horizon, aeqd, still_sq, earth_r)

    # Room for hits: 4 per aircraft shared in proportion to each chunk's work, plus a margin (the
    # bench's densest picture has 2.2). A chunk that finds more is run again with room for
    # exactly what it counted.
    chunks = np.arange(n_chunks, dtype=np.int64)
    cap = 64 + (_HITS_PER_AIRCRAFT * n * chunk_work) // max(int(work[-1]), 1)
    parts_ij: list[np.ndarray] = []
    parts_v: list[np.ndarray] = []
    while chunks.size:
        offset = np.concatenate(([0], np.cumsum(cap)[:-1])).astype(np.int64)
        out_ij = np.empty((int(cap.sum()), 2), np.int64)
        out_v = np.empty((int(cap.sum()), 5), np.float64)
        # Dynamic scheduling, one chunk at a time (set here: inside the kernel it stops numba
        # from caching the compiled code). Both settings are the calling thread's; put back.
        previous = numba.set_parallel_chunksize(1)
        threads = numba.get_num_threads()
        if work[-1] < _PARALLEL_MIN_WORK:
            numba.set_num_threads(1)
        try:
            count = _scan(chunks, bounds, offset, cap, *args, out_ij, out_v)
        finally:
            numba.set_num_threads(threads)
            numba.set_parallel_chunksize(previous)
        for q in np.flatnonzero(count <= cap):
            parts_ij.append(out_ij[offset[q] : offset[q] + count[q]])
            parts_v.append(out_v[offset[q] : offset[q] + count[q]])
        over = count > cap
        chunks, cap = chunks[over], count[over]
    ij = np.concatenate(parts_ij) if parts_ij else empty[0].reshape(0, 2)
    values = np.concatenate(parts_v) if parts_v else empty[2]
    return ij[:, 0].astype(np.intp), ij[:, 1].astype(np.intp), values
