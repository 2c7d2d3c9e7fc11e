"""Three parties' nodes on loopback under load: prints the figures of the mesh.

    .venv/bin/python bench/mesh.py [--tracks 10000] [--seconds 60] [--warmup 15]

Starts TUR's, RUS's and COA's nodes, each `detente serve` in a process of its own with its own
database, keys and port (the test suite's rig, tests/mesh_nodes.py: every pair agrees to
share everything at full precision, 1 s cycle). Each party posts its third of the tracks to its
own node once a second (straight lines over a 2,000 km square, FL100-FL400, as
bench/service.py flies them); each node sends its peers its party's states over the links,
and detects on its own aircraft and its peers'. Once a second a probe pair is put on a
collision course (20 km head-on, above the traffic): RUS's aircraft first, then TUR's a second
later; the latency is from the start of the POST of TUR's report to TUR's node to the alert's
arrival on RUS's stream from RUS's node (TUR's node -> link -> RUS's node -> detection ->
RUS's client).

Prints report -> peer's alert p50/p99/max over the measured run, the states/s carried, the
bytes per second each way on each link (from the nodes' own counts), each node's resident
memory at the start and end of the measured run and its maximum, and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.service import Fleet, pct, rss_mib  # noqa: E402
from detente.geo import WGS84  # noqa: E402
from tests.mesh_nodes import MeshRig  # noqa: E402

PARTIES = ("COA", "RUS", "TUR")
A, B = "TUR", "RUS"  # the probe's report goes to A's node; its alert is read from B's
AGREEMENTS = [{"parties": [a, b]} for k, a in enumerate(PARTIES) for b in PARTIES[k + 1:]]


class Bench:
    def __init__(self, rig: MeshRig, args: argparse.Namespace) -> None:
        self.rig, self.args = rig, args
        self.stop = asyncio.Event()
        self.measuring = False
        self.latency: list[float] = []
        self.accepted = 0
        self.probe_sent: dict[str, float] = {}
        self.probes = 0
        self.rss: dict[str, list[float]] = {p: [] for p in PARTIES}
        self.tokens: dict[str, str] = {}

    def token(self, party: str) -> str:
        if party not in self.tokens:
            with self.rig.client(party) as c:
                self.tokens[party] = c.token
        return self.tokens[party]

    async def post(self, c: httpx.AsyncClient, party: str, states: list[dict]) -> int:
        r = await c.post("/v1/states", content=msgspec.json.encode({"states": states}),
                         headers={"Authorization": f"Bearer {self.token(party)}",
                                  "content-type": "application/json"})
        return r.json()["accepted"] if r.status_code == 200 else 0

    async def feed(self, party: str, fleet: Fleet) -> None:
        async with httpx.AsyncClient(base_url=self.rig.url(party), timeout=30) as c:
            while not self.stop.is_set():
                t0 = time.perf_counter()
                got = await self.post(c, party, fleet.batch())
                if self.measuring:
                    self.accepted += got
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))

    async def listen(self) -> None:
        url = self.rig.url(B).replace("http", "ws") + f"/v1/stream?token={self.token(B)}"
        async with websockets.connect(url, max_size=None) as ws:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), 0.5)
                except TimeoutError:
                    continue
                if raw.startswith('{"seq":null,"type":"picture"'):
                    continue
                msg = json.loads(raw)
                if msg["type"] != "alert" or msg["data"]["state"] != "raised":
                    continue
                ids = {t.get("id") for t in msg["data"]["tracks"]}
                for ident in ids & set(self.probe_sent):
                    # The pair's own alert (RUS's node names TUR's aircraft: it sees it
                    # exactly), not one of a probe with its neighbour.
                    if ident.replace(B, A, 1) in ids:
                        sent = self.probe_sent.pop(ident)
                        if self.measuring:
                            self.latency.append(time.perf_counter() - sent)

    async def probe(self) -> None:
        k = 0
        async with httpx.AsyncClient(base_url=self.rig.url(A), timeout=30) as ca, \
                httpx.AsyncClient(base_url=self.rig.url(B), timeout=30) as cb:
            while not self.stop.is_set():
                k += 1
                # 33 km and 54 km between probes: a pair meets no other probe.
                lat, lon = 33.0 + (k % 20) * 0.3, 34.0 + (k // 20 % 20) * 0.6
                lon2, lat2, _ = WGS84.fwd(lon, lat, 90.0, 20_000.0)
                ident = f"{B}-probe-{k}"
                await self.post(cb, B, [{"id": ident, "t": time.time(), "lat": lat2,
                                         "lon": lon2, "alt_m": 15_000, "gs_mps": 200,
                                         "trk_deg": 270, "vs_mps": 0}])
                await asyncio.sleep(0.5)
                self.probe_sent[ident] = time.perf_counter()
                self.probes += self.measuring
                await self.post(ca, A, [{"id": f"{A}-probe-{k}", "t": time.time(), "lat": lat,
                                         "lon": lon, "alt_m": 15_000, "gs_mps": 200,
                                         "trk_deg": 90, "vs_mps": 0}])
                await asyncio.sleep(0.5)

    async def sample(self) -> None:
        while not self.stop.is_set():
            for p in PARTIES:
                if self.measuring:
                    self.rss[p].append(rss_mib(self.rig.processes[p].pid))
            await asyncio.sleep(1.0)

    def links(self) -> dict[tuple[str, str], int]:
        out = {}
        for p in PARTIES:
            for peer, link in self.rig.links(p).items():
                out[(p, peer)] = link["bytes_out"]
        return out

    async def run(self) -> None:
        n = self.args.tracks
        fleets = {p: Fleet(p, n // 3 + (k < n % 3), seed=k) for k, p in enumerate(PARTIES)}
        tasks = [asyncio.create_task(self.feed(p, f)) for p, f in fleets.items()]
        tasks += [asyncio.create_task(self.listen()), asyncio.create_task(self.probe()),
                  asyncio.create_task(self.sample())]
        await asyncio.sleep(self.args.warmup)
        before = await asyncio.to_thread(self.links)
        t0 = time.monotonic()
        self.measuring = True
        await asyncio.sleep(self.args.seconds)
        self.measuring = False
        wall = time.monotonic() - t0
        after = await asyncio.to_thread(self.links)
        load = os.getloadavg()
        self.stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        lat = self.latency
        print(f"{n:,} tracks in all ({', '.join(f'{p} {len(f.ids):,}' for p, f in fleets.items())})"
              f", {wall:.0f} s measured after {self.args.warmup:.0f} s of warm-up; load average "
              f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
        print(f"states carried: {self.accepted / wall:,.0f}/s of {n:,}/s asked")
        print(f"report at {A}'s node -> alert on {B}'s stream: {len(lat)} of {self.probes} "
              f"probes, p50 {pct(lat, 50) * 1e3:.0f} ms, p99 {pct(lat, 99) * 1e3:.0f} ms, max "
              f"{max(lat, default=float('nan')) * 1e3:.0f} ms")
        for (p, peer), b in sorted(after.items()):
            print(f"link {p} -> {peer}: {(b - before.get((p, peer), 0)) / wall / 1e3:,.0f} kB/s")
        for p, values in self.rss.items():
            if values:
                print(f"node {p}: resident {values[0]:.0f} MiB at the start, {values[-1]:.0f} "
                      f"MiB at the end, max {max(values):.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rig = MeshRig(Path(tmp), PARTIES, AGREEMENTS, service={
            "cycle_s": 1.0, "max_body_bytes": 16 * 1024 * 1024})
        try:
            for p in PARTIES:
                rig.start_process(p)
            rig.wait_links_up(60)
            asyncio.run(Bench(rig, args).run())
        finally:
            rig.stop_all()


if __name__ == "__main__":
    main()
