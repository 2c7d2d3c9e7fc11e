"""Write the console's background map: country borders around the Eastern Mediterranean.

Reads the Natural Earth 1:50m countries as TopoJSON (npm ``world-atlas`` 2.0.2,
``countries-50m.json``), decodes it, clips every country to a box and writes GeoJSON that the
console's MapLibre style loads as a local source. Background only: quantized to ~0.0036 x 0.0017
degrees; the engines use the OSM borders, never this file.

    python scripts/make_basemap.py ../shared/data/world_atlas_countries_50m.topo.json

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
from shapely.geometry import MultiPolygon, Polygon, box, mapping

# lon_min, lat_min, lon_max, lat_max: Cyprus to the Caspian, Crete to the Black Sea.
BBOX = (25.0, 28.0, 50.0, 45.0)
DECIMALS = 4  # 1e-4 degrees (~10 m) is far below the source's quantization
OUT = Path(__file__).resolve().parents[1] / "src/detente/web/static/basemap/countries.geojson"


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


def basemap(topology: dict[str, Any], bbox: tuple[float, float, float, float]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of the countries that meet ``bbox``, clipped to it."""
    arcs = decode_arcs(topology)
    clip = box(*bbox)
    features = []
    for geometry in topology["objects"]["countries"]["geometries"]:
        shape = shapely.make_valid(MultiPolygon(polygons(geometry, arcs)))
        clipped = shape.intersection(clip)
        if clipped.is_empty:
            continue
        clipped = shapely.set_precision(clipped, 10.0**-DECIMALS)
        features.append({
            "type": "Feature",
            "properties": {"name": geometry["properties"]["name"], "iso_n3": geometry.get("id")},
            "geometry": mapping(clipped),
        })
    features.sort(key=lambda f: f["properties"]["name"])
    return {"type": "FeatureCollection", "bbox": list(bbox), "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topojson", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    collection = basemap(json.loads(args.topojson.read_text()), BBOX)
    args.out.write_text(json.dumps(collection, separators=(",", ":")) + "\n")
    size = args.out.stat().st_size
    print(f"{len(collection['features'])} countries -> {args.out} ({size} bytes)")


if __name__ == "__main__":
    main()
