"""The F3548 DSS interface over HTTP on loopback: 100,000 live operational intents in a 1,000 km
region, queries, creates with key, and a busy square kilometre with 10 managers at once.

Prints figures, asserts nothing. Run from the repository root:

    .venv/bin/python bench/f3548.py                    # 100,000 intents (about 3 minutes)
    .venv/bin/python bench/f3548.py --intents 10000    # a quick run

Set-up, not timed: the intents are drawn as in bench/strategic.py (1 to 3 volumes, circles
and star polygons of 100 m to 2 km, bands 100 to 600 m thick, 10 to 90 minutes within the next
day), each an operational intent reference of one of 8 USSs, and written to an SQLite file in
one bulk insert that bypasses the rules. Then ``detente serve`` starts on that file in its own
process, with an RSA key made for this run to sign the USSs' tokens.

Timed, each request over HTTP from this process (wall-clock, client side; every write is
committed with fsync before its answer):

- query: ``POST /dss/v1/operational_intent_references/query`` of a 5 km circle, 0-3,000 m,
  one hour;
- create-with-key: a USS plans a new intent as F3548 has it: it queries the intent's area,
  takes the OVNs of what it found (from the managing USSs in real life; here from the bench's
  own register of every OVN it was given), and creates the reference with that key. The PUT
  alone and the whole plan (query + PUT) are timed;
The server's CPU time per request (from /proc) is printed beside the wall-clock figures: on a
shared machine the wall clock also counts the time other processes held the cores.

- busy square kilometre: 10 USSs, each in its own thread and with its own token, plan intents
  in one 1 km x 1 km square (10-minute windows within two hours, 100 m bands within 600 m) as
  fast as they can for ``--busy-s`` seconds; a plan whose key went stale meanwhile (409) is
  planned again. Successful creates per second, and how many plans had to start again.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import jwt
import numpy as np
import strategic
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert

from detente.api.dss.wire import volume_json
from detente.geo import LocalProjection
from detente.model.intent import OperationalIntent, Polygon, Volume4D, unchecked
from detente.store import dss as dss_store
from detente.store import intents as store
from detente.store.database import open_database

CENTRE = strategic.CENTRE
HALF_SIDE_M = strategic.HALF_SIDE_M
USSS = 8
SC = "utm.strategic_coordination"


def config(workdir: Path, managers: list[str]) -> Path:
    lines = [
        f'[region]\nname = "f3548-bench"\ncentre = [{CENTRE[0]!r}, {CENTRE[1]!r}]\n',
        '[service]\nlog_key = "log.pem"\n',
        *(f'[[parties]]\nid = "P{k}"\n' for k in range(USSS)),
        '[dss]\npublic_keys = ["issuer.pem"]\naudiences = ["127.0.0.1"]\n',
        *(f'[[dss.managers]]\nid = "{m}"\nparty = "P{k % USSS}"\n'
          for k, m in enumerate(managers)),
    ]
    path = workdir / "config.toml"
    path.write_text("\n".join(lines))
    return path


def preload(url: str, n: int, rng: np.random.Generator, now: float) -> dict[str, str]:
    """Write ``n`` references straight into the tables; returns their OVNs by id."""
    strategic.T0 = now + 60.0
    drawn = strategic.random_intents(rng, n, "p", USSS, np.zeros(n, dtype=int), checked=False)
    intents, ovns = [], {}
    for k, it in enumerate(drawn):
        ident, ovn = str(uuid.uuid4()), secrets.token_hex(16)
        intents.append(unchecked(OperationalIntent, id=ident, owner=f"P{k % USSS}",
                                 state=it.state, priority=0, volumes=it.volumes, version=ovn))
        ovns[ident] = ovn
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(insert(store.IntentRow), store.row_values(intents, LocalProjection(*CENTRE)))
        conn.execute(insert(dss_store.DssOirRow), [
            {"id": it.id, "manager": f"uss{k % USSS}", "uss_base_url": "http://uss.example",
             "subscription_id": None, "version": 1} for k, it in enumerate(intents)])
    engine.dispose()
    return ovns


def cpu_s(pid: int) -> float:
    """CPU time (user + system, s) the process ``pid`` has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ms(values: list[float]) -> str:
    a = np.array(values) * 1e3
    return (f"p50 {np.percentile(a, 50):.1f} ms, p99 {np.percentile(a, 99):.1f} ms, "
            f"max {a.max():.1f} ms (n={a.size})")


class Uss:
    """One USS: its own connection and token."""

    def __init__(self, base: str, issuer: rsa.RSAPrivateKey, name: str) -> None:
        tok = jwt.encode({"sub": name, "scope": SC, "aud": "127.0.0.1", "iss": "bench",
                          "exp": int(time.time()) + 7200}, issuer, algorithm="RS256")
        self.client = httpx.Client(base_url=base, timeout=60.0,
                                   headers={"Authorization": f"Bearer {tok}"})

    def query(self, volume: dict) -> list[dict]:
        r = self.client.post("/dss/v1/operational_intent_references/query",
                             json={"area_of_interest": volume})
        r.raise_for_status()
        return r.json()["operational_intent_references"]

    def create(self, ident: str, volume: dict, key: list[str]) -> httpx.Response:
        return self.client.put(f"/dss/v1/operational_intent_references/{ident}", json={
            "extents": [volume], "key": key, "state": "Accepted",
            "uss_base_url": "http://uss.example"})


def circle_query(rng: np.random.Generator, proj: LocalProjection, now: float) -> dict:
    x, y = rng.uniform(-HALF_SIDE_M, HALF_SIDE_M, 2)
    lat, lon = proj.inverse(x, y)
    t0 = now + float(rng.uniform(60, 86_400))
    return {"volume": {"outline_circle": {"center": {"lat": float(lat), "lng": float(lon)},
                                          "radius": {"value": 5000.0, "units": "M"}},
                       "altitude_lower": {"value": 0.0, "reference": "W84", "units": "M"},
                       "altitude_upper": {"value": 3000.0, "reference": "W84", "units": "M"}},
            "time_start": {"value": iso(t0), "format": "RFC3339"},
            "time_end": {"value": iso(t0 + 3600), "format": "RFC3339"}}


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def details(refs: list[dict], ovns: dict[str, str], lock: threading.Lock) -> list[str]:
    """The OVNs of ``refs``, as their USSs would give them: one created a moment ago may not
    be in the register yet (its creator has not read the answer): wait for it."""
    while True:
        with lock:
            missing = [r["id"] for r in refs if r["id"] not in ovns]
            if not missing:
                return [ovns[r["id"]] for r in refs]
        time.sleep(0.001)


def busy_square(uss: Uss, square: Polygon, ovns: dict[str, str], lock: threading.Lock,
                until: float, rng: np.random.Generator, out: dict[str, list]) -> None:
    while time.monotonic() < until:
        t0 = time.time() + 60 + float(rng.uniform(0, 7200))
        lo = float(rng.uniform(0, 500))
        volume = volume_json(Volume4D(square, lo, lo + 100.0, t0, t0 + 600.0))
        ident = str(uuid.uuid4())
        start = time.perf_counter()
        while True:
            refs = uss.query(volume)
            key = details(refs, ovns, lock)
            t = time.perf_counter()
            r = uss.create(ident, volume, key)
            if r.status_code == 201:
                out["put"].append(time.perf_counter() - t)
                with lock:
                    ovns[ident] = r.json()["operational_intent_reference"]["ovn"]
                break
            if r.status_code != 409:
                raise RuntimeError(f"busy square: {r.status_code} {r.text[:200]}")
            out["again"].append(1)
        out["plan"].append(time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--creates", type=int, default=2_000)
    parser.add_argument("--busy-s", type=float, default=30.0)
    parser.add_argument("--port", type=int, default=8548)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rng = np.random.default_rng(args.seed)
    proj = LocalProjection(*CENTRE)
    workdir = Path(tempfile.mkdtemp(prefix="detente-f3548-"))
    issuer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (workdir / "issuer.pem").write_bytes(issuer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    busy = [f"busy{k}" for k in range(10)]
    cfg = config(workdir, [f"uss{k}" for k in range(USSS)] + busy)
    url = f"sqlite:///{workdir / 'dss.sqlite'}"
    t = time.perf_counter()
    ovns = preload(url, args.intents, rng, time.time())
    print(f"set-up: {len(ovns):,} references written in {time.perf_counter() - t:.1f} s",
          flush=True)
    detente = Path(sys.executable).with_name("detente")
    server = subprocess.Popen([str(detente), "serve", "--config", str(cfg), "--db", url,
                               "--port", str(args.port)], stdout=subprocess.DEVNULL,
                              stderr=open(workdir / "serve.log", "w"))
    base = f"http://127.0.0.1:{args.port}"
    try:
        t = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None:
                raise SystemExit((workdir / "serve.log").read_text())
            time.sleep(0.2)
        print(f"set-up: server up in {time.perf_counter() - t:.1f} s (start, loading "
              f"{len(ovns):,} intents)", flush=True)

        ussi = [Uss(base, issuer, f"uss{k}") for k in range(USSS)]
        took, found = [], []
        cpu = cpu_s(server.pid)
        for k in range(args.queries):
            q = circle_query(rng, proj, time.time())
            t = time.perf_counter()
            refs = ussi[k % USSS].query(q)
            took.append(time.perf_counter() - t)
            found.append(len(refs))
        print(f"query (5 km circle, 0-3,000 m, 1 h): {ms(took)}; "
              f"{statistics.mean(found):.1f} references found on average; server CPU "
              f"{(cpu_s(server.pid) - cpu) / len(took) * 1e3:.2f} ms a query; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        cpu = cpu_s(server.pid)

        strategic.T0 = time.time() + 120.0
        new = strategic.random_intents(rng, args.creates, "n", USSS,
                                       np.zeros(args.creates, dtype=int), checked=True)
        put, plan, met, refused = [], [], 0, 0
        for k, it in enumerate(new):
            volume = volume_json(it.volumes[0])
            uss = ussi[k % USSS]
            ident = str(uuid.uuid4())
            t0 = time.perf_counter()
            refs = uss.query(volume)
            key = [ovns[r["id"]] for r in refs]
            t1 = time.perf_counter()
            r = uss.create(ident, volume, key)
            t2 = time.perf_counter()
            if r.status_code != 201:
                refused += 1
                continue
            ovns[ident] = r.json()["operational_intent_reference"]["ovn"]
            put.append(t2 - t1)
            plan.append(t2 - t0)
            met += bool(key)
        print(f"create-with-key (PUT): {ms(put)}; {met / len(put):.0%} with a non-empty key; "
              f"{refused} refused; server CPU {(cpu_s(server.pid) - cpu) / len(new) * 1e3:.2f} "
              f"ms a plan (query + PUT)", flush=True)
        print(f"  the whole plan (query + PUT): {ms(plan)}; load average "
              f"{os.getloadavg()[0]:.1f}", flush=True)

        x, y = rng.uniform(-HALF_SIDE_M / 2, HALF_SIDE_M / 2, 2)
        corners = [proj.inverse(x + dx, y + dy) for dx, dy in
                   ((0, 0), (1000, 0), (1000, 1000), (0, 1000))]
        square = Polygon(tuple(float(a) for a, _ in corners), tuple(float(b) for _, b in corners))
        lock = threading.Lock()
        out: dict[str, list] = {"put": [], "plan": [], "again": []}
        until = time.monotonic() + args.busy_s
        threads = [threading.Thread(target=busy_square, args=(
            Uss(base, issuer, name), square, ovns, lock, until,
            np.random.default_rng(args.seed + 100 + k), out)) for k, name in enumerate(busy)]
        t = time.perf_counter()
        cpu = cpu_s(server.pid)
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        print(f"busy square kilometre, 10 USSs at once for {elapsed:.0f} s: "
              f"{len(out['put']) / elapsed:.1f} creates/s ({len(out['put'])} created, "
              f"{len(out['again'])} plans started again after a 409); server CPU "
              f"{(cpu_s(server.pid) - cpu) / elapsed:.0%} of a core; "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"  PUT {ms(out['put'])}")
        print(f"  plan (query + PUT, again until created) {ms(out['plan'])}")
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
