"""Derive the demo's background traffic from the shared ADS-B sample (run from the repo root).

    python data-prep/make_demo_background.py ../shared/data/adsb_paris_2021-10-07_5s.csv

Keeps 15 minutes of real airborne traffic over Paris (2021-10-07 13:15-13:30 UTC, one report
per aircraft every 5 s) and writes it with times relative to the window's start. The demo
moves it to the Hatay region at run time (same azimuth and distance from the region's centre
as from Paris's), and says so: real flights, relocated, as background. OpenSky Network data
via the `traffic` package sample (research and non-commercial use).
"""

import csv
import sys

T0 = 1633612500  # 2021-10-07 13:15:00 UTC
T1 = T0 + 900
rows = [r for r in csv.DictReader(open(sys.argv[1], newline=""))
        if T0 <= int(r["timestamp"]) < T1 and float(r["alt_m"]) > 300]
out = csv.writer(open("src/detente/data/demo/background_paris_2021-10-07.csv", "w", newline=""),
                 lineterminator="\n")
out.writerow(["t_s", "id", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps"])
for r in sorted(rows, key=lambda r: (int(r["timestamp"]), r["icao24"])):
    out.writerow([int(r["timestamp"]) - T0, r["icao24"], r["lat"], r["lon"], r["alt_m"],
                  r["gs_mps"], r["trk_deg"], r["vs_mps"]])
print(f"{len(rows)} rows, {len({r['icao24'] for r in rows})} aircraft", file=sys.stderr)
