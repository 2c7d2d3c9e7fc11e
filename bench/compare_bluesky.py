"""detente against BlueSky's compiled state-based detection on the same traffic.

    sh ../shared/peers/setup_bluesky_venv.sh          # once: BlueSky 1.1.1 in /tmp/peers
    .venv/bin/python bench/compare_bluesky.py [-n 10000] [--seeds 1 2 3]

For each seed: random traffic from the peer's own generator (500 km square over the
Turkey-Syria region), BlueSky's CStateBased run by the peer harness (all pairs, its wall time),
detente's `detect` with party filtering off, and the pairs each reports that the other does not.
A differing pair is "explained" when it lies within 3 % of the horizontal minimum at closest
approach, within 3 s of a time boundary (entering near the end of the look-ahead, leaving near
its start), or in conflict for under 3 s: there BlueSky's flat-earth spherical model and
detente's WGS84 grid legitimately disagree. Anything else is a bug in one of them.

Exit status 1 when more than --max-unexplained pairs are unexplained in any run.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detente.engines.tactical import detect
from detente.formats.states_csv import read_states_csv

R, T = 9_260.0, 300.0
PEERS = Path(__file__).resolve().parents[1].parent / "shared" / "peers"
BLUESKY_PYTHON = Path("/tmp/peers/bluesky-venv/bin/python")


def explained(t_in: float, t_out: float, d_cpa: float) -> bool:
    return (
        abs(d_cpa - R) <= 0.03 * R
        or t_in >= T - 3.0
        or t_out <= 3.0
        or t_out - t_in < 3.0
    )


def bluesky_pairs(states_csv: Path, out_csv: Path) -> tuple[dict, str]:
    done = subprocess.run(
        [str(BLUESKY_PYTHON), str(PEERS / "bluesky_cd.py"), str(states_csv), "--impl", "c",
         "--out", str(out_csv)],
        capture_output=True, text=True, check=True,
    )
    pairs = {}
    for row in csv.DictReader(open(out_csv)):
        key = tuple(sorted((row["id1"], row["id2"])))
        tin, tout = max(float(row["tin_s"]), 0.0), min(float(row["tout_s"]), T)
        pairs[key] = (tin, tout, float(row["dcpa_m"]))
    summary = next((ln for ln in done.stderr.splitlines() if "cd_wall_s" in ln), "")
    return pairs, summary


def compare(n: int, seed: int, workdir: Path) -> tuple[int, int, int, int]:
    states_csv = workdir / f"states_{n}_{seed}.csv"
    subprocess.run([sys.executable, str(PEERS / "gen_states.py"), "-n", str(n), "--seed",
                    str(seed), "--out", str(states_csv)], check=True)
    theirs, summary = bluesky_pairs(states_csv, workdir / f"bluesky_{n}_{seed}.csv")
    s = read_states_csv(open(states_csv), str(states_csv))
    t0 = time.perf_counter()
    c = detect(s, all_pairs=True)
    wall = time.perf_counter() - t0
    ids = s.id.astype(str)
    ours = {
        tuple(sorted((ids[i], ids[j]))): (t_in, t_out, d)
        for i, j, t_in, t_out, d in zip(c.i, c.j, c.t_in, c.t_out, c.d_cpa_m, strict=True)
    }
    only_ours = set(ours) - set(theirs)
    only_theirs = set(theirs) - set(ours)
    unexplained = [p for p in only_ours if not explained(*ours[p])]
    unexplained += [p for p in only_theirs if not explained(*theirs[p])]
    print(f"N={n} seed={seed}: detente {len(ours)} pairs in {wall:.3f} s; BlueSky "
          f"{len(theirs)} pairs ({summary.strip()}); only detente {len(only_ours)}, only "
          f"BlueSky {len(only_theirs)}, unexplained {len(unexplained)}")
    for p in sorted(unexplained)[:10]:
        print(f"   unexplained {p}: detente {ours.get(p)} BlueSky {theirs.get(p)}")
    return len(ours), len(theirs), len(only_ours) + len(only_theirs), len(unexplained)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-n", type=int, default=10_000)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--max-unexplained", type=int, default=5)
    args = p.parse_args()
    if not BLUESKY_PYTHON.exists():
        print(f"no BlueSky venv at {BLUESKY_PYTHON}: run sh {PEERS}/setup_bluesky_venv.sh",
              file=sys.stderr)
        return 2
    worst = 0
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            worst = max(worst, compare(args.n, seed, Path(tmp))[3])
    return 1 if worst > args.max_unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
