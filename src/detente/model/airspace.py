"""Protected airspace: a footprint with a floor and a ceiling that one party protects.

==========  ===================  ==============================================================
field       unit / type          meaning
==========  ===================  ==============================================================
name        str                  how people call it ("Turkey", "TRA 12"); unique in a picture
owner       str                  the party that protects it; its own aircraft are entitled
kind        AirspaceKind         national territory, restricted area, temporary reservation
geometry    Polygon/MultiPolygon lon (x), lat (y) in degrees WGS84; holes allowed; valid
floor_m     m                    lowest protected altitude; -inf: from the surface down
ceiling_m   m                    highest protected altitude; +inf: unlimited
buffer_m    m                    warn within this horizontal distance of the boundary (0: none)
==========  ===================  ==============================================================

Altitudes are of the same kind as the aircraft altitudes they are compared with (the picture
decides barometric or geometric). The geometry must be valid (OGC): repairing a self-touching
ring silently would change what is protected, so that is a data-preparation step, never done
here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import shapely
from shapely.geometry import MultiPolygon, Polygon

from detente.errors import GeometryError

__all__ = ["Airspace", "AirspaceKind"]


class AirspaceKind(StrEnum):
    """What an airspace is; the value is the spelling used in files."""

    NATIONAL_TERRITORY = "national_territory"
    RESTRICTED_AREA = "restricted_area"
    TEMPORARY_RESERVATION = "temporary_reservation"

    @classmethod
    def parse(cls, text: str) -> AirspaceKind:
        """The kind spelled ``text``; a ValueError lists the valid spellings."""
        try:
            return cls(text)
        except ValueError:
            valid = ", ".join(k.value for k in cls)
            raise ValueError(f"unknown airspace kind {text!r}; valid kinds: {valid}") from None


@dataclass(frozen=True, slots=True)
class Airspace:
    """One protected airspace; see the module docstring for fields and units.

    Raises GeometryError at construction when the airspace is not usable: wrong geometry type,
    invalid or empty geometry, coordinates off the globe, floor >= ceiling, negative buffer,
    empty owner or name.
    """

    name: str
    owner: str
    kind: AirspaceKind
    geometry: Polygon | MultiPolygon
    floor_m: float = -math.inf
    ceiling_m: float = math.inf
    buffer_m: float = 0.0

    def __post_init__(self) -> None:
        label = f"airspace {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise GeometryError("airspace name must be a non-empty string")
        if not isinstance(self.owner, str) or not self.owner.strip():
            raise GeometryError(f"{label}: owner must be a non-empty party name")
        if not isinstance(self.kind, AirspaceKind):
            raise GeometryError(f"{label}: kind must be an AirspaceKind, got {self.kind!r}")
        if not isinstance(self.geometry, Polygon | MultiPolygon):
            got = getattr(self.geometry, "geom_type", type(self.geometry).__name__)
            raise GeometryError(f"{label}: geometry must be a Polygon or MultiPolygon, got {got}")
        if self.geometry.is_empty:
            raise GeometryError(f"{label}: geometry is empty")
        if not shapely.is_valid(self.geometry):
            reason = shapely.is_valid_reason(self.geometry)
            raise GeometryError(f"{label}: invalid geometry: {reason}")
        lon0, lat0, lon1, lat1 = self.geometry.bounds
        if not (-180.0 <= lon0 and lon1 <= 180.0 and -90.0 <= lat0 and lat1 <= 90.0):
            raise GeometryError(
                f"{label}: coordinates must be lon in [-180, 180], lat in [-90, 90] degrees; "
                f"bounds are {self.geometry.bounds}"
            )
        if math.isnan(self.floor_m) or math.isnan(self.ceiling_m):
            raise GeometryError(f"{label}: floor and ceiling must be numbers, not NaN")
        if not self.floor_m < self.ceiling_m:
            raise GeometryError(
                f"{label}: floor {self.floor_m:g} m must be below ceiling {self.ceiling_m:g} m"
            )
        if not (math.isfinite(self.buffer_m) and self.buffer_m >= 0.0):
            raise GeometryError(
                f"{label}: buffer must be a finite distance >= 0 m, got {self.buffer_m}"
            )
