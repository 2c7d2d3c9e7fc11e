"""Cut the test samples in this folder from the project's shared data folder.

    python tests/data/samples/make_samples.py PATH/TO/shared/data

The tests read only what this writes (and what they make themselves), so that a checkout runs
its tests with nothing beside it. Every sample is a plain cut (whole records, whole aircraft,
whole features), never a transformation of values: what the tests find in it is what the
published file holds. README.md beside this script gives each file's source, licence and facts.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# Paris: the file's first aircraft (the reader's hand-worked first record), then three whose
# records exercise every rejection the reader counts: surface reports, a null altitude, null
# ground speeds (one aircraft never reports one).
PARIS_AIRCRAFT = ("0101de", "5000fa", "7cfa71", "394c0c")
SWITZERLAND_RECORDS = 1_000

# The console's basemap box (scripts/make_basemap.py BBOX), widened by a degree: countries that
# come within it are kept whole, with every arc they use.
BASEMAP_BBOX = (24.0, 27.0, 51.0, 46.0)


def write_gzip_json(path: Path, doc: Any) -> None:
    # mtime=0: the same input gives the same bytes, so a re-run shows no spurious change.
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
        f.write(json.dumps(doc).encode())


def paris(shared: Path) -> None:
    records = json.load(gzip.open(shared / "opensky_paris_2021-10-07.json.gz"))
    keep = [r for r in records if r["icao24"] in PARIS_AIRCRAFT]
    write_gzip_json(HERE / "opensky_paris_2021-10-07_4_aircraft.json.gz", keep)
    with open(shared / "adsb_paris_2021-10-07_5s.csv", newline="") as f:
        rows = list(csv.reader(f))
    with open(HERE / "adsb_paris_2021-10-07_5s_4_aircraft.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(rows[0])
        w.writerows(r for r in rows[1:] if r[1] in PARIS_AIRCRAFT)


def switzerland(shared: Path) -> None:
    records = json.load(gzip.open(shared / "opensky_switzerland_2018-08-01.json.gz"))
    write_gzip_json(HERE / "opensky_switzerland_2018-08-01_first_1000.json.gz",
                    records[:SWITZERLAND_RECORDS])


def osm_borders(shared: Path) -> None:
    doc = json.loads((shared / "turkey_syria_osm_10m.geojson").read_text(encoding="utf-8"))
    write_gzip_json(HERE / "turkey_syria_osm_10m.geojson.gz", doc)


def basemap_topology(shared: Path) -> None:
    """The world atlas's countries that come near the basemap box, with their arcs renumbered."""
    topo = json.loads((shared / "world_atlas_countries_50m.topo.json").read_text())
    (sx, sy), (tx, ty) = topo["transform"]["scale"], topo["transform"]["translate"]
    lon0, lat0, lon1, lat1 = BASEMAP_BBOX

    def near(arc: list[list[int]]) -> bool:
        x = y = 0
        for dx, dy in arc:
            x, y = x + dx, y + dy
            if lon0 <= x * sx + tx <= lon1 and lat0 <= y * sy + ty <= lat1:
                return True
        return False

    def arc_lists(geometry: dict[str, Any]) -> list[list[int]]:
        if geometry["type"] == "Polygon":
            return geometry["arcs"]
        if geometry["type"] == "MultiPolygon":
            return [ring for polygon in geometry["arcs"] for ring in polygon]
        return []

    countries = topo["objects"]["countries"]["geometries"]
    kept = [g for g in countries
            if any(near(topo["arcs"][i if i >= 0 else ~i]) for ring in arc_lists(g) for i in ring)]
    used = sorted({i if i >= 0 else ~i for g in kept for ring in arc_lists(g) for i in ring})
    new = {old: k for k, old in enumerate(used)}

    def renumber(arcs: Any) -> Any:
        if isinstance(arcs, int):
            return new[arcs] if arcs >= 0 else ~new[~arcs]
        return [renumber(a) for a in arcs]

    out = {
        "type": "Topology",
        "bbox": topo.get("bbox"),
        "transform": topo["transform"],
        "objects": {"countries": {"type": "GeometryCollection", "geometries": [
            {**g, "arcs": renumber(g["arcs"])} if "arcs" in g else g for g in kept]}},
        "arcs": [topo["arcs"][i] for i in used],
    }
    write_gzip_json(HERE / "world_atlas_countries_50m_east_med.topo.json.gz", out)


def copies(shared: Path) -> None:
    shutil.copyfile(shared / "sbs1_losangeles_sample.txt", HERE / "sbs1_losangeles_sample.txt")
    shutil.copyfile(shared / "turkey_syria_naturalearth_50m.geojson",
                    HERE / "turkey_syria_naturalearth_50m.geojson")
    doc = json.loads((shared / "turkey_syria_naturalearth_10m.geojson").read_text())
    write_gzip_json(HERE / "turkey_syria_naturalearth_10m.geojson.gz", doc)
    for licence in ("geo_maps_LICENSE.txt", "world_atlas_LICENSE.txt"):
        shutil.copyfile(shared / licence, HERE / licence)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shared", type=Path, help="the shared data folder")
    shared = parser.parse_args().shared
    for cut in (paris, switzerland, osm_borders, basemap_topology, copies):
        cut(shared)
    for path in sorted(HERE.iterdir()):
        print(f"{path.stat().st_size:>9,}  {path.name}")


if __name__ == "__main__":
    main()
