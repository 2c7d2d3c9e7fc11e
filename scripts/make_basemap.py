"""Write the console's background map: country borders around the Eastern Mediterranean.

The border that matters is drawn from the data the engines use, so that the map never
contradicts an alert: Turkey is detente's own protected territory (``src/detente/data/
turkey_territory_osm_10m.geojson``, OpenStreetMap), Syria the OpenStreetMap polygon it was cut
from (repaired, its lakes filled, as ``data-prep/make_turkey_territory.py`` does for Turkey).
Every other country is Natural Earth 1:50m (npm ``world-atlas`` 2.0.2, ``countries-50m.json``,
TopoJSON), background only (quantized to ~0.0036 x 0.0017 degrees), fitted to them:

- what OpenStreetMap gives Turkey or Syria is taken out of its Natural Earth neighbours;
- what Natural Earth gave Turkey or Syria and OpenStreetMap does not goes to the neighbour it
  borders (a strip along a land border), or to the sea (a strip along the coast).

Then everything is clipped to a box and written as GeoJSON that the console's MapLibre style
loads as a local source, with each country's name (the page writes the names on the map).

    python scripts/make_basemap.py ../shared/data/world_atlas_countries_50m.topo.json \\
        ../shared/data/turkey_syria_osm_10m.geojson

TopoJSON (https://github.com/topojson/topojson-specification): ``arcs`` are delta-encoded integer
positions, turned into lon/lat by ``transform`` (scale, translate); a geometry lists arc indices,
and a negative index ``~i`` means arc ``i`` reversed. Consecutive arcs of a ring share their joint
point, so the first point of every arc after the first is dropped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape

# lon_min, lat_min, lon_max, lat_max: Cyprus to the Caspian, Crete to the Black Sea.
BBOX = (25.0, 28.0, 50.0, 45.0)
# 1e-5 degrees (~1 m): the OpenStreetMap borders are known to ~10 m, and the engines' polygon
# must come through to the metre; Natural Earth is far coarser either way.
GRID = 1e-5
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/detente/web/static/basemap/countries.geojson"
ENGINE_TURKEY = ROOT / "src/detente/data/turkey_territory_osm_10m.geojson"
OSM = {"Turkey": "TUR", "Syria": "SYR"}  # Natural Earth name -> iso_a3 in the OSM file


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """Absolute lon/lat points of every arc of a quantized topology."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(indices: list[int], arcs: list[list[tuple[float, float]]]) -> list[tuple[float, float]]:
    """The closed ring that a list of (possibly reversed, ``~i``) arc indices traces."""
    points: list[tuple[float, float]] = []
    for i in indices:
        arc = arcs[i] if i >= 0 else arcs[~i][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def polygons(geometry: dict[str, Any], arcs: list[list[tuple[float, float]]]) -> list[Polygon]:
    if geometry["type"] == "Polygon":
        parts = [geometry["arcs"]]
    elif geometry["type"] == "MultiPolygon":
        parts = geometry["arcs"]
    else:  # null geometries of tiny states that vanish at 1:50m
        return []
    return [Polygon(ring(p[0], arcs), [ring(h, arcs) for h in p[1:]]) for p in parts]


def natural_earth(topology: dict[str, Any]) -> dict[str, tuple[Any, shapely.Geometry]]:
    """name -> (ISO numeric code, valid geometry) of every country of the topology."""
    arcs = decode_arcs(topology)
    out = {}
    for geometry in topology["objects"]["countries"]["geometries"]:
        shape_ = shapely.make_valid(MultiPolygon(polygons(geometry, arcs)))
        out[geometry["properties"]["name"]] = (geometry.get("id"), shape_)
    return out


def territory(geometry: shapely.Geometry) -> shapely.Geometry:
    """An OpenStreetMap land mask as territory: repaired, its lakes filled (see
    data-prep/make_turkey_territory.py for why)."""
    valid = shapely.make_valid(geometry)
    parts = shapely.get_parts(valid)
    return shapely.union_all([Polygon(p.exterior) for p in parts if p.geom_type == "Polygon"])


def fitted(ne: dict[str, tuple[Any, shapely.Geometry]], osm: dict[str, shapely.Geometry]
           ) -> dict[str, shapely.Geometry]:
    """Every country, with those of ``osm`` (name -> geometry) as given, and Natural Earth's
    others fitted to them (see the module docstring)."""
    given = shapely.union_all(list(osm.values()))
    out = {name: geometry.difference(given) for name, (_, geometry) in ne.items()
           if name not in osm}
    out.update(osm)
    # Natural Earth's Turkey and Syria where OpenStreetMap has neither: strips along borders
    # and coasts, each given to the neighbour it shares the longest edge with, if any.
    strips = shapely.get_parts(shapely.union_all([ne[name][1] for name in osm])
                               .difference(given))
    names = [n for n in out if n not in osm]
    edges = [out[n].boundary for n in names]
    # Which strip meets which neighbour's edge (touching counts), found through a tree.
    near, strip_of = shapely.STRtree(edges).query(shapely.buffer(strips, GRID),
                                                  predicate="intersects")[::-1]
    shared = shapely.length(shapely.intersection(shapely.buffer(strips[strip_of], GRID),
                                                 [edges[k] for k in near]))
    given_to: dict[str, list[shapely.Geometry]] = {}
    for k in range(len(strips)):
        mine = strip_of == k
        if mine.any():
            best = names[near[mine][shared[mine].argmax()]]
            given_to.setdefault(best, []).append(strips[k])
    for name, pieces in given_to.items():
        out[name] = shapely.union_all([out[name], *pieces])
    return out


def basemap(topology: dict[str, Any], osm_features: list[dict[str, Any]],
            engine_turkey: shapely.Geometry, bbox: tuple[float, float, float, float]
            ) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the countries that meet ``bbox``, clipped to it."""
    ne = natural_earth(topology)
    by_iso = {f["properties"]["iso_a3"]: shape(f["geometry"]) for f in osm_features}
    osm = {"Turkey": engine_turkey,
           "Syria": territory(by_iso[OSM["Syria"]]).difference(engine_turkey)}
    clip = box(*bbox)
    features = []
    for name, geometry in fitted(ne, osm).items():
        clipped = shapely.set_precision(geometry.intersection(clip), GRID)
        if clipped.is_empty:
            continue
        features.append({
            "type": "Feature",
            "properties": {"name": name, "iso_n3": ne[name][0],
                           "source": "OpenStreetMap" if name in osm else "Natural Earth"},
            "geometry": mapping(clipped),
        })
    features.sort(key=lambda f: f["properties"]["name"])
    return {"type": "FeatureCollection", "bbox": list(bbox), "features": features}


def engine_territory(path: Path = ENGINE_TURKEY) -> shapely.Geometry:
    (feature,) = json.loads(path.read_text(encoding="utf-8"))["features"]
    return shape(feature["geometry"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path, help="world-atlas countries-50m.json")
    parser.add_argument("osm", type=Path, help="turkey_syria_osm_10m.geojson")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    collection = basemap(json.loads(args.topojson.read_text()),
                         json.loads(args.osm.read_text())["features"], engine_territory(), BBOX)
    args.out.write_text(json.dumps(collection, separators=(",", ":")) + "\n")
    size = args.out.stat().st_size
    print(f"{len(collection['features'])} countries -> {args.out} ({size} bytes)")


if __name__ == "__main__":
    main()
