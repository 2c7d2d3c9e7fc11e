"""The walk of one report from ingest to alert, through the code: prints figures, asserts nothing.

    .venv/bin/python bench/walk.py [--verbose]

A mechanism with a record (SQLite in a temp dir, two parties that agreed) holds one aircraft
of party B; party A then reports one on a collision course with it, and the walk is every
Python call made inside detente from ``Mechanism.ingest`` until the alert is in B's
subscriber queue (all threads: detection and the recorder run in worker threads). Printed:
the source files the walk enters, the calls that cross from one file to another, and the
pairs of files that call each other both ways (back-and-forth), and how many times something
is turned into JSON text on the way (``json.dumps`` calls).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import detente
from detente.ledger import Ledger
from detente.model.reports import TrackReport
from detente.service.clock import ManualClock
from detente.service.config import Agreement, Config, Party, Share
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store.database import open_database

ROOT = Path(detente.__file__).parent
T0 = 1_448_349_000.0


def config() -> Config:
    parties = {p: Party(p, p, (Ed25519PrivateKey.generate().public_key(),)) for p in "AB"}
    share = Share()
    return Config("walk", (36.0, 36.0), parties,
                  (Agreement(("A", "B"), {"A": share, "B": share}),))


def report(track: str, t: float, lon: float, trk: float) -> TrackReport:
    return TrackReport(track, t, 36.0, lon, 7000.0, 200.0, trk, 0.0)


class Walk:
    """Calls between detente's source files, from every thread, while it is on."""

    def __init__(self) -> None:
        self.files: Counter[str] = Counter()
        self.crossings: Counter[tuple[str, str]] = Counter()
        self.dumps = 0
        self.lock = threading.Lock()
        self.on = False

    def profile(self, frame, event, arg):  # type: ignore[no-untyped-def]
        if event != "call" or not self.on:
            return
        code = frame.f_code
        if code is json.dumps.__code__:
            with self.lock:
                self.dumps += 1
            return
        callee = _source(code.co_filename)
        if callee is None:
            return
        caller = None
        back = frame.f_back
        while back is not None and caller is None:
            caller = _source(back.f_code.co_filename)
            back = back.f_back
        with self.lock:
            self.files[callee] += 1
            if caller is not None and caller != callee:
                self.crossings[caller, callee] += 1

    def __enter__(self) -> Walk:
        # Threads started from here on are profiled too (the recorder's, the workers'):
        # enter before the mechanism starts them.
        threading.setprofile(self.profile)
        sys.setprofile(self.profile)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


def _source(filename: str) -> str | None:
    try:
        return str(Path(filename).relative_to(ROOT))
    except ValueError:
        return None


async def walk() -> Walk:
    with tempfile.TemporaryDirectory() as tmp, Walk() as w:
        clock = ManualClock(T0)
        cfg = config()
        log = Ed25519PrivateKey.generate()
        engine = open_database(f"sqlite:///{Path(tmp) / 'walk.sqlite'}")
        ledger = Ledger(engine, log, origin="detente/walk", clock=clock.now)
        mech = Mechanism(cfg, engine, clock, Record(ledger, log, cfg, clock))
        subscribed = mech.subscribe("B", None, None)
        sub, _ = await subscribed if inspect.isawaitable(subscribed) else subscribed
        # A first encounter, not counted: imports, caches, worker threads.
        await mech.ingest("B", [report("b0", T0, 37.2, 270.0)])
        await mech.ingest("A", [report("a0", T0, 36.8, 90.0)])
        await mech.cycle()
        await mech.ingest("B", [report("b1", T0, 36.2, 270.0)])
        while not sub.queue.empty():
            sub.queue.get_nowait()
        w.on = True
        await mech.ingest("A", [report("a1", T0, 35.8, 90.0)])
        while (await sub.queue.get())["type"] != "alert":
            pass
        w.on = False
        mech.close()
        ledger.close()
        return w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verbose", action="store_true", help="list every crossing")
    args = parser.parse_args()
    w = asyncio.run(walk())
    both = sorted({tuple(sorted(pair)) for pair in w.crossings
                   if (pair[1], pair[0]) in w.crossings})
    print("walk of one report from Mechanism.ingest to the alert in the subscriber's queue:")
    print(f"  {len(w.files)} source files entered: {', '.join(sorted(w.files))}")
    print(f"  {sum(w.crossings.values())} calls from one file into another "
          f"({len(w.crossings)} distinct file pairs)")
    print(f"  {len(both)} pairs of files calling each other both ways: "
          f"{'; '.join(f'{a} <-> {b}' for a, b in both) or 'none'}")
    print(f"  json.dumps calls on the way: {w.dumps}")
    if args.verbose:
        for (a, b), n in w.crossings.most_common():
            print(f"    {n:5d}  {a} -> {b}")


if __name__ == "__main__":
    main()
