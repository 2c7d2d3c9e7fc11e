"""The built-in scenario: the service, the 2015 border reconstruction, and the console.

Starts the service with the demo configuration (parties TUR, RUS and COA; Turkey's national
territory as protected airspace; an agreement between each pair), then flies the scenario: each
party's client posts its own aircraft through the real API, signed in with its own key, over
loopback, and co-signs the record's tree heads. Time runs --speed times faster than the wall
clock. Prints "ready" once the service answers, the console's address and the officials' key
files, then the story as it happens: warnings raised, hotline messages sent, acknowledged,
escalated. Ctrl-C stops it.

Everything it keeps is in its data folder (--data, default ./detente-demo): the keys (the log's
own, made at the first start, and copies of the demo officials'), mode 0600 in a folder only
you may open; the database (unless --db); the tree heads each party's witness accepted. Started
again on the same folder and database, it carries on the same record, its clock going on from
the record's last signed head.

A RECONSTRUCTION from public reports of 24 November 2015, with no claim about what really
happened; the background traffic is real ADS-B recorded over Paris, moved to the region.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
import webbrowser
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detente.cli.options import check_port_free, positive_float
from detente.errors import DetenteError, InputError

PARTIES = ("TUR", "RUS", "COA")
DEFAULT_DATA = "detente-demo"
# A record carried on resumes this long after its last signed head (scenario time): after the
# last reports too, which the service's final anchor at its stop comes just after.
RESTART_GAP_S = 60.0
# Between looks at what the parties are told (wall clock): the story's lines come this late
# at most, which at --speed 20 is 10 s of scenario time.
STORY_POLL_S = 0.5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    parser.add_argument("--speed", type=positive_float, default=1.0,
                        help="how much faster than real time the scenario runs (default 1)")
    parser.add_argument("--data", default=DEFAULT_DATA, metavar="DIR",
                        help="the demo's folder: keys, database, kept tree heads (default "
                             "./%(default)s); start again on it to carry on the same record")
    parser.add_argument("--db", default=None, metavar="URL",
                        help="database URL (default: demo.sqlite in the data folder)")
    parser.add_argument("--no-browser", action="store_true",
                        help="do not try to open the console in a browser")
    parser.add_argument("--mesh", action="store_true",
                        help="every party its own node: three nodes (TUR, RUS, COA) on "
                             "--port and the two ports after it, each with its own database, "
                             "keys and console")


@dataclass(frozen=True)
class Folder:
    """The demo's data folder and what is in it."""

    root: Path
    keys: Path
    log_key: Path
    log_key_made: bool
    heads: Path  # the witnesses' kept heads, for this database


def run(args: argparse.Namespace) -> int:
    if args.mesh:
        from detente.cli.demo_mesh import run_mesh

        return run_mesh(args)
    import dataclasses

    import uvicorn

    from detente.api.app import create_app
    from detente.scenario.demo_traffic import BACKGROUND_LABEL, LABEL
    from detente.service.clock import ScaledClock
    from detente.service.config import load_config

    check_port_free("127.0.0.1", args.port)
    folder_path = Path(args.data).expanduser().resolve()
    db = args.db or f"sqlite:///{folder_path / 'demo.sqlite'}"
    folder = _prepare_folder(folder_path, db)
    record = _record_so_far(db, folder)
    # A record carried on goes on from its last signed head: at --speed above 1 the demo's
    # clock ran ahead of the wall clock, and reports older than the restored ones would be
    # taken for late ones.
    clock = ScaledClock(rate=args.speed, start=max(
        time.time(), record.get("last_time", 0.0) + RESTART_GAP_S))
    base_config = load_config(_bundled("demo/border.toml"))
    config = dataclasses.replace(base_config, settings=dataclasses.replace(
        base_config.settings, log_key_file=folder.log_key, cycle_s=0.5))
    app = create_app(config, db, clock=clock)
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=args.port, log_level="warning", ws="websockets-sansio",
        ws_per_message_deflate=False))
    url = f"http://127.0.0.1:{args.port}"

    print(f"detente demo: {LABEL}; {BACKGROUND_LABEL}. Time runs x{args.speed:g}.")
    print(f"data folder: {folder.root} (only you may open it; the keys in it are mode 0600)")
    print(f"log key: {folder.log_key} ("
          + ("made now" if folder.log_key_made else "kept from an earlier start")
          + "): it signs the record's tree heads; keep it to carry on this record")
    if record["entries"]:
        print(f"record: {db}, carrying on: {record['entries']:,} entries, last signed head at "
              f"{_utc(record['last_time'])}; the demo's clock goes on from there")
    else:
        print(f"record: {db}, new")
    print(f"starting the service on {url} ...", flush=True)
    stop = threading.Event()
    driver = threading.Thread(
        target=_drive, args=(server, url, db, folder, config, clock, not args.no_browser, stop),
        name="detente-demo", daemon=True)
    driver.start()
    interrupted = False
    try:
        server.run()  # shuts down cleanly on Ctrl-C, then raises it again
    except KeyboardInterrupt:
        interrupted = True
    finally:
        stop.set()
        driver.join(timeout=5)
    if not (interrupted or getattr(server, "started", False)):
        raise InputError("the service did not start (the lines above say why); the data "
                         f"folder {folder.root} is as it was")
    print(f"detente demo stopped. Start it again (--data {args.data}"
          + (f" --db {args.db}" if args.db else "") + ") to carry on the same record.",
          file=sys.stderr)
    return 0


def _bundled(name: str) -> Path:
    from detente.data import bundled_path

    return bundled_path(name)


def _prepare_folder(root: Path, db: str) -> Folder:
    """The data folder, made private; the demo officials' keys copied in; the log key made at
    the first start and kept."""
    from detente.ledger.keys import generate_private_key, write_private_key

    keys = root / "keys"
    try:
        keys.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(root, 0o700)
        os.chmod(keys, 0o700)
        for bundled in sorted(_bundled("demo/border.toml").parent.glob("keys/*.pem")):
            copy = keys / bundled.name
            if not copy.exists():
                fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(bundled.read_bytes())
            os.chmod(copy, 0o600)
    except OSError as exc:
        raise InputError(f"cannot use {root} as the demo's data folder: {exc.strerror}; "
                         "choose another with --data") from None
    log_key = root / "log.pem"
    made = not log_key.exists()
    if made:
        write_private_key(log_key, generate_private_key())
    os.chmod(log_key, 0o600)
    # Heads are kept per database: two databases are two records (and the same log key
    # signing both would be a split view).
    heads = root / "heads" / hashlib.sha256(db.encode()).hexdigest()[:16]
    heads.parent.mkdir(mode=0o700, exist_ok=True)
    heads.mkdir(mode=0o700, exist_ok=True)
    return Folder(root, keys, log_key, made, heads)


def _record_so_far(db: str, folder: Folder) -> dict[str, Any]:
    """What the database already holds, refused when the data folder's log key did not sign
    it. A new record drops heads kept of an earlier one on the same URL."""
    from detente.ledger.keys import key_id, load_private_key, public_key_bytes
    from detente.ledger.log import LedgerReader
    from detente.store import ledger_tables as _ledger_tables  # noqa: F401 - the tables
    from detente.store.database import open_database

    engine = open_database(db, create=False)
    try:
        try:
            reader = LedgerReader(engine)
        except InputError:  # no ledger in it yet
            for kept in folder.heads.glob("*.jsonl"):
                kept.unlink()
            return {"entries": 0}
        mine = public_key_bytes(load_private_key(folder.log_key))
        if reader.log_public_key != mine:
            raise InputError(
                f"the record in {db} is signed by log key {key_id(reader.log_public_key)}, "
                f"not by {folder.log_key} ({key_id(mine)}): start with the data folder it was "
                "made with (--data), or on another database (--db)")
        head = reader.tree_head()
        return {"entries": head.size, "last_time": head.time}
    finally:
        engine.dispose()


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _drive(server: Any, url: str, db: str, folder: Folder, config: Any, clock: Any,
           browser: bool, stop: threading.Event) -> None:
    """The parties' clients: post each party's aircraft twice a second (wall clock), co-sign
    new tree heads every two seconds, and tell the story of what the parties are told."""
    from detente.cli.client import ServiceClient, Witness
    from detente.cli.demo_story import Story
    from detente.ledger.heads import TreeHead
    from detente.ledger.keys import load_private_key, public_key_bytes
    from detente.scenario.demo_traffic import DemoTraffic

    started = time.monotonic()
    while not getattr(server, "started", False):
        if stop.is_set() or getattr(server, "should_exit", False):
            return
        time.sleep(0.05)
    if not _answers(url, stop):
        return
    print(f"ready: the service answers at {url} ({time.monotonic() - started:.1f} s)")
    print(f"console: {url}/console/")
    for party in config.parties.values():
        for o in party.officials:
            print(f"key: {party.id} {o.id} {folder.keys / (o.id + '.pem')}")
    print(f"after-action review: detente export --db {db} --out record.jsonl "
          "--with-recording, then detente replay record.jsonl")
    print("Ctrl-C stops the demo. The story, as the parties are told it (scenario time, UTC):",
          flush=True)
    if browser:
        threading.Thread(target=_open_browser, args=(f"{url}/console/",), daemon=True).start()

    log_key = public_key_bytes(load_private_key(folder.log_key))
    traffic = DemoTraffic()
    now = clock.now
    t0 = now()
    clients = {p: ServiceClient(url, p, folder.keys / f"{p}.pem", clock=now) for p in PARTIES}
    witnesses = [Witness(c, log_key, _kept_heads(folder.heads / f"{p}.jsonl", TreeHead),
                         told_seq=_told_seq(folder.heads / f"{p}.told"))
                 for p, c in clients.items()]
    story = Story(config, url, folder.keys, since=t0)
    next_witness = next_story = 0.0
    while not (stop.is_set() or getattr(server, "should_exit", False)):
        tick = time.monotonic()
        try:
            s = now() - t0
            for party, states in traffic.states_at(s, t0).items():
                if states:
                    clients[party].post_states(states)
            if tick >= next_witness:
                for party, w in zip(clients, witnesses, strict=True):
                    try:  # one party's trouble must not keep the others from co-signing
                        head = w.step()
                        if head is not None:
                            with (folder.heads / f"{party}.jsonl").open("a") as f:
                                f.write(json.dumps(head.to_json()) + "\n")
                        if w.receipt_told():
                            (folder.heads / f"{party}.told").write_text(f"{w.told_seq}\n")
                    except DetenteError as exc:
                        if stop.is_set() or getattr(server, "should_exit", False):
                            return
                        print(f"demo: {party}'s witness: {' '.join(str(exc).split())}",
                              file=sys.stderr, flush=True)
                next_witness = tick + 2.0
            if tick >= next_story:
                views = {p: (c.get("/v1/alerts")["alerts"], c.messages())
                         for p, c in clients.items()}
                for line in story.observe(now(), views):
                    print(line, flush=True)
                next_story = tick + STORY_POLL_S
        except DetenteError as exc:
            if stop.is_set() or getattr(server, "should_exit", False):
                return
            print(f"demo: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
        stop.wait(max(0.0, 0.5 - (time.monotonic() - tick)))


def _answers(url: str, stop: threading.Event, timeout_s: float = 60.0) -> bool:
    """Wait until GET /health answers 200: "ready" means a client would be served."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        stop.wait(0.05)
    if not stop.is_set():
        print(f"demo: the service at {url} did not answer within {timeout_s:.0f} s",
              file=sys.stderr, flush=True)
    return False


def _told_seq(path: Path) -> int:
    """The last event whose entry the party receipted in an earlier run of the demo."""
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _kept_heads(path: Path, head_type: Any) -> list[Any]:
    if not path.exists():
        return []
    return [head_type.from_json(json.loads(line)) for line in path.read_text().splitlines()
            if line.strip()]


def _open_browser(url: str) -> None:
    try:
        webbrowser.open(url)
    except webbrowser.Error:
        pass  # no browser here: the address is printed
