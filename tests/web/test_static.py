"""The console's static assets: shipped in the package, self-contained, regenerable."""

from __future__ import annotations

import gzip
import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, shape

from detente.data import bundled_path
from detente.service.config import load_config

from .conftest import STATIC

GEOD = Geod(ellps="WGS84")

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
    osm = json.loads(sample("turkey_syria_osm_10m.geojson.gz"))["features"]
    committed = json.loads((STATIC / "basemap/countries.geojson").read_text())
    made = make_basemap.basemap(topology, osm, make_basemap.engine_territory(), make_basemap.BBOX)
    assert json.loads(json.dumps(made)) == committed  # tuples become lists, as in the file


def basemap_countries() -> dict[str, shapely.Geometry]:
    committed = json.loads((STATIC / "basemap/countries.geojson").read_text())
    return {f["properties"]["name"]: shape(f["geometry"]) for f in committed["features"]}


def test_basemap_turkey_is_the_territory_the_engines_protect():
    """The demo configuration's protected airspace, as the service loads it."""
    config = load_config(bundled_path("demo/border.toml"))
    (turkey,) = config.load_airspaces()
    drawn = basemap_countries()["Turkey"]
    assert drawn.is_valid
    assert shapely.get_num_coordinates(drawn) == shapely.get_num_coordinates(turkey.geometry)
    assert drawn.hausdorff_distance(turkey.geometry) < 2e-5  # degrees: the 1 m grid
    assert drawn.symmetric_difference(turkey.geometry).area < 1e-7 * turkey.geometry.area


def test_basemap_agrees_with_the_engine_along_the_2015_track():
    """Every point of the lead Su-24's predicted path is drawn in the country the incursion
    engine puts it in: Turkey for its 17 s inside, Syria before and after."""
    from detente.engines import incursion
    from detente.scenario.yayladagi_2015 import scenario_states, turkey_territory

    states = scenario_states()
    (k,) = [k for k, i in enumerate(states.id) if i == "SU24-LEAD"]
    found = incursion.detect(states, turkey_territory()).incursions
    (row,) = [r for r in range(len(found)) if found.i[r] == k]
    t = np.arange(0.0, 300.0, 0.25)
    t = t[np.abs(t - found.t_entry[row]) > 0.1]
    t = t[np.abs(t - found.t_exit[row]) > 0.1]  # a metre or two either side: the 1 m grid
    lons, lats, _ = GEOD.fwd(np.full(t.size, states.lon[k]), np.full(t.size, states.lat[k]),
                             np.full(t.size, states.trk_deg[k]), states.gs_mps[k] * t)
    inside = (t > found.t_entry[row]) & (t < found.t_exit[row])
    countries = basemap_countries()
    assert inside.sum() > 60
    assert shapely.contains_xy(countries["Turkey"], lons, lats).tolist() == inside.tolist()
    assert shapely.contains_xy(countries["Syria"], lons, lats).tolist() == (~inside).tolist()


def test_basemap_countries_do_not_overlap_and_keep_natural_earths_shapes():
    countries = basemap_countries()
    assert {"Turkey", "Syria", "Lebanon", "Iraq", "Cyprus", "Greece"} <= set(countries)
    names = sorted(countries)
    for n, a in enumerate(names):
        assert countries[a].is_valid, a
        for b in names[n + 1:]:
            # Each country snapped to the 1 m grid on its own: slivers of a metre along borders.
            assert countries[a].intersection(countries[b]).area < 1e-6, (a, b)
    # Syria is OpenStreetMap's; it differs from Natural Earth's by its wiggles, not its shape:
    # by 7 km at most, on the Golan Heights (35.82 E, 33.14 N), drawn differently by the two.
    reference = json.loads(sample("turkey_syria_naturalearth_50m.geojson"))
    ne = {f["properties"]["name"]: shape(f["geometry"]) for f in reference["features"]}
    assert countries["Syria"].hausdorff_distance(ne["Syria"]) < 0.08
    assert countries["Syria"].symmetric_difference(ne["Syria"]).area < 0.02 * ne["Syria"].area


def test_fake_fixture_is_the_script_output():
    make_fake_events = script("make_fake_events")
    turkey = make_fake_events.territory()
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


def test_fake_fixture_alert_agrees_with_the_incursion_engine():
    """The fixture's entry and exit times, from its path's crossings of the border, are those
    the engine predicts for the lead's state against the fixture's airspace."""
    from detente.engines import incursion
    from detente.model.airspace import Airspace, AirspaceKind
    from detente.model.states import States

    events = json.loads((STATIC / "fake/hatay.json").read_text())["events"]
    by_type = {e["type"]: e["data"] for e in events}
    first = next(e["data"] for e in events if e["type"] == "alert")
    lead = next(e["data"] for e in events if e["type"] == "track" and e["data"]["id"] == "RUS-1")
    airspace = Airspace(name="Turkey", owner="TUR", kind=AirspaceKind.NATIONAL_TERRITORY,
                        geometry=shape(by_type["airspace"]["geometry"]))
    states = States.from_columns(["RUS-1"], [lead["lat"]], [lead["lon"]], [lead["alt_m"]],
                                 [lead["gs_mps"]], [lead["trk_deg"]], [0.0], party=["RUS"])
    found = incursion.detect(states, [airspace]).incursions
    assert len(found) == 1
    assert abs(found.t_entry[0] - first["detail"]["t_entry_s"]) < 1.0
    assert abs(found.t_exit[0] - first["detail"]["t_exit_s"]) < 1.0
