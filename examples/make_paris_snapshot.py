"""Derive examples/paris_snapshot.csv from the shared ADS-B file (run from the repo root).

    python examples/make_paris_snapshot.py ../shared/data/adsb_paris_2021-10-07_5s.csv

Takes the 5-second bin with the most airborne aircraft and carries every report of that bin
forward to the bin's last second along its geodesic (ground speed, true track, vertical rate),
so the snapshot is one instant, as `detente conflicts` expects. The party column is the
operator's ICAO designator (first three letters of the callsign) where the callsign has one,
else "GA": it makes airlines stand in for parties in the example.
"""

import csv
import sys
from collections import defaultdict

from pyproj import Geod

geod = Geod(ellps="WGS84")
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
bins: dict[int, list[dict]] = defaultdict(list)
for r in rows:
    bins[int(r["timestamp"]) // 5].append(r)
best = max(bins, key=lambda b: (len(bins[b]), -b))
group = bins[best]
t_end = max(int(r["timestamp"]) for r in group)
out = csv.writer(open("examples/paris_snapshot.csv", "w", newline=""), lineterminator="\n")
out.writerow(["id", "party", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps"])
for r in sorted(group, key=lambda r: r["icao24"]):
    dt = t_end - int(r["timestamp"])
    gs, trk, vs = float(r["gs_mps"]), float(r["trk_deg"]), float(r["vs_mps"])
    lon, lat, _ = geod.fwd(float(r["lon"]), float(r["lat"]), trk, gs * dt)
    cs = r["callsign"].strip()
    party = cs[:3] if len(cs) > 3 and cs[:3].isalpha() and cs[3].isdigit() else "GA"
    out.writerow([r["icao24"], party, f"{lat:.5f}", f"{lon:.5f}",
                  f"{float(r['alt_m']) + vs * dt:.1f}", f"{gs:.2f}", f"{trk:.2f}", f"{vs:.2f}"])
print(f"{len(group)} aircraft at {t_end} (UTC epoch s)", file=sys.stderr)
