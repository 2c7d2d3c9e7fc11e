"""Load benchmark of the service over loopback: prints figures, asserts nothing.

    .venv/bin/python bench/service.py [--tracks 10000] [--seconds 60] [--warmup 10] [--db URL]

Starts `detente serve` in a subprocess (embedded SQLite in a temp dir, or the empty database
--db names, e.g. postgresql://postgres@127.0.0.1:PORT/NAME: see the README for a throwaway
PostgreSQL; three parties with agreements between each pair, 1 s cycle). For --warmup seconds
and then --seconds more (the measured run; the warm-up, when the first looks raise every
conflict at once, is reported apart), each party posts its third of the tracks once a second
(one batch, straight-line motion over a 2,000 km square, FL100-FL400) and holds a WebSocket
open. Once a second a probe pair is put on a collision course (20 km head-on): the latency is
from the start of the POST of the probe report that completes the conflict to the alert's
arrival on that party's WebSocket. Prints ingest rate and POST latency, the detection cycle
time (the service's own /health figure, sampled each second), alert latency p50/p99, the
server's CPU time, and its resident memory at start, middle and end of the measured run. The
client counts picture frames without decoding them: on two cores its CPU is the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
import numpy as np
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.geo import WGS84
from detente.service.keys import login_message

PARTIES = ("P0", "P1", "P2")
CENTRE = (36.0, 38.0)
FRAME_PREFIX = '{"seq":null,"type":"picture"'


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_config(tmp: Path, keys: dict[str, Ed25519PrivateKey]) -> Path:
    lines = ['[region]\nname = "bench"\ncentre = [36.0, 38.0]\n',
             f'[service]\ncycle_s = 1.0\nstale_s = 60.0\nlog_key = "{tmp / "log.pem"}"\n']
    for p, k in keys.items():
        pub = base64.b64encode(k.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()
        lines.append(f'[[parties]]\nid = "{p}"\npublic_keys = ["{pub}"]\n')
    for a in range(3):
        for b in range(a + 1, 3):
            lines.append(f'[[agreements]]\nparties = ["{PARTIES[a]}", "{PARTIES[b]}"]\n')
    path = tmp / "bench.toml"
    path.write_text("\n".join(lines))
    return path


async def login(c: httpx.AsyncClient, party: str, key: Ed25519PrivateKey) -> str:
    ch = (await c.post("/v1/auth/challenge", json={"party": party})).json()["challenge"]
    sig = key.sign(login_message(base64.b64decode(ch)))
    r = await c.post("/v1/auth/token", json={"challenge": ch,
                                              "signature": base64.b64encode(sig).decode()})
    return r.json()["token"]


class Fleet:
    """One party's tracks, flying straight lines; positions advanced on the client side."""

    def __init__(self, party: str, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        half = 1_000_000.0
        e, nrt = rng.uniform(-half, half, n), rng.uniform(-half, half, n)
        lon, lat, _ = WGS84.fwd(np.full(n, CENTRE[1]), np.full(n, CENTRE[0]), np.zeros(n), nrt)
        self.lon, self.lat, _ = WGS84.fwd(lon, lat, np.full(n, 90.0), e)
        self.alt = rng.uniform(3048, 12192, n)
        self.gs = rng.uniform(100, 250, n)
        self.trk = rng.uniform(0, 360, n)
        self.ids = [f"{party}-{k}" for k in range(n)]
        self.t = time.time()

    def batch(self) -> list[dict]:
        now = time.time()
        dt = now - self.t
        self.lon, self.lat, _ = WGS84.fwd(self.lon, self.lat, self.trk, self.gs * dt)
        self.t = now
        return [{"id": i, "t": now, "lat": la, "lon": lo, "alt_m": al, "gs_mps": g,
                 "trk_deg": tr, "vs_mps": 0.0}
                for i, la, lo, al, g, tr in zip(self.ids, self.lat.tolist(), self.lon.tolist(),
                                                self.alt.tolist(), self.gs.tolist(),
                                                self.trk.tolist(), strict=True)]


async def main_async(args: argparse.Namespace) -> None:
    keys = {p: Ed25519PrivateKey.generate() for p in PARTIES}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = write_config(tmp, keys)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "detente", "serve", "--config", str(cfg), "--db",
             args.db or f"sqlite:///{tmp / 'bench.sqlite'}", "--port", str(port)],
            stderr=open(tmp / "server.log", "w"),
        )
        base = f"http://127.0.0.1:{port}"
        if os.environ.get("DETENTE_PROFILE"):  # py-spy top-down profile of the server
            spy = Path(sys.executable).with_name("py-spy")  # pip install py-spy
            subprocess.Popen([str(spy), "record", "-o", os.environ["DETENTE_PROFILE"], "-d",
                              str(args.seconds), "-f", "raw", "-p", str(server.pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            await run_load(args, keys, base, server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
            errors = (tmp / "server.log").read_text().strip()
            if errors:
                print("server said:\n" + errors[-20000:], file=sys.stderr)


async def run_load(args: argparse.Namespace, keys: dict, base: str, pid: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as c:
        # Start-up loads the compiled kernels (compiles them on a first run): up to a
        # couple of minutes on a busy machine.
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                r = await c.get("/health")
                # On PostgreSQL the instance leads once it holds the node's lease.
                if r.status_code == 200 and r.json().get("role", "leader") == "leader":
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        tokens = {p: await login(c, p, k) for p, k in keys.items()}
        per = args.tracks // len(PARTIES)
        fleets = {p: Fleet(p, per, seed=k) for k, p in enumerate(PARTIES)}
        posted: list[int] = []
        post_s: list[float] = []
        cycle_s: list[float] = []
        latency: list[float] = []
        probe_sent: dict[str, float] = {}
        frames: dict[str, int] = {}
        kinds: dict[str, int] = {}  # durable events received, by type
        frame_bytes: dict[str, int] = {}
        rss = [rss_mib(pid)]
        stop = asyncio.Event()

        async def listen(party: str) -> None:
            url = base.replace("http", "ws") + f"/v1/stream?token={tokens[party]}"
            async with websockets.connect(url, max_size=None) as ws:
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), 0.5)
                    except TimeoutError:
                        continue
                    if raw.startswith(FRAME_PREFIX):
                        # Picture frames are counted, not decoded: on a 2-core machine the
                        # client's CPU is the server's.
                        frames[party] = frames.get(party, 0) + 1
                        frame_bytes[party] = len(raw)
                        continue
                    msg = json.loads(raw)
                    kinds[msg["type"]] = kinds.get(msg["type"], 0) + 1
                    if msg["type"] == "alert" and msg["data"]["state"] == "raised":
                        for t in msg["data"]["tracks"]:
                            sent = probe_sent.pop(t["id"] or "", None) if party == "P0" else None
                            if sent is not None:
                                latency.append(time.perf_counter() - sent)

        async def feed(party: str) -> None:
            h = {"Authorization": f"Bearer {tokens[party]}"}
            while not stop.is_set():
                t0 = time.perf_counter()
                body = msgspec.json.encode({"states": fleets[party].batch()})
                r = await c.post("/v1/states", content=body,
                                 headers={**h, "content-type": "application/json"})
                post_s.append(time.perf_counter() - t0)
                if r.status_code == 200:
                    posted.append(r.json()["accepted"])
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

        async def probes() -> None:
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
                await c.post("/v1/states", json={"states": [p1]},
                             headers={"Authorization": f"Bearer {tokens['P1']}"})
                probe_sent[f"probe-{k}"] = time.perf_counter()
                await c.post("/v1/states", json={"states": [p0]},
                             headers={"Authorization": f"Bearer {tokens['P0']}"})
                await asyncio.sleep(1.0)

        async def sample() -> None:
            nonlocal t0, cpu0
            t_warm = time.monotonic() + args.warmup
            while time.monotonic() < t_warm:
                await asyncio.sleep(1.0)
                cycle_s.append((await c.get("/health")).json()["cycle_s"])
                print(f"  warm-up {len(cycle_s):3d} s: cycle {cycle_s[-1]:.3f} s",
                      file=sys.stderr, end="\r")
            # The first looks raise every conflict of the picture at once (hundreds of alerts,
            # their statements and warnings): reported apart from the steady state.
            warm.update(cycle=list(cycle_s), latency=list(latency), posted=sum(posted))
            for figures in (posted, post_s, cycle_s, latency):
                figures.clear()
            rss.append(rss_mib(pid))
            t0, cpu0 = time.perf_counter(), cpu_s(pid)
            t_end = time.monotonic() + args.seconds
            mid_done = False
            while time.monotonic() < t_end:
                await asyncio.sleep(1.0)
                cycle_s.append((await c.get("/health")).json()["cycle_s"])
                if not mid_done and time.monotonic() > t_end - args.seconds / 2:
                    rss.append(rss_mib(pid))
                    mid_done = True
                print(f"  {len(cycle_s):3d} s: {sum(posted):8d} states, cycle "
                      f"{cycle_s[-1]:.3f} s, {len(latency)} probe alerts",
                      file=sys.stderr, end="\r")
            stop.set()

        warm: dict = {}
        t0, cpu0 = time.perf_counter(), cpu_s(pid)
        await asyncio.gather(*(listen(p) for p in PARTIES), *(feed(p) for p in PARTIES),
                             probes(), sample())
        wall = time.perf_counter() - t0
        cpu = cpu_s(pid) - cpu0
        rss.append(rss_mib(pid))
    print(file=sys.stderr)
    print(f"database: {'SQLite (WAL, synchronous=FULL)' if not args.db else args.db}")
    print(f"tracks {args.tracks} from 3 parties at 1 Hz over loopback; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end")
    print(f"warm-up ({args.warmup} s, the first looks raise every conflict at once): cycle max "
          f"{max(warm['cycle'], default=0) * 1e3:.0f} ms, report -> alert max "
          f"{max(warm['latency'], default=0) * 1e3:.0f} ms")
    print(f"then {args.seconds} s measured; server CPU {cpu:.1f} s ({100 * cpu / wall:.0f} % of "
          "one core)")
    print(f"ingest: {sum(posted) / wall:,.0f} states/s; POST of a {per}-state batch p50 "
          f"{pct(post_s, 50) * 1e3:.0f} ms, p99 {pct(post_s, 99) * 1e3:.0f} ms")
    print(f"detection cycle (server's own figure): p50 {pct(cycle_s, 50) * 1e3:.0f} ms, "
          f"p99 {pct(cycle_s, 99) * 1e3:.0f} ms, max {max(cycle_s) * 1e3:.0f} ms")
    slow = sum(x > 0.25 for x in latency)
    print(f"report -> alert on the WebSocket: p50 {pct(latency, 50) * 1e3:.0f} ms, "
          f"p90 {pct(latency, 90) * 1e3:.0f} ms, p99 {pct(latency, 99) * 1e3:.0f} ms, max "
          f"{max(latency, default=float('nan')) * 1e3:.0f} ms ({len(latency)} probes, {slow} over "
          "250 ms)")
    print(f"picture frames: {sum(frames.values())} received by 3 parties, last ones "
          f"{', '.join(f'{b / 1e6:.2f}' for b in frame_bytes.values())} MB")
    print("durable events received (3 parties, warm-up included): "
          + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    print(f"server RSS: before load {rss[0]:.0f} MiB; measured run: start {rss[1]:.0f} MiB, "
          f"middle {rss[2]:.0f} MiB, end {rss[-1]:.0f} MiB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=60, help="measured run (s)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured start (s)")
    p.add_argument("--db", default=None, metavar="URL",
                   help="an empty database for the server (default: SQLite in a temp dir)")
    args = p.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
