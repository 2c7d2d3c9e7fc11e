"""The territory shipped in detente/data: valid, the repair of the published border, complete."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from detente.data import TURKEY_TERRITORY, bundled_path
from detente.model.airspace import AirspaceKind
from detente.scenario import turkey_territory

# The published OSM borders, unchanged (samples/README.md beside this file).
PUBLISHED_OSM = Path(__file__).parent / "samples" / "turkey_syria_osm_10m.geojson.gz"


@pytest.fixture(scope="module")
def turkey():
    (airspace,) = turkey_territory()
    return airspace


def test_shipped_geometry_is_valid_and_described(turkey):
    assert shapely.is_valid(turkey.geometry), shapely.is_valid_reason(turkey.geometry)
    assert turkey.geometry.geom_type == "MultiPolygon"
    assert (turkey.owner, turkey.kind) == ("TUR", AirspaceKind.NATIONAL_TERRITORY)
    assert shapely.get_num_coordinates(turkey.geometry) == 19_761
    assert sum(len(p.interiors) for p in turkey.geometry.geoms) == 0  # inland waters filled
    folder = bundled_path(TURKEY_TERRITORY).parent
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "ODbL" in readme and "OpenStreetMap contributors" in readme
    assert "MIT License" in (folder / "geo_maps_LICENSE.txt").read_text(encoding="utf-8")


def test_the_yayladagi_salient_tip_is_where_scenario_md_says(turkey):
    # SCENARIO.md: the southern tip of the salient lies at about 35.808 N, 36.154 E, and it is
    # Turkey's southernmost point.
    _, lat0, _, _ = turkey.geometry.bounds
    assert 35.807 < lat0 < 35.809
    coords = shapely.get_coordinates(turkey.geometry)
    tip = coords[coords[:, 1].argmin()]
    assert abs(tip[0] - 36.154) < 0.005
    # 1 km north of the tip is Turkey; 1 km south is not.
    assert shapely.contains_xy(turkey.geometry, 36.154, 35.817)
    assert not shapely.contains_xy(turkey.geometry, 36.154, 35.799)


def test_shipped_geometry_is_the_published_land_plus_its_inland_waters(turkey):
    with gzip.open(PUBLISHED_OSM, "rt", encoding="utf-8") as f:
        doc = json.load(f)
    (raw,) = [shape(f["geometry"]) for f in doc["features"] if f["properties"]["iso_a3"] == "TUR"]
    assert not raw.is_valid  # as published: "Ring Self-intersection"; the reason for the repair
    land = shapely.make_valid(raw)
    shipped = turkey.geometry
    # All the land is in, and nothing but the land, the lakes and islands in them was added:
    # the added area is the holes' area less the islands that sat in them (ring by ring).
    assert shapely.covers(shipped, land)
    shells = [shapely.Polygon(p.exterior) for p in land.geoms]
    holes = sum(shapely.Polygon(r).area for p in land.geoms for r in p.interiors)
    islands = sum(
        p.area for k, p in enumerate(shells)
        if any(j != k and q.contains(p.representative_point()) for j, q in enumerate(shells))
    )
    assert shipped.area - land.area == pytest.approx(holes - islands, rel=1e-6)
    # No vertex was invented: every shipped vertex is a vertex of the repaired land.
    mine = {tuple(c) for c in shapely.get_coordinates(shipped)}
    assert mine <= {tuple(c) for c in shapely.get_coordinates(land)}
