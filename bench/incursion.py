"""Benchmark: 100,000 aircraft against Turkey's national territory (19,761 vertices).

Usage: python bench/incursion.py [N]

Aircraft are spread uniformly over 35.0-38.0 N, 35.5-42.5 E (the Turkey-Syria border region, both
sides, with Turkey's Mediterranean coast from Hatay to Mersin), altitudes 1-12 km, ground speeds
100-300 m/s, random true tracks, party RUS (so every one counts), look-ahead 300 s, seed 1.
The index (projection, boundary segments, STRtree) is built once, as the service would between
cycles; ``detect`` is then timed 5 times and the median printed, with the peak memory it
allocated (tracemalloc, numpy included). For comparison, the naive method: for each aircraft a
shapely LineString of its path intersected with the prepared footprint, timed on 1,000
aircraft and extrapolated. The machine's load is printed: it is shared, and the process's CPU
time is printed beside the wall time because it depends less on what else runs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import tracemalloc

import numpy as np
import shapely

from detente.engines.incursion import AirspaceIndex, detect
from detente.geo.geodesic import WGS84
from detente.geo.stereographic import StereographicProjection
from detente.model.states import States
from detente.scenario import turkey_territory

LOOKAHEAD_S = 300.0
NAIVE_SAMPLE = 1_000


def make_states(n: int, seed: int = 1) -> States:
    rng = np.random.default_rng(seed)
    return States.from_columns(
        np.arange(n).astype(str),
        rng.uniform(35.0, 38.0, n),
        rng.uniform(35.5, 42.5, n),
        rng.uniform(1_000.0, 12_000.0, n),
        rng.uniform(100.0, 300.0, n),
        rng.uniform(0.0, 360.0, n),
        np.zeros(n),
        party=np.full(n, "RUS", dtype=object),
    )


def naive(states: States, index: AirspaceIndex) -> int:
    """Per-aircraft shapely loop: path LineString intersected with the footprint."""
    proj = index.projection
    footprint = index.footprints[0]
    px, py = proj.forward(states.lat, states.lon)
    lon1, lat1, _ = WGS84.fwd(states.lon, states.lat, states.trk_deg, states.gs_mps * LOOKAHEAD_S)
    qx, qy = proj.forward(lat1, lon1)
    found = 0
    for k in range(len(states)):
        line = shapely.LineString([(px[k], py[k]), (qx[k], qy[k])])
        inside = footprint.intersection(line)
        if not inside.is_empty:
            line.project(shapely.Point(shapely.get_coordinates(inside)[0]))
            found += 1
    return found


def main(argv: list[str]) -> int:
    n = int(argv[1]) if len(argv) > 1 else 100_000
    print(f"cpus={os.cpu_count()} load average (1, 5, 15 min)={os.getloadavg()}")
    airspaces = turkey_territory()
    states = make_states(n)
    t0 = time.perf_counter()
    index = AirspaceIndex.build(airspaces, StereographicProjection.about(states.lat, states.lon))
    build_s = time.perf_counter() - t0
    print(f"index: {index.ax.size} boundary segments, built in {build_s:.3f} s (once)")

    times, cpu = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        report = detect(states, index, lookahead_s=LOOKAHEAD_S)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    tracemalloc.start()
    detect(states, index, lookahead_s=LOOKAHEAD_S)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    found = report.incursions
    median = statistics.median(times)
    print(f"detect: {n} aircraft, look-ahead {LOOKAHEAD_S:g} s: median {median:.3f} s "
          f"(runs {', '.join(f'{t:.3f}' for t in times)}), CPU time median "
          f"{statistics.median(cpu):.3f} s, peak memory {peak / 2**20:.0f} MiB")
    print(f"  {len(found)} incursions ({int(found.violation.sum())} already inside), "
          f"{np.unique(found.i).size} aircraft")

    sample = states.take(np.arange(min(NAIVE_SAMPLE, n)))
    t0 = time.perf_counter()
    hits = naive(sample, index)
    naive_s = time.perf_counter() - t0
    print(f"naive shapely loop: {len(sample)} aircraft in {naive_s:.3f} s ({hits} entering or "
          f"inside), extrapolated to {n}: {naive_s * n / len(sample):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
