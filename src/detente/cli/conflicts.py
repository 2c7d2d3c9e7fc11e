"""Predict losses of separation in a states CSV (id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps).

Prints CSV on stdout, one row per unordered pair: id1,id2,t_in,t_out,t_cpa,d_cpa_m,dv_cpa_m
(seconds from now, metres), sorted by id1 then id2 with id1 < id2. Pairs of the same party are
left out unless --all-pairs; without a party column every pair counts.

--method auto (the default) takes the general path (numpy and shapely) unless the picture is
large enough (100,000 aircraft) to pay for loading the compiled kernels, and never waits for a
compiler: where the kernels are not compiled yet, it answers on the general path and compiles
them in a background process for the next large run.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from detente.cli.options import open_input, positive_float

if TYPE_CHECKING:
    import numpy as np

HEADER = ("id1", "id2", "t_in", "t_out", "t_cpa", "d_cpa_m", "dv_cpa_m")

# The engine's defaults, repeated so that `detente conflicts --help` needs no numpy; a test
# holds them equal.
DEFAULT_LOOKAHEAD_S = 300.0
DEFAULT_HORIZONTAL_M = 9_260.0
DEFAULT_VERTICAL_M = 304.8


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
    parser.add_argument("--method", choices=("auto", "general", "compiled"), default="auto",
                        help="the engine's path (default auto; both give the same pairs)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from detente.engines.tactical import (
        AUTO_LOAD_MIN,
        build_kernels_in_background,
        detect,
    )
    from detente.formats.states_csv import read_states_csv

    with open_input(args.states) as (stream, source):
        states = read_states_csv(stream, source)
    found = detect(
        states,
        horizontal_m=args.h_min,
        vertical_m=args.v_min,
        lookahead_s=args.lookahead,
        all_pairs=args.all_pairs,
        method=args.method,
    )
    # Rows are ordered by id text, not input position: rank the ids once, then order the
    # pairs by their ranks (integers sort far faster than pairs of strings).
    n = len(states)
    ids = states.id.astype(str)
    by_rank = np.argsort(ids, kind="stable")
    rank = np.empty(n, np.int64)
    rank[by_rank] = np.arange(n)
    ri, rj = rank[found.i], rank[found.j]
    lo, hi = np.minimum(ri, rj), np.maximum(ri, rj)
    order = np.argsort(lo * n + hi)
    columns = [ids[by_rank[lo[order]]].tolist(), ids[by_rank[hi[order]]].tolist()]
    columns += [_fixed(getattr(found, name)[order], 1) for name in ("t_in", "t_out", "t_cpa")]
    columns += [_fixed(getattr(found, name)[order], 0) for name in ("d_cpa_m", "dv_cpa_m")]
    # Formatted whole before anything is written, so that a failure never leaves half a CSV on
    # stdout. Ids with a comma or a quote (legal in a CSV) are quoted as the csv module would.
    if any(map(_needs_quotes, ids.tolist())):
        columns[0], columns[1] = ([_csv_field(i) for i in c] for c in columns[:2])
    text = ",".join(HEADER) + "\n" + "".join([
        f"{a},{b},{t_in},{t_out},{t_cpa},{d},{dv}\n"
        for a, b, t_in, t_out, t_cpa, d, dv in zip(*columns, strict=True)
    ])
    sys.stdout.write(text)
    print(f"{n} aircraft, {len(found)} conflicting pairs", file=sys.stderr)
    if args.method == "auto" and n >= AUTO_LOAD_MIN:
        pid = build_kernels_in_background()
        if pid is not None:
            print(f"the compiled kernels are not built yet: this run took the general path, and "
                  f"process {pid} is compiling them in the background for the next large runs",
                  file=sys.stderr)
    return 0




def _fixed(values: np.ndarray, decimals: int) -> list[str]:
    """``f"{v:.{decimals}f}"`` for every value, from a table of the strings of the integers
    k / 10**decimals: formatting 80,000 rows of floats one by one took a third of the run.

    Python rounds the exact binary value half to even; ``rint(v * 10**decimals)`` does the same
    but for the rounding of the product, which can move a value across a half only when it is
    within ~1e-12 of it: values within 1e-6 of a half (and negatives, -0.0, non-finite ones
    and large ones) are formatted by Python itself.
    """
    import numpy as np

    scale = 10.0**decimals
    with np.errstate(invalid="ignore", over="ignore"):  # inf and nan go one by one
        scaled = values * scale
        k = np.rint(scaled)
        # A table no longer than the column (and some): beyond it, one by one costs less.
        exact = ((np.abs(scaled - np.floor(scaled) - 0.5) > 1e-6) & ~np.signbit(values)
                 & np.isfinite(scaled) & (k <= 4 * values.size + 10_000))
    top = int(k[exact].max()) if exact.any() else -1
    if decimals:
        unit = 10**decimals
        table = [f"{q // unit}.{q % unit:0{decimals}d}" for q in range(top + 1)]
    else:
        table = [str(q) for q in range(top + 1)]
    out = np.array([*table, ""], dtype=object)[np.where(exact, k, top + 1).astype(np.intp)]
    for i in np.flatnonzero(~exact):
        out[i] = f"{values[i]:.{decimals}f}"
    return out.tolist()


def _needs_quotes(text: str) -> bool:
    return any(c in text for c in ',"\r\n')


def _csv_field(text: str) -> str:
    """A field as the csv module writes it (QUOTE_MINIMAL)."""
    return '"' + text.replace('"', '""') + '"' if _needs_quotes(text) else text
