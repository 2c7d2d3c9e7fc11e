"""How an operational intent is kept in its row: the volumes as JSON, and as the grid holds them.

- ``volumes`` (JSON): the intent's volumes as given (degrees, metres, seconds), the source of
  truth; Python floats round-trip exactly through their repr.
- ``grid`` (float64 blob): the volumes as an index in the grid named by ``grid_key`` holds them
  (envelopes and densified rings), so that a start reads 100,000 intents back without
  projecting them again. Per intent: the volume count, then per volume lat, lon, radius_m,
  xmin, ymin, xmax, ymax, alt_lo, alt_hi, t_lo, t_hi and the number of grid coordinates that
  follow the headers (1 for a circle's centre, the open densified ring for a polygon), then
  the coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from detente.engines.strategic import DENSIFY_TOLERANCE_M, Volumes
from detente.geo.projection import LocalProjection
from detente.model.intent import (
    Circle,
    IntentState,
    OperationalIntent,
    Polygon,
    Volume4D,
    unchecked,
)

__all__ = [
    "HEADER",
    "decode_grids",
    "decode_volumes",
    "encode_grids",
    "encode_volumes",
    "grid_centre",
    "grid_key",
    "grid_volumes",
    "read_intent",
]

HEADER = ("lat", "lon", "radius_m", "xmin", "ymin", "xmax", "ymax",
          "alt_lo", "alt_hi", "t_lo", "t_hi")
_WIDTH = len(HEADER) + 1


def ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c - 1 for each c in ``counts``, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def encode_volumes(volumes: Sequence[Volume4D]) -> str:
    """Volumes as compact JSON."""
    out: list[list[object]] = []
    for v in volumes:
        fp = v.footprint
        shape = (
            {"circle": [fp.lat, fp.lon, fp.radius_m]}
            if isinstance(fp, Circle)
            else {"polygon": [list(fp.lat), list(fp.lon)]}
        )
        out.append([shape, v.altitude_lower_m, v.altitude_upper_m, v.time_start_s, v.time_end_s])
    return json.dumps(out, separators=(",", ":"))


def decode_volumes(text: str) -> tuple[Volume4D, ...]:
    """Inverse of encode_volumes, without validating again what was validated on write."""
    volumes = []
    for shape, lo, hi, t0, t1 in json.loads(text):
        if "circle" in shape:
            lat, lon, r = shape["circle"]
            fp: Polygon | Circle = unchecked(Circle, lat=lat, lon=lon, radius_m=r)
        else:
            lat, lon = shape["polygon"]
            fp = unchecked(Polygon, lat=tuple(lat), lon=tuple(lon))
        volumes.append(
            unchecked(Volume4D, footprint=fp, altitude_lower_m=lo, altitude_upper_m=hi,
                      time_start_s=t0, time_end_s=t1)
        )
    return tuple(volumes)


def read_intent(row: Sequence[Any]) -> OperationalIntent:
    """An intent from its columns (id, owner, state, priority, version, volumes JSON)."""
    ident, owner, state, priority, version, volumes = row
    return unchecked(
        OperationalIntent, id=ident, owner=owner, state=IntentState(state), priority=priority,
        volumes=decode_volumes(volumes), version=version,
    )


def grid_key(projection: LocalProjection) -> str:
    """Names the grid (and densification) that a row's ``grid`` blob was computed in."""
    return f"aeqd:{projection.lat0!r}:{projection.lon0!r}:{DENSIFY_TOLERANCE_M!r}"


def grid_centre(key: str | None) -> tuple[float, float] | None:
    """The (lat, lon) centre of the grid a ``grid_key`` names (None if it names none)."""
    parts = (key or "").split(":")
    try:
        return (float(parts[1]), float(parts[2])) if parts[0] == "aeqd" else None
    except (IndexError, ValueError):
        return None


def encode_grids(vols: Volumes, per_intent: np.ndarray) -> list[bytes]:
    """The ``grid`` blob of each intent: ``per_intent`` holds how many rows of ``vols`` (in
    order) are each intent's."""
    if per_intent.size == 1:  # a write: the general path's index arithmetic costs more
        head = np.empty((len(vols), _WIDTH))
        for k, f in enumerate(HEADER):
            head[:, k] = getattr(vols, f)
        coords = [shapely.get_coordinates(g) for g in vols.geometry.tolist()]
        coords = [xy[:-1] if xy.shape[0] > 1 else xy for xy in coords]  # rings stored open
        head[:, -1] = [xy.shape[0] for xy in coords]
        parts = [np.array([float(len(vols))]), head.reshape(-1), *(xy.reshape(-1) for xy in coords)]
        return [np.concatenate(parts).tobytes()]
    xy, of = shapely.get_coordinates(vols.geometry, return_index=True)
    npts = np.bincount(of, minlength=len(vols))
    ring = npts > 1
    keep = np.ones(of.size, dtype=bool)
    keep[(np.cumsum(npts) - 1)[ring]] = False  # rings are stored open
    xy = xy[keep].reshape(-1)
    npts = npts - ring
    head = np.column_stack([getattr(vols, f) for f in HEADER] + [npts.astype(float)])
    n_int = per_intent.size
    first_vol = np.cumsum(per_intent) - per_intent
    # Coordinates per intent (the sum of its volumes' counts), as float64 values.
    coords = np.add.reduceat(npts, first_vol) * 2 if n_int else np.zeros(0, np.intp)
    length = 1 + per_intent * _WIDTH + coords
    start = np.cumsum(length) - length
    out = np.empty(int(length.sum()))
    out[start] = per_intent
    vol_of = np.repeat(np.arange(n_int), per_intent)
    head_at = start[vol_of] + 1 + ramp(per_intent) * _WIDTH
    out[head_at[:, None] + np.arange(_WIDTH)] = head
    out[np.repeat(start + 1 + per_intent * _WIDTH, coords) + ramp(coords)] = xy
    buf = out.tobytes()
    return [buf[8 * a : 8 * (a + n)] for a, n in zip(start.tolist(), length.tolist(),
                                                       strict=True)]


def decode_grids(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Headers (n x 12), grid coordinates (m x 2) and volume counts of many blobs."""
    length = np.fromiter(map(len, blobs), dtype=np.intp, count=len(blobs)) // 8
    big = np.frombuffer(b"".join(blobs), dtype=np.float64)
    start = np.cumsum(length) - length
    counts = big[start].astype(np.intp)
    head_len = counts * _WIDTH
    head = big[np.repeat(start + 1, head_len) + ramp(head_len)].reshape(-1, _WIDTH)
    coord_len = length - 1 - head_len
    xy = big[np.repeat(start + 1 + head_len, coord_len) + ramp(coord_len)].reshape(-1, 2)
    return head, xy, counts


def grid_volumes(blobs: Sequence[bytes], groups: np.ndarray) -> Volumes:
    """The ``Volumes`` of many intents' blobs in one vectorised pass: ``intent`` is each row's
    intent position in ``blobs``, ``group`` that intent's entry of ``groups``."""
    head, xy, counts = decode_grids(blobs)
    n = head.shape[0]
    ncoord = head[:, -1].astype(np.intp)
    start = np.cumsum(ncoord) - ncoord
    circle = ~np.isnan(head[:, 2])
    geometry = np.empty(n, dtype=object)
    geometry[circle] = shapely.points(xy[start[circle]])
    poly = np.flatnonzero(~circle)
    if poly.size:
        take = np.repeat(start[poly], ncoord[poly]) + ramp(ncoord[poly])
        ring = np.repeat(np.arange(poly.size), ncoord[poly])
        geometry[poly] = shapely.polygons(shapely.linearrings(xy[take], indices=ring))
    cols = dict(zip(HEADER, head.T, strict=False))
    return Volumes(
        intent=np.repeat(np.arange(len(blobs)), counts), volume=ramp(counts),
        group=np.repeat(np.asarray(groups, dtype=np.intp), counts), geometry=geometry,
        **{f: np.ascontiguousarray(cols[f]) for f in HEADER},
    )
