"""Aircraft states at one instant: the column contract every engine reads.

Columns (numpy arrays of equal length N):

==========  ======  =====================================================
id          str     track identifier, unique within a party
party       str     owning party, or ``None`` for the whole column when unknown
lat, lon    deg     WGS84 latitude [-90, 90] and longitude [-180, 180]
alt_m       m       altitude (barometric or geometric: one kind per picture)
gs_mps      m/s     ground speed, 0 .. MAX_SPEED_MPS
trk_deg     deg     true track, clockwise from true north
vs_mps      m/s     vertical rate, positive up
==========  ======  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["MAX_SPEED_MPS", "MAX_VERTICAL_RATE_MPS", "States"]

# Anything faster is a corrupt report, not an aircraft (Mach 4.4 at sea level).
MAX_SPEED_MPS = 1500.0
MAX_VERTICAL_RATE_MPS = 1500.0


@dataclass(frozen=True, slots=True)
class States:
    """N aircraft states at one instant; see the module docstring for columns and units."""

    id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    alt_m: np.ndarray
    gs_mps: np.ndarray
    trk_deg: np.ndarray
    vs_mps: np.ndarray
    party: np.ndarray | None = None

    @classmethod
    def from_columns(
        cls,
        id: ArrayLike,
        lat: ArrayLike,
        lon: ArrayLike,
        alt_m: ArrayLike,
        gs_mps: ArrayLike,
        trk_deg: ArrayLike,
        vs_mps: ArrayLike,
        party: ArrayLike | None = None,
    ) -> States:
        """Build from any array-likes; floats become float64, ids and parties str objects."""
        ids = np.asarray(id, dtype=object)
        floats = [
            np.asarray(c, dtype=np.float64).reshape(-1)
            for c in (lat, lon, alt_m, gs_mps, trk_deg, vs_mps)
        ]
        parties = None if party is None else np.asarray(party, dtype=object).reshape(-1)
        n = ids.size
        if any(c.size != n for c in floats) or (parties is not None and parties.size != n):
            raise ValueError("all state columns must have the same length")
        return cls(ids.reshape(-1), *floats, party=parties)

    def __len__(self) -> int:
        return int(self.id.size)

    def take(self, index: ArrayLike) -> States:
        """The states at ``index`` (integer or boolean array), as a new States."""
        idx = np.asarray(index)
        return States(
            self.id[idx],
            self.lat[idx],
            self.lon[idx],
            self.alt_m[idx],
            self.gs_mps[idx],
            self.trk_deg[idx],
            self.vs_mps[idx],
            None if self.party is None else self.party[idx],
        )
