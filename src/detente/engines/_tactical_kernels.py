"""Compiled kernels of the tactical engine (numba): a uniform grid over swept boxes, and the exact
test in the same pass.

This is the fast path beside ``tactical.candidate_pairs`` (swept boxes in altitude slabs, shapely's
STRtree) followed by ``tactical.pair_conflicts`` (numpy), the general path. It must report the same
pairs with the same values; ``tests/engines/test_tactical_kernels.py`` holds it to that. Why it
exists: at 100,000 aircraft the general path spent its time building GEOS trees, querying them for a
few million raw pairs and filtering those in numpy (0.6 s), not in the arithmetic of the test. Here
each pair of overlapping boxes is looked at once, in a loop over grid cells that never materialises
the pairs it rejects, and the loop runs on every core numba is allowed (GEOS holds the GIL).

Grid: cells of ``cell_m`` x ``cell_m`` x ``slab_m``. Every aircraft is entered in each cell its
swept box [x0, x1] x [y0, y1] x [z0, z1] touches (closed intervals, as STRtree's envelope test). Two
boxes that overlap share every cell that holds the lower corner of their overlap, (max x0, max y0,
max z0), so a pair is tested in exactly one cell: the one whose integer coordinates are the maxima
of the two boxes' lowest cell coordinates (cell indices are a monotone function of the coordinate,
so no floating point decides it).

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

# Below this many box pairs to look at (~10 ms on one core) the kernel runs on the calling thread
# alone: on a loaded machine, waking a second thread and waiting for it at the end of the loop
# took a median 25 ms here, more than it saves.
_PARALLEL_MIN_WORK = 500_000

# Output rows reserved per aircraft before the first pass (see grid_conflicts).
_HITS_PER_AIRCRAFT = 4


@njit(cache=True)
def _exact(
    i: int, j: int, x: np.ndarray, y: np.ndarray, z: np.ndarray,
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
    r2: float, near_r2: float, v_min: float, horizon: float, aeqd: bool, still_sq: float,
    earth_r: float,
) -> tuple[bool, float, float, float, float, float]:
    """``pair_conflicts`` for one pair: (hit, t_in, t_out, t_cpa, d_cpa, dv_cpa)."""
    dx = x[j] - x[i]
    dy = y[j] - y[i]
    du = vx[j] - vx[i]
    dv = vy[j] - vy[i]
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
        sx = x[i] + x[j] + (vx[i] + vx[j]) * t_near
        sy = y[i] + y[j] + (vy[i] + vy[j]) * t_near
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
    dz = z[j] - z[i]
    dw = vz[j] - vz[i]

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


@njit(cache=True)
def _build(
    keep: np.ndarray, box: np.ndarray, cx0: np.ndarray, cx1: np.ndarray, cy0: np.ndarray,
    cy1: np.ndarray, cz0: np.ndarray, cz1: np.ndarray, ncx: int, ncy: int, ncz: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells as a counting sort: cell c holds entries start[c]:start[c+1].

    Cell c = (iz * ncy + iy) * ncx + ix. Entry e is aircraft member[e], with its box copied to
    ebox[e] and its lowest cell (ix, iy, iz) to elow[e]: the pair loop then reads a cell's boxes
    from consecutive memory instead of jumping about arrays of all aircraft (3.5x faster at
    100,000 aircraft, where those arrays outgrow the caches). Aircraft enter in index order, so
    each cell lists its members in increasing index.
    """
    start = np.zeros(ncx * ncy * ncz + 1, np.int64)
    n = keep.size
    for k in range(n):
        if keep[k]:
            for iz in range(cz0[k], cz1[k] + 1):
                for iy in range(cy0[k], cy1[k] + 1):
                    row = (iz * ncy + iy) * ncx
                    for ix in range(cx0[k], cx1[k] + 1):
                        start[row + ix + 1] += 1
    for c in range(1, start.size):
        start[c] += start[c - 1]
    fill = start[:-1].copy()
    member = np.empty(start[-1], np.int64)
    ebox = np.empty((start[-1], 6), np.float64)
    elow = np.empty((start[-1], 3), np.int64)
    for k in range(n):
        if keep[k]:
            for iz in range(cz0[k], cz1[k] + 1):
                for iy in range(cy0[k], cy1[k] + 1):
                    row = (iz * ncy + iy) * ncx
                    for ix in range(cx0[k], cx1[k] + 1):
                        e = fill[row + ix]
                        fill[row + ix] += 1
                        member[e] = k
                        for c in range(6):
                            ebox[e, c] = box[k, c]
                        elow[e, 0] = cx0[k]
                        elow[e, 1] = cy0[k]
                        elow[e, 2] = cz0[k]
    return start, member, ebox, elow


@njit(cache=True, parallel=True)
def _scan(
    chunks: np.ndarray, bounds: np.ndarray, offset: np.ndarray, cap: np.ndarray,
    start: np.ndarray, member: np.ndarray, ncx: int, ncy: int,
    box: np.ndarray, low: np.ndarray, orig: np.ndarray,
    x: np.ndarray, y: np.ndarray, z: np.ndarray,
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray,
    group: np.ndarray, use_group: bool, in_sub: np.ndarray, use_sub: bool,
    r2: float, near_r2: float, v_min: float, horizon: float, aeqd: bool, still_sq: float,
    earth_r: float,
    out_ij: np.ndarray, out_v: np.ndarray,
) -> np.ndarray:
    """Test every pair of overlapping boxes in the cells of the given chunks; write the hits.

    Chunk ``chunks[q]`` covers cells bounds[c]:bounds[c+1] (c = chunks[q]) and writes at most
    cap[q] rows from out row offset[q]. Returns the number of hits of each chunk, which may exceed
    its cap: the caller runs such a chunk again with room for all of them.
    ``box`` is (x0, x1, y0, y1, z0, z1) per entry, ``low`` its aircraft's lowest cell
    (ix, iy, iz), as ``_build`` lays them out. Aircraft are numbered in grid order; ``orig``
    maps that number to the caller's index, and rows are written with the caller's i < j.
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
            iy = (cell // ncx) % ncy
            iz = cell // (ncx * ncy)
            for a in range(s, e - 1):
                i = member[a]
                ax0, ax1, ay0, ay1, az0, az1 = (
                    box[a, 0], box[a, 1], box[a, 2], box[a, 3], box[a, 4], box[a, 5])
                lix, liy, liz = low[a, 0], low[a, 1], low[a, 2]
                for b in range(a + 1, e):
                    # Non-short-circuit &: whether boxes meet is a coin toss the branch
                    # predictor loses; one combined branch is cheaper than six.
                    meet = ((box[b, 0] <= ax1) & (ax0 <= box[b, 1]) & (box[b, 2] <= ay1)
                            & (ay0 <= box[b, 3]) & (box[b, 4] <= az1) & (az0 <= box[b, 5]))
                    if not meet:
                        continue
                    # Tested only in the cell holding the lower corner of the overlap.
                    if (max(lix, low[b, 0]) != ix or max(liy, low[b, 1]) != iy
                            or max(liz, low[b, 2]) != iz):
                        continue
                    j = member[b]
                    if use_group and group[i] == group[j]:
                        continue
                    if use_sub and not (in_sub[i] or in_sub[j]):
                        continue
                    # The exact test sees j from i with the caller's i < j, as the general
                    # path does, so that both round alike.
                    if orig[i] < orig[j]:
                        p, r = i, j
                    else:
                        p, r = j, i
                    hit, t_in, t_out, t_cpa, d, dv = _exact(
                        p, r, x, y, z, vx, vy, vz, r2, near_r2, v_min, horizon, aeqd,
                        still_sq, earth_r)
                    if hit:
                        if hits < room:
                            out_ij[row + hits, 0] = orig[p]
                            out_ij[row + hits, 1] = orig[r]
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
    earth_r: float, slab_m: float, max_cells: int,
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
    # much larger and each cell holds many boxes that do not meet (bench/tactical.py: 0.5x to 2x
    # the mean width were within 15 % of each other at 10k and 100k aircraft).
    cell = float(np.mean((x1 - x0)[keep] + (y1 - y0)[keep])) / 2.0
    if not cell > 0.0:
        cell = 1.0
    slab = slab_m
    span_x, span_y, span_z = x1[keep].max() - ox, y1[keep].max() - oy, z1[keep].max() - oz
    while (math.floor(span_x / cell) + 1) * (math.floor(span_y / cell) + 1) * (
            math.floor(span_z / slab) + 1) > max_cells:
        cell *= 2.0
        slab *= 2.0
    cx0, cx1 = _cells(x0, x1, ox, cell)
    cy0, cy1 = _cells(y0, y1, oy, cell)
    cz0, cz1 = _cells(z0, z1, oz, slab)
    ncx = int(cx1[keep].max()) + 1
    ncy = int(cy1[keep].max()) + 1
    ncz = int(cz1[keep].max()) + 1

    # Number the aircraft in the order of their lowest cell: neighbours in the grid become
    # neighbours in memory, for the grid's construction and for the exact test's reads.
    orig = np.argsort((cz0 * ncy + cy0) * ncx + cx0, kind="stable")
    keep, box = keep[orig], np.stack(boxes, axis=1)[orig]
    cx0, cx1, cy0, cy1, cz0, cz1 = (c[orig] for c in (cx0, cx1, cy0, cy1, cz0, cz1))
    x, y, z, vx, vy, vz = (c[orig] for c in (x, y, z, vx, vy, vz))
    start, member, ebox, elow = _build(keep, box, cx0, cx1, cy0, cy1, cz0, cz1, ncx, ncy, ncz)

    # Chunks of consecutive cells with about equal numbers of box pairs to look at.
    occupancy = np.diff(start)
    work = np.cumsum(occupancy * (occupancy - 1) // 2 + occupancy)
    n_chunks = max(1, numba.get_num_threads() * _CHUNKS_PER_THREAD)
    bounds = np.searchsorted(work, np.linspace(0, work[-1], n_chunks + 1)[1:-1], "right")
    bounds = np.concatenate(([0], bounds, [occupancy.size])).astype(np.int64)
    chunk_work = np.diff(np.concatenate(([0], work))[bounds])

    use_group = group is not None
    use_sub = in_subset is not None
    g = group[orig] if use_group else np.zeros(1, np.int64)
    sub = in_subset[orig] if use_sub else np.zeros(1, np.bool_)
    args = (start, member, ncx, ncy, ebox, elow, orig, x, y, z, vx, vy, vz, g, use_group, sub,
            use_sub, r2, near_r2, v_min, horizon, aeqd, still_sq, earth_r)

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
