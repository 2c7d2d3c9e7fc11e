"""What a week of recording takes on disk: bytes per track report, and 7 days at 10,000 tracks.

    .venv/bin/python bench/recording.py                         # random and demo traffic, 10 min
    .venv/bin/python bench/recording.py --traffic random --seconds 300
    .venv/bin/python bench/recording.py --opensky FILE.json.gz  # real 1 Hz ADS-B besides

Feeds simulated time (one batch per party per second, 10,000 tracks by default, three
parties) through the service's own recording path: ``ReportSegments`` (thinning, the grid,
segments) behind the ``Recorder`` (group commit, fsync) into an SQLite file, the tracks that
leave flushed each second as the detection cycle does, and the anchors' digest fed and cut
every 10 s. The database is measured after a checkpoint of its WAL: the bytes per report are
those of the steady state (after the first --settle seconds, when every track's first
report is kept), and a week is that times 10,000 tracks x 86,400 s x 7.

Traffic:

- ``random``: bench/service.py's (straight lines over a 2,000 km square, 100-250 m/s,
  FL100-FL400, constant track and speed): the easiest there is for dead reckoning.
- ``demo``: the demo's (the 2015 reconstruction's racetracks, 2 Su-24 and 2 F-16, and the
  real ADS-B traffic recorded over Paris, moved to the region: 5 s samples, each said again
  until the next), its ~40 tracks copied, each copy at another moment of the 15-minute loop,
  up to --tracks.
- ``opensky`` (with --opensky FILE: OpenSky state vectors as in the traffic package's
  samples, JSON list, aviation units): real ADS-B at 1 Hz, its aircraft copied likewise, each
  copy at another moment of the recording. The hardest: terminal-area traffic turns, climbs
  and descends, and its speeds and rates are noisy.

Modes: ``thinned`` (the default tolerance, what the service does), ``exact`` (every report,
as received, lossless segments: ``[service.recording] exact = true``), and ``rows`` (a row per
report in ``track_reports``, as before the segments; --rows-seconds of it, it is slow).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from detente.model.reports import REPORT_COLUMNS
from detente.store import recording as rec
from detente.store.database import open_database
from detente.store.report_digest import ReportChain
from detente.store.report_segments import ReportSegments
from detente.store.report_thinning import DEFAULT_TOLERANCE, EXACT

PARTIES = ("P0", "P1", "P2")
T0 = 1_800_000_000.0
WEEK_REPORTS = 10_000 * 86_400 * 7
STALE_S = 60.0

Batch = tuple[str, list[str], np.ndarray]  # party, ids, (n, 7) values
Second = list[Batch]


def random_traffic(tracks: int) -> Iterator[Second]:
    sys.path.insert(0, str(Path(__file__).parent))
    import service  # bench/service.py: the same fleets

    clock = [T0]
    service.time.time = lambda: clock[0]  # its fleets read the clock: simulated time
    per = tracks // len(PARTIES)
    fleets = {p: service.Fleet(p, per, seed=k) for k, p in enumerate(PARTIES)}
    while True:
        clock[0] += 1.0
        out = []
        for p, fleet in fleets.items():
            states = fleet.batch()
            out.append((p, [s["id"] for s in states],
                        np.array([[s[c] for c in REPORT_COLUMNS] for s in states])))
        yield out


def demo_traffic(tracks: int) -> Iterator[Second]:
    from detente.scenario.demo_traffic import DemoTraffic

    traffic = DemoTraffic()
    per_copy = sum(len(v) for v in traffic.states_at(300.0, T0).values())
    copies = max(1, tracks // per_copy)
    s = 0.0
    while True:
        s += 1.0
        out: dict[str, tuple[list[str], list[list[float]]]] = {}
        for k in range(copies):
            # Each copy at another moment of the loop, its reports timed now.
            shift = 37.0 * k
            for party, states in traffic.states_at(s + shift, T0 - shift).items():
                ids, values = out.setdefault(PARTIES[k % 3], ([], []))
                for st in states:
                    ids.append(f"{party}-{st['id']}-{k}")
                    values.append([st[c] for c in REPORT_COLUMNS])
        yield [(p, ids, np.array(values)) for p, (ids, values) in out.items()]


def opensky_traffic(tracks: int, path: Path) -> Iterator[Second]:
    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        records = json.load(f)
    fields = ("latitude", "longitude", "altitude", "groundspeed", "track", "vertical_rate")
    by_second: dict[int, dict[str, list[float]]] = {}
    for r in records:
        if r.get("onground") or any(r.get(k) is None for k in fields):
            continue
        second = int(r["timestamp"] // 1000)
        by_second.setdefault(second, {})[r["icao24"]] = [
            r["timestamp"] / 1000.0, r["latitude"], r["longitude"], r["altitude"] * 0.3048,
            r["groundspeed"] * 0.514444, r["track"] % 360.0, r["vertical_rate"] * 0.00508]
    first, last = min(by_second), max(by_second)
    span = last - first + 1
    airborne = sum(len(v) for v in by_second.values()) / span
    copies = max(1, round(tracks / airborne))
    s = 0
    while True:
        s += 1
        out: dict[str, tuple[list[str], list[list[float]]]] = {}
        for k in range(copies):
            shift = (s + 97 * k) % span  # another moment of the recording, for each copy
            at = by_second.get(first + shift, {})
            for ident, row in at.items():
                ids, values = out.setdefault(PARTIES[k % 3], ([], []))
                ids.append(f"{ident}-{k}")
                # Timed now: each copy's clock moved to the simulated one.
                values.append([T0 + s + (row[0] - (first + shift)), *row[1:]])
        yield [(p, ids, np.array(values)) for p, (ids, values) in out.items()]


def db_bytes(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def measure(name: str, seconds_of: Iterator[Second], mode: str, seconds: int, settle: int,
            folder: Path) -> dict:
    db = folder / f"{name}-{mode}.sqlite"
    engine = open_database(f"sqlite:///{db}")
    chain = ReportChain()
    writer = ReportSegments(EXACT if mode == "exact" else DEFAULT_TOLERANCE, chain)
    recorder = rec.Recorder(engine, on_rollback=writer.rollback)
    reports = settled_reports = 0
    settled_bytes = 0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for s in range(1, seconds + 1):
        now = T0 + s + 0.3
        batch = next(seconds_of)
        for party, ids, values in batch:
            work = (rec.insert_reports(party, ids, values, now) if mode == "rows"
                    else writer.insert(party, ids, values, now))
            recorder.submit(work).result()
            reports += len(ids)
        if mode != "rows":
            recorder.submit(writer.flush(now - STALE_S)).result()
        if s % 10 == 0:
            recorder.submit(lambda conn: None).result()
            chain.confirm(chain.cut())  # as if said in the record
        if s == settle:
            settled_bytes, settled_reports = db_bytes(db), reports
        print(f"  {name} {mode}: {s} s of {seconds}", end="\r", file=sys.stderr)
    recorder.close()
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    total = db_bytes(db)
    engine.dispose()
    per = (total - settled_bytes) / max(reports - settled_reports, 1)
    kept = writer.kept if mode != "rows" else reports
    tracks = sum(len(i) for _, i, _ in batch)
    return {"traffic": name, "mode": mode, "tracks": tracks,
            "seconds": seconds, "reports": reports, "kept": kept,
            "bytes_per_report": per, "bytes_per_kept": per * reports / max(kept, 1),
            "week_gb": per * WEEK_REPORTS / 1e9, "db_mb": total / 1e6,
            "cpu_us_per_report": 1e6 * cpu / reports, "wall_s": wall}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=600, help="simulated seconds of each run")
    p.add_argument("--settle", type=int, default=120,
                   help="seconds left out of the bytes per report (every first report kept)")
    p.add_argument("--traffic", default="random,demo", help="random, demo, opensky")
    p.add_argument("--modes", default="thinned,exact,rows")
    p.add_argument("--rows-seconds", type=int, default=180, help="simulated seconds of rows")
    p.add_argument("--opensky", type=Path, default=None, metavar="FILE")
    args = p.parse_args()
    kinds = args.traffic.split(",")
    if args.opensky is not None and "opensky" not in kinds:
        kinds.append("opensky")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.tracks:,} tracks "
          f"at 1 Hz, {args.seconds} s simulated, the first {args.settle} s left out")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            for mode in args.modes.split(","):
                if kind == "opensky" and args.opensky is None:
                    print("opensky: give --opensky FILE")
                    break
                seconds = args.rows_seconds if mode == "rows" else args.seconds
                source = {"random": lambda: random_traffic(args.tracks),
                          "demo": lambda: demo_traffic(args.tracks),
                          "opensky": lambda: opensky_traffic(args.tracks, args.opensky)}[kind]()
                r = measure(kind, source, mode, seconds, min(args.settle, seconds // 2),
                            Path(tmp))
                print(f"{kind:8s} {mode:8s} {r['tracks']:6,} tracks, {r['reports']:,} reports in "
                      f"{r['seconds']} s: kept {100 * r['kept'] / r['reports']:5.1f} %; "
                      f"{r['bytes_per_report']:6.2f} bytes/report ({r['bytes_per_kept']:.1f} per "
                      f"kept); a week at 10,000 tracks: {r['week_gb']:,.1f} GB; recorder CPU "
                      f"{r['cpu_us_per_report']:.2f} us/report; load average "
                      f"{os.getloadavg()[0]:.2f}", flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
