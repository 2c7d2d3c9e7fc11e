"""Replay figures: reading a recording, and answering "what did party P see at t".

    .venv/bin/python bench/replay.py                        # 300 tracks, 2 Hz, 1 hour
    .venv/bin/python bench/replay.py --tracks 40 --minutes 60

Writes a synthetic recording (the built-in demo configuration, the tracks split between its
three parties and spread over the region, each reporting at --hz in one batch per party) and
a one-entry record export beside it, then measures, on stdout:

- read: ``read_recording`` (parse and check every line) and building the ``Replay``;
- view: ``Replay.view`` for a random party at random instants (the picture rebuilt from the
  reports of the preceding stale_s + delay + tolerance, sharing applied), median and p99; and
  for instants 2.5 s apart, as the console asks while playing at x10;
- peak RSS of the process.

Not a test: the numbers depend on the machine. Each line gives the load average and the CPU
time of this process beside the wall clock.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

from detente.cli.main import main
from detente.data import bundled_path
from detente.ledger import Ledger, generate_private_key, key_statement
from detente.service.config import load_config
from detente.service.replay import (
    RECORDING_FORMAT,
    Replay,
    config_document,
    read_ledger_export,
    read_recording,
)
from detente.store.database import open_database

START = 1_448_349_000.0


def load() -> str:
    return f"load {os.getloadavg()[0]:.2f}"


def cpu() -> float:
    return time.process_time()


def write(folder: Path, tracks: int, minutes: float, hz: float) -> tuple[Path, Path, int]:
    config = load_config(bundled_path("demo/border.toml"))
    parties = list(config.parties)
    rng = random.Random(1)
    aircraft = [(parties[k % 3], f"AC{k}", 34.5 + 3 * rng.random(), 35.0 + 4 * rng.random(),
                 rng.uniform(1000, 12000), rng.uniform(100, 250), rng.uniform(0, 360))
                for k in range(tracks)]
    path = folder / "bench.recording.jsonl"
    reports = batches = 0
    with path.open("w") as out:
        out.write(json.dumps({"format": RECORDING_FORMAT, "signed": False, "note": "bench",
                              "ledger": {}, "from": None, "to": None}) + "\n")
        out.write(json.dumps({"config": config_document(config)}) + "\n")
        out.write(json.dumps({"airspaces": {"type": "FeatureCollection", "features": []}})
                  + "\n")
        steps = int(minutes * 60 * hz)
        for step in range(steps):
            t = START + step / hz
            for party in parties:
                rows = []
                for p, ident, lat, lon, alt, gs, trk in aircraft:
                    if p == party:
                        d = gs * (t - START) / 111_000.0  # a straight line, roughly
                        rows.append([ident, t, lat + 0.1 * (d % 1), lon + 0.1 * (d % 1), alt, gs,
                                     trk, 0.0])
                out.write(json.dumps({"reports": {"party": party, "received": t,
                                                  "rows": rows}}) + "\n")
                reports += len(rows)
                batches += 1
        out.write(json.dumps({"end": {"reports": reports, "batches": batches, "events": 0}})
                  + "\n")
    db = f"sqlite:///{folder / 'ledger.sqlite'}"
    key = generate_private_key()
    Ledger(open_database(db), key, origin="detente/Hatay border").append(
        key_statement(key, key, author="detente", time=START))
    export = folder / "bench.jsonl"
    assert main(["export", "--db", db, "--out", str(export)]) == 0
    return export, path, reports


def report(what: str, walls: list[float], cpus: list[float], shown: list[int]) -> None:
    walls, cpus = sorted(walls), sorted(cpus)
    p99 = max(0, int(0.99 * len(walls)) - 1)
    print(f"{what}: p50 {1000 * statistics.median(walls):.1f} ms, p99 "
          f"{1000 * walls[p99]:.1f} ms (CPU p50 {1000 * statistics.median(cpus):.1f} ms, "
          f"p99 {1000 * cpus[p99]:.1f} ms; n={len(walls)}; "
          f"{statistics.mean(shown):.0f} tracks shown on average), {load()}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--hz", type=float, default=2.0)
    parser.add_argument("--views", type=int, default=200)
    args = parser.parse_args()
    print(f"cpus={os.cpu_count()} {load()}")
    with tempfile.TemporaryDirectory(prefix="detente-bench-replay-") as tmp:
        export, path, reports = write(Path(tmp), args.tracks, args.minutes, args.hz)
        size = path.stat().st_size / 1e6
        print(f"recording: {args.tracks} tracks at {args.hz:g} Hz for {args.minutes:g} min: "
              f"{reports:,} reports, {size:.0f} MB")
        w, c = time.perf_counter(), cpu()
        replay = Replay(read_recording(path), read_ledger_export(export))
        print(f"read and index: {time.perf_counter() - w:.2f} s (CPU {cpu() - c:.2f} s), "
              f"{load()}")
        rng = random.Random(2)
        walls, cpus, shown = [], [], []
        for _ in range(args.views):
            party = rng.choice(list(replay.config.parties))
            t = rng.uniform(replay.t_from, replay.t_to)
            w, c = time.perf_counter(), cpu()
            view = replay.view(party, t)
            walls.append(time.perf_counter() - w)
            cpus.append(cpu() - c)
            shown.append(len(view["tracks"]))
        report("view at random (party, t)", walls, cpus, shown)
        # Playing at x10: the console asks for an instant every 250 ms, 2.5 s apart.
        walls, cpus, shown = [], [], []
        t = replay.t_from + (replay.t_to - replay.t_from) / 3
        for k in range(args.views):
            w, c = time.perf_counter(), cpu()
            view = replay.view("TUR", t + 2.5 * k)
            walls.append(time.perf_counter() - w)
            cpus.append(cpu() - c)
            shown.append(len(view["tracks"]))
        report("view while playing (TUR, every 2.5 s)", walls, cpus, shown)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB, {load()}")


if __name__ == "__main__":
    run()
