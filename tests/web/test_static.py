"""The console's static assets: shipped in the package, self-contained, regenerable."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import pytest
from shapely.geometry import LineString, Point, box, shape

from .conftest import STATIC

ROOT = Path(__file__).resolve().parents[2]
# Cut from the published files by tests/data/samples/make_samples.py (README there).
SAMPLES = ROOT / "tests" / "data" / "samples"
OWN = sorted([*STATIC.glob("*.html"), *STATIC.glob("*.js"), *STATIC.glob("*.css")])


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample(name: str) -> str:
    path = SAMPLES / name
    return gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()


def test_every_referenced_file_is_shipped():
    html = (STATIC / "index.html").read_text()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    for module in STATIC.glob("*.js"):
        refs += re.findall(r'from "\./([^"]+)"', module.read_text())
        refs += re.findall(r'new URL\("([^"]+)",\s*import\.meta\.url\)', module.read_text())
    local = [r for r in refs if not r.startswith("data:")]
    assert "vendor/maplibre-gl.js" in local and "basemap/countries.geojson" in local
    assert [r for r in local if not (STATIC / r).is_file()] == []


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.name)
def test_no_internet_address_in_own_files(path):
    assert re.findall(r"\b(?:https?|wss?)://\S+", path.read_text()) == []


def test_basemap_is_the_script_output():
    make_basemap = script("make_basemap")
    topology = json.loads(sample("world_atlas_countries_50m_east_med.topo.json.gz"))
    committed = json.loads((STATIC / "basemap/countries.geojson").read_text())
    made = make_basemap.basemap(topology, make_basemap.BBOX)
    assert json.loads(json.dumps(made)) == committed  # tuples become lists, as in the file


def test_basemap_agrees_with_an_independent_decoding():
    """Turkey and Syria as decoded (from the same TopoJSON) into the published NE 50m GeoJSON."""
    committed = json.loads((STATIC / "basemap/countries.geojson").read_text())
    ours = {f["properties"]["name"]: shape(f["geometry"]) for f in committed["features"]}
    reference = json.loads(sample("turkey_syria_naturalearth_50m.geojson"))
    for feature in reference["features"]:
        theirs = shape(feature["geometry"]).intersection(box(*committed["bbox"]))
        mine = ours[feature["properties"]["name"]]
        assert mine.is_valid
        assert mine.hausdorff_distance(theirs) < 2e-4  # degrees: both round near 1e-4
        assert mine.symmetric_difference(theirs).area < 1e-4 * theirs.area


def test_fake_fixture_is_the_script_output():
    make_fake_events = script("make_fake_events")
    features = json.loads(sample("turkey_syria_naturalearth_10m.geojson.gz"))["features"]
    turkey = next(shape(f["geometry"]) for f in features if f["properties"]["iso_a3"] == "TUR")
    committed = json.loads((STATIC / "fake/hatay.json").read_text())
    assert json.loads(json.dumps(make_fake_events.events(turkey))) == committed


def test_fake_fixture_entry_point_is_on_the_lead_path_and_border():
    events = json.loads((STATIC / "fake/hatay.json").read_text())["events"]
    by_type = {e["type"]: e["data"] for e in events}  # the last of each type
    airspace = shape(by_type["airspace"]["geometry"])
    alert = by_type["alert"]
    lead = next(e["data"] for e in events if e["type"] == "track" and e["data"]["id"] == "RUS-1")
    entry = Point(alert["point"])
    assert entry.distance(airspace.boundary) < 1e-4
    assert entry.distance(LineString(lead["path"])) < 1e-4
    assert not airspace.contains(Point(lead["lon"], lead["lat"]))
