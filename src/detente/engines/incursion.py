"""Airspace incursion prediction: which aircraft will enter airspace another party protects.

Semantics (DESIGN.md, "Incursion"): every aircraft flies on from its current state along the
geodesic of its true track at constant ground speed and vertical rate. It incurs into an
airspace when, at some time t in [0, lookahead], it is horizontally inside the footprint AND
floor_m <= altitude <= ceiling_m AND the airspace's owner is not the aircraft's party. One row
per maximal interval of incursion: entry time, entry point, exit time (NaN when it is still
inside at the end of the look-ahead) and the distance flown inside within the look-ahead. An
aircraft already inside at t = 0 is a violation (t_entry = 0; how long it has been inside is
not known from one state). Coming within ``buffer_m`` of the boundary without entering is a
separate, lower-severity proximity row.

How, and why it scales (``AirspaceIndex`` is built once per airspace set and projection):

1. Project into a conformal stereographic grid about the region. Each path is the image of its
   geodesic: the chord between its projected start and its projected end (the end from the
   geodesic direct problem, so both are exact) bent by ``chord_bend``, which leaves
   millimetres where the chord alone left metres, and metres matter where a path crosses the
   border at a shallow angle. Time along the path is proportional to chord length.
2. Cut every boundary ring into segments; boxes over runs of consecutive segments form a
   hierarchy (``_LEVELS``). An STRtree over the coarsest boxes, queried with the paths, gives
   candidate (path, box) pairs; a separating-axis test (box against the path's box and line)
   keeps the boxes the path can touch, level after level, down to blocks of a few segments.
3. Segment crossings in numpy, on (pair, block) arrays, with a half-open side rule (a vertex
   exactly on the path counts as on its right), so that a path through a vertex counts one
   crossing where it crosses and two, or none, where it only touches: the parity stays right.
4. Inside at t = 0 from ``shapely.contains_xy`` on the projected, prepared footprint (1 mm along
   the path for a start on the boundary); sorting the crossings along each path then turns
   parity into intervals inside, which are cut by the altitude band and the owner.

The planar general path is ``path_intervals_xy`` on an ``AirspaceIndex.from_grid``; ``detect``
is the geographic front. Tests hold both to independent oracles: shapely's line-polygon
intersection, and dense geodesic sampling on the real border.

Units: m, m/s, s, deg (lat, lon, true track).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from detente.geo.geodesic import WGS84
from detente.geo.stereographic import StereographicProjection
from detente.model.airspace import Airspace
from detente.model.states import States

__all__ = [
    "DEFAULT_LOOKAHEAD_S",
    "AirspaceIndex",
    "IncursionReport",
    "Incursions",
    "Proximities",
    "detect",
    "path_intervals_xy",
]

DEFAULT_LOOKAHEAD_S = 300.0

# Segments per box at each level of the pruning hierarchy, coarse to fine: the STRtree holds
# the coarsest boxes; each level's survivors of the separating-axis test split into the next
# level's boxes, and the finest into single segments. Coarse boxes keep the tree small and its
# answer short; fine ones keep the exact segment test off most of the border. Tried with
# bench/incursion.py (100,000 aircraft, Turkey's 33,970 vertices before its lakes were filled)
# on a loaded machine: one level of 16 (5.4 million segment tests), (64, 8), (64, 16, 4),
# (128, 16, 4), (256, 32, 8) and (32, 8) (2.9 million segment tests on 360,000 blocks); the
# last was fastest, by ~15 %.
_LEVELS = (32, 8)

# The STRtree's boxes are widened by this much (m), so that queries needing no more pad than
# this (crossings: the chord's bend plus 1 m) can use the bare paths. (A numpy uniform grid in
# place of the tree was tried: 85-110 ms against 85-125 ms for the paths and the query, within
# the noise of a shared machine; the simpler tree stayed.)
_TREE_PAD_M = 50.0

# Stays inside separated by less than this much flight (m) are one stay. The border is known
# to ~10 m, and a path that grazes a vertex at a shallow angle otherwise reports an exit and a
# re-entry a fraction of a metre apart (seen on the Hatay border).
_JOIN_GAP_M = 1.0

# An aircraft within _ON_BOUNDARY_M of a boundary segment is on the boundary; which side it
# is on is then taken _NUDGE_M further along its path (both far below the border's 10 m).
_ON_BOUNDARY_M = 1e-6
_NUDGE_M = 1e-3


@dataclass(frozen=True, slots=True)
class Incursions:
    """Predicted incursions, one row per interval inside, sorted by (i, airspace, t_entry).

    Attributes
    ----------
    i : ndarray of intp
        Index of the aircraft in the caller's states.
    airspace : ndarray of intp
        Index of the airspace in the caller's sequence.
    t_entry : ndarray, s
        Time from now to entry (0 for a violation: already inside).
    t_exit : ndarray, s
        Time from now to exit, NaN when still inside at the end of the look-ahead.
    entry_lat, entry_lon : ndarray, deg
        Where the aircraft is at t_entry (on the geodesic of its track).
    inside_m : ndarray, m
        Distance flown inside from t_entry to t_exit, or to the end of the look-ahead.
    violation : ndarray of bool
        Inside already at t = 0.
    """

    i: np.ndarray
    airspace: np.ndarray
    t_entry: np.ndarray
    t_exit: np.ndarray
    entry_lat: np.ndarray
    entry_lon: np.ndarray
    inside_m: np.ndarray
    violation: np.ndarray

    def __len__(self) -> int:
        return int(self.i.size)

    def take(self, index: ArrayLike) -> Incursions:
        idx = np.asarray(index)
        return Incursions(*(getattr(self, f)[idx] for f in self.__slots__))

    @classmethod
    def empty(cls) -> Incursions:
        e = np.empty(0, dtype=np.float64)
        n = np.empty(0, np.intp)
        return cls(n, n, e, e, e, e, e, np.empty(0, bool))


@dataclass(frozen=True, slots=True)
class Proximities:
    """Aircraft that come within an airspace's buffer_m of its boundary without entering it.

    One row per (aircraft, airspace) with buffer_m > 0, the altitude inside the band at the
    time, and no incursion row in the same look-ahead; sorted by (i, airspace).

    Attributes
    ----------
    i, airspace : ndarray of intp
        Indices into the caller's states and airspaces.
    t_warn : ndarray, s
        First time within buffer_m of the boundary (0 when already within).
    d_min_m : ndarray, m
        Smallest horizontal distance to the boundary over the look-ahead, in the grid (the
        conformal scale factor, under 1.0015 within 500 km of the centre, is not removed), from
        the path's chord: the geodesic's bend off it (c / 4, ~3 m for a 75 km path 300 km from
        the centre) is left out here, where metres do not change a warning.
    """

    i: np.ndarray
    airspace: np.ndarray
    t_warn: np.ndarray
    d_min_m: np.ndarray

    def __len__(self) -> int:
        return int(self.i.size)

    def take(self, index: ArrayLike) -> Proximities:
        idx = np.asarray(index)
        return Proximities(*(getattr(self, f)[idx] for f in self.__slots__))

    @classmethod
    def empty(cls) -> Proximities:
        e = np.empty(0, dtype=np.float64)
        n = np.empty(0, np.intp)
        return cls(n, n, e, e)


@dataclass(frozen=True, slots=True)
class IncursionReport:
    """What ``detect`` found: incursions (and violations) first, proximity warnings apart."""

    incursions: Incursions
    proximities: Proximities


@dataclass(frozen=True, eq=False)
class AirspaceIndex:
    """Airspaces projected, cut into boundary segments and indexed; build once, query often.

    Attributes
    ----------
    projection : StereographicProjection
    owner : ndarray of str, floor_m, ceiling_m, buffer_m : ndarray, m
        Per airspace, in the order given.
    footprints : ndarray of shapely geometries
        Projected, prepared footprints (grid metres).
    ax, ay, bx, by : ndarray, m
        Boundary segments from a to b in the grid; ``segment_airspace`` says whose.
    """

    projection: StereographicProjection
    owner: np.ndarray
    floor_m: np.ndarray
    ceiling_m: np.ndarray
    buffer_m: np.ndarray
    footprints: np.ndarray
    ax: np.ndarray
    ay: np.ndarray
    bx: np.ndarray
    by: np.ndarray
    segment_airspace: np.ndarray
    boxes: tuple[np.ndarray, ...]  # per level of _LEVELS: (4, n) centre x, y, half-width, height
    tree: shapely.STRtree  # over the boxes of the coarsest level

    @classmethod
    def build(
        cls, airspaces: Sequence[Airspace], projection: StereographicProjection | None = None
    ) -> AirspaceIndex:
        """Index ``airspaces`` in ``projection`` (default: centred on their footprints)."""
        if projection is None:
            if airspaces:
                lon0, lat0, lon1, lat1 = shapely.total_bounds([a.geometry for a in airspaces])
                projection = StereographicProjection.about(
                    [lat0, lat1, lat0, lat1], [lon0, lon0, lon1, lon1]
                )
            else:
                projection = StereographicProjection(0.0, 0.0)

        def to_grid(coords: np.ndarray) -> np.ndarray:
            x, y = projection.forward(coords[:, 1], coords[:, 0])
            return np.column_stack([x, y])

        return cls.from_grid(
            projection,
            [shapely.transform(a.geometry, to_grid) for a in airspaces],
            owner=[a.owner for a in airspaces],
            floor_m=[a.floor_m for a in airspaces],
            ceiling_m=[a.ceiling_m for a in airspaces],
            buffer_m=[a.buffer_m for a in airspaces],
        )

    @classmethod
    def from_grid(
        cls,
        projection: StereographicProjection,
        footprints: Sequence[shapely.Geometry],
        *,
        owner: Sequence[str],
        floor_m: ArrayLike,
        ceiling_m: ArrayLike,
        buffer_m: ArrayLike,
    ) -> AirspaceIndex:
        """Index footprints already in ``projection``'s grid (m); the planar general path."""
        footprints = np.array(list(footprints), dtype=object)
        shapely.prepare(footprints)
        # GEOS builds a prepared polygon's point locator on its first query: build it here,
        # so that threads querying one index at once (a service's look beside its cycle) do
        # not race to build it, which crashes the process.
        shapely.contains_xy(footprints, 0.0, 0.0)
        ax, ay, bx, by, owner_of = [], [], [], [], []
        for m, footprint in enumerate(footprints):
            rings = shapely.get_rings(shapely.get_parts(footprint))
            coords, ring_of = shapely.get_coordinates(rings, return_index=True)
            # A segment joins consecutive vertices of the same ring (rings are closed).
            same = ring_of[1:] == ring_of[:-1]
            a, b = coords[:-1][same], coords[1:][same]
            ax.append(a[:, 0])
            ay.append(a[:, 1])
            bx.append(b[:, 0])
            by.append(b[:, 1])
            owner_of.append(np.full(a.shape[0], m, dtype=np.intp))
        cat = (lambda parts: np.concatenate(parts) if parts else np.empty(0))  # noqa: E731
        # Pad to whole boxes of the coarsest level with NaN segments, so that every box has all
        # its children; NaN compares false, so they never straddle a path or hold its start.
        real = sum(a.size for a in ax)
        fill = [np.full(-real % _LEVELS[0], np.nan)]
        sax, say, sbx, sby = cat(ax + fill), cat(ay + fill), cat(bx + fill), cat(by + fill)
        seg_space = cat([*owner_of, np.zeros(fill[0].size, np.intp)]).astype(np.intp)
        levels = []
        for size in _LEVELS:
            starts = np.arange(0, sax.size, size)
            if sax.size:
                x0 = np.fmin.reduceat(np.fmin(sax, sbx), starts)
                y0 = np.fmin.reduceat(np.fmin(say, sby), starts)
                x1 = np.fmax.reduceat(np.fmax(sax, sbx), starts)
                y1 = np.fmax.reduceat(np.fmax(say, sby), starts)
            else:
                x0 = y0 = x1 = y1 = np.empty(0)
            # Rows, not columns: each of centre x, y and half-width, height is gathered on its own
            # and contiguous, which halves the cost of the tests below.
            levels.append(
                np.ascontiguousarray([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2])
            )
        cx, cy, hx, hy = levels[0]
        hx, hy = hx + _TREE_PAD_M, hy + _TREE_PAD_M
        tree = shapely.STRtree(shapely.box(cx - hx, cy - hy, cx + hx, cy + hy))
        return cls(
            projection=projection,
            owner=np.array(list(owner), dtype=object),
            floor_m=np.asarray(floor_m, dtype=np.float64).reshape(-1),
            ceiling_m=np.asarray(ceiling_m, dtype=np.float64).reshape(-1),
            buffer_m=np.asarray(buffer_m, dtype=np.float64).reshape(-1),
            footprints=footprints,
            ax=sax, ay=say, bx=sbx, by=sby,
            segment_airspace=seg_space,
            boxes=tuple(levels),
            tree=tree,
        )

    def __len__(self) -> int:
        return int(self.owner.size)

    def candidates(
        self, px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray, pad_m: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(path, block) pairs whose block of segments may come within ``pad_m`` of path p -> q.

        A block is _LEVELS[-1] consecutive segments: block b holds segments b * size to
        (b + 1) * size - 1. A superset of the crossing pairs (and of those within pad_m).
        """
        if px.size == 0 or self.ax.size == 0:
            return np.empty(0, np.intp), np.empty(0, np.intp)
        if pad_m <= _TREE_PAD_M:
            # The tree's boxes carry the pad: query with the paths themselves, whose envelopes
            # are their boxes (a 2-point line is built twice as fast as a box polygon).
            k, c = self.tree.query(shapely.linestrings(np.stack([px, py, qx, qy], axis=1)
                                                       .reshape(-1, 2, 2)))
        else:
            x0, x1 = np.minimum(px, qx) - pad_m, np.maximum(px, qx) + pad_m
            y0, y1 = np.minimum(py, qy) - pad_m, np.maximum(py, qy) + pad_m
            k, c = self.tree.query(shapely.box(x0, y0, x1, y1))
        dx, dy = qx - px, qy - py
        # One row per path (one gather per level instead of nine): start, direction, centre
        # and half-extents of the path's box widened by pad_m, pad_m * |d|.
        paths = np.column_stack([
            px, py, dx, dy, (px + qx) / 2, (py + qy) / 2,
            np.abs(dx) / 2 + pad_m, np.abs(dy) / 2 + pad_m, pad_m * np.hypot(dx, dy),
        ])
        # Each level tests a (parents, children) array: a parent's path values are gathered
        # once and broadcast over its children.
        children = c[:, None]
        for level, boxes in enumerate(self.boxes):
            # Separating axes of a segment and a box: x, y (box overlap) and the segment's
            # normal (the box's centre is farther from the line than its half-extent across it).
            # At the top level the tree has tested x and y already.
            cx, cy, hx, hy = (row[children] for row in boxes)
            p = paths[k]
            ox, oy, dx_, dy_ = p[:, 0:1], p[:, 1:2], p[:, 2:3], p[:, 3:4]
            across = dx_ * (cy - oy) - dy_ * (cx - ox)
            keep = np.abs(across) <= np.abs(dx_) * hy + np.abs(dy_) * hx + p[:, 8:9]
            if level:
                keep &= np.abs(cx - p[:, 4:5]) <= hx + p[:, 6:7]
                keep &= np.abs(cy - p[:, 5:6]) <= hy + p[:, 7:8]
            row, col = np.nonzero(keep)
            k, c = k[row], children[row, col]
            if level + 1 == len(self.boxes):
                break
            ratio = _LEVELS[level] // _LEVELS[level + 1]
            children = c[:, None] * ratio + np.arange(ratio)
        return k, c


def path_intervals_xy(
    index: AirspaceIndex,
    px: ArrayLike,
    py: ArrayLike,
    qx: ArrayLike,
    qy: ArrayLike,
    relevant: np.ndarray | None = None,
    bend: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Intervals of each planar path p -> q horizontally inside each footprint of ``index``.

    Parameters
    ----------
    px, py, qx, qy : array_like, m
        Path starts and ends in the index's grid; the path parameter s runs from 0 at p to 1 at q.
    relevant : ndarray of bool, shape (N, M), optional
        Only (path, airspace) pairs marked True are reported (default: all).
    bend : array_like, m, optional
        The path is the curve p + s (q - p) + c s (1 - s) n, n the chord's left unit normal
        (see ``StereographicProjection.chord_bend``); default 0, straight.

    Returns
    -------
    path, airspace : ndarray of intp
    s_in, s_out : ndarray
        Path parameters of entry and exit; s_in = 0 when p is inside, s_out = inf when still
        inside at q. Sorted by (path, airspace, s_in).
    at_start : ndarray of bool
        The interval began with p inside.
    """
    px, py, qx, qy = (
        np.ascontiguousarray(a, dtype=np.float64).reshape(-1) for a in (px, py, qx, qy)
    )
    n, m_count = px.size, len(index)
    if relevant is None:
        relevant = np.ones((n, m_count), dtype=bool)
    c = np.zeros(n) if bend is None else np.broadcast_to(np.asarray(bend, dtype=float), (n,))

    # The curve stays within |c| / 4 of its chord; widen the pruning by that.
    pad = float(np.abs(c).max()) / 4.0 + 1.0 if n else 0.0
    k, block = index.candidates(px, py, qx, qy, pad_m=pad)
    size = _LEVELS[-1]
    seg = block[:, None] * size + np.arange(size)  # (pairs, size): segments of each block
    dx, dy = qx - px, qy - py
    d2 = dx * dx + dy * dy
    length = np.sqrt(d2)
    # Side of a vertex v: cross(d, v - p) = dx vy - dy vx - (dx py - dy px); the bracket is
    # per path, so each (pair, segment) costs two products per vertex.
    dxk, dyk = dx[k][:, None], dy[k][:, None]
    cross_p = (dx * py - dy * px)[k][:, None]
    # Block-major views: gathering whole rows of a block is cheaper than segment by segment.
    sa = dxk * index.ay.reshape(-1, size)[block] - dyk * index.ax.reshape(-1, size)[block] - cross_p
    sb = dxk * index.by.reshape(-1, size)[block] - dyk * index.bx.reshape(-1, size)[block] - cross_p
    # The bend can only flip the side of a vertex within |c| / 4 of the chord, and a start on
    # a segment needs a vertex within _ON_BOUNDARY_M of the line or a straddle: keep those.
    band = ((np.abs(c) / 4.0 + 2.0 * _ON_BOUNDARY_M) * length)[k][:, None]
    maybe = ((sa > 0.0) != (sb > 0.0)) | (np.abs(sa) <= band) | (np.abs(sb) <= band)
    row, col = np.nonzero(maybe)
    k, seg = k[row], seg[row, col]
    space = index.segment_airspace[seg]
    if not relevant.all():
        use = relevant[k, space]
        k, seg, space = k[use], seg[use], space[use]
    ax, ay, bx, by = index.ax[seg], index.ay[seg], index.bx[seg], index.by[seg]
    kx, ky, kd2 = dx[k], dy[k], d2[k]
    # Side of each vertex relative to the curve: its offset from the chord (times |d|) minus
    # the curve's own offset at the vertex's place along the chord. A vertex gets the same
    # value in both segments it ends, which keeps the parity consistent.
    bent = length[k] * c[k] / np.where(kd2 > 0.0, kd2 * kd2, 1.0)
    ea = (ax - px[k]) * kx + (ay - py[k]) * ky  # s_a |d|^2
    eb = (bx - px[k]) * kx + (by - py[k]) * ky
    sa = kx * (ay - py[k]) - ky * (ax - px[k]) - bent * ea * (kd2 - ea)
    sb = kx * (by - py[k]) - ky * (bx - px[k]) - bent * eb * (kd2 - eb)
    straddle = (sa > 0.0) != (sb > 0.0)
    # Paths whose start lies on a segment (within _ON_BOUNDARY_M), straddling or not.
    ex, ey = bx - ax, by - ay
    wx, wy = px[k] - ax, py[k] - ay
    e2 = ex * ex + ey * ey
    along = wx * ex + wy * ey
    k_on_boundary = k[
        (np.abs(ex * wy - ey * wx) <= _ON_BOUNDARY_M * np.sqrt(e2))
        & (along >= 0.0) & (along <= e2)
    ]
    k, space, sa, sb = k[straddle], space[straddle], sa[straddle], sb[straddle]
    ax, ay, bx, by = ax[straddle], ay[straddle], bx[straddle], by[straddle]
    # Where the path meets segment a -> b: point a + u (b - a) with u = sa / (sa - sb) (the
    # curve's offset is linear to ~1e-5 of c over a segment); its parameter along the path is
    # the projection on d over |d|^2.
    u = sa / (sa - sb)
    cx = ax + u * (bx - ax)
    cy = ay + u * (by - ay)
    s = ((cx - px[k]) * dx[k] + (cy - py[k]) * dy[k]) / d2[k]
    on_path = (s >= 0.0) & (s <= 1.0)
    k, space, s = k[on_path], space[on_path], s[on_path]
    # A path that starts on the boundary: contains_xy says "outside" there whichever side the
    # path goes to. Ask it about a point _NUDGE_M along the path instead, and drop crossings
    # behind that point.
    nudged = k_on_boundary
    nudge = np.zeros(n)
    nudge[nudged] = _NUDGE_M
    behind = (s * length[k] <= _NUDGE_M) & (nudge[k] > 0.0)
    k, space, s = k[~behind], space[~behind], s[~behind]
    step = np.where(length > 0.0, nudge / np.where(length > 0.0, length, 1.0), 0.0)
    sx, sy = px + step * (qx - px), py + step * (qy - py)

    # Inside at the start, per airspace, only where it matters.
    start_k: list[np.ndarray] = []
    start_m: list[np.ndarray] = []
    for m in range(m_count):
        who = np.flatnonzero(relevant[:, m])
        if who.size:
            inside = shapely.contains_xy(index.footprints[m], sx[who], sy[who])
            start_k.append(who[inside])
            start_m.append(np.full(int(inside.sum()), m, dtype=np.intp))
    sk = np.concatenate(start_k) if start_k else np.empty(0, np.intp)
    sm = np.concatenate(start_m) if start_m else np.empty(0, np.intp)

    # Parity along each (path, airspace) group: crossing r (0-based) leaves the aircraft inside
    # when it started outside and r is even, or started inside and r is odd.
    key = k.astype(np.int64) * m_count + space
    order = np.lexsort((s, key))
    key, k, space, s = key[order], k[order], space[order], s[order]
    start_key = np.sort(sk.astype(np.int64) * m_count + sm)
    pos = np.searchsorted(start_key, key)
    padded = np.r_[start_key, -1]  # a sentinel no key equals, so pos == size is safe
    began_inside = padded[pos] == key
    first = np.r_[True, key[1:] != key[:-1]] if key.size else np.empty(0, bool)
    group_start = np.maximum.accumulate(np.where(first, np.arange(key.size), 0))
    rank = np.arange(key.size) - group_start
    inside_after = began_inside ^ (rank % 2 == 0)

    # Entries: real crossings into the footprint plus t = 0 for paths that start inside.
    # Exits: real crossings out plus s = inf for groups that end inside. Within a group they
    # alternate, entry first, so sorting both by (key, s) pairs them up row by row.
    last = np.r_[key[1:] != key[:-1], True] if key.size else np.empty(0, bool)
    count = rank + 1
    ends_inside_crossed = last & (began_inside ^ (count % 2 == 1))
    crossed_keys = key[last]
    quiet = ~np.isin(start_key, crossed_keys)  # started inside and never crossed
    in_key = np.concatenate([key[inside_after], start_key])
    in_s = np.concatenate([s[inside_after], np.zeros(start_key.size)])
    in_start = np.concatenate(
        [np.zeros(int(inside_after.sum()), bool), np.ones(start_key.size, bool)]
    )
    out_key = np.concatenate([key[~inside_after], key[ends_inside_crossed], start_key[quiet]])
    out_s = np.concatenate([
        s[~inside_after], np.full(int(ends_inside_crossed.sum()), np.inf),
        np.full(int(quiet.sum()), np.inf),
    ])
    o_in = np.lexsort((~in_start, in_s, in_key))
    o_out = np.lexsort((out_s, out_key))
    in_key, in_s, in_start = in_key[o_in], in_s[o_in], in_start[o_in]
    out_key, out_s = out_key[o_out], out_s[o_out]
    if in_key.size != out_key.size or np.any(in_key != out_key):  # pragma: no cover - invariant
        raise AssertionError("entry and exit events do not pair up")
    # A path through a boundary vertex may enter and leave at the same s: nothing flown inside.
    real = out_s > in_s
    in_key, in_s, out_s, in_start = in_key[real], in_s[real], out_s[real], in_start[real]
    # Leaving one part of a multipolygon where the next begins (parts touching at a point) is
    # one stay inside, not two; so is a gap shorter than _JOIN_GAP_M.
    gap_m = (in_s[1:] - out_s[:-1]) * length[in_key // m_count][1:]
    joined = np.r_[False, (in_key[1:] == in_key[:-1]) & (gap_m < _JOIN_GAP_M)]
    if joined.any():
        heads = np.flatnonzero(~joined)
        out_s = np.maximum.reduceat(out_s, heads)
        in_key, in_s, in_start = in_key[heads], in_s[heads], in_start[heads]
    return (
        (in_key // m_count).astype(np.intp),
        (in_key % m_count).astype(np.intp),
        in_s,
        out_s,
        in_start,
    )


def _altitude_window(
    z: np.ndarray, vz: np.ndarray, floor: np.ndarray, ceiling: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, unbounded) when floor <= z + vz t <= ceiling; empty when lo > hi."""
    level = vz == 0.0
    safe = np.where(level, 1.0, vz)
    with np.errstate(invalid="ignore"):
        t1 = (floor - z) / safe
        t2 = (ceiling - z) / safe
    in_band = (floor <= z) & (z <= ceiling)
    lo = np.where(level, np.where(in_band, -np.inf, np.inf), np.minimum(t1, t2))
    hi = np.where(level, np.where(in_band, np.inf, -np.inf), np.maximum(t1, t2))
    return lo, hi


def detect(
    states: States,
    airspaces: Sequence[Airspace] | AirspaceIndex,
    *,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    projection: StereographicProjection | None = None,
) -> IncursionReport:
    """Incursions and proximity warnings of ``states`` against ``airspaces`` over the look-ahead.

    Parameters
    ----------
    states : States
        Aircraft now (lat, lon deg; alt_m m; gs_mps m/s; trk_deg deg; vs_mps m/s). Without a
        party column no aircraft is entitled anywhere.
    airspaces : sequence of Airspace, or AirspaceIndex
        Pass an ``AirspaceIndex`` to reuse its projection and index from cycle to cycle.
    lookahead_s : float, s
        Look-ahead (default 300 s).
    projection : StereographicProjection, optional
        Grid for a sequence of airspaces (default: centred on the states). Ignored with an index.

    Returns
    -------
    IncursionReport
        ``incursions`` (one row per interval inside, with violations), ``proximities``.
    """
    if not (math.isfinite(lookahead_s) and lookahead_s >= 0.0):
        raise ValueError(f"look-ahead must be a finite number of seconds >= 0, got {lookahead_s}")
    if isinstance(airspaces, AirspaceIndex):
        index = airspaces
    else:
        if projection is None and len(states):
            projection = StereographicProjection.about(states.lat, states.lon)
        index = AirspaceIndex.build(airspaces, projection)
    n, m_count = len(states), len(index)
    if n == 0 or m_count == 0:
        return IncursionReport(Incursions.empty(), Proximities.empty())

    horizon = float(lookahead_s)
    proj = index.projection
    px, py = proj.forward(states.lat, states.lon)
    lon1, lat1, _ = WGS84.fwd(states.lon, states.lat, states.trk_deg, states.gs_mps * horizon)
    qx, qy = proj.forward(lat1, lon1)

    # (N, M) tables: entitled aircraft and altitude bands that never meet drop out early.
    z = states.alt_m[:, None]
    vz = states.vs_mps[:, None]
    v_lo, v_hi = _altitude_window(z, vz, index.floor_m[None, :], index.ceiling_m[None, :])
    v_lo, v_hi = np.maximum(v_lo, 0.0), np.minimum(v_hi, horizon)
    relevant = v_lo <= v_hi
    if states.party is not None:
        # Object arrays of str compare element by element, without a copy to fixed width.
        relevant &= np.asarray(states.party[:, None] != index.owner[None, :], dtype=bool)

    bend = proj.chord_bend(px, py, qx, qy)
    path, space, s_in, s_out, at_start = path_intervals_xy(
        index, px, py, qx, qy, relevant, bend
    )
    t_in = np.maximum(s_in * horizon, v_lo[path, space])
    # s_out is inf for "still inside at the end"; inf * 0 would be NaN for a zero look-ahead.
    finite = np.isfinite(s_out)
    t_out = np.full(s_out.size, np.inf)
    t_out[finite] = s_out[finite] * horizon
    t_hi = np.minimum(t_out, v_hi[path, space])
    keep = t_in < t_hi
    # Something flown inside, or inside at t = 0 (a hovering aircraft, a zero look-ahead).
    keep |= (t_in == t_hi) & at_start & (t_in == 0.0)
    path, space, t_in, t_hi = path[keep], space[keep], t_in[keep], t_hi[keep]
    violation = at_start[keep] & (t_in == 0.0)
    gs = states.gs_mps[path]
    # Still inside at the end of the look-ahead: the exit is not predicted, so it is NaN.
    t_exit = np.where(t_hi < horizon, t_hi, np.nan)
    # The entry point on the projected geodesic (chord plus bend), back to lat/lon: the same
    # point as the geodesic direct problem to a few mm, at a third of its cost.
    f = t_in / horizon if horizon > 0 else np.zeros(t_in.size)
    ddx, ddy = qx[path] - px[path], qy[path] - py[path]
    norm = np.hypot(ddx, ddy)
    off = bend[path] * f * (1.0 - f) / np.where(norm > 0.0, norm, 1.0)
    elat, elon = proj.inverse(px[path] + f * ddx - off * ddy, py[path] + f * ddy + off * ddx)
    incursions = Incursions(
        i=path,
        airspace=space,
        t_entry=t_in,
        t_exit=t_exit,
        entry_lat=np.asarray(elat, dtype=np.float64),
        entry_lon=np.asarray(elon, dtype=np.float64),
        inside_m=gs * (t_hi - t_in),
        violation=violation,
    )
    entered = np.zeros((n, m_count), dtype=bool)
    entered[path, space] = True
    proximities = _proximities(
        index, px, py, qx, qy, relevant & ~entered & (index.buffer_m[None, :] > 0.0),
        v_lo, v_hi, horizon,
    )
    return IncursionReport(incursions, proximities)


def _proximities(
    index: AirspaceIndex,
    px: np.ndarray,
    py: np.ndarray,
    qx: np.ndarray,
    qy: np.ndarray,
    relevant: np.ndarray,
    v_lo: np.ndarray,
    v_hi: np.ndarray,
    horizon: float,
) -> Proximities:
    """First time each relevant path comes within buffer_m of a boundary segment, in band.

    The buffer zone outside the footprint is the union of capsules (segments dilated by the
    buffer); a path enters a convex capsule over one interval of its parameter, so the first
    time within the buffer is the earliest capsule entry that falls inside the altitude window.
    """
    if not relevant.any():
        return Proximities.empty()
    pad = float(index.buffer_m.max())
    k, block = index.candidates(px, py, qx, qy, pad_m=pad)
    size = _LEVELS[-1]
    seg = (block[:, None] * size + np.arange(size)).ravel()
    k = np.repeat(k, size)
    space = index.segment_airspace[seg]
    use = relevant[k, space] & ~np.isnan(index.ax[seg])  # padding segments are NaN
    k, seg, space = k[use], seg[use], space[use]
    r = index.buffer_m[space]
    ax, ay, bx, by = index.ax[seg], index.ay[seg], index.bx[seg], index.by[seg]
    ox, oy = px[k], py[k]
    dx, dy = qx[k] - ox, qy[k] - oy
    # Capsule = rectangle (along a -> b, +-r across) plus discs of radius r at a and at b.
    lo = np.full(k.size, np.inf)
    hi = np.full(k.size, -np.inf)
    for cx, cy in ((ax, ay), (bx, by)):
        lo_d, hi_d = _line_disc(ox - cx, oy - cy, dx, dy, r)
        lo, hi = _union_hull(lo, hi, lo_d, hi_d)
    ex, ey = bx - ax, by - ay
    length = np.hypot(ex, ey)
    safe = np.where(length > 0.0, length, 1.0)
    ux, uy = ex / safe, ey / safe
    along0 = (ox - ax) * ux + (oy - ay) * uy
    along_v = dx * ux + dy * uy
    across0 = -(ox - ax) * uy + (oy - ay) * ux
    across_v = -dx * uy + dy * ux
    lo_a, hi_a = _slab(along0, along_v, 0.0, length)
    lo_c, hi_c = _slab(across0, across_v, -r, r)
    lo_r, hi_r = np.maximum(lo_a, lo_c), np.minimum(hi_a, hi_c)
    lo, hi = _union_hull(lo, hi, lo_r, hi_r)
    # Clip to the path, then to the altitude window (both in seconds).
    t_lo = np.maximum(np.maximum(lo, 0.0) * horizon, v_lo[k, space])
    t_hi = np.minimum(np.minimum(hi, 1.0) * horizon, v_hi[k, space])
    hit = t_lo <= t_hi
    if not hit.any():
        return Proximities.empty()
    k, space, t_lo = k[hit], space[hit], t_lo[hit]
    dist = _segment_distance(ox[hit], oy[hit], qx[k], qy[k], ax[hit], ay[hit], bx[hit], by[hit])
    key = k.astype(np.int64) * len(index) + space
    order = np.lexsort((t_lo, key))
    key, t_lo, dist = key[order], t_lo[order], dist[order]
    first = np.r_[True, key[1:] != key[:-1]]
    starts = np.flatnonzero(first)
    d_min = np.minimum.reduceat(dist, starts)
    return Proximities(
        i=(key[starts] // len(index)).astype(np.intp),
        airspace=(key[starts] % len(index)).astype(np.intp),
        t_warn=t_lo[starts],
        d_min_m=d_min,
    )


def _line_disc(
    ox: np.ndarray, oy: np.ndarray, dx: np.ndarray, dy: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Parameter interval where |o + s d| <= r (empty: lo = inf, hi = -inf)."""
    a = dx * dx + dy * dy
    b = ox * dx + oy * dy
    c = ox * ox + oy * oy - r * r
    moving = a > 0.0
    safe = np.where(moving, a, 1.0)
    disc = b * b - a * c
    root = np.sqrt(np.maximum(disc, 0.0))
    ok = np.where(moving, disc >= 0.0, c <= 0.0)
    lo = np.where(moving, (-b - root) / safe, -np.inf)
    hi = np.where(moving, (-b + root) / safe, np.inf)
    return np.where(ok, lo, np.inf), np.where(ok, hi, -np.inf)


def _slab(
    start: np.ndarray, rate: np.ndarray, low: ArrayLike, high: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Parameter interval where low <= start + s rate <= high (empty: lo > hi)."""
    moving = rate != 0.0
    safe = np.where(moving, rate, 1.0)
    t1 = (low - start) / safe
    t2 = (high - start) / safe
    inside = (low <= start) & (start <= high)
    lo = np.where(moving, np.minimum(t1, t2), np.where(inside, -np.inf, np.inf))
    hi = np.where(moving, np.maximum(t1, t2), np.where(inside, np.inf, -np.inf))
    return lo, hi


def _union_hull(
    lo1: np.ndarray, hi1: np.ndarray, lo2: np.ndarray, hi2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Hull of two intervals, each possibly empty. The pieces of one capsule overlap (disc and
    rectangle share the end cap's diameter), so the hull of non-empty pieces is their union."""
    e1, e2 = lo1 > hi1, lo2 > hi2
    lo = np.where(e1, lo2, np.where(e2, lo1, np.minimum(lo1, lo2)))
    hi = np.where(e1, hi2, np.where(e2, hi1, np.maximum(hi1, hi2)))
    return lo, hi


def _segment_distance(
    px: np.ndarray, py: np.ndarray, qx: np.ndarray, qy: np.ndarray,
    ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray,
) -> np.ndarray:
    """Distance between segments p-q and a-b that do not cross (min of endpoint distances)."""

    def point_segment(
        x: np.ndarray, y: np.ndarray, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray
    ) -> np.ndarray:
        ex, ey = x1 - x0, y1 - y0
        e2 = ex * ex + ey * ey
        t = np.clip(((x - x0) * ex + (y - y0) * ey) / np.where(e2 > 0.0, e2, 1.0), 0.0, 1.0)
        return np.hypot(x - x0 - t * ex, y - y0 - t * ey)

    return np.minimum.reduce([
        point_segment(px, py, ax, ay, bx, by),
        point_segment(qx, qy, ax, ay, bx, by),
        point_segment(ax, ay, px, py, qx, qy),
        point_segment(bx, by, px, py, qx, qy),
    ])
