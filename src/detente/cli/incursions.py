"""Predict airspace incursions of the aircraft in a states CSV (id,party,lat,lon,alt_m,...).

Prints CSV on stdout, one row per predicted stay inside an airspace the aircraft's party does
not own: id,airspace,t_entry,t_exit,entry_lat,entry_lon,inside_m (seconds from now, degrees,
metres flown inside within the look-ahead). t_entry 0 is a violation: already inside. t_exit is
empty when the aircraft is still inside at the end of the look-ahead. Rows are sorted by id,
then t_entry. Without a party column in the states no aircraft is entitled anywhere.

Airspaces come from a GeoJSON FeatureCollection (properties owner, kind, floor_m, ceiling_m,
optional name and buffer_m); without --airspace, Turkey's national territory as shipped in
detente (OpenStreetMap 10 m border, ODbL, owner TUR) is used. With --proximity the output is
instead the lower-severity warnings of aircraft that come within an airspace's buffer_m of its
boundary without entering: id,airspace,t_warn,d_min_m.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import sys

import numpy as np

from detente.cli.options import open_input, positive_float
from detente.data import TURKEY_TERRITORY, bundled_path
from detente.engines.incursion import DEFAULT_LOOKAHEAD_S, detect
from detente.formats.airspace_geojson import read_airspace_geojson
from detente.formats.states_csv import read_states_csv

HEADER = ("id", "airspace", "t_entry", "t_exit", "entry_lat", "entry_lon", "inside_m")
PROXIMITY_HEADER = ("id", "airspace", "t_warn", "d_min_m")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("states", metavar="STATES.csv", help="states CSV, or - for stdin")
    parser.add_argument(
        "--airspace", metavar="FILE.geojson", default=None,
        help="protected airspaces (default: Turkey's national territory shipped with detente, "
             "OpenStreetMap 10 m border, owner TUR)",
    )
    parser.add_argument("--lookahead", type=positive_float, default=DEFAULT_LOOKAHEAD_S,
                        metavar="S", help="look-ahead in seconds (default %(default)g)")
    parser.add_argument("--proximity", action="store_true",
                        help="print the buffer proximity warnings instead of the incursions")


def run(args: argparse.Namespace) -> int:
    with open_input(args.states) as (stream, source):
        states = read_states_csv(stream, source)
    path = args.airspace or str(bundled_path(TURKEY_TERRITORY))
    with open_input(path) as (stream, source):
        airspaces = read_airspace_geojson(stream, source)
    report = detect(states, airspaces, lookahead_s=args.lookahead)
    names = np.array([a.name for a in airspaces], dtype=object)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    found = report.incursions
    if args.proximity:
        near = report.proximities
        ids = states.id[near.i].astype(str)
        writer.writerow(PROXIMITY_HEADER)
        for k in np.lexsort((near.t_warn, ids)):
            writer.writerow((ids[k], names[near.airspace[k]], f"{near.t_warn[k]:.1f}",
                             f"{near.d_min_m[k]:.0f}"))
    else:
        ids = states.id[found.i].astype(str)
        writer.writerow(HEADER)
        for k in np.lexsort((found.t_entry, ids)):
            t_exit = found.t_exit[k]
            writer.writerow((
                ids[k], names[found.airspace[k]], f"{found.t_entry[k]:.1f}",
                "" if math.isnan(t_exit) else f"{t_exit:.1f}",
                f"{found.entry_lat[k]:.5f}", f"{found.entry_lon[k]:.5f}",
                f"{found.inside_m[k]:.0f}",
            ))
    # Written to a buffer first so that a failure never leaves half a CSV on stdout.
    sys.stdout.write(out.getvalue())
    print(
        f"{len(states)} aircraft, {len(airspaces)} airspaces: {len(found)} incursions "
        f"({int(found.violation.sum())} already inside), "
        f"{len(report.proximities)} proximity warnings",
        file=sys.stderr,
    )
    return 0
