"""Strategic deconfliction at scale: 100,000 live intents in a 1,000 km region.

Prints figures, asserts nothing. Run from the repository root:

    .venv/bin/python bench/strategic.py                    # 100,000 intents (about 1.5 min)
    .venv/bin/python bench/strategic.py --intents 10000    # a quick run (about 15 s)
    .venv/bin/python bench/strategic.py --profile put.prof # cProfile of the timed writes

Set-up, not timed: the intents are drawn with vectorised draws and written to an SQLite file
in a temporary directory in ONE bulk insert (``intents.row_values``), bypassing
``IntentBook.put`` and its rules; it takes seconds, where writing them one by one would take
minutes. Everything timed goes through the real book (``service.intents``).

What it measures (WAL, synchronous=FULL: every commit is fsync'd); wall-clock and, beside it,
this process's CPU time, since on a shared machine the wall clock also counts the time other
processes held the cores (the load average is printed with each figure):

- rebuild: ``IntentBook.load`` of every live intent from the table, as at start
  (``--rebuilds`` times), and once more after the writes;
- check: ``IntentBook.overlaps`` plus the F3548 rules (``check_write``) for a new intent,
  i.e. the in-memory part of a create;
- create-with-check: ``IntentBook.put`` of a new intent with a full key and a priority above
  all others: projection, check, encoding, the durable SQLite write (execute and commit with
  fsync) and the index update; the tail of recent writes and the periodic tree rebuilds it
  triggers are inside these figures. The SQLite write is also shown apart, and the rest;
- query: ``IntentBook.query`` of a 5 km circle over one hour.

After the load, ``gc.freeze()`` takes the index out of the cyclic garbage collector's scans,
as a service would after start-up.

Intents: 1 to 3 volumes each, footprints half circles (radius 100 m to 2 km), half star
polygons of 4 to 8 vertices (100 m to 2 km from their centre), altitude bands 100 to 600 m
thick between 0 and 3,000 m, volumes of 10 to 90 minutes within one day, 8 owners.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import statistics
import tempfile
import time

import numpy as np
from pyproj import Geod
from sqlalchemy import insert

from detente.engines import volume_index
from detente.engines.f3548 import DefaultPolicy, check_write
from detente.geo import LocalProjection
from detente.model.intent import (
    Circle,
    IntentState,
    OperationalIntent,
    Polygon,
    Volume4D,
    unchecked,
)
from detente.service.intents import IntentBook
from detente.store import compiled
from detente.store import intents as store
from detente.store.database import open_database

GEOD = Geod(ellps="WGS84")
CENTRE = (36.5, 36.5)  # lat, lon: the Turkey-Syria border region
HALF_SIDE_M = 500_000.0  # a 1,000 km square
DAY_S = 86_400.0
T0 = 1_795_000_000.0


def random_intents(
    rng: np.random.Generator, n: int, prefix: str, owners: int, priority: np.ndarray,
    *, checked: bool,
) -> list[OperationalIntent]:
    """``n`` intents drawn as described in the module docstring, the draws vectorised.

    ``checked`` builds them through the validating constructors (as the API would); otherwise
    with ``unchecked`` (the preloaded table: star polygons are simple by construction, and
    validating 100,000 of them would only slow the set-up down).
    """
    nv = rng.integers(1, 4, n)
    m = int(nv.sum())
    first = np.cumsum(nv) - nv
    which = np.arange(m) - np.repeat(first, nv)  # volume index within its intent
    # Centres: the first volume's uniform over the square, each next one a few km on.
    x, y = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, (2, n))
    lon0, lat0, _ = GEOD.fwd(np.full(n, CENTRE[1]), np.full(n, CENTRE[0]),
                             np.degrees(np.arctan2(x, y)), np.hypot(x, y))
    lat, lon = np.repeat(lat0, nv), np.repeat(lon0, nv)
    for k in (1, 2):
        at = np.flatnonzero(which == k)
        lon[at], lat[at], _ = GEOD.fwd(lon[at - 1], lat[at - 1], rng.uniform(0, 360, at.size),
                                       rng.uniform(1e3, 5e3, at.size))
    lo = rng.uniform(0, 2_400, m)
    hi = lo + rng.uniform(100, 600, m)
    duration = rng.uniform(600, 5_400, m)
    end = np.repeat(T0 + rng.uniform(0, DAY_S, n), nv) + np.cumsum(duration)
    end -= np.repeat(np.cumsum(duration)[first] - duration[first], nv)
    start = end - duration
    circle = rng.random(m) < 0.5
    radius = rng.uniform(100, 2_000, m)
    # Star polygons: m vertices at increasing bearings, 100 m to 2 km from the centre.
    nvert = np.where(circle, 0, rng.integers(4, 9, m))
    owner = np.repeat(np.arange(m), nvert)
    slot = np.arange(owner.size) - np.repeat(np.cumsum(nvert) - nvert, nvert)
    bearing = (slot + rng.uniform(0.1, 0.9, owner.size)) * 360.0 / nvert[owner]
    vlon, vlat, _ = GEOD.fwd(lon[owner], lat[owner], bearing,
                             rng.uniform(100, 2_000, owner.size))
    cut = np.cumsum(nvert)[:-1].tolist()
    plat, plon = np.split(vlat, cut), np.split(vlon, cut)

    build = (lambda cls, *a: cls(*a)) if checked else (
        lambda cls, *a: unchecked(cls, **dict(zip(cls.__slots__, a, strict=True))))
    volumes = [
        build(Volume4D,
              build(Circle, la, lo_, r) if c else
              build(Polygon, tuple(plat[k].tolist()), tuple(plon[k].tolist())),
              a0, a1, t0, t1)
        for k, (c, la, lo_, r, a0, a1, t0, t1) in enumerate(zip(
            circle.tolist(), lat.tolist(), lon.tolist(), radius.tolist(), lo.tolist(),
            hi.tolist(), start.tolist(), end.tolist(), strict=True))
    ]
    state = IntentState.ACCEPTED
    return [
        build(OperationalIntent, f"{prefix}{k}", f"{prefix.upper()[0]}{k % owners}", state,
              p, tuple(volumes[a : a + c]), None)
        for k, (a, c, p) in enumerate(zip(first.tolist(), nv.tolist(), priority.tolist(),
                                          strict=True))
    ]


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


def timed(fn, into: tuple[list[float], list[float]]):
    """``fn`` wrapped to append its wall and CPU time to ``into`` on every call."""

    def wrapper(*args, **kwargs):
        with Clock() as c:
            out = fn(*args, **kwargs)
        into[0].append(c.wall)
        into[1].append(c.cpu)
        return out

    return wrapper


def disk_sync(directory: str, n: int = 200) -> str:
    """p50/p99 of one 4 KiB overwrite plus fdatasync on ``directory``'s disk, the floor under
    a durable commit; on a shared disk it moves with what else is writing."""
    path = os.path.join(directory, "sync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"\0" * 4096)
        os.fsync(fd)
        took = []
        for _ in range(n):
            os.pwrite(fd, b"\1" * 4096, 0)
            t = time.perf_counter()
            os.fdatasync(fd)
            took.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.remove(path)
    ms = np.array(took) * 1e3
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms"


def rebuild(engine, proj, now: float, times: int, what: str) -> IntentBook:
    for _ in range(times):
        gc.collect()
        with Clock() as c:
            index = IntentBook.load(engine, proj, now=now)
        print(f"{what}: {c.wall:.2f} s (CPU {c.cpu:.2f} s) for {len(index):,} live intents; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
    return index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000,
                        help="live intents preloaded into the table (default 100,000)")
    parser.add_argument("--writes", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--rebuilds", type=int, default=3,
                        help="times the rebuild at start is measured (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the create-with-check loop to FILE")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rng = np.random.default_rng(args.seed)
    proj = LocalProjection(*CENTRE)
    now = T0

    # --- set-up, not timed: one bulk insert, bypassing IntentBook.put and its rules ---
    with Clock() as c:
        intents = random_intents(rng, args.intents, "pre-", 8,
                                 rng.integers(0, 5, args.intents), checked=False)
        intents = [it.with_version(f"v{k}") for k, it in enumerate(intents)]
    volumes = sum(len(it.volumes) for it in intents)
    print(f"set-up: generated {len(intents):,} intents, {volumes:,} volumes in {c.wall:.1f} s",
          flush=True)
    workdir = tempfile.mkdtemp(prefix="detente-bench-")
    path = os.path.join(workdir, "bench.sqlite")
    engine = open_database(f"sqlite:///{path}")
    with Clock() as c:
        with engine.begin() as conn:
            conn.execute(insert(store.IntentRow), store.row_values(intents, proj))
    print(f"set-up: bulk insert into {path} in {c.wall:.1f} s", flush=True)
    del intents

    # --- timed ---
    index = rebuild(engine, proj, now, args.rebuilds, "rebuild at start")
    # What a long-running service does after start-up: move the ~10^6 objects of the index
    # out of the cyclic collector's reach, so that its full collections stop rescanning them
    # (they are freed by reference counting as usual; none of them is in a cycle).
    gc.freeze()

    policy = DefaultPolicy()
    # Each new intent outranks every earlier one, so that every write is allowed.
    new = random_intents(rng, args.writes, "new-", 4, 100 + np.arange(args.writes),
                         checked=True)
    print(f"disk: 4 KiB write + fdatasync {disk_sync(workdir)} (before the writes)", flush=True)
    check, put, commit, met = ([], []), ([], []), ([], []), 0
    # The durable write inside put (the driver's execute and commit with fsync), timed apart.
    compiled.write_compiled = timed(compiled.write_compiled, commit)
    store.write_compiled = compiled.write_compiled
    rebuilt = ([], [])
    index._index.rebuild = timed(index._index.rebuild, rebuilt)  # compaction + new static tree
    profile = cProfile.Profile() if args.profile else None
    for cand in new:
        with Clock() as c:
            overlaps = index.overlaps(cand, now=now)
            key = {o.other.version for o in overlaps}
            check_write(cand, overlaps, key, policy=policy)
        check[0].append(c.wall)
        check[1].append(c.cpu)
        met += bool(overlaps)
        if profile:
            profile.enable()
        with Clock() as c:
            index.put(cand, key=key, policy=policy, now=now)
        if profile:
            profile.disable()
        put[0].append(c.wall)
        put[1].append(c.cpu)
    if profile:
        profile.dump_stats(args.profile)
    rest = tuple([p - q for p, q in zip(a, b, strict=True)] for a, b in zip(put, commit,
                                                                           strict=True))
    print(f"check (overlaps + F3548 rules, in memory): {percentiles(*check)}; "
          f"{met / len(new):.0%} of new intents overlap another party's")
    print(f"create-with-check (put: check, commit with fsync, index): {percentiles(*put)}")
    print(f"  of which the SQLite write (execute, commit with fsync): {percentiles(*commit)}")
    print(f"  of which the rest (projection, check, encoding, index update, tree rebuilds): "
          f"{percentiles(*rest)}")
    print(f"disk: 4 KiB write + fdatasync {disk_sync(workdir)} (after the writes)")
    if rebuilt[0]:
        print(f"  tree rebuilds inside these writes: {len(rebuilt[0])}, "
              f"{statistics.mean(rebuilt[0]):.2f} s each (CPU {statistics.mean(rebuilt[1]):.2f} s)")
    with Clock() as c:
        index._index.rebuild()
    print(f"a tree rebuild (compaction and a new static tree; one every {volume_index.TAIL_MAX:,} "
          f"volumes written): {c.wall:.2f} s (CPU {c.cpu:.2f} s)")
    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)

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

    del index
    gc.unfreeze()
    rebuild(engine, proj, now, 1, "rebuild after the writes")
    engine.dispose()
    for name in os.listdir(workdir):
        os.remove(os.path.join(workdir, name))
    os.rmdir(workdir)


if __name__ == "__main__":
    main()
