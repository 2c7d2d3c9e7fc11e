"""The airspace GeoJSON reader: the happy path, then one mutation per way a file can be wrong.

Every error must name the file and the feature (index and name) so that the owner of the data
can find it; nothing is repaired.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import math
from pathlib import Path

import pytest
import shapely

from detente.errors import GeometryError, InputError
from detente.formats.airspace_geojson import read_airspace_geojson, read_airspace_geojson_text
from detente.model.airspace import AirspaceKind

# The published OSM borders, unchanged (tests/data/samples/README.md).
PUBLISHED_OSM = Path(__file__).parents[1] / "data" / "samples" / "turkey_syria_osm_10m.geojson.gz"

SQUARE = [[36.0, 35.0], [36.1, 35.0], [36.1, 35.1], [36.0, 35.1], [36.0, 35.0]]
HOLE = [[36.04, 35.04], [36.04, 35.06], [36.06, 35.06], [36.06, 35.04], [36.04, 35.04]]


def feature(**props: object) -> dict:
    base = {"name": "TRA 12", "owner": "TUR", "kind": "restricted_area",
            "floor_m": 1000, "ceiling_m": 6000, "buffer_m": 2000}
    base.update(props)
    return {"type": "Feature", "properties": base,
            "geometry": {"type": "Polygon", "coordinates": copy.deepcopy([SQUARE, HOLE])}}


def collection(*features: dict) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def test_reads_polygon_with_hole_and_multipolygon_with_units_kept():
    multi = feature(name="Two", owner="SYR", kind="temporary_reservation",
                    floor_m=None, ceiling_m=None)
    del multi["properties"]["buffer_m"]
    shifted = [[x + 1.0, y] for x, y in SQUARE]
    multi["geometry"] = {"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]}
    a, b = read_airspace_geojson(io.StringIO(collection(feature(), multi)), "test.geojson")
    assert (a.name, a.owner, a.kind) == ("TRA 12", "TUR", AirspaceKind.RESTRICTED_AREA)
    assert (a.floor_m, a.ceiling_m, a.buffer_m) == (1000.0, 6000.0, 2000.0)
    # Hand-worked area in square degrees: 0.1 x 0.1 minus the 0.02 x 0.02 hole.
    assert a.geometry.area == pytest.approx(0.01 - 0.0004)
    assert b.kind is AirspaceKind.TEMPORARY_RESERVATION
    assert (b.floor_m, b.ceiling_m, b.buffer_m) == (-math.inf, math.inf, 0.0)
    assert len(b.geometry.geoms) == 2


def test_a_single_feature_is_a_collection_of_one():
    (a,) = read_airspace_geojson_text(json.dumps(feature()), "one.geojson")
    assert a.name == "TRA 12"


def mutate(path: str, value: object) -> dict:
    f = feature()
    target = f
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if value is DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return f


DELETE = object()
BOWTIE = [[36.0, 35.0], [36.1, 35.1], [36.1, 35.0], [36.0, 35.1], [36.0, 35.0]]

CASES = [
    # (description, feature mutation, error type, message fragment)
    ("unclosed ring", ("geometry.coordinates.0", [*SQUARE[:-1], [36.0, 35.05]]),
     GeometryError, "polygon, ring 0: ring is not closed"),
    ("self-intersecting ring", ("geometry.coordinates", [BOWTIE]),
     GeometryError, "invalid Polygon (a ring intersects itself or another ring"),
    ("hole outside the shell", ("geometry.coordinates.1", [[x + 1, y] for x, y in HOLE]),
     GeometryError, "invalid Polygon (Hole lies outside shell"),
    ("floor >= ceiling", ("properties.floor_m", 6000), GeometryError,
     "floor_m 6000 must be below ceiling_m 6000"),
    ("missing owner", ("properties.owner", DELETE), InputError, "missing owner"),
    ("empty owner", ("properties.owner", ""), InputError, "missing owner"),
    ("missing kind", ("properties.kind", DELETE), InputError, "missing kind"),
    ("unknown kind", ("properties.kind", "no_fly"), InputError,
     "unknown airspace kind 'no_fly'; valid kinds: national_territory"),
    ("missing ceiling", ("properties.ceiling_m", DELETE), InputError,
     "missing ceiling_m (metres, or null for unbounded)"),
    ("ceiling in text", ("properties.ceiling_m", "FL200"), InputError,
     "ceiling_m must be a number of metres or null, got 'FL200'"),
    ("negative buffer", ("properties.buffer_m", -5), InputError, "buffer_m must be a number >= 0"),
    ("point geometry", ("geometry", {"type": "Point", "coordinates": [36, 35]}), GeometryError,
     "geometry must be Polygon or MultiPolygon, got 'Point'"),
    ("no geometry", ("geometry", None), InputError, "no geometry"),
    ("ring of 3", ("geometry.coordinates.0", [[36, 35], [36.1, 35], [36, 35]]), GeometryError,
     "a ring needs at least 4 positions, got 3"),
    ("latitude off the globe", ("geometry.coordinates.0.2", [36.1, 95.0]), GeometryError,
     "position 2: [36.1, 95] is off the globe"),
    ("position not numbers", ("geometry.coordinates.0.1", ["36", "35"]), GeometryError,
     "position 1: expected [lon, lat] numbers"),
]


@pytest.mark.parametrize(
    ("desc", "mutation", "error", "fragment"), CASES, ids=[c[0] for c in CASES]
)
def test_each_bad_feature_is_named_in_the_error(desc, mutation, error, fragment):
    bad = mutate(*mutation)
    text = collection(feature(name="good"), bad)
    with pytest.raises(error) as info:
        read_airspace_geojson_text(text, "zones.geojson")
    message = str(info.value)
    assert message.startswith("zones.geojson, feature 1 ('TRA 12')"), message
    assert fragment in message, message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "not GeoJSON (invalid JSON at line 1, column 1"),
        ("id,lat,lon\n", "not GeoJSON (invalid JSON"),
        ("[1, 2]", "expected a FeatureCollection or Feature, got 'list'"),
        ('{"type": "Polygon", "coordinates": []}', "got 'Polygon'"),
        ('{"type": "FeatureCollection"}', "has no 'features' list"),
    ],
)
def test_files_that_are_not_geojson(text, fragment):
    with pytest.raises(InputError, match=r"^zones\.geojson: ") as info:
        read_airspace_geojson_text(text, "zones.geojson")
    assert fragment in str(info.value)


def test_duplicate_names_are_refused():
    with pytest.raises(GeometryError, match=r"feature 1 .*duplicate name .*feature 0"):
        read_airspace_geojson_text(collection(feature(), feature()), "z.geojson")


def test_features_without_a_name_are_named_by_position():
    f = feature()
    del f["properties"]["name"]
    (a,) = read_airspace_geojson_text(collection(f), "z.geojson")
    assert a.name == "feature 0"


def test_the_published_osm_border_is_refused_not_silently_repaired():
    # The published polygons touch themselves (samples/README.md); the reader must say so.
    with gzip.open(PUBLISHED_OSM, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    for f in doc["features"]:
        f["properties"].update(owner=f["properties"]["iso_a3"], kind="national_territory",
                               floor_m=None, ceiling_m=None)
    with pytest.raises(GeometryError) as info:
        read_airspace_geojson_text(json.dumps(doc), "osm.geojson")
    assert "osm.geojson, feature 0 ('Syria')" in str(info.value)
    assert "Ring Self-intersection" in str(info.value)
    assert not shapely.is_valid(shapely.geometry.shape(doc["features"][0]["geometry"]))
