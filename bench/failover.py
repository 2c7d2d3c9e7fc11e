"""Failover benchmark: two instances of one node on one PostgreSQL, the leader killed under load.
Prints figures, asserts nothing.

    .venv/bin/python -m tests.postgres failover &          # prints an empty database's URL
    .venv/bin/python bench/failover.py --db postgresql://postgres@127.0.0.1:PORT/failover

Starts two `detente serve` on the database --db names (empty), the first as leader, and loads
them as bench/service.py does (three parties, --tracks at 1 Hz, each party's batch sent to the
instances in turn, a client that finds an instance down or answering 503 sends the batch to
the other), with a probe pair put head-on every 0.25 s (P1's report to one instance, P0's to
the other) and P0's stream on the second instance. After --before seconds the leader is killed
(SIGKILL); the run goes on --after seconds. Prints: the time from the kill to the second
instance leading (its /health), report -> alert latency of the probes before, across (sent in
the 10 s from the kill) and after, the writes refused (503 with Retry-After) and the batches
that found the killed instance down, and whether every report acknowledged is in the
recording: the recording keeps the reports that depart from their track's last kept report,
flown on, beyond its tolerance (store.report_thinning), so each acknowledged report must be
within the tolerance of the last report of its track the recording kept at or before its time
(checked with the thinning's own dead reckoning, report by report).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
import numpy as np
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).parent))
from service import PARTIES, Fleet, login, pct, write_config

from detente.geo import WGS84
from detente.model.reports import REPORT_COLUMNS
from detente.store import recording as rec
from detente.store.database import open_database
from detente.store.report_thinning import DEFAULT_TOLERANCE, departures


def unrecorded(db: str, acknowledged: list[tuple[str, list[dict]]]) -> tuple[int, int]:
    """(reports the recording kept, acknowledged reports it does not hold within the
    tolerance: none kept of their track at or before their time, or departing from the last
    one, flown on, beyond it)."""
    engine = open_database(db, create=False)
    kept: dict[tuple[str, str], list[list[float]]] = {}
    n = 0
    for r in rec.reports_received_between(engine, None, None):
        kept.setdefault((r["party"], r["track_id"]), []).append(
            [r[c] for c in REPORT_COLUMNS])
        n += 1
    engine.dispose()
    by_track = {key: np.array(sorted(rows)) for key, rows in kept.items()}
    refs, news, missing = [], [], 0
    for party, states in acknowledged:
        for st in states:
            rows = by_track.get((party, st["id"]))
            new = [st[c] for c in REPORT_COLUMNS]
            # Kept times are on a 1 ms grid: the report itself may be kept 0.5 ms later.
            k = -1 if rows is None else int(np.searchsorted(rows[:, 0], new[0] + 1e-3)) - 1
            if k < 0:
                missing += 1
                continue
            refs.append(rows[k])
            news.append(new)
    far = int(departures(np.array(refs), np.array(news), DEFAULT_TOLERANCE).sum()) if news else 0
    return n, missing + far


def start(cfg: Path, db: str, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "detente", "serve", "--config", str(cfg), "--db", db, "--port",
         str(port)], stderr=open(log, "w"))


async def wait_role(c: httpx.AsyncClient, base: str, role: str, seconds: float = 180) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            r = await c.get(f"{base}/health", timeout=1.0)
            if r.status_code == 200 and r.json().get("role") == role:
                return time.monotonic()
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.02)
    raise SystemExit(f"{base} did not become {role}")


async def main_async(args: argparse.Namespace) -> None:
    keys = {p: Ed25519PrivateKey.generate() for p in PARTIES}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = write_config(tmp, keys, None)
        ports = []
        for _ in range(2):
            import socket
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                ports.append(s.getsockname()[1])
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        async with httpx.AsyncClient(timeout=30) as c:
            first = start(cfg, args.db, ports[0], tmp / "first.log")
            await wait_role(c, bases[0], "leader")
            second = start(cfg, args.db, ports[1], tmp / "second.log")
            await wait_role(c, bases[1], "follower")
            try:
                await run(args, c, keys, bases, first)
            finally:
                for p in (first, second):
                    if p.poll() is None:
                        p.send_signal(signal.SIGINT)
                        p.wait(30)
                for name in ("first", "second"):
                    said = (tmp / f"{name}.log").read_text().strip()
                    if said and args.verbose:
                        print(f"{name} said:\n{said[-5000:]}", file=sys.stderr)


async def run(args: argparse.Namespace, c: httpx.AsyncClient, keys: dict, bases: list[str],
              first: subprocess.Popen) -> None:
    tokens = {}
    for p, k in keys.items():
        c.base_url = bases[0]
        tokens[p] = await login(c, p, k)
    c.base_url = ""
    per = args.tracks // len(PARTIES)
    fleets = {p: Fleet(p, per, seed=k) for k, p in enumerate(PARTIES)}
    accepted = [0]
    acknowledged: list[tuple[str, list[dict]]] = []  # (party, states) of each batch answered 200
    refused = {"503": 0, "down": 0}
    probes: dict[str, float] = {}
    latency: list[tuple[float, float]] = []  # (sent, latency)
    stop = asyncio.Event()
    kill = {"at": None, "took": None}

    async def post(k: int, party: str, states: list[dict]) -> None:
        body = msgspec.json.encode({"states": states})
        h = {"Authorization": f"Bearer {tokens[party]}", "content-type": "application/json"}
        for base in (bases[k % 2], bases[(k + 1) % 2]):
            try:
                r = await c.post(f"{base}/v1/states", content=body, headers=h, timeout=10)
            except httpx.TransportError:
                refused["down"] += 1
                continue
            if r.status_code == 200:
                accepted[0] += r.json()["accepted"]
                acknowledged.append((party, states))
                return
            if r.status_code == 503 and r.headers.get("retry-after"):
                refused["503"] += 1
                continue
            raise SystemExit(f"unexpected answer {r.status_code}: {r.text[:300]}")

    async def feed(n: int, party: str) -> None:
        k = n
        while not stop.is_set():
            t0 = time.perf_counter()
            k += 1
            await post(k, party, fleets[party].batch())
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

    async def listen() -> None:
        url = bases[1].replace("http", "ws") + f"/v1/stream?token={tokens['P0']}&since=0"
        async with websockets.connect(url, max_size=None) as ws:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                if raw.startswith('{"seq":null'):
                    continue
                msg = json.loads(raw)
                if msg["type"] == "alert" and msg["data"]["state"] == "raised":
                    for t in msg["data"]["tracks"]:
                        sent = probes.pop(t["id"] or "", None)
                        if sent is not None:
                            latency.append((sent, time.perf_counter() - sent))

    async def probe() -> None:
        k = 0
        while not stop.is_set():
            k += 1
            lat, lon = 34.0 + (k % 50) * 0.05, 36.0 + (k // 50) * 0.3
            lon2, lat2, _ = WGS84.fwd(lon, lat, 90.0, 20_000.0)
            now = time.time()
            p0 = {"id": f"probe-{k}", "t": now, "lat": lat, "lon": lon, "alt_m": 15_000,
                  "gs_mps": 200, "trk_deg": 90, "vs_mps": 0}
            p1 = {"id": f"probe-{k}", "t": now, "lat": lat2, "lon": lon2, "alt_m": 15_000,
                  "gs_mps": 200, "trk_deg": 270, "vs_mps": 0}
            await post(k, "P1", [p1])
            probes[f"probe-{k}"] = time.perf_counter()
            await post(k + 1, "P0", [p0])
            await asyncio.sleep(0.25)

    async def director() -> None:
        await asyncio.sleep(args.before)
        kill["at"] = time.perf_counter()
        first.send_signal(signal.SIGKILL)
        took = await wait_role(c, bases[1], "leader", 60)
        kill["took"] = took - time.monotonic() + (time.perf_counter() - kill["at"])
        await asyncio.sleep(args.after)
        stop.set()

    await asyncio.gather(*(feed(n, p) for n, p in enumerate(PARTIES)), listen(), probe(),
                         director())
    at = kill["at"]
    before = [v for s, v in latency if s < at]
    across = [v for s, v in latency if at <= s < at + 10]
    after = [v for s, v in latency if s >= at + 10]
    lost_probes = sum(1 for s in probes.values() if s < time.perf_counter() - 10)
    kept, lost = await asyncio.to_thread(unrecorded, args.db, acknowledged)

    def ms(v: list[float]) -> str:
        return (f"p50 {pct(v, 50) * 1e3:.0f} ms, p99 {pct(v, 99) * 1e3:.0f} ms, max "
                f"{max(v, default=float('nan')) * 1e3:.0f} ms ({len(v)} probes)")

    print(f"two instances on {args.db.rsplit('@', 1)[-1]}; tracks {args.tracks} from 3 parties "
          f"at 1 Hz; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end")
    print(f"leader killed (SIGKILL) after {args.before:g} s: the other instance led "
          f"{kill['took']:.2f} s later")
    print(f"report -> alert, probes sent before the kill: {ms(before)}")
    print(f"report -> alert, probes sent in the 10 s from the kill: {ms(across)}")
    print(f"report -> alert, probes sent later: {ms(after)}")
    print(f"writes refused with 503 and Retry-After: {refused['503']}; batches that found the "
          f"killed instance down and went to the other: {refused['down']}; probes never "
          f"alerted: {lost_probes}")
    print(f"states acknowledged: {accepted[0]:,}; reports the recording kept: {kept:,} "
          f"(within {DEFAULT_TOLERANCE.position_m:g} m, {DEFAULT_TOLERANCE.altitude_m:g} m, "
          f"{DEFAULT_TOLERANCE.speed_mps:g} m/s, {DEFAULT_TOLERANCE.track_deg:g} deg of dead "
          f"reckoning); acknowledged and not held within the tolerance: "
          f"{'none' if not lost else 'LOST ' + str(lost)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--db", required=True, metavar="URL", help="an empty PostgreSQL database")
    p.add_argument("--tracks", type=int, default=3_000)
    p.add_argument("--before", type=float, default=20.0, help="s of load before the kill")
    p.add_argument("--after", type=float, default=20.0, help="s of load after it")
    p.add_argument("--verbose", action="store_true", help="print what the servers logged")
    args = p.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
