"""Design the reconstructed 24 November 2015 track (../shared/SCENARIO.md) with an oracle.

Usage: python data-prep/make_2015_scenario.py
Prints the constants of src/detente/scenario/yayladagi_2015.py and writes
examples/yayladagi_2015.csv.

The track is designed with dense geodesic sampling only (pyproj.Geod.fwd every 10 m and
point-in-polygon on lon/lat), never with the incursion engine, so that the engine's test
against it is a test and not a tautology:

- straight geodesic at 5,791 m (19,000 ft), true track 260 deg (east to west across the
  salient's southern tip, from Syria into Syria), ground speed 120 m/s (SCENARIO.md: ~120 m/s,
  ~2 km, ~17 s);
- its lateral position: the latitude at which it crosses the salient's axis (36.152 E) is
  found by bisection so that the oracle's time inside is 17.0 s;
- the lead starts 150 s of flight before its entry; the wingman flies the same geodesic 2 km
  in trail.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import shapely
from pyproj import Geod

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from detente.data import TURKEY_TERRITORY, bundled_path
from detente.formats.airspace_geojson import read_airspace_geojson

GEOD = Geod(ellps="WGS84")
TRACK_DEG, GS_MPS, ALT_M, AXIS_LON = 260.0, 120.0, 5791.0, 36.152
TARGET_S, LEAD_S, TRAIL_M = 17.0, 150.0, 2000.0
OUT = Path(__file__).resolve().parent.parent / "examples" / "yayladagi_2015.csv"


def inside_times(lat: float, lon: float, az: float, polygon: shapely.Geometry) -> np.ndarray:
    """Times (s) inside along a 20 km geodesic centred on (lat, lon), sampled every 10 m."""
    d = np.arange(-10_000.0, 10_000.0, 10.0)
    lons, lats, _ = GEOD.fwd(np.full(d.size, lon), np.full(d.size, lat), np.full(d.size, az), d)
    inside = shapely.contains_xy(polygon, lons, lats)
    return d[inside] / GS_MPS


def main() -> int:
    polygon = read_airspace_geojson(open(bundled_path(TURKEY_TERRITORY)), "bundled")[0].geometry
    shapely.prepare(polygon)
    lo, hi = 35.8085, 35.8200  # at lo the track only grazes the tip; at hi it is ~2.5 km in
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        t = inside_times(mid, AXIS_LON, TRACK_DEG, polygon)
        lo, hi = (mid, hi) if t.size * 10.0 / GS_MPS < TARGET_S else (lo, mid)
    axis_lat = 0.5 * (lo + hi)
    t = inside_times(axis_lat, AXIS_LON, TRACK_DEG, polygon)
    entry_from_axis_m = t.min() * GS_MPS
    # Lead starts LEAD_S of flight before the entry; go back along the geodesic from the axis.
    back_m = LEAD_S * GS_MPS - entry_from_axis_m
    lon0, lat0, az_back = GEOD.fwd(AXIS_LON, axis_lat, TRACK_DEG + 180.0, back_m)
    track0 = az_back % 360.0  # the back azimuth at the start points along the track
    lon_w, lat_w, az_w = GEOD.fwd(lon0, lat0, track0 + 180.0, TRAIL_M)
    track_w = az_w % 360.0
    print(f"AXIS_LAT = {axis_lat:.6f}  # oracle time inside {t.size * 10 / GS_MPS:.2f} s, "
          f"entry {-entry_from_axis_m:.0f} m before the axis")
    print(f"LEAD = ({lat0:.6f}, {lon0:.6f}, {track0:.4f})")
    print(f"WINGMAN = ({lat_w:.6f}, {lon_w:.6f}, {track_w:.4f})")
    rows = [
        ("SU24-LEAD", "RUS", lat0, lon0, ALT_M, GS_MPS, track0, 0.0),
        ("SU24-WING", "RUS", lat_w, lon_w, ALT_M, GS_MPS, track_w, 0.0),
        # Turkish F-16 combat air patrol north of the border at 25,000 ft (7,620 m).
        ("F16-1", "TUR", 36.050, 36.250, 7620.0, 180.0, 90.0, 0.0),
        ("F16-2", "TUR", 36.070, 36.450, 7620.0, 180.0, 270.0, 0.0),
    ]
    with OUT.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("id", "party", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps"))
        for r in rows:
            w.writerow((r[0], r[1], f"{r[2]:.6f}", f"{r[3]:.6f}", f"{r[4]:.0f}", f"{r[5]:.0f}",
                        f"{r[6]:.4f}", f"{r[7]:.0f}"))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
