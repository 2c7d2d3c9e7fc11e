"""A track report: one party's statement of where one of its own aircraft was, and when.

The unit every ingest path produces (JSON batches, OpenSky, SBS-1, the states WebSocket) and the
picture consumes. SI units; ``t`` is the time of the position, float seconds of the UTC epoch.
The reporting party is not a field: it comes from the authenticated sender, never the payload.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detente.model.states import MAX_SPEED_MPS, MAX_VERTICAL_RATE_MPS

__all__ = ["REPORT_COLUMNS", "ReportBatch", "TrackReport", "report_problem"]

# The numeric fields of a report, in the order of ReportBatch.values' columns.
REPORT_COLUMNS = ("t", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps")


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


@dataclass(frozen=True, slots=True)
class ReportBatch:
    """Many reports of one sender in columns: ``ids`` and an (n, 7) float64 array ``values``
    whose columns are REPORT_COLUMNS.

    The form a batch takes between the edge that decodes it and the picture: at 10,000 states
    a second, one Python object per report costs more than everything else an ingest does.
    """

    ids: list[str]
    values: np.ndarray
    # True when every trk_deg is known to be in [0, 360) (see ``normalised``).
    trk_normal: bool = False

    def __post_init__(self) -> None:
        if self.values.shape != (len(self.ids), len(REPORT_COLUMNS)):
            raise ValueError(f"values must be ({len(self.ids)}, {len(REPORT_COLUMNS)}), "
                             f"got {self.values.shape}")

    @classmethod
    def from_reports(cls, reports: Sequence[TrackReport]) -> ReportBatch:
        values = np.array([(r.t, r.lat, r.lon, r.alt_m, r.gs_mps, r.trk_deg, r.vs_mps)
                           for r in reports], dtype=np.float64).reshape(-1, len(REPORT_COLUMNS))
        return cls([r.id for r in reports], values)

    def __len__(self) -> int:
        return len(self.ids)

    def normalised(self) -> ReportBatch:
        """The batch with every track in [0, 360): a copy made once, then this batch."""
        if self.trk_normal:
            return self
        values = self.values.copy()
        values[:, REPORT_COLUMNS.index("trk_deg")] %= 360.0
        return ReportBatch(self.ids, values, trk_normal=True)

    def report(self, k: int) -> TrackReport:
        return TrackReport(self.ids[k], *map(float, self.values[k]))

    def first_problem(self) -> tuple[int, str, str] | None:
        """(index, field, problem) of the first unusable report, as ``report_problem`` words
        it, or None when every report is usable."""
        v = self.values
        bad = ~np.isfinite(v).all(axis=1)
        for field, (low, high, _) in _LIMITS.items():
            c = v[:, REPORT_COLUMNS.index(field)]
            bad |= (c < low) | (c > high)
        first = int(np.argmax(bad)) if bad.any() else len(self.ids)
        for k, i in enumerate(self.ids[:first]):
            if not i or len(i) > 64 or not i.strip():
                first = k
                break
        if first == len(self.ids):
            return None
        problem = report_problem(self.report(first))
        assert problem is not None
        return first, *problem
