"""Inserting one batch of 3,333 track reports into SQLite, alone and beside a thread running
Python: ``executemany`` against ``detente.store.database.insert_rows``.

    .venv/bin/python bench/sqlite_inserts.py

The sqlite3 module lets go of the GIL and takes it back at every row of an executemany;
while another thread runs Python, each taking back waits for that thread's switch interval
(5 ms). Prints the median and max of 10 transactions (WAL, synchronous=FULL) each way.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from detente.store import recording as rec
from detente.store.database import insert_rows, open_database, positional_insert

ROWS = 3_333
FIELDS = ("party", "track_id", "received", "t", "lat", "lon", "alt_m", "gs_mps", "trk_deg",
          "vs_mps")


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="detente-bench-"))
    engine = open_database(f"sqlite:///{directory / 'inserts.sqlite'}")
    rng = np.random.default_rng(1)
    rows = [("TUR", f"TUR-{k}", 1.7e9, *v) for k, v in enumerate(rng.random((ROWS, 7)).tolist())]

    def with_executemany() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(positional_insert(rec.reports_table.name, FIELDS, "qmark"), rows)

    def with_insert_rows() -> None:
        with engine.begin() as conn:
            insert_rows(conn, rec.reports_table.name, FIELDS, rows)

    print(f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores; {ROWS:,} rows per transaction, 10 transactions each")
    for name, insert in (("executemany", with_executemany), ("insert_rows", with_insert_rows)):
        for busy in (False, True):
            stop = threading.Event()

            def spin(stop: threading.Event = stop) -> None:
                x = 0
                while not stop.is_set():
                    for i in range(1000):
                        x += i

            thread = threading.Thread(target=spin) if busy else None
            if thread is not None:
                thread.start()
            times = []
            for _ in range(10):
                t0 = time.perf_counter()
                insert()
                times.append(time.perf_counter() - t0)
            stop.set()
            if thread is not None:
                thread.join()
            print(f"{name:12s} {'beside a busy thread' if busy else 'alone':21s} "
                  f"median {statistics.median(times) * 1e3:8.1f} ms, "
                  f"max {max(times) * 1e3:8.1f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
