"""Operational intents as ASTM F3548-21 models them: 4-D volumes, a state, a priority, a version.

An intent is one party's planned flight. Its volumes are the union of 4-D boxes it may occupy:

==================  =====  ===============================================================
footprint           deg    ``Polygon`` (vertices, edges are geodesics) or ``Circle`` (centre
                           and radius in metres on the ground: geodesic distance <= radius)
altitude_lower_m    m      lower bound of the altitude band (one datum per deployment)
altitude_upper_m    m      upper bound, >= lower (equal: a flat band, still a volume)
time_start_s        s      float UTC epoch (ISO 8601 only at the JSON edge)
time_end_s          s      > time_start_s
==================  =====  ===============================================================

Every interval is closed: a volume includes its bounds.

Polygon edges are the shortest paths (geodesics) between consecutive vertices, as F3548's
``Polygon`` defines them; the ring is given open (the first vertex is not repeated) and its
orientation is free. A polygon that crosses itself, has no area, encloses a pole or has an
edge longer than ``MAX_SPAN_M`` is refused. Self-intersection is judged in an equirectangular
frame about the polygon (longitudes unwrapped across the antimeridian), which agrees with the
geodesic edges for any polygon whose edges do not pass within metres of each other.

Constructors validate and raise ``GeometryError`` (geometry) or ``InputError`` (anything else);
the message says what is wrong with which vertex, so that an edge can prefix where it was read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypeVar

import numpy as np
import shapely

from detente.errors import GeometryError, InputError
from detente.geo.geodesic import geodesic_distance

__all__ = [
    "ALTITUDE_RANGE_M",
    "MAX_SPAN_M",
    "MAX_VERTICES",
    "NOMINAL_STATES",
    "Circle",
    "Footprint",
    "IntentState",
    "OperationalIntent",
    "Polygon",
    "Volume4D",
    "unchecked",
]

# F3548-21 OiMaxVertices: vertices over all volumes of one intent, a circle counting as one.
MAX_VERTICES = 10_000

# Longest polygon edge and largest circle radius. Beyond a few thousand km the "shortest path"
# between two vertices stops being unique (antipodes) and no operation plans on that scale.
MAX_SPAN_M = 1_000_000.0

# Loose bounds: below the Dead Sea shore is a typo, above 100 km is not airspace.
ALTITUDE_RANGE_M = (-1_000.0, 100_000.0)


class IntentState(StrEnum):
    """F3548-21 operational intent states, plus ``Ended`` (the intent is withdrawn or flown)."""

    ACCEPTED = "Accepted"
    ACTIVATED = "Activated"
    NONCONFORMING = "Nonconforming"
    CONTINGENT = "Contingent"
    ENDED = "Ended"


# The states in which an intent must be strategically deconflicted (F3548-21 SCD0035, the DSS
# key check); off-nominal intents are reported as they are, without asking anybody.
NOMINAL_STATES = frozenset({IntentState.ACCEPTED, IntentState.ACTIVATED})


def _finite(value: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{what} must be a finite number, got {value}")
    return float(value)


def _check_lat_lon(lat: float, lon: float, where: str) -> None:
    if not -90.0 <= lat <= 90.0:
        raise GeometryError(f"{where}: latitude {lat:g} deg is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise GeometryError(f"{where}: longitude {lon:g} deg is outside [-180, 180]")


@dataclass(frozen=True, slots=True)
class Circle:
    """A circle on the ground: every point within ``radius_m`` (geodesic, m) of (lat, lon) (deg)."""

    lat: float
    lon: float
    radius_m: float

    def __post_init__(self) -> None:
        lat = _finite(self.lat, "circle centre latitude")
        lon = _finite(self.lon, "circle centre longitude")
        radius = _finite(self.radius_m, "circle radius")
        _check_lat_lon(lat, lon, "circle centre")
        if not 0.0 < radius <= MAX_SPAN_M:
            raise GeometryError(
                f"circle radius {radius:g} m is outside (0, {MAX_SPAN_M:g}] m"
            )
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)
        object.__setattr__(self, "radius_m", radius)

    @property
    def vertex_count(self) -> int:
        """1: F3548 counts a circle as one vertex towards ``MAX_VERTICES``."""
        return 1


@dataclass(frozen=True, slots=True)
class Polygon:
    """A simple polygon on the ground: vertices in degrees, edges along geodesics.

    ``lat`` and ``lon`` are the open ring (at least 3 vertices). A closed ring (last vertex
    equal to the first, as GeoJSON writes it) is accepted and stored open.
    """

    lat: tuple[float, ...]
    lon: tuple[float, ...]

    def __post_init__(self) -> None:
        lat = tuple(_finite(v, f"vertex {k} latitude") for k, v in enumerate(self.lat))
        lon = tuple(_finite(v, f"vertex {k} longitude") for k, v in enumerate(self.lon))
        if len(lat) != len(lon):
            raise InputError(f"{len(lat)} latitudes but {len(lon)} longitudes")
        if len(lat) > 3 and lat[0] == lat[-1] and lon[0] == lon[-1]:
            lat, lon = lat[:-1], lon[:-1]
        if len(lat) > MAX_VERTICES:
            raise GeometryError(f"{len(lat)} vertices, more than the {MAX_VERTICES} allowed")
        if len(lat) < 3:
            raise GeometryError(f"a polygon needs at least 3 vertices, got {len(lat)}")
        for k, (a, b) in enumerate(zip(lat, lon, strict=True)):
            _check_lat_lon(a, b, f"vertex {k}")
        _check_simple(np.array(lat), np.array(lon))
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)

    @classmethod
    def from_lonlat(cls, vertices: Iterable[Sequence[float]]) -> Polygon:
        """A Polygon from (lon, lat) pairs in degrees, the GeoJSON order."""
        pairs = [tuple(p) for p in vertices]
        return cls(tuple(p[1] for p in pairs), tuple(p[0] for p in pairs))

    @property
    def vertex_count(self) -> int:
        return len(self.lat)


def _check_simple(lat: np.ndarray, lon: np.ndarray) -> None:
    """Refuse rings with overlong edges, around a pole, self-crossing or without area."""
    lat2, lon2 = np.roll(lat, -1), np.roll(lon, -1)
    length = geodesic_distance(lat, lon, lat2, lon2)
    too_long = np.flatnonzero(length > MAX_SPAN_M)
    if too_long.size:
        k = int(too_long[0])
        raise GeometryError(
            f"edge from vertex {k} to vertex {(k + 1) % lat.size} spans "
            f"{length[k] / 1000:.0f} km, more than the {MAX_SPAN_M / 1000:.0f} km allowed"
        )
    # Unwrap longitudes along the ring: each step is taken the short way round, so a polygon
    # across the antimeridian stays in one piece; a ring whose steps add up to +-360 deg
    # winds around a pole, which no local frame can hold.
    step = (np.diff(np.append(lon, lon[0])) + 180.0) % 360.0 - 180.0
    if abs(step.sum()) > 180.0:
        raise GeometryError("the polygon encloses a pole")
    unwrapped = lon[0] + np.concatenate(([0.0], np.cumsum(step[:-1])))
    x = (unwrapped - unwrapped.mean()) * math.cos(math.radians(float(lat.mean())))
    ring = shapely.Polygon(np.column_stack((x, lat)))
    if shapely.convex_hull(ring).area == 0.0:
        raise GeometryError("the polygon has no area (all vertices on one line)")
    if not shapely.is_valid(ring):
        reason = shapely.is_valid_reason(ring)
        raise GeometryError(f"the polygon is not simple ({_frame_reason(reason, x, lat)})")


def _frame_reason(reason: str, x: np.ndarray, lat: np.ndarray) -> str:
    """GEOS names the bad point in the validation frame; name the nearest vertex instead."""
    text = reason.split("[", 1)[0].strip().lower()
    try:
        px, py = (float(v) for v in reason.split("[", 1)[1].rstrip("]").split()[:2])
    except (IndexError, ValueError):
        return text
    k = int(np.argmin(np.hypot(x - px, lat - py)))
    return f"{text} near vertex {k}"


Footprint = Polygon | Circle

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Volume4D:
    """A footprint, a closed altitude band (m) and a closed time window (s, UTC epoch)."""

    footprint: Footprint
    altitude_lower_m: float
    altitude_upper_m: float
    time_start_s: float
    time_end_s: float

    def __post_init__(self) -> None:
        if not isinstance(self.footprint, Polygon | Circle):
            raise InputError(f"footprint must be a Polygon or a Circle, got {self.footprint!r}")
        lower = _finite(self.altitude_lower_m, "altitude_lower_m")
        upper = _finite(self.altitude_upper_m, "altitude_upper_m")
        start = _finite(self.time_start_s, "time_start")
        end = _finite(self.time_end_s, "time_end")
        low, high = ALTITUDE_RANGE_M
        for name, value in (("altitude_lower_m", lower), ("altitude_upper_m", upper)):
            if not low <= value <= high:
                raise InputError(f"{name} {value:g} m is outside [{low:g}, {high:g}] m")
        if lower > upper:
            raise InputError(f"altitude_lower_m {lower:g} m is above altitude_upper_m {upper:g} m")
        if start >= end:
            raise InputError(f"time_start {start!r} s is not before time_end {end!r} s")
        object.__setattr__(self, "altitude_lower_m", lower)
        object.__setattr__(self, "altitude_upper_m", upper)
        object.__setattr__(self, "time_start_s", start)
        object.__setattr__(self, "time_end_s", end)


@dataclass(frozen=True, slots=True)
class OperationalIntent:
    """One party's planned flight (F3548-21 ``OperationalIntent``, reference and details).

    Attributes
    ----------
    id : str
        Unique across parties.
    owner : str
        The party that manages the intent.
    state : IntentState
    priority : int
        Higher is more important (F3548: a higher priority may overlap a lower one).
    volumes : tuple of Volume4D
        At least one; the intent occupies their union.
    version : str or None
        Opaque; the store gives a new one on every change. None until first stored. Another
        party shows it back as its "key" to prove it has seen this state of the intent.
    """

    id: str
    owner: str
    state: IntentState
    priority: int
    volumes: tuple[Volume4D, ...]
    version: str | None = None

    def __post_init__(self) -> None:
        for name in ("id", "owner"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InputError(f"{name} must be a non-empty string, got {value!r}")
        try:
            object.__setattr__(self, "state", IntentState(self.state))
        except ValueError:
            valid = ", ".join(s.value for s in IntentState)
            raise InputError(f"state {self.state!r} is not one of {valid}") from None
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise InputError(f"priority must be an integer, got {self.priority!r}")
        volumes = tuple(self.volumes)
        if not volumes:
            raise InputError("an operational intent needs at least one volume")
        for k, v in enumerate(volumes):
            if not isinstance(v, Volume4D):
                raise InputError(f"volume {k} is not a Volume4D: {v!r}")
        vertices = sum(v.footprint.vertex_count for v in volumes)
        if vertices > MAX_VERTICES:
            raise GeometryError(
                f"{vertices} vertices over all volumes, more than the {MAX_VERTICES} allowed"
            )
        if self.version is not None and not isinstance(self.version, str):
            raise InputError(f"version must be a string, got {self.version!r}")
        object.__setattr__(self, "volumes", volumes)

    @property
    def time_start_s(self) -> float:
        """Start of the earliest volume (s, UTC epoch)."""
        return min(v.time_start_s for v in self.volumes)

    @property
    def time_end_s(self) -> float:
        """End of the latest volume (s, UTC epoch)."""
        return max(v.time_end_s for v in self.volumes)

    def is_live(self, now_s: float) -> bool:
        """Not Ended and some volume not yet over at ``now_s`` (closed: live at its end time)."""
        return self.state is not IntentState.ENDED and self.time_end_s >= now_s

    def with_version(self, version: str) -> OperationalIntent:
        return replace(self, version=version)


def unchecked(cls: type[_T], **fields: object) -> _T:
    """An instance of one of this module's classes built WITHOUT validation.

    Only for data that this package validated when it was first written (the store re-reading
    its own rows at start, where validating 100,000 polygons again would take seconds). Never
    for anything that came from outside.
    """
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, value)
    return obj
