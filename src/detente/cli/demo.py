"""The built-in scenario: the service, the 2015 border reconstruction, and the console.

Starts the service on an embedded database (a fresh one in a temporary folder unless --db) with
the demo configuration (parties TUR, RUS and COA; Turkey's national territory as protected
airspace; an agreement between each pair), then flies the scenario: each party's client posts
its own aircraft through the real API, signed in with its own key, over loopback, and co-signs
the record's tree heads. Time runs --speed times faster than the wall clock.

A RECONSTRUCTION from public reports of 24 November 2015, with no claim about what really
happened; the background traffic is real ADS-B recorded over Paris, moved to the region.
Prints the console's address and the demo officials' key files. Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import threading
import time
import webbrowser
from pathlib import Path

from detente.cli.options import positive_float

PARTIES = ("TUR", "RUS", "COA")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--speed", type=positive_float, default=1.0,
                        help="how much faster than real time the scenario runs (default 1)")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="database URL (default: a new SQLite file in a temporary folder)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not try to open the console in a browser")


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from detente.api.app import create_app
    from detente.data import bundled_path
    from detente.scenario.demo_traffic import BACKGROUND_LABEL, LABEL
    from detente.service.clock import ScaledClock
    from detente.service.config import load_config

    workdir = Path(tempfile.mkdtemp(prefix="detente-demo-"))
    db = args.db or f"sqlite:///{workdir / 'demo.sqlite'}"
    base_config = load_config(bundled_path("demo/border.toml"))
    config = dataclasses.replace(base_config, settings=dataclasses.replace(
        base_config.settings, log_key_file=workdir / "log.pem", cycle_s=0.5))
    clock = ScaledClock(rate=args.speed)
    app = create_app(config, db, clock=clock)
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets-sansio",
        ws_per_message_deflate=False))
    url = f"http://127.0.0.1:{args.port}"
    keys = bundled_path("demo/border.toml").parent / "keys"
    print(f"detente demo: {LABEL}; {BACKGROUND_LABEL}. Time runs x{args.speed:g}.")
    print(f"console: {url}/console/")
    for party in config.parties.values():
        for o in party.officials:
            print(f"key: {party.id} {o.id} {keys / (o.id + '.pem')}")
    print(f"record: {db} (for an after-action review: detente export --db {db} "
          "--out record.jsonl --with-recording, then detente replay record.jsonl)")
    print("Ctrl-C stops the demo.", flush=True)
    driver = threading.Thread(target=_drive, args=(server, url, keys, clock), daemon=True)
    driver.start()
    if not args.no_browser:
        threading.Thread(target=_open_browser, args=(server, f"{url}/console/"),
                         daemon=True).start()
    print("starting: the first run compiles the detection kernels (about 10 s)...",
          file=sys.stderr, flush=True)
    server.run()  # returns on Ctrl-C, after a clean shutdown
    print("detente demo stopped.", file=sys.stderr)
    return 0


def _open_browser(server: object, url: str) -> None:
    while not getattr(server, "started", False):
        time.sleep(0.1)
    try:
        webbrowser.open(url)
    except webbrowser.Error:
        pass  # no browser here: the address is printed


def _drive(server: object, url: str, keys: Path, clock: object) -> None:
    """The parties' clients: post each party's aircraft twice a second (wall clock), co-sign
    new tree heads every two seconds."""
    from detente.cli.client import ServiceClient, Witness
    from detente.errors import DetenteError
    from detente.scenario.demo_traffic import DemoTraffic

    while not getattr(server, "started", False):
        if getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    traffic = DemoTraffic()
    now = clock.now  # type: ignore[attr-defined]
    t0 = now()
    clients = {p: ServiceClient(url, p, keys / f"{p}.pem", clock=now) for p in PARTIES}
    witnesses = [Witness(c) for c in clients.values()]
    next_witness = 0.0
    while not getattr(server, "should_exit", False):
        started = time.monotonic()
        try:
            s = now() - t0
            for party, states in traffic.states_at(s, t0).items():
                if states:
                    clients[party].post_states(states)
            if started >= next_witness:
                for w in witnesses:
                    w.step()
                next_witness = started + 2.0
        except DetenteError as exc:
            if getattr(server, "should_exit", False):
                return
            print(f"demo driver: {exc}", file=sys.stderr)
        time.sleep(max(0.0, 0.5 - (time.monotonic() - started)))
