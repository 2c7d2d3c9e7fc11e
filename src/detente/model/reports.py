"""A track report: one party's statement of where one of its own aircraft was, and when.

The unit every ingest path produces (JSON batches, OpenSky, SBS-1, the states WebSocket) and the
picture consumes. SI units; ``t`` is the time of the position, float seconds of the UTC epoch.
The reporting party is not a field: it comes from the authenticated sender, never the payload.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from detente.model.states import MAX_SPEED_MPS, MAX_VERTICAL_RATE_MPS

__all__ = ["TrackReport", "report_problem"]


@dataclass(frozen=True, slots=True)
class TrackReport:
    """One aircraft's state at time ``t``.

    Attributes: id (str, the party's own track id), t (s, UTC epoch), lat, lon (deg WGS84),
    alt_m (m), gs_mps (m/s), trk_deg (deg true, [0, 360)), vs_mps (m/s, positive up).
    """

    id: str
    t: float
    lat: float
    lon: float
    alt_m: float
    gs_mps: float
    trk_deg: float
    vs_mps: float


_LIMITS = {
    "lat": (-90.0, 90.0, "deg"),
    "lon": (-180.0, 180.0, "deg"),
    "alt_m": (-1_000.0, 100_000.0, "m"),
    "gs_mps": (0.0, MAX_SPEED_MPS, "m/s"),
    "trk_deg": (-360.0, 360.0, "deg"),
    "vs_mps": (-MAX_VERTICAL_RATE_MPS, MAX_VERTICAL_RATE_MPS, "m/s"),
}


def report_problem(r: TrackReport) -> tuple[str, str] | None:
    """(field, problem) for the first invalid field of ``r``, or None when it is usable.

    Every edge runs this, so a NaN or an impossible speed is refused the same way everywhere.
    """
    if not r.id or not r.id.strip():
        return "id", "empty id"
    if len(r.id) > 64:
        return "id", "longer than 64 characters"
    if not math.isfinite(r.t):
        return "t", "not a finite number"
    for field, (low, high, unit) in _LIMITS.items():
        value = getattr(r, field)
        if not math.isfinite(value):
            return field, "not a finite number"
        if not low <= value <= high:
            return field, f"{value:g} {unit} is outside [{low:g}, {high:g}] {unit}"
    return None
