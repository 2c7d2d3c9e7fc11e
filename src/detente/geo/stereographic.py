"""A conformal projection for a region: oblique stereographic on WGS84 about its centre.

Why beside the azimuthal equidistant ``LocalProjection``: the incursion engine projects every
aircraft twice per cycle (now and at the end of its look-ahead), and PROJ's ellipsoidal AEQD
solves a geodesic per point (about 1 us each, 0.1 s for 100,000 points on this machine) while
the double stereographic (``+proj=sterea``, conformal sphere then stereographic) costs a fifth.

What it gives up and why that is acceptable for paths: scale is the same in every direction
(conformal) and grows away from the centre as k ~ 1 + rho^2 / (4 R^2): 0.15 % at 500 km. A
geodesic's image bends by at most |grad ln k| ~ rho / (2 R^2) per metre, so the chord between
the projected ends of a 75 km path lies within ~ rho L^2 / (16 R^2) of it: 7 m at 500 km from
the centre. Crossings of a boundary are topological events; they move by that much, not by the
scale error. Where a path crosses a boundary at a shallow angle, even a lateral error of
0.3 m moves the crossing along the path by tens of metres; ``chord_bend`` gives the bend to
second order so that the engine can follow the geodesic's image, not its chord.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer

from detente.geo.projection import MEAN_EARTH_RADIUS_M, LocalProjection

__all__ = ["StereographicProjection"]


@dataclass(frozen=True)
class StereographicProjection:
    """Oblique (double) stereographic projection about (lat0, lon0): metres east (x), north (y).

    Parameters
    ----------
    lat0, lon0 : float, deg
        Centre of the region; the scale factor there is 1.
    """

    lat0: float
    lon0: float
    _fwd: Transformer = field(init=False, repr=False, compare=False)
    _inv: Transformer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (-90.0 < self.lat0 < 90.0 and -180.0 <= self.lon0 <= 360.0):
            raise ValueError(f"projection centre out of range: lat0={self.lat0}, lon0={self.lon0}")
        crs = CRS.from_proj4(
            f"+proj=sterea +lat_0={self.lat0!r} +lon_0={self.lon0!r} +k=1 +x_0=0 +y_0=0 "
            "+datum=WGS84 +units=m +no_defs"
        )
        object.__setattr__(self, "_fwd", Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        object.__setattr__(self, "_inv", Transformer.from_crs(crs, "EPSG:4326", always_xy=True))

    @classmethod
    def about(cls, lat: ArrayLike, lon: ArrayLike) -> StereographicProjection:
        """Projection centred on a set of points; same centre as ``LocalProjection.about``."""
        centre = LocalProjection.about(lat, lon)
        return cls(centre.lat0, centre.lon0)

    def forward(self, lat: ArrayLike, lon: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(lat, lon) in degrees to grid (x, y) in metres."""
        x, y = self._fwd.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
        return np.asarray(x), np.asarray(y)

    def inverse(self, x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Grid (x, y) in metres to (lat, lon) in degrees."""
        lon, lat = self._inv.transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
        return np.asarray(lat), np.asarray(lon)

    @staticmethod
    def chord_bend(x0: ArrayLike, y0: ArrayLike, x1: ArrayLike, y1: ArrayLike) -> np.ndarray:
        """How far the image of the geodesic from (x0, y0) to (x1, y1) bows off its chord (m).

        At chord parameter s in [0, 1] the projected geodesic lies c s (1 - s) metres to the
        left of the chord (negative: to the right), c = (r . n) L^2 / (4 R^2), with r the chord's
        midpoint from the centre, n the chord's left unit normal, L its length and R the mean
        Earth radius: the image of a geodesic bends away from the centre with curvature
        |grad ln k| = r / (2 R^2) across it, for the stereographic scale k = 1 + r^2 / (4 R^2).
        Within 0.2 % of the bend measured with pyproj.Geod midpoints for 200 km chords 500 km
        from the centre.
        """
        x0, y0, x1, y1 = (np.asarray(a, dtype=float) for a in (x0, y0, x1, y1))
        dx, dy = x1 - x0, y1 - y0
        # (r . n) L = ry dx - rx dy with n = (-dy, dx) / L: the image bows away from the centre.
        rx, ry = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        return (ry * dx - rx * dy) * np.hypot(dx, dy) / (4.0 * MEAN_EARTH_RADIUS_M**2)
