"""The oracle: the conflict definition of DESIGN.md, pair by pair, in plain Python.

Written from the definition, not from the engine: for every unordered pair, the set of times at
which the horizontal distance is below R (roots of the quadratic by the textbook formula), the
set at which the vertical distance is below V (a linear inequality), their intersection with
[0, T]. Loops, floats, the math module; no numpy, no pruning.
"""

from __future__ import annotations

import math

INF = float("inf")


def _below(c0: float, c1: float, c2: float) -> tuple[float, float] | None:
    """Open interval where c2 t^2 + c1 t + c0 < 0 (c2 >= 0), or None when empty."""
    if c2 == 0.0:
        if c1 == 0.0:
            return (-INF, INF) if c0 < 0.0 else None
        root = -c0 / c1
        return (-INF, root) if c1 > 0 else (root, INF)
    disc = c1 * c1 - 4.0 * c2 * c0
    if disc <= 0.0:
        return None
    s = math.sqrt(disc)
    return ((-c1 - s) / (2.0 * c2), (-c1 + s) / (2.0 * c2))


def reference_conflicts(x, y, z, vx, vy, vz, group, R, V, T):
    """{(i, j): (t_in, t_out, t_cpa, d_cpa, dv_cpa)} for i < j in conflict."""
    n = len(x)
    out = {}
    for i in range(n):
        for j in range(i + 1, n):
            if group is not None and group[i] == group[j]:
                continue
            px, py = x[j] - x[i], y[j] - y[i]
            ux, uy = vx[j] - vx[i], vy[j] - vy[i]
            pz, uz = z[j] - z[i], vz[j] - vz[i]
            # |p + u t|^2 - R^2 < 0
            h = _below(px * px + py * py - R * R, 2 * (px * ux + py * uy), ux * ux + uy * uy)
            # (pz + uz t)^2 - V^2 < 0
            v = _below(pz * pz - V * V, 2 * pz * uz, uz * uz)
            if h is None or v is None:
                continue
            lo = max(h[0], v[0], 0.0)
            hi = min(h[1], v[1], T)
            if not lo < hi and not (lo == hi == 0.0 and h[0] < 0 < h[1] and v[0] < 0 < v[1]):
                continue
            w2 = ux * ux + uy * uy
            tc = -(px * ux + py * uy) / w2 if w2 > 0 else 0.0
            tc = min(max(tc, 0.0), T)
            out[(i, j)] = (
                lo,
                hi,
                tc,
                math.hypot(px + ux * tc, py + uy * tc),
                abs(pz + uz * tc),
            )
    return out
