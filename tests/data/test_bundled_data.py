"""The territory shipped in detente/data: valid, the repair of the published border, complete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape

from detente.data import TURKEY_TERRITORY, bundled_path
from detente.model.airspace import AirspaceKind
from detente.scenario import turkey_territory

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED_OSM = SHARED / "turkey_syria_osm_10m.geojson"


@pytest.fixture(scope="module")
def turkey():
    (airspace,) = turkey_territory()
    return airspace


def test_shipped_geometry_is_valid_and_described(turkey):
    assert shapely.is_valid(turkey.geometry), shapely.is_valid_reason(turkey.geometry)
    assert turkey.geometry.geom_type == "MultiPolygon"
    assert (turkey.owner, turkey.kind) == ("TUR", AirspaceKind.NATIONAL_TERRITORY)
    assert shapely.get_num_coordinates(turkey.geometry) == 33_970
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


@pytest.mark.skipif(not SHARED_OSM.is_file(), reason="shared OSM border not present")
def test_shipped_geometry_is_make_valid_of_the_published_one(turkey):
    doc = json.loads(SHARED_OSM.read_text(encoding="utf-8"))
    (raw,) = [shape(f["geometry"]) for f in doc["features"] if f["properties"]["iso_a3"] == "TUR"]
    assert not raw.is_valid  # as published: "Ring Self-intersection"; the reason for the repair
    assert shapely.equals_exact(shapely.make_valid(raw), turkey.geometry, tolerance=0.0)
    assert abs(turkey.geometry.area - raw.area) < 1e-9 * raw.area
