"""Benchmark of the tactical engine: prints figures, asserts nothing.

    .venv/bin/python bench/tactical.py            # 1k, 10k (500 km square), 100k (2,000 km)
    .venv/bin/python bench/tactical.py --quick    # 1k and 10k only
    .venv/bin/python bench/tactical.py --method general   # the STRtree/numpy path instead

Traffic as the issue specifies: uniform in a square centred on 37 N 37.5 E, FL100-FL400,
100-250 m/s, random tracks, a fifth climbing or descending at 2.5-15 m/s. For each size: the
median wall time of 5 detection cycles of `detect` (lat/lon in, pairs out: projection, pruning
and exact test) and their median CPU time, its peak resident memory above the process's
baseline, the number of conflicting pairs, and the same for a plain N x N numpy formulation
where its matrices fit in memory, with the ratio.

The compiled path's kernels are compiled by numba on the first call of a process, or loaded from
its cache (``__pycache__`` beside the module): that first call is timed apart, in fresh
processes, with an empty cache and with the cache as it is, and a warm-up call precedes the
figures, so neither the medians nor the peak memory count compilation. The load average and
numba's thread count are printed with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from detente.engines.tactical import METHODS, detect
from detente.geo import WGS84
from detente.model import States

R, V, T = 9_260.0, 304.8, 300.0
NXN_LIMIT_BYTES = 8e9  # leave room on a 24 GB machine shared with other work


def traffic(n: int, size_km: float, seed: int = 1) -> States:
    rng = np.random.default_rng(seed)
    half = size_km * 500.0
    # Offsets east and north of the centre along geodesics: a square on the ground.
    e, nrt = rng.uniform(-half, half, n), rng.uniform(-half, half, n)
    lon, lat, _ = WGS84.fwd(np.full(n, 37.5), np.full(n, 37.0), np.zeros(n), nrt)
    lon, lat, _ = WGS84.fwd(lon, lat, np.full(n, 90.0), e)
    climbing = rng.random(n) < 0.2
    vs = np.where(climbing, rng.choice([-1.0, 1.0], n) * rng.uniform(2.5, 15, n), 0.0)
    return States.from_columns(
        np.arange(n).astype(str), lat, lon, rng.uniform(3048, 12192, n),
        rng.uniform(100, 250, n), rng.uniform(0, 360, n), vs,
    )


def nxn(s: States) -> int:
    """Every pair at once in N x N matrices (flat earth per pair, like BlueSky's numpy path)."""
    lat, lon = np.radians(s.lat), np.radians(s.lon)
    coslat = np.cos(0.5 * (lat[:, None] + lat[None, :]))
    dx = (lon[None, :] - lon[:, None]) * coslat * 6_371_000.0
    del coslat
    dy = (lat[None, :] - lat[:, None]) * 6_371_000.0
    trk = np.radians(s.trk_deg)
    vx, vy = s.gs_mps * np.sin(trk), s.gs_mps * np.cos(trk)
    du = vx[None, :] - vx[:, None]
    dv = vy[None, :] - vy[:, None]
    a = du * du + dv * dv
    np.maximum(a, 1e-12, out=a)
    tcpa = -(dx * du + dy * dv) / a
    d2 = (dx * dv - dy * du) ** 2 / a
    del dx, dy, du, dv
    half = np.sqrt(np.maximum(R * R - d2, 0.0) / a)
    hit = d2 < R * R
    del a, d2
    t_lo, t_hi = tcpa - half, tcpa + half
    del tcpa, half
    dz = s.alt_m[None, :] - s.alt_m[:, None]
    dw = s.vs_mps[None, :] - s.vs_mps[:, None]
    dw[dw == 0] = 1e-12
    t1, t2 = (-V - dz) / dw, (V - dz) / dw
    del dz, dw
    lo = np.maximum(t_lo, np.minimum(t1, t2))
    hi = np.minimum(t_hi, np.maximum(t1, t2))
    hit &= (lo < hi) & (lo < T) & (hi > 0)
    return int(np.triu(hit, 1).sum())


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(fn, s: States, runs: int) -> tuple[float, float, float, int]:
    """Median wall time (s), median CPU time (s, all threads), peak memory above the resident
    baseline (MiB), fn's result.

    CPU time is what the cycle cost the machine: on an idle machine the compiled path's wall
    time is below it (two threads); on one busy with other work, wall time is above it by
    however long the scheduler kept us waiting.

    Peak memory is the kernel's resident high-water mark (VmHWM), reset before the run through
    /proc/self/clear_refs: it counts everything, GEOS and PROJ allocations included, which
    Python's tracemalloc does not see.
    """
    Path("/proc/self/clear_refs").write_text("5")
    base = _status_kib("VmRSS")
    result = fn(s)
    peak = (_status_kib("VmHWM") - base) / 1024
    times, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn(s)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(times), statistics.median(cpu), peak, result


FIRST_CALL = """
import time
t0 = time.perf_counter()
from detente.engines.tactical import detect
from detente.model import States
s = States.from_columns(["a", "b"], [37.0, 37.0], [37.0, 37.1], [5000, 5000], [200, 200],
                        [90, 270], [0, 0])
t1 = time.perf_counter()
detect(s, method="compiled")
print(f"{t1 - t0:.2f} {time.perf_counter() - t1:.2f}")
"""


def first_call(cache_dir: str | None) -> str:
    """Import and first-call seconds of the compiled path in a fresh process."""
    env = dict(os.environ)
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = cache_dir
    out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                         capture_output=True, text=True).stdout.split()
    return f"import {out[0]} s, first call {out[1]} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="1k and 10k only")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--method", choices=METHODS, default="compiled")
    args = p.parse_args()
    cases = [(1_000, 500.0), (10_000, 500.0)] + ([] if args.quick else [(100_000, 2_000.0)])
    import numba

    print(f"method {args.method}, numba {numba.__version__} with {numba.get_num_threads()} "
          f"threads, {os.cpu_count()} cores, load average {_load()} at start")
    if args.method == "compiled":
        with tempfile.TemporaryDirectory() as empty:
            print(f"  new process, empty numba cache (compiles): {first_call(empty)}")
        print(f"  new process, numba cache as it is:         {first_call(None)}")
    # Warm-up in this process: compilation (or cache loading) stays out of the figures below.
    detect(traffic(100, 100.0), all_pairs=True, method=args.method)
    print(f"{'N':>7} {'square':>8} {'pairs':>8} {'detente s':>10} {'cpu s':>7} {'peak MiB':>9} "
          f"{'NxN s':>8} {'NxN MiB':>8} {'ratio':>7}")
    for n, size in cases:
        s = traffic(n, size)
        print(f"  running N = {n} ...", file=sys.stderr)
        t_d, c_d, m_d, pairs = measure(
            lambda st: len(detect(st, all_pairs=True, method=args.method)), s, args.runs)
        if n * n * 8 * 8 < NXN_LIMIT_BYTES:
            t_n, _, m_n, pairs_n = measure(nxn, s, min(args.runs, 3))
            nxn_cols = f"{t_n:8.3f} {m_n:8.0f} {t_n / t_d:6.0f}x"
            if abs(pairs_n - pairs) > 0.03 * pairs:
                nxn_cols += f"  (NxN counted {pairs_n} pairs)"
        else:
            nxn_cols = f"{'-':>8} {'-':>8} {'-':>7}  (NxN needs ~{n * n * 64 / 1e9:.0f} GB)"
        print(f"{n:7d} {size:6.0f}km {pairs:8d} {t_d:10.3f} {c_d:7.3f} {m_d:9.0f} {nxn_cols}")
    print(f"load average {_load()} at end")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
