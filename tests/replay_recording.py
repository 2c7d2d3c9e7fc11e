"""A real service run for the replay tests, recorded and exported with its recording.

The built-in demo configuration (TUR, RUS, COA) on a real server in virtual time (a
ManualClock moved one second per step), the parties' own clients posting their aircraft:

- TUR: the two F-16s of the 2015 reconstruction (inside the zone TUR shares with RUS) and
  F16-FAR, north of that zone: RUS must never see it; COA sees it (TUR shares all with COA).
- RUS: the two Su-24s, from step RUS_FROM on, 130 s before the lead's entry into Turkey: an
  advisory incursion alert at once, a warning (and the automatic flash to RUS) ten steps on.
- COA: two aircraft over Syria. RUS shares no tracks with COA; no alert of theirs concerns COA.

At step ACK_AT RUS's watch officer acknowledges the flash; at step SEND_AT TUR's sends an
urgent message. Every party's stream is listened to from the start (since=0): what each was
shown, frame by frame, is the oracle the replay is held to.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import websockets
from pyproj import Geod

from detente.api.app import create_app
from detente.cli.client import ServiceClient, Witness
from detente.cli.main import main
from detente.data import bundled_path
from detente.scenario.yayladagi_2015 import DESIGNED_ENTRY_S, ROWS
from detente.service.clock import ManualClock
from detente.service.config import load_config
from detente.store.report_thinning import EXACT, Tolerance
from tests.live_server import serve

DEMO_KEYS = Path(str(files("detente.data") / "demo" / "keys"))
PARTIES = ("TUR", "RUS", "COA")
START = 1_448_349_000.0  # 2015-11-24 07:10:00 UTC
STEPS = 40
RUS_FROM = 10
TO_ENTRY_S = 130.0  # the lead's time to entry when the Su-24s first report
ACK_AT = 28
SEND_AT = 33
CYCLE_S = 0.04
GEOD = Geod(ellps="WGS84")
EXTRA = {  # (party, id): (lat, lon, alt_m, gs_mps, trk_deg)
    ("TUR", "F16-FAR"): (37.5, 36.5, 7000.0, 200.0, 90.0),
    ("COA", "COA-1"): (35.0, 37.5, 9000.0, 220.0, 90.0),
    ("COA", "COA-2"): (35.2, 38.0, 10000.0, 230.0, 270.0),
}


@dataclass
class Recorded:
    export: Path
    recording: Path
    start: float
    end: float
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # party -> messages
    flash_id: str = ""
    message_id: str = ""


def turning(step: int, now: float) -> dict[str, Any]:
    """COA-TURN, in the thinned run only: a gentle turn (0.6 deg/s) at 200 m/s over Syria,
    climbing 5 m/s: its reports depart from the last kept one within a few seconds, so the
    recording keeps one in a few (of straight flight, one every max_gap_s)."""
    lat, lon, trk = 35.3, 37.8, 0.0
    for _ in range(step):
        lon, lat, _ = GEOD.fwd(lon, lat, trk, 200.0)
        trk = (trk + 0.6) % 360.0
    return {"id": "COA-TURN", "t": now, "lat": lat, "lon": lon, "alt_m": 8000.0 + 5.0 * step,
            "gs_mps": 200.0, "trk_deg": trk, "vs_mps": 5.0}


def states_at(party: str, step: int, now: float, thinned: bool = False
              ) -> list[dict[str, Any]]:
    out = [turning(step, now)] if thinned and party == "COA" else []
    for ident, owner, lat, lon, alt_m, gs, trk, vs in ROWS:
        if owner != party or (party == "RUS" and step < RUS_FROM):
            continue
        flown = gs * (step - RUS_FROM + DESIGNED_ENTRY_S - TO_ENTRY_S) if party == "RUS" \
            else gs * step
        lon2, lat2, back = GEOD.fwd(lon, lat, trk, flown)
        out.append({"id": ident, "t": now, "lat": lat2, "lon": lon2, "alt_m": alt_m,
                    "gs_mps": gs, "trk_deg": (back + 180) % 360, "vs_mps": vs})
    for (owner, ident), (lat, lon, alt_m, gs, trk) in EXTRA.items():
        if owner == party:
            lon2, lat2, back = GEOD.fwd(lon, lat, trk, gs * step)
            out.append({"id": ident, "t": now, "lat": lat2, "lon": lon2, "alt_m": alt_m,
                        "gs_mps": gs, "trk_deg": (back + 180) % 360, "vs_mps": 0.0})
    return out


async def _listen(base: str, token: str, stop: threading.Event, got: list) -> None:
    url = base.replace("http", "ws") + f"/v1/stream?token={token}&since=0"
    async with websockets.connect(url, max_size=None) as ws:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))


def _wait_cycles(n: int = 3) -> None:
    time.sleep(CYCLE_S * n + 0.03)


def _wait_for_frames(streams: dict[str, list[dict[str, Any]]], now: float) -> None:
    """Until every party has had two picture frames of the instant ``now`` from here on."""
    start = {p: len(s) for p, s in streams.items()}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(sum(m["type"] == "picture" and m["data"]["t"] == now for m in s[start[p]:]) >= 2
               for p, s in streams.items()):
            return
        time.sleep(0.01)


def record(folder: Path, tolerance: Tolerance = EXACT) -> Recorded:
    """The run, its reports kept within ``tolerance`` (EXACT: every one, as received)."""
    folder.mkdir(parents=True, exist_ok=True)
    db = f"sqlite:///{folder / 'detente.sqlite'}"
    base = load_config(bundled_path("demo/border.toml"))
    config = dataclasses.replace(base, settings=dataclasses.replace(
        base.settings, log_key_file=folder / "log.pem", cycle_s=CYCLE_S, recording=tolerance))
    thinned = not tolerance.exact
    clock = ManualClock(START)
    streams: dict[str, list[dict[str, Any]]] = {p: [] for p in PARTIES}
    made = Recorded(folder / "record.jsonl", folder / "record.recording.jsonl", START, START)
    with serve(create_app(config, db, clock=clock)) as url:
        clients = {p: ServiceClient(url, p, DEMO_KEYS / f"{p}.pem", clock=clock.now)
                   for p in PARTIES}
        rus_watch = ServiceClient(url, "RUS", DEMO_KEYS / "rus-watch.pem", official="rus-watch",
                                  clock=clock.now)
        tur_watch = ServiceClient(url, "TUR", DEMO_KEYS / "tur-watch.pem", official="tur-watch",
                                  clock=clock.now)
        witnesses = [Witness(c) for c in clients.values()]
        stop = threading.Event()

        async def listen_all() -> None:
            await asyncio.gather(*(_listen(url, clients[p].token, stop, streams[p])
                                   for p in PARTIES))

        listener = threading.Thread(target=asyncio.run, args=(listen_all(),), daemon=True)
        listener.start()
        _wait_cycles()
        try:
            for step in range(STEPS + 1):
                if step:
                    clock.advance(1.0)
                now = clock.now()
                for party, client in clients.items():
                    client.post_states(states_at(party, step, now, thinned))
                if step == ACK_AT:
                    flash = [m for m in rus_watch.messages()
                             if m["automatic"] and m["to_party"] == "RUS"]
                    made.flash_id = flash[0]["id"]
                    rus_watch.acknowledge(made.flash_id, "Understood, turning south")
                if step == SEND_AT:
                    sent = tur_watch.send_message("RUS", "urgent", "Leave the salient now.")
                    made.message_id = sent["message"]["id"] if "message" in sent else sent["id"]
                if step % 5 == 0:
                    for w in witnesses:
                        w.step()
                _wait_for_frames(streams, now)
            made.end = clock.now()
            _wait_cycles(5)
        finally:
            stop.set()
            listener.join(10)
            for c in [*clients.values(), rus_watch, tur_watch]:
                c.http.close()
    made.streams = streams
    assert main(["export", "--db", db, "--out", str(made.export), "--with-recording"]) == 0
    return made


_made: dict[str, Recorded] = {}


def recorded_once(tmp_path_factory: Any, thinned: bool = False) -> Recorded:
    """One recorded run per test session, shared by the replay tests of every folder: every
    report kept, or (``thinned``) those the default tolerance keeps."""
    key = "thinned" if thinned else "run"
    if key not in _made:
        _made[key] = record(tmp_path_factory.mktemp(f"replay-{key}"),
                            Tolerance() if thinned else EXACT)
    return _made[key]
