"""Strategic deconfliction at scale: 100,000 live intents in a 1,000 km region.

Prints figures, asserts nothing. Run from the repository root:

    .venv/bin/python bench/strategic.py            # 100,000 intents (about 2 minutes)
    .venv/bin/python bench/strategic.py --intents 10000 --writes 500

What it measures, on an SQLite file in a temporary directory (WAL, synchronous=FULL: every
commit is fsync'd); wall-clock and, beside it, this process's CPU time, since on a shared machine
the wall clock also counts the time other processes held the cores (the load average is shown):

- rebuild: ``IntentIndex.load`` of every live intent from the table, as at start;
- check: ``IntentIndex.overlaps`` plus the F3548 rules (``check_write``) for a new intent,
  i.e. the in-memory part of a create;
- create-with-check: ``IntentIndex.put`` of a new intent with a full key and a priority above
  all others, i.e. check, commit (fsync) and index update; the tail of recent writes and the
  periodic tree rebuilds it triggers are inside these figures;
- query: ``IntentIndex.query`` of a 5 km circle over one hour.

After the load, ``gc.freeze()`` takes the index out of the cyclic garbage collector's scans,
as a service would after start-up.

Intents: 1 to 3 volumes each, footprints half circles (radius 100 m to 2 km), half star
polygons of 4 to 8 vertices (100 m to 2 km from their centre), altitude bands 100 to 600 m
thick between 0 and 3,000 m, volumes of 10 to 90 minutes within one day, 8 owners. The table is
filled in one bulk insert (the rules are not applied to the preloaded intents).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time

import numpy as np
from pyproj import Geod
from sqlalchemy import insert

from detente.engines.f3548 import DefaultPolicy, check_write
from detente.geo import LocalProjection
from detente.model.intent import Circle, OperationalIntent, Polygon, Volume4D
from detente.store import intents as store
from detente.store.database import open_database

GEOD = Geod(ellps="WGS84")
CENTRE = (36.5, 36.5)  # lat, lon: the Turkey-Syria border region
HALF_SIDE_M = 500_000.0  # a 1,000 km square
DAY_S = 86_400.0
T0 = 1_795_000_000.0


def random_intent(rng: np.random.Generator, ident: str, owner: str, priority: int):
    x, y = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, 2)
    az, dist = np.degrees(np.arctan2(x, y)), float(np.hypot(x, y))
    lon, lat, _ = GEOD.fwd(CENTRE[1], CENTRE[0], az, dist)
    start = T0 + float(rng.uniform(0, DAY_S))
    volumes = []
    for _ in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            fp = Circle(float(lat), float(lon), float(rng.uniform(100, 2_000)))
        else:
            m = int(rng.integers(4, 9))
            ang = (np.arange(m) + rng.uniform(0.1, 0.9, m)) * 360.0 / m
            plon, plat, _ = GEOD.fwd(np.full(m, lon), np.full(m, lat), ang,
                                     rng.uniform(100, 2_000, m))
            fp = Polygon(tuple(plat.tolist()), tuple(plon.tolist()))
        lo = float(rng.uniform(0, 2_400))
        duration = float(rng.uniform(600, 5_400))
        volumes.append(Volume4D(fp, lo, lo + float(rng.uniform(100, 600)), start,
                                start + duration))
        # The next volume continues the flight a few km on.
        lon, lat, _ = GEOD.fwd(lon, lat, float(rng.uniform(0, 360)), float(rng.uniform(1e3, 5e3)))
        start += duration
    return OperationalIntent(ident, owner, "Accepted", priority, tuple(volumes))


def percentiles(wall_s: list[float], cpu_s: list[float]) -> str:
    wall, cpu = np.array(wall_s) * 1e3, np.array(cpu_s) * 1e3
    return (f"p50 {np.percentile(wall, 50):.2f} ms, p99 {np.percentile(wall, 99):.2f} ms, "
            f"max {wall.max():.1f} ms (CPU p50 {np.percentile(cpu, 50):.2f} ms, "
            f"p99 {np.percentile(cpu, 99):.2f} ms; n={wall.size})")


class Clock:
    """Wall-clock and process CPU time of a block, in seconds."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    rng = np.random.default_rng(args.seed)
    proj = LocalProjection(*CENTRE)
    now = T0

    t = time.perf_counter()
    intents = [
        random_intent(rng, f"pre-{k}", f"P{k % 8}", int(rng.integers(0, 5))).with_version(f"v{k}")
        for k in range(args.intents)
    ]
    volumes = sum(len(it.volumes) for it in intents)
    print(f"generated {len(intents):,} intents, {volumes:,} volumes "
          f"in {time.perf_counter() - t:.1f} s")

    workdir = tempfile.mkdtemp(prefix="detente-bench-")
    path = os.path.join(workdir, "bench.sqlite")
    engine = open_database(f"sqlite:///{path}")
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(insert(store.IntentRow), store.row_values(intents, proj))
    print(f"bulk insert into {path}: {time.perf_counter() - t:.1f} s")
    del intents

    with Clock() as c:
        index = store.IntentIndex.load(engine, proj, now=now)
    print(f"rebuild at start: {c.wall:.2f} s (CPU {c.cpu:.2f} s) for {len(index):,} live intents")
    # What a long-running service does after start-up: move the ~10^6 objects of the index
    # out of the cyclic collector's reach, so that its full collections stop rescanning them
    # (they are freed by reference counting as usual; none of them is in a cycle).
    gc.freeze()

    policy = DefaultPolicy()
    # Each new intent outranks every earlier one, so that every write is allowed.
    new = [random_intent(rng, f"new-{k}", f"N{k % 4}", 100 + k) for k in range(args.writes)]
    check, put, met = ([], []), ([], []), 0
    for cand in new:
        with Clock() as c:
            overlaps = index.overlaps(cand, now=now)
            key = {o.other.version for o in overlaps}
            check_write(cand, overlaps, key, policy=policy)
        check[0].append(c.wall)
        check[1].append(c.cpu)
        met += bool(overlaps)
        with Clock() as c:
            index.put(cand, key=key, policy=policy, now=now)
        put[0].append(c.wall)
        put[1].append(c.cpu)
    print(f"check (overlaps + F3548 rules, in memory): {percentiles(*check)}; "
          f"{met / len(new):.0%} of new intents overlap another party's")
    print(f"create-with-check (put: check, commit with fsync, index): {percentiles(*put)}")

    query, found = ([], []), []
    for _ in range(args.queries):
        x, y = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, 2)
        lat, lon = proj.inverse(x, y)
        t0 = T0 + float(rng.uniform(0, DAY_S))
        probe = Volume4D(Circle(float(lat), float(lon), 5_000.0), 0.0, 3_000.0, t0, t0 + 3_600)
        with Clock() as c:
            found.append(len(index.query([probe], now=now)))
        query[0].append(c.wall)
        query[1].append(c.cpu)
    print(f"query (5 km circle, 1 h, 0-3,000 m): {percentiles(*query)}; "
          f"{statistics.mean(found):.1f} intents found on average")

    with Clock() as c:
        index = store.IntentIndex.load(engine, proj, now=now)
    print(f"rebuild after the writes: {c.wall:.2f} s (CPU {c.cpu:.2f} s) "
          f"for {len(index):,} intents")
    print(f"load average {os.getloadavg()[0]:.1f}")
    engine.dispose()
    for name in os.listdir(workdir):
        os.remove(os.path.join(workdir, name))
    os.rmdir(workdir)


if __name__ == "__main__":
    main()
