"""Write the console's FakeSource fixture: a few minutes' picture near the Yayladagi salient.

A reconstruction from public reports (../shared/SCENARIO.md), not a record of what happened: a
pair of Su-24s on a straight line that clips the salient's southern tip, two F-16s on patrol
north of the border, a tanker that leaves the picture (``track_gone``), one incursion alert
computed from that geometry (in the service's shape: entry, exit and distance inside counted
from its ``updated_at``), one hotline warning and one signed tree head (placeholder bytes: the
fake cannot sign). The airspace is Turkey's territory as the engines protect it (the bundled
OpenStreetMap polygon), cut to the Hatay box. The page rebases every time in it on its own
clock, so ``t0`` is only the fixture's "now".

    python scripts/make_fake_events.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pyproj import Geod
from shapely.geometry import LineString, box, mapping, shape

GEOD = Geod(ellps="WGS84")
T0 = 1448349785.0  # 2015-11-24 07:23:05 UTC, one minute before the reported violation
LOOKAHEAD_S = 300.0
HATAY = box(35.5, 35.7, 37.0, 37.0)  # keeps the fixture's airspace polygon small
ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/detente/web/static/fake/hatay.json"
TERRITORY = ROOT / "src/detente/data/turkey_territory_osm_10m.geojson"


def track(party: str, ident: str, lon: float, lat: float, alt_m: float, gs_mps: float,
          trk_deg: float, step_s: float = 30.0) -> dict[str, Any]:
    """A track event's data with its straight-line predicted path over the look-ahead."""
    n = int(LOOKAHEAD_S / step_s) + 1
    path = [[lon, lat]]
    for i in range(1, n):
        plon, plat, _ = GEOD.fwd(lon, lat, trk_deg, gs_mps * step_s * i)
        path.append([round(plon, 5), round(plat, 5)])
    return {"party": party, "id": ident, "t": T0, "lat": round(lat, 5), "lon": round(lon, 5),
            "alt_m": alt_m, "gs_mps": gs_mps, "trk_deg": trk_deg, "vs_mps": 0.0,
            "precision_m": 50.0, "path": path}


def events(turkey: Any) -> dict[str, Any]:
    airspace = turkey.intersection(HATAY)
    # Lead Su-24: aimed 300 m north of the salient's tip (36.148 E, 35.821 N), heading 100 deg.
    aim_lon, aim_lat, _ = GEOD.fwd(36.148, 35.821, 0.0, 300.0)
    lon, lat, _ = GEOD.fwd(aim_lon, aim_lat, 280.0, 9_000.0)
    lead = track("RUS", "RUS-1", lon, lat, 5791.0, 120.0, 100.0, step_s=5.0)
    wlon, wlat, _ = GEOD.fwd(lon, lat, 280.0, 2_000.0)
    wing = track("RUS", "RUS-2", wlon, wlat, 5791.0, 120.0, 100.0)
    cap1 = track("TUR", "TUR-1", 36.25, 36.12, 7620.0, 210.0, 250.0)
    cap2 = track("TUR", "TUR-2", 36.32, 36.16, 7620.0, 210.0, 250.0)
    tanker = track("TUR", "TUR-3", 36.6, 36.3, 8500.0, 200.0, 10.0)  # leaves: track_gone

    # Entry and exit: where the lead's predicted path crosses the airspace boundary.
    path = LineString(lead["path"])
    crossings = path.intersection(airspace.boundary)
    entry, leave = sorted(getattr(crossings, "geoms", [crossings]), key=path.project)[:2]
    _, _, dist_m = GEOD.inv(lead["lon"], lead["lat"], entry.x, entry.y)
    _, _, exit_m = GEOD.inv(lead["lon"], lead["lat"], leave.x, leave.y)
    t_to_go_s = round(dist_m / lead["gs_mps"], 1)
    t_exit_s = round(exit_m / lead["gs_mps"], 1)

    alert = {"id": "A-1", "kind": "incursion", "state": "raised", "severity": "warning",
             "parties": ["RUS", "TUR"], "tracks": [{"party": "RUS", "id": "RUS-1"}],
             "t_to_go_s": t_to_go_s, "point": [round(entry.x, 5), round(entry.y, 5)],
             "raised_at": T0, "updated_at": T0, "acknowledged_by": [],
             "detail": {"airspace": "Turkey", "owner": "TUR", "kind": "national_territory",
                        "violation": False, "t_entry_s": t_to_go_s, "t_exit_s": t_exit_s,
                        "inside_m": round(exit_m - dist_m)}}
    hotline = {"id": "H-1", "from_party": "TUR", "from_official": "tur-watch", "to_party": "RUS",
               "priority": "flash",
               "body": "You are approaching Turkish airspace. Change your heading south "
                       "immediately.",
               "alert_id": "A-1", "created_at": T0, "deadline": T0 + 60.0, "level": 1,
               "state": "sent", "ack": None, "automatic": False}
    # Five seconds on, the same prediction, announced again as critical.
    later = {**alert, "state": "updated", "severity": "critical", "updated_at": T0 + 5.0,
             "t_to_go_s": round(t_to_go_s - 5.0, 1),
             "detail": {**alert["detail"], "t_entry_s": round(t_to_go_s - 5.0, 1),
                        "t_exit_s": round(t_exit_s - 5.0, 1)}}
    tree_head = {"size": 42, "root_hash": "00" * 32, "time": T0, "signature": "placeholder",
                 "cosigned_by": ["TUR"], "settled": False}
    feature = {"type": "Feature", "id": "TUR-national", "geometry": mapping(airspace),
               "properties": {"owner": "TUR", "kind": "national_territory", "floor_m": None,
                              "ceiling_m": None, "name": "Turkey"}}
    data = [("airspace", feature), ("track", lead), ("track", wing), ("track", cap1),
            ("track", cap2), ("track", tanker), ("alert", alert), ("hotline", hotline),
            ("tree_head", tree_head),
            ("alert", later),
            ("track_gone", {"party": "TUR", "id": "TUR-3"})]
    return {"t0": T0, "note": "reconstruction from public reports; placeholder signatures",
            "events": [{"seq": i + 1, "type": k, "data": d} for i, (k, d) in enumerate(data)]}


def territory(path: Path = TERRITORY) -> Any:
    """Turkey's territory as the engines protect it (the bundled OpenStreetMap polygon)."""
    (feature,) = json.loads(path.read_text(encoding="utf-8"))["features"]
    return shape(feature["geometry"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--territory", type=Path, default=TERRITORY)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    turkey = territory(args.territory)
    args.out.write_text(json.dumps(events(turkey), indent=1) + "\n")
    print(f"-> {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
