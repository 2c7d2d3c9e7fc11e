"""The record's export over HTTP while the service goes on: does a big export stall it?

    .venv/bin/python bench/record_export.py                 # 300,000 entries
    .venv/bin/python bench/record_export.py --entries 50000 # quicker

Builds a log of --entries statements (alerts addressed to RUS and TUR, signed by TUR) in an
SQLite file with the log key a service then starts with (`detente serve` in a subprocess, the
same origin), then, for the operator's full export and for COA's copy (leaf hashes only but
for the key registrations): downloads ``GET /v1/record/export`` while a probe asks ``GET
/health`` every 50 ms and RUS posts a batch of 100 states every 200 ms. Prints the export's
size, lines and time, the probes' and posts' latency during it (p50, p99, max), and the
server's RSS growth (VmRSS before and the most seen during the export). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent))
from service import login, pct, rss_mib

from detente.ledger import Ledger, key_statement, origin_for, sign_statement
from detente.store.database import open_database

PARTIES = ("TUR", "RUS", "COA")
T0 = 1.7e9


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def build(db: Path, log_key: Ed25519PrivateKey, tur: Ed25519PrivateKey, n: int) -> None:
    ledger = Ledger(open_database(f"sqlite:///{db}"), log_key,
                    origin=origin_for("detente/export bench"))
    ledger.append(key_statement(tur, tur, author="TUR", time=T0))
    for k in range(0, n, 1000):
        ledger.append_many([
            sign_statement(tur, kind="alert", author="TUR", time=T0 + (k + j) / 1000,
                           body={"n": k + j, "parties": ["RUS", "TUR"],
                                 "text": "aircraft approaching your airspace"})
            for j in range(min(1000, n - k))])
        print(f"  built {min(k + 1000, n):,} of {n:,} entries", file=sys.stderr, end="\r")
    print(file=sys.stderr)


async def measure(base: str, pid: int, who: str, token: str, rus_token: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=600) as c:
        done = asyncio.Event()
        health: list[float] = []
        posts: list[float] = []
        peak = [rss_mib(pid)]
        before = peak[0]

        async def probe() -> None:
            while not done.is_set():
                t = time.perf_counter()
                (await c.get("/health")).raise_for_status()
                health.append(time.perf_counter() - t)
                peak.append(rss_mib(pid))
                await asyncio.sleep(0.05)

        async def feed() -> None:
            k = 0
            while not done.is_set():
                now = time.time()
                states = [{"id": f"r{j}", "t": now, "lat": 35.0 + j * 0.01, "lon": 37.0 + k * 1e-4,
                           "alt_m": 6000.0, "gs_mps": 200.0, "trk_deg": 90.0, "vs_mps": 0.0}
                          for j in range(100)]
                t = time.perf_counter()
                r = await c.post("/v1/states", json={"states": states},
                                 headers={"Authorization": f"Bearer {rus_token}"})
                r.raise_for_status()
                posts.append(time.perf_counter() - t)
                k += 1
                await asyncio.sleep(0.2)

        tasks = [asyncio.create_task(probe()), asyncio.create_task(feed())]
        await asyncio.sleep(1.0)  # the load before the export
        health.clear()
        posts.clear()
        t0 = time.perf_counter()
        size = lines = 0
        async with c.stream("GET", "/v1/record/export",
                            headers={"Authorization": f"Bearer {token}"}) as r:
            r.raise_for_status()
            async for chunk in r.aiter_bytes():
                size += len(chunk)
                lines += chunk.count(b"\n")
        wall = time.perf_counter() - t0
        done.set()
        await asyncio.gather(*tasks)
    print(f"{who}: {size / 1e6:,.0f} MB, {lines:,} lines in {wall:.1f} s; during it GET "
          f"/health p50 {pct(health, 50) * 1e3:.0f} ms, p99 {pct(health, 99) * 1e3:.0f} ms, "
          f"max {max(health, default=float('nan')) * 1e3:.0f} ms ({len(health)} probes); POST "
          f"/v1/states (100 states) p50 {pct(posts, 50) * 1e3:.0f} ms, p99 "
          f"{pct(posts, 99) * 1e3:.0f} ms, max {max(posts, default=float('nan')) * 1e3:.0f} ms; "
          f"server RSS +{max(peak) - before:.0f} MiB; load {os.getloadavg()[0]:.2f}")


async def main_async(args: argparse.Namespace) -> None:
    keys = {p: Ed25519PrivateKey.generate() for p in PARTIES}
    log_key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        (tmp / "log.pem").write_bytes(pem(log_key))
        db = tmp / "record.sqlite"
        t = time.perf_counter()
        build(db, log_key, keys["TUR"], args.entries)
        print(f"built {args.entries:,} entries in {time.perf_counter() - t:.0f} s",
              file=sys.stderr)
        cfg = tmp / "config.toml"
        cfg.write_text(
            '[region]\nname = "export bench"\ncentre = [36.0, 38.0]\n'
            f'[service]\nlog_key = "{tmp / "log.pem"}"\n'
            + "".join(f'[[parties]]\nid = "{p}"\npublic_keys = ["{public_b64(k)}"]\n'
                      for p, k in keys.items())
            + "".join(f'[[agreements]]\nparties = ["{a}", "{b}"]\n'
                      f'[agreements.shares.{a}]\nzones = "all"\n'
                      f'[agreements.shares.{b}]\nzones = "all"\n'
                      for a, b in (("TUR", "RUS"), ("TUR", "COA"), ("RUS", "COA"))))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "detente", "serve", "--config", str(cfg), "--db",
             f"sqlite:///{db}", "--port", str(port)], stderr=open(tmp / "server.log", "w"))
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base, timeout=60) as c:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    try:
                        if (await c.get("/health")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                tokens = {p: await login(c, p, k) for p, k in keys.items()}
                tokens["operator"] = await login(c, "detente", log_key)
            print(f"{args.entries:,} entries; the export streamed while RUS posts and a probe "
                  "asks /health")
            for who in ("operator", "COA"):
                await measure(base, server.pid, who, tokens[who], tokens["RUS"])
        finally:
            server.terminate()
            server.wait(60)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=300_000)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
