"""Predict losses of separation in a states CSV (id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps).

Prints CSV on stdout, one row per unordered pair: id1,id2,t_in,t_out,t_cpa,d_cpa_m,dv_cpa_m
(seconds from now, metres), sorted by id1 then id2 with id1 < id2. Pairs of the same party are
left out unless --all-pairs; without a party column every pair counts.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys

import numpy as np

from detente.cli.options import open_input, positive_float
from detente.engines.tactical import (
    DEFAULT_HORIZONTAL_M,
    DEFAULT_LOOKAHEAD_S,
    DEFAULT_VERTICAL_M,
    detect,
)
from detente.formats.states_csv import read_states_csv

HEADER = ("id1", "id2", "t_in", "t_out", "t_cpa", "d_cpa_m", "dv_cpa_m")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("states", metavar="STATES.csv", help="states CSV, or - for stdin")
    parser.add_argument("--lookahead", type=positive_float, default=DEFAULT_LOOKAHEAD_S,
                        metavar="S", help="look-ahead in seconds (default %(default)g)")
    parser.add_argument("--h-min", type=positive_float, default=DEFAULT_HORIZONTAL_M,
                        metavar="M", help="horizontal minimum in metres (default %(default)g)")
    parser.add_argument("--v-min", type=positive_float, default=DEFAULT_VERTICAL_M,
                        metavar="M", help="vertical minimum in metres (default %(default)g)")
    parser.add_argument("--all-pairs", action="store_true",
                        help="count pairs of the same party too")


def run(args: argparse.Namespace) -> int:
    with open_input(args.states) as (stream, source):
        states = read_states_csv(stream, source)
    found = detect(
        states,
        horizontal_m=args.h_min,
        vertical_m=args.v_min,
        lookahead_s=args.lookahead,
        all_pairs=args.all_pairs,
    )
    # Rows are ordered by id text, not input position: swap each pair into id order.
    a, b = states.id[found.i].astype(str), states.id[found.j].astype(str)
    swap = a > b
    id1, id2 = np.where(swap, b, a), np.where(swap, a, b)
    order = np.lexsort((id2, id1))
    # Written to a buffer first so that a failure never leaves half a CSV on stdout.
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for k in order:
        writer.writerow((
            id1[k], id2[k],
            f"{found.t_in[k]:.1f}", f"{found.t_out[k]:.1f}", f"{found.t_cpa[k]:.1f}",
            f"{found.d_cpa_m[k]:.0f}", f"{found.dv_cpa_m[k]:.0f}",
        ))
    sys.stdout.write(out.getvalue())
    print(f"{len(states)} aircraft, {len(found)} conflicting pairs", file=sys.stderr)
    return 0
