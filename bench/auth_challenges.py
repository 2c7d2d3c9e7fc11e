"""Login challenges: what one costs as they pile up, in the table and over HTTP.

    .venv/bin/python bench/auth_challenges.py [--http 20000]

1. ``ChallengeTable`` alone, its caps lifted so that it can grow: the median time to issue one
   challenge and take another back, with 0 to 100,000 outstanding. A table rebuilt at each
   call (as before) grows linearly; this one should not grow at all.
2. ``POST /v1/auth/challenge`` over loopback to a real server (uvicorn, one client, one
   connection), ``--http`` times: the median of the first and of the last 1,000 calls. Issue 13
   measured 3.7 ms then 10.3 ms over 20,000 before the table was bounded.

Prints the load average beside the figures: they follow it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

from detente.api.app import create_app
from detente.data import bundled_path
from detente.service.auth import ChallengeTable
from detente.service.config import load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.live_server import serve


def table_costs() -> None:
    print("ChallengeTable, caps lifted: issue one + take one back, median of 2,000 (us)")
    for n in (0, 1_000, 10_000, 100_000):
        table = ChallengeTable(per_address=10**9, per_identity=10**9)
        now = time.time()
        for k in range(n):
            table.issue(("TUR", None), f"10.{k >> 16 & 255}.{k >> 8 & 255}.{k & 255}", now)
        times = []
        for _ in range(2_000):
            t0 = time.perf_counter()
            raw, _ = table.issue(("TUR", None), "127.0.0.1", now)
            table.take(raw, now)
            times.append(time.perf_counter() - t0)
        print(f"  {n:>7,} outstanding: {statistics.median(times) * 1e6:6.2f} us")


def http_costs(count: int) -> None:
    config = load_config(bundled_path("demo/border.toml"))
    directory = Path(tempfile.mkdtemp(prefix="detente-bench-"))
    config = replace(config, settings=replace(config.settings,
                                              log_key_file=directory / "log.pem"))
    with serve(create_app(config, f"sqlite:///{directory / 'auth.sqlite'}")) as base, \
            httpx.Client(base_url=base) as client:
        times = []
        for k in range(count):
            body = {"party": "TUR", "official": "tur-watch"} if k % 2 else {"party": "RUS"}
            t0 = time.perf_counter()
            r = client.post("/v1/auth/challenge", json=body)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    first = statistics.median(times[:1000]) * 1e3
    last = statistics.median(times[-1000:]) * 1e3
    print(f"POST /v1/auth/challenge x {count:,} over loopback: median of the first 1,000 "
          f"{first:.2f} ms, of the last 1,000 {last:.2f} ms; total {sum(times):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--http", type=int, default=20_000, help="HTTP calls (0: none)")
    args = parser.parse_args()
    table_costs()
    if args.http:
        http_costs(args.http)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
