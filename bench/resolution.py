"""Benchmark: suggested resolutions, the cost of the smallest clearing turn per alert.

Usage: python bench/resolution.py [N]

N aircraft (default 100) near the Yayladagi salient, 2-40 km from its tip, flying random
tracks at 80-250 m/s and 19,000 ft, party RUS, against Turkey's national territory (the index
built once, as the service keeps it): ``incursion_turns`` on all of them at once (73 candidate
headings each, the 5 deg grid and the present track). Then N head-on pairs for
``tactical_turns``. Each timed 5 times; the median is printed with the process's CPU time and
the machine's load (it is shared).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np
from pyproj import Geod

from detente.engines.incursion import AirspaceIndex
from detente.engines.resolution import incursion_turns, tactical_turns
from detente.model.states import States
from detente.scenario import turkey_territory

GEOD = Geod(ellps="WGS84")


def timed(fn, runs: int = 5) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    rng = np.random.default_rng(1)
    lon, lat, _ = GEOD.fwd(np.full(n, 36.154), np.full(n, 35.808), rng.uniform(120, 250, n),
                           rng.uniform(2_000, 40_000, n))
    states = States.from_columns(np.arange(n).astype(str), lat, lon, np.full(n, 5791.0),
                                 rng.uniform(80, 250, n), rng.uniform(0, 360, n), np.zeros(n),
                                 party=["RUS"] * n)
    index = AirspaceIndex.build(turkey_territory())
    print(f"cpus={os.cpu_count()} load average={os.getloadavg()}")
    wall, cpu = timed(lambda: incursion_turns(states, index))
    sides = incursion_turns(states, index).side
    print(f"incursion_turns: {n} aircraft x 73 headings: median {wall * 1000:.1f} ms "
          f"(CPU {cpu * 1000:.1f} ms), {wall / n * 1000:.2f} ms per aircraft; "
          f"{int((sides != 'clear').sum())} needing a turn")
    # Head-on pairs 20-60 km apart, the same level.
    far = rng.uniform(20_000, 60_000, n)
    lon2, lat2, back = GEOD.fwd(lon, lat, states.trk_deg, far)
    pairs = States.from_columns(
        np.arange(2 * n).astype(str), np.r_[lat, lat2], np.r_[lon, lon2],
        np.full(2 * n, 5791.0), np.r_[states.gs_mps, states.gs_mps],
        np.r_[states.trk_deg, back % 360], np.zeros(2 * n),
        party=["RUS"] * n + ["TUR"] * n)
    own, other = np.arange(n), np.arange(n, 2 * n)
    wall, cpu = timed(lambda: tactical_turns(pairs, own, other))
    sides = tactical_turns(pairs, own, other).side
    print(f"tactical_turns: {n} head-on pairs x 73 headings: median {wall * 1000:.1f} ms "
          f"(CPU {cpu * 1000:.1f} ms), {wall / n * 1000:.2f} ms per pair; "
          f"{int((sides != 'clear').sum())} needing a turn")
    print(f"load average={os.getloadavg()}")


if __name__ == "__main__":
    main()
