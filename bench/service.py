"""Load benchmark of the service over loopback: prints figures, and fails when the load it was
asked for is not carried.

    .venv/bin/python bench/service.py [--tracks 10000] [--seconds 60] [--warmup 10] [--db URL]
    .venv/bin/python bench/service.py --seconds 3600 --plot docs/bench/hour.png   # the hour

Starts `detente serve` in a subprocess (embedded SQLite in a temp dir, or the empty database
--db names, e.g. postgresql://postgres@127.0.0.1:PORT/NAME: `python -m tests.postgres` starts
a throwaway PostgreSQL and prints one; three parties with agreements between each pair, 1 s
cycle). For --warmup seconds and then --seconds more (the
measured run; the warm-up, when the first looks raise every conflict at once, is reported
apart), each party posts its third of the tracks once a second (one batch, straight-line
motion over a 2,000 km square, FL100-FL400) and holds a WebSocket open. Once a second a probe
pair is put on a collision course (20 km head-on): the latency is from the start of the POST
of the probe report that completes the conflict to the alert's arrival on that party's
WebSocket. The client counts picture frames without decoding them: on two cores its CPU is
the server's.

Each party's client keeps its session as a real client must: it logs in again before its
token runs out (halfway through its life, or a minute before, whichever is later) and hands
the new token to its open stream; a batch refused with 401 logs in again and is counted; a
stream that closes is reopened after the last seq seen, and counted.

Every --every seconds (60) a line: states/s carried, refused batches, errors,
reconnections, report -> alert p50/p99, the cycle's p99, the server's RSS and CPU (detente's
process: PostgreSQL's own processes are not counted), the database's size on disk (SQLite's
file with its WAL; PostgreSQL's pg_database_size), the load average. At the end, the run's
figures and a verdict. Exit status 1, with a line starting "FAILED:", when the load was not
carried: a period under 95 % of the states/s asked for, any refused batch or error, a probe
whose alert never came, or nothing carried for 30 s (the run stops there). The targets of a
long run (every period's p99 < 250 ms, RSS growth < 10 % after the first 10 minutes) are
printed as met or not met; --strict fails on them too.

--token-ttl S sets the service's token lifetime (to see renewals in a short run); --no-renew
turns the clients' renewal off (they then fail, as the bench did before it counted).
--plot FILE draws the periods in a PNG (matplotlib: pip install -e '.[bench]').
--json FILE writes each period as a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec
import numpy as np
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.geo import WGS84
from detente.service.auth import OPERATOR
from detente.service.keys import login_message

PARTIES = ("P0", "P1", "P2")
CENTRE = (36.0, 38.0)
FRAME_PREFIX = '{"seq":null,"type":"picture"'
CARRIED_MIN = 0.95  # of the states/s asked for, in every period
DEAD_S = 30.0  # nothing carried for this long: the run stops, failed
PROBE_LOST_S = 10.0  # a probe's alert later than this is lost
P99_TARGET_S = 0.25
RSS_GROWTH_TARGET = 0.10
SETTLE_S = 600.0  # RSS growth is counted from the end of the first 10 minutes


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def login(c: httpx.AsyncClient, party: str, key: Ed25519PrivateKey) -> str:
    """A bearer token for ``party`` (or the operator, "detente"), by a signed challenge."""
    ch = (await c.post("/v1/auth/challenge", json={"party": party})).json()["challenge"]
    sig = key.sign(login_message(base64.b64decode(ch)))
    r = await c.post("/v1/auth/token", json={"challenge": ch,
                                              "signature": base64.b64encode(sig).decode()})
    r.raise_for_status()
    return r.json()["token"]


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def db_bytes(db: Path | str) -> int:
    """The database on disk: SQLite's file, its write-ahead log and shared memory; or what
    PostgreSQL says of the database ``db`` (a URL) names."""
    if isinstance(db, str):
        import psycopg
        try:
            with psycopg.connect(db, connect_timeout=10) as conn:
                row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        except psycopg.Error:
            return 0
        return int(row[0]) if row else 0
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal"),
                                          db.with_name(db.name + "-shm")) if p.exists())


def write_config(tmp: Path, keys: dict[str, Ed25519PrivateKey], token_ttl_s: float | None
                 ) -> Path:
    service = f'[service]\ncycle_s = 1.0\nstale_s = 60.0\nlog_key = "{tmp / "log.pem"}"\n'
    if token_ttl_s is not None:
        service += f"token_ttl_s = {token_ttl_s}\n"
    lines = ['[region]\nname = "bench"\ncentre = [36.0, 38.0]\n', service]
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


@dataclass
class Period:
    """What happened in one period of the run (or the warm-up)."""

    started: float  # monotonic
    accepted: int = 0  # states in batches the service accepted
    refused: Counter[str] = field(default_factory=Counter)  # batches refused, by status
    errors: Counter[str] = field(default_factory=Counter)  # requests that got no answer
    reconnections: Counter[str] = field(default_factory=Counter)  # streams reopened, by code
    renewals: int = 0
    post_s: list[float] = field(default_factory=list)
    latency: list[float] = field(default_factory=list)
    cycle_s: list[float] = field(default_factory=list)
    probes: int = 0


class Session:
    """One party's login, renewed before its token runs out (``renew``), or after a 401."""

    def __init__(self, c: httpx.AsyncClient, party: str, key: Ed25519PrivateKey, run: Run
                 ) -> None:
        self.c, self.party, self.key, self.run = c, party, key, run
        self.token = ""
        self.renew_at = 0.0  # monotonic
        self.socket: websockets.ClientConnection | None = None
        self._lock = asyncio.Lock()

    async def login(self) -> None:
        async with self._lock:
            r = await self.c.post("/v1/auth/challenge", json={"party": self.party})
            ch = r.json()["challenge"]
            sig = self.key.sign(login_message(base64.b64decode(ch)))
            r = await self.c.post("/v1/auth/token", json={
                "challenge": ch, "signature": base64.b64encode(sig).decode()})
            r.raise_for_status()
            got = r.json()
            self.token = got["token"]
            life = float(got["expires_in_s"])
            self.renew_at = time.monotonic() + life - min(60.0, life / 2)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "content-type": "application/json"}

    async def keep(self, stop: asyncio.Event, renew: bool) -> None:
        """Log in again before the token runs out, and hand the new token to the stream."""
        while renew and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, self.renew_at - time.monotonic()))
            if stop.is_set():
                return
            try:
                await self.login()
                self.run.now.renewals += 1
                if self.socket is not None:
                    await self.socket.send(json.dumps({"type": "renew", "token": self.token}))
            except (httpx.HTTPError, websockets.ConnectionClosed, KeyError, ValueError) as exc:
                self.run.now.errors[f"renewal: {type(exc).__name__}"] += 1
                self.renew_at = time.monotonic() + 5.0


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


class Run:
    """The load, its counts per period, and the lines it prints."""

    def __init__(self, args: argparse.Namespace, base: str, pid: int, db: Path | str
                 ) -> None:
        self.args, self.base, self.pid, self.db = args, base, pid, db
        self.now = Period(time.monotonic())
        self.periods: list[dict] = []
        self.stop = asyncio.Event()
        self.failed: list[str] = []
        self.probe_sent: dict[str, float] = {}
        self.lost_probes = 0
        self.last_carried = time.monotonic()
        self.frames: Counter[str] = Counter()
        self.frame_bytes: dict[str, int] = {}
        self.kinds: Counter[str] = Counter()  # durable events received, by type
        self.last_seq: dict[str, int] = {}
        self.cpu_mark = (time.monotonic(), cpu_s(pid))
        self.operator: Session  # logged in by run_load

    def fail(self, why: str) -> None:
        self.failed.append(why)

    # --- the clients ----------------------------------------------------------------------------

    async def listen(self, s: Session) -> None:
        """The party's stream, reopened after the last seq seen whenever it closes."""
        url = self.base.replace("http", "ws") + "/v1/stream"
        while not self.stop.is_set():
            since = self.last_seq.get(s.party)
            query = f"?token={s.token}" + (f"&since={since}" if since is not None else "")
            try:
                async with websockets.connect(url + query, max_size=None) as ws:
                    s.socket = ws
                    await self._receive(s.party, ws)
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else "none"
                self.now.reconnections[str(code)] += 1
                if code == 4401:  # the token ran out: log in again first
                    await s.login()
            except OSError as exc:
                self.now.errors[f"stream: {type(exc).__name__}"] += 1
                await asyncio.sleep(1.0)
            finally:
                s.socket = None

    async def _receive(self, party: str, ws: websockets.ClientConnection) -> None:
        while not self.stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 0.5)
            except TimeoutError:
                continue
            if raw.startswith(FRAME_PREFIX):
                # Picture frames are counted, not decoded: on a 2-core machine the client's
                # CPU is the server's.
                self.frames[party] += 1
                self.frame_bytes[party] = len(raw)
                continue
            msg = json.loads(raw)
            if msg.get("seq") is not None:
                self.kinds[msg["type"]] += 1
                self.last_seq[party] = msg["seq"]
            if msg["type"] == "alert" and msg["data"]["state"] == "raised" and party == "P0":
                for t in msg["data"]["tracks"]:
                    sent = self.probe_sent.pop(t["id"] or "", None)
                    if sent is not None:
                        self.now.latency.append(time.perf_counter() - sent)

    async def post(self, s: Session, body: bytes) -> dict | None:
        """POST a batch; one new login and one more try after a 401. The answer, or None."""
        for attempt in (1, 2):
            try:
                r = await self.c.post("/v1/states", content=body, headers=s.headers)
            except httpx.HTTPError as exc:
                self.now.errors[f"POST: {type(exc).__name__}"] += 1
                return None
            if r.status_code == 200:
                return r.json()
            self.now.refused[str(r.status_code)] += 1
            if r.status_code == 401 and attempt == 1:
                await s.login()
                continue
            return None
        return None

    async def feed(self, s: Session, fleet: Fleet) -> None:
        while not self.stop.is_set():
            t0 = time.perf_counter()
            body = msgspec.json.encode({"states": fleet.batch()})
            got = await self.post(s, body)
            self.now.post_s.append(time.perf_counter() - t0)
            if got is not None:
                self.now.accepted += got["accepted"]
                self.last_carried = time.monotonic()
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

    async def probes(self, sessions: dict[str, Session]) -> None:
        k = 0
        while not self.stop.is_set():
            k += 1
            lat, lon = 34.0 + (k % 50) * 0.05, 36.0 + (k // 50 % 40) * 0.3
            lon2, lat2, _ = WGS84.fwd(lon, lat, 90.0, 20_000.0)
            now = time.time()
            ident = f"probe-{k}"
            p0 = {"id": ident, "t": now, "lat": lat, "lon": lon, "alt_m": 15_000,
                  "gs_mps": 200, "trk_deg": 90, "vs_mps": 0}
            p1 = {"id": ident, "t": now, "lat": lat2, "lon": lon2, "alt_m": 15_000,
                  "gs_mps": 200, "trk_deg": 270, "vs_mps": 0}
            if await self.post(sessions["P1"], msgspec.json.encode({"states": [p1]})):
                self.probe_sent[ident] = time.perf_counter()
                self.now.probes += 1
                await self.post(sessions["P0"], msgspec.json.encode({"states": [p0]}))
            # A probe whose alert has not come within PROBE_LOST_S is lost.
            late = time.perf_counter() - PROBE_LOST_S
            for old in [i for i, sent in self.probe_sent.items() if sent < late]:
                del self.probe_sent[old]
                self.lost_probes += 1
            await asyncio.sleep(1.0)

    # --- the periods ----------------------------------------------------------------------------

    async def sample(self) -> None:
        """The service's cycle each second; a period's line every --every seconds; the end."""
        args = self.args
        t_warm = time.monotonic() + args.warmup
        while time.monotonic() < t_warm and not self.stop.is_set():
            await self._tick()
        warm = self.close_period("warm-up")
        print(f"warm-up ({args.warmup} s, the first looks raise every conflict at once): cycle "
              f"max {max(warm['cycle_s'], default=0) * 1e3:.0f} ms, report -> alert max "
              f"{warm['latency_max_ms']:.0f} ms, {warm['states_per_s']:,.0f} states/s",
              flush=True)
        self.measured_from = time.monotonic()
        self.measured_cpu = cpu_s(self.pid)
        t_end = self.measured_from + args.seconds
        next_line = self.measured_from + args.every
        while time.monotonic() < t_end and not self.stop.is_set():
            await self._tick()
            if time.monotonic() >= next_line or time.monotonic() >= t_end:
                p = self.close_period(f"{len(self.periods):3d}")
                print(period_line(p), flush=True)
                if p["states_per_s"] < CARRIED_MIN * args.tracks:
                    self.fail(f"period {p['name'].strip()} carried {p['states_per_s']:,.0f} "
                              f"states/s of the {args.tracks:,} asked for")
                next_line += args.every
            if time.monotonic() - self.last_carried > DEAD_S:
                self.fail(f"nothing carried for {DEAD_S:.0f} s: the run stopped there")
                p = self.close_period(f"{len(self.periods):3d}")
                print(period_line(p), flush=True)
                break
        self.stop.set()

    async def _tick(self) -> None:
        await asyncio.sleep(1.0)
        try:
            self.now.cycle_s.append((await self.c.get(
                "/v1/status", headers=self.operator.headers)).json()["cycle_s"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            self.now.errors[f"status: {type(exc).__name__}"] += 1

    def close_period(self, name: str) -> dict:
        p, now = self.now, time.monotonic()
        self.now = Period(now)
        wall = max(now - p.started, 1e-9)
        t_cpu, c = time.monotonic(), cpu_s(self.pid)
        cpu = (c - self.cpu_mark[1]) / max(t_cpu - self.cpu_mark[0], 1e-9)
        self.cpu_mark = (t_cpu, c)
        out = {
            "name": name, "t_s": round(now - getattr(self, "measured_from", now), 1),
            "wall_s": round(wall, 1), "states_per_s": p.accepted / wall,
            "refused": dict(p.refused), "errors": dict(p.errors),
            "reconnections": dict(p.reconnections), "renewals": p.renewals,
            "post_p99_ms": pct(p.post_s, 99) * 1e3,
            "latency_p50_ms": pct(p.latency, 50) * 1e3, "latency_p99_ms": pct(p.latency, 99) * 1e3,
            "latency_max_ms": max(p.latency, default=float("nan")) * 1e3,
            "probes": p.probes, "alerts_of_probes": len(p.latency),
            "over_250_ms": sum(x > P99_TARGET_S for x in p.latency),
            "cycle_p99_ms": pct(p.cycle_s, 99) * 1e3, "cycle_s": p.cycle_s,
            "rss_mib": rss_mib(self.pid), "cpu_cores": cpu,
            "db_mb": db_bytes(self.db) / 1e6, "load": os.getloadavg()[0],
        }
        if name != "warm-up":
            self.periods.append(out)
        for kind, counts in (("refused", p.refused), ("errors", p.errors)):
            if counts:
                self.fail(f"period {name.strip()}: {kind} "
                          + ", ".join(f"{n} x {k}" for k, n in counts.items()))
        return out


def period_line(p: dict) -> str:
    def counts(c: dict) -> str:
        return str(sum(c.values())) + (f" ({', '.join(f'{k}: {n}' for k, n in c.items())})"
                                       if c else "")
    return (f"{p['name']} t={p['t_s']:6.0f} s: {p['states_per_s']:7,.0f} states/s, "
            f"refused {counts(p['refused'])}, errors {counts(p['errors'])}, reconnections "
            f"{counts(p['reconnections'])}, renewals {p['renewals']}; report -> alert p50 "
            f"{p['latency_p50_ms']:.0f} ms, p99 {p['latency_p99_ms']:.0f} ms "
            f"({p['alerts_of_probes']}/{p['probes']} probes, {p['over_250_ms']} over 250 ms); "
            f"cycle p99 {p['cycle_p99_ms']:.0f} ms; RSS {p['rss_mib']:.0f} MiB; CPU "
            f"{p['cpu_cores']:.2f} cores; database {p['db_mb']:,.0f} MB; load {p['load']:.2f}")


async def main_async(args: argparse.Namespace) -> int:
    keys = {p: Ed25519PrivateKey.generate() for p in PARTIES}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = write_config(tmp, keys, args.token_ttl)
        # The operator's key (the log's): its token reads the service's own figures, which
        # no party may (the cycle's time grows with every party's aircraft).
        operator_key = Ed25519PrivateKey.generate()
        (tmp / "log.pem").write_bytes(operator_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        keys = {**keys, OPERATOR: operator_key}
        db: Path | str = args.db or tmp / "bench.sqlite"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = subprocess.Popen(
            [sys.executable, "-m", "detente", "serve", "--config", str(cfg), "--db",
             db if isinstance(db, str) else f"sqlite:///{db}", "--port", str(port)],
            stderr=open(tmp / "server.log", "w"),
        )
        base = f"http://127.0.0.1:{port}"
        if os.environ.get("DETENTE_PROFILE"):  # py-spy top-down profile of the server
            spy = Path(sys.executable).with_name("py-spy")  # pip install py-spy
            subprocess.Popen([str(spy), "record", "-o", os.environ["DETENTE_PROFILE"], "-d",
                              str(args.seconds), "-f", "raw", "-p", str(server.pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            run = Run(args, base, server.pid, db)
            await run_load(run, keys)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                run.fail("the server did not stop within 60 s of SIGINT")
            errors = (tmp / "server.log").read_text().strip()
            if errors:
                print("server said:\n" + errors[-20000:], file=sys.stderr)
    return report(run)


async def run_load(run: Run, keys: dict[str, Ed25519PrivateKey]) -> None:
    args = run.args
    async with httpx.AsyncClient(base_url=run.base, timeout=120) as c:
        run.c = c
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
        run.rss_before = rss_mib(run.pid)
        sessions = {p: Session(c, p, k, run) for p, k in keys.items() if p != OPERATOR}
        for s in sessions.values():
            await s.login()
        run.operator = Session(c, OPERATOR, keys[OPERATOR], run)
        await run.operator.login()
        per = args.tracks // len(PARTIES)
        fleets = {p: Fleet(p, per, seed=k) for k, p in enumerate(PARTIES)}
        tasks = [asyncio.create_task(x) for x in (
            *(run.listen(s) for s in sessions.values()),
            *(run.feed(s, fleets[p]) for p, s in sessions.items()),
            *(s.keep(run.stop, args.renew) for s in (*sessions.values(), run.operator)),
            run.probes(sessions))]
        try:
            await run.sample()
        finally:
            run.stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        run.wall = time.monotonic() - run.measured_from
        run.cpu = cpu_s(run.pid) - run.measured_cpu


def report(run: Run) -> int:
    args, periods = run.args, run.periods
    print(f"tracks {args.tracks} from 3 parties at 1 Hz over loopback; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores at the end")
    if periods:
        total = sum(p["states_per_s"] * p["wall_s"] for p in periods)
        lat99 = [p["latency_p99_ms"] for p in periods]
        print(f"{run.wall:.0f} s measured in {len(periods)} periods; server CPU {run.cpu:.1f} s "
              f"({100 * run.cpu / run.wall:.0f} % of one core)")
        print(f"ingest: {total / run.wall:,.0f} states/s over the run (asked {args.tracks:,}); "
              f"per period {min(p['states_per_s'] for p in periods):,.0f} to "
              f"{max(p['states_per_s'] for p in periods):,.0f}")
        print(f"report -> alert p99 per period: {min(lat99):.0f} to {max(lat99):.0f} ms; "
              f"{sum(p['over_250_ms'] for p in periods)} of "
              f"{sum(p['alerts_of_probes'] for p in periods)} probes over 250 ms; "
              f"{run.lost_probes} probes lost")
        sums = {k: sum(sum(p[k].values()) for p in periods)
                for k in ("refused", "errors", "reconnections")}
        print(f"refused batches {sums['refused']}, errors {sums['errors']}, reconnections "
              f"{sums['reconnections']}, token renewals "
              f"{sum(p['renewals'] for p in periods)}")
        print(f"picture frames: {sum(run.frames.values())} received by 3 parties, last ones "
              f"{', '.join(f'{b / 1e6:.2f}' for b in run.frame_bytes.values())} MB")
        print("durable events received (3 parties, warm-up included): "
              + ", ".join(f"{n} {k}" for k, n in sorted(run.kinds.items())))
        rss = [p["rss_mib"] for p in periods]
        settled = [p for p in periods if p["t_s"] >= SETTLE_S]
        base = settled[0]["rss_mib"] if settled else rss[0]
        growth = (rss[-1] - base) / base
        since = "after the first 10 minutes" if settled else "over the run"
        print(f"server RSS: before load {run.rss_before:.0f} MiB; periods {rss[0]:.0f} to "
              f"{rss[-1]:.0f} MiB (max {max(rss):.0f}); growth {since} {100 * growth:+.1f} %")
        print(f"database: {'SQLite (WAL, synchronous=FULL)' if not args.db else 'PostgreSQL'}"
              f", {periods[-1]['db_mb']:,.0f} MB at the end")
        if run.lost_probes:
            run.fail(f"{run.lost_probes} probes never raised their alert within "
                     f"{PROBE_LOST_S:.0f} s")
        missed = []
        if max(lat99) >= P99_TARGET_S * 1e3:
            missed.append(f"report -> alert p99 under 250 ms in every period (worst "
                          f"{max(lat99):.0f} ms)")
        if settled and growth >= RSS_GROWTH_TARGET:
            missed.append(f"RSS growth under 10 % after the first 10 minutes "
                          f"({100 * growth:+.1f} %)")
        print("targets: " + ("met" if not missed else "NOT MET: " + "; ".join(missed)))
        if missed and args.strict:
            run.fail("targets not met (--strict)")
        if args.json:
            with open(args.json, "w") as f:
                for p in periods:
                    f.write(json.dumps({k: v for k, v in p.items() if k != "cycle_s"}) + "\n")
        if args.plot:
            plot(periods, args)
    else:
        run.fail("no period measured")
    for why in run.failed:
        print(f"FAILED: {why}")
    return 1 if run.failed else 0


def plot(periods: list[dict], args: argparse.Namespace) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is not installed (pip install -e '.[bench]')",
              file=sys.stderr)
        return
    minutes = [p["t_s"] / 60 for p in periods]
    fig, axes = plt.subplots(4, 1, figsize=(7, 7), sharex=True)
    series = (("states_per_s", "states/s", None), ("latency_p99_ms", "report -> alert\np99 (ms)",
              P99_TARGET_S * 1e3), ("rss_mib", "server RSS\n(MiB)", None),
              ("db_mb", "database\n(MB)", None))
    for ax, (key, label, limit) in zip(axes, series, strict=True):
        ax.plot(minutes, [p[key] for p in periods], marker=".", linewidth=1)
        if limit is not None:
            ax.axhline(limit, color="red", linewidth=0.8, linestyle="--")
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes of the measured run", fontsize=8)
    fig.suptitle(f"bench/service.py: {args.tracks:,} tracks at 1 Hz, {args.seconds} s",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=80)
    print(f"plot: {args.plot}", file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--seconds", type=int, default=60, help="measured run (s)")
    p.add_argument("--warmup", type=int, default=10, help="unmeasured start (s)")
    p.add_argument("--every", type=float, default=60.0, help="seconds per period line")
    p.add_argument("--db", default=None, metavar="URL",
                   help="an empty database for the server (default: SQLite in a temp dir)")
    p.add_argument("--token-ttl", type=float, default=None, metavar="S",
                   help="the service's token lifetime (default: the service's, 900 s)")
    p.add_argument("--no-renew", dest="renew", action="store_false",
                   help="the clients do not renew their tokens before they run out")
    p.add_argument("--strict", action="store_true", help="fail when a target is not met")
    p.add_argument("--json", default=None, metavar="FILE", help="each period as a JSON line")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="the periods, drawn")
    args = p.parse_args()
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
