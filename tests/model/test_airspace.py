"""Airspace refuses unusable values at construction, naming the airspace."""

from __future__ import annotations

import math

import pytest
import shapely

from detente.errors import GeometryError
from detente.model.airspace import Airspace, AirspaceKind

BOX = shapely.box(36.0, 35.0, 36.1, 35.1)


def test_a_valid_airspace_defaults_to_unbounded_altitudes_and_no_buffer():
    a = Airspace("A", "TUR", AirspaceKind.RESTRICTED_AREA, BOX)
    assert (a.floor_m, a.ceiling_m, a.buffer_m) == (-math.inf, math.inf, 0.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"floor_m": 5000.0, "ceiling_m": 5000.0}, "floor 5000 m must be below ceiling 5000 m"),
        ({"floor_m": 6000.0, "ceiling_m": 1000.0}, "must be below ceiling"),
        ({"floor_m": math.nan}, "not NaN"),
        ({"owner": " "}, "owner must be a non-empty party name"),
        ({"buffer_m": -1.0}, "buffer must be a finite distance >= 0 m"),
        ({"geometry": shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)])},
         "invalid geometry: Self-intersection"),
        ({"geometry": shapely.LineString([(0, 0), (1, 1)])}, "must be a Polygon or MultiPolygon"),
        ({"geometry": shapely.box(179.0, 0.0, 181.0, 1.0)}, "coordinates must be lon in"),
        ({"kind": "restricted"}, "kind must be an AirspaceKind"),
    ],
)
def test_unusable_airspaces_are_refused_with_a_reason(changes, message):
    fields = {"name": "TRA 12", "owner": "TUR", "kind": AirspaceKind.RESTRICTED_AREA,
              "geometry": BOX}
    fields.update(changes)
    with pytest.raises(GeometryError, match=message) as info:
        Airspace(**fields)
    if changes.get("owner") is None and "geometry" in changes:
        assert "TRA 12" in str(info.value)


def test_kind_parse_lists_the_valid_spellings():
    assert AirspaceKind.parse("national_territory") is AirspaceKind.NATIONAL_TERRITORY
    with pytest.raises(ValueError, match="national_territory, restricted_area, temporary_rese"):
        AirspaceKind.parse("no_fly_zone")
