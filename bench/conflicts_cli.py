"""The whole `detente conflicts` process against BlueSky's compiled detection call alone.

    sh ../shared/peers/setup_bluesky_venv.sh          # once: BlueSky 1.1.1 in /tmp/peers
    .venv/bin/python bench/conflicts_cli.py [-n 20000] [--seed 777] [--runs 5]

On the peer's own traffic (``gen_states.py -n N --seed S``: a 500 km square over the
Turkey-Syria region, every pair counted), in one run of this script:

- BlueSky: the wall time of its CStateBased ``detect`` call alone, as the peer harness times it
  (``cd_wall_s``: no start-up, no reading, no writing), median of --bluesky-runs;
- detente, first run after install: the whole ``detente conflicts STATES.csv`` process (start-up,
  reading, detection, writing 80,000-odd rows to a file) with an empty numba cache
  (``NUMBA_CACHE_DIR`` pointed at a new folder), as a fresh install has;
- detente, warm: the same process again, median of --runs, then the same with ``--method
  compiled`` (kernels loaded from numba's cache) and ``--method general``, for the record.

Each detente figure is wall-clock with the process's CPU time (user + system, all threads)
beside it. The load average is printed before and after: the figures follow it.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DETENTE = Path(sys.executable).with_name("detente")


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(argv: list[str], out: Path, env: dict[str, str] | None = None) -> tuple[float, float,
                                                                                   str]:
    """Wall and CPU seconds of one child process, and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(out, "wb") as stdout:
        done = subprocess.run(argv, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed: {done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr.strip()


def bluesky(peers: Path, python: Path, states: Path, out: Path) -> float:
    done = subprocess.run([str(python), str(peers / "bluesky_cd.py"), str(states), "--impl", "c",
                           "--out", str(out)], capture_output=True, text=True, check=True)
    line = next(ln for ln in done.stderr.splitlines() if "cd_wall_s" in ln)
    return float(line.split("cd_wall_s=")[1].split()[0].rstrip(","))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=777)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bluesky-runs", type=int, default=3)
    p.add_argument("--peers", type=Path, default=ROOT.parent / "shared" / "peers",
                   help="the peers folder (gen_states.py, bluesky_cd.py)")
    p.add_argument("--bluesky-python", type=Path,
                   default=Path("/tmp/peers/bluesky-venv/bin/python"))
    args = p.parse_args()
    if not (args.peers / "gen_states.py").exists():
        sys.exit(f"no gen_states.py in {args.peers}: give the peers folder with --peers")
    print(f"{os.cpu_count()} CPUs, load average {load()}")
    with tempfile.TemporaryDirectory(prefix="detente-bench-") as tmp_name:
        tmp = Path(tmp_name)
        states = tmp / "states.csv"
        subprocess.run([sys.executable, str(args.peers / "gen_states.py"), "-n", str(args.n),
                        "--seed", str(args.seed), "--out", str(states)], check=True,
                       stderr=subprocess.DEVNULL)
        print(f"traffic: gen_states.py -n {args.n} --seed {args.seed}")

        theirs = None
        if args.bluesky_python.exists():
            walls = [bluesky(args.peers, args.bluesky_python, states, tmp / "bluesky.csv")
                     for _ in range(args.bluesky_runs)]
            theirs = statistics.median(walls)
            print(f"BlueSky CStateBased detect call alone: median {theirs:.2f} s "
                  f"(runs {', '.join(f'{w:.2f}' for w in walls)}); load average {load()}")
        else:
            print(f"BlueSky: no venv at {args.bluesky_python} (sh {args.peers}/"
                  "setup_bluesky_venv.sh); its figure is left out")

        cmd = [str(DETENTE), "conflicts", str(states), "--all-pairs"]
        cold_cache = tmp / "numba-cache"
        cold_cache.mkdir()
        wall, cpu, said = timed(cmd, tmp / "first.csv",
                                {**os.environ, "NUMBA_CACHE_DIR": str(cold_cache)})
        ratio = f"; {theirs / wall:.1f}x faster than BlueSky's call" if theirs else ""
        print(f"detente conflicts, first run after install (empty numba cache): {wall:.2f} s "
              f"(CPU {cpu:.2f} s){ratio}; {said.splitlines()[0]}")

        for label, extra in (("warm", []), ("warm, --method compiled", ["--method", "compiled"]),
                             ("warm, --method general", ["--method", "general"])):
            timed(cmd + extra, tmp / "warm.csv")  # one unmeasured run: the page cache, numba's
            runs = [timed(cmd + extra, tmp / "warm.csv") for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in runs)
            cpu = statistics.median(r[1] for r in runs)
            ratio = f"; {theirs / wall:.1f}x faster than BlueSky's call" if theirs else ""
            print(f"detente conflicts, {label}: median {wall:.2f} s (CPU {cpu:.2f} s; runs "
                  f"{', '.join(f'{r[0]:.2f}' for r in runs)}){ratio}")
            if (tmp / "warm.csv").read_bytes() != (tmp / "first.csv").read_bytes():
                sys.exit(f"{label}: not the same rows as the first run")
        print(f"load average {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
