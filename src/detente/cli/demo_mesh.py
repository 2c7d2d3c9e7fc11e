"""``detente demo --mesh``: the built-in scenario across three nodes, one per party.

TUR's, RUS's and COA's nodes (the demo's configuration with a ``[node]`` table each, as
examples/mesh/ has them), each with its own database, log key and console port (--port, and
the two after it), run in this process; each party's client posts its own aircraft to its own
node only, and the nodes do the rest over their links: states as the agreements give them,
alerts, warnings and hotline traffic, receipts, each other's tree heads. The story is told as
each party's node tells it; link incidents are told too. Time runs --speed times faster than
the wall clock, on every node alike; the links' silence and clock terms are counted on that
clock, so they are stretched by the same factor.

Everything it keeps is in the data folder (--data): the demo's keys (copies, mode 0600), each
node's log key and database. Started again on the same folder it carries on the same records.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

from detente.cli.options import check_port_free
from detente.errors import DetenteError, InputError

__all__ = ["run_mesh"]

PARTIES = ("TUR", "RUS", "COA")
RESTART_GAP_S = 60.0
STORY_POLL_S = 0.5


def run_mesh(args: argparse.Namespace) -> int:
    import uvicorn

    from detente.api.app import create_app
    from detente.cli.demo import _prepare_folder
    from detente.scenario.demo_traffic import BACKGROUND_LABEL, LABEL
    from detente.service.clock import ScaledClock

    if args.db is not None:
        raise InputError("--db: a mesh demo keeps one database per node in its data folder "
                         "(--data); leave --db out")
    ports = {p: args.port + k for k, p in enumerate(PARTIES)}
    for port in ports.values():
        check_port_free("127.0.0.1", port)
    root = Path(args.data).expanduser().resolve()
    folder = _prepare_folder(root, "mesh")
    dbs = {p: f"sqlite:///{root / f'node-{p}.sqlite'}" for p in PARTIES}
    last = max((_last_head_time(db) for db in dbs.values()), default=0.0)
    clock = ScaledClock(rate=args.speed, start=max(time.time(), last + RESTART_GAP_S))
    nodes = {p: _node(p, ports, root, args.speed) for p in PARTIES}
    servers = {p: uvicorn.Server(uvicorn.Config(
        create_app(config, dbs[p], clock=clock, mesh=node), host="127.0.0.1", port=ports[p],
        log_level="warning", ws="websockets-sansio", ws_per_message_deflate=False))
        for p, (config, node) in nodes.items()}
    urls = {p: f"http://127.0.0.1:{port}" for p, port in ports.items()}
    print(f"detente demo --mesh: {LABEL}; {BACKGROUND_LABEL}. Time runs x{args.speed:g}.")
    print(f"data folder: {folder.root} (only you may open it; the keys in it are mode 0600)")
    print("three nodes, one per party, each its own database and log: "
          + ", ".join(f"{p} {urls[p]}" for p in PARTIES), flush=True)
    threads = [threading.Thread(target=s.run, name=f"node-{p}", daemon=True)
               for p, s in servers.items()]
    for t in threads:
        t.start()
    stop = threading.Event()
    try:
        _drive(servers, urls, nodes["TUR"][0], folder.keys, clock, stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        for s in servers.values():
            s.should_exit = True
        for t in threads:
            t.join(timeout=30)
    print(f"detente demo --mesh stopped. Start it again (--mesh --data {args.data}) to carry "
          "on the same records.", file=sys.stderr)
    return 0


def _node(party: str, ports: dict[str, int], root: Path, speed: float) -> tuple[Any, Any]:
    """The demo's configuration as ``party``'s node of the mesh on loopback."""
    from detente.data import bundled_path
    from detente.ledger.keys import load_private_key, public_key_b64
    from detente.service.config import parse_config
    from detente.service.mesh.node_config import parse_node

    path = bundled_path("demo/border.toml")
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc["service"] = {**doc.get("service", {}), "cycle_s": 0.5,
                      "log_key": str(root / f"log-{party}.pem")}
    for ag in doc["agreements"]:
        # Counted on the demo's clock, which runs x speed: as many wall seconds as at x1.
        ag["link"] = {"silence_s": 30.0 * max(speed, 1.0),
                      "clock_tolerance_s": 2.0 * max(speed, 1.0)}
    doc["node"] = {
        "party": party, "key": f"detente:demo/nodes/node-{party}.pem",
        "party_key": f"detente:demo/keys/{party}.pem",
        "peers": [{"party": q, "url": f"http://127.0.0.1:{ports[q]}",
                   "public_key": public_key_b64(load_private_key(
                       bundled_path(f"demo/nodes/node-{q}.pem")))}
                  for q in PARTIES if q != party],
    }
    config = parse_config(doc, path.parent)
    return config, parse_node(doc, config, path.parent)


def _last_head_time(db: str) -> float:
    """The time of the last signed head in ``db`` (0 when there is none yet)."""
    from detente.ledger.log import LedgerReader
    from detente.store import ledger_tables as _ledger_tables  # noqa: F401 - the tables
    from detente.store.database import open_database

    if not Path(db.removeprefix("sqlite:///")).exists():
        return 0.0
    engine = open_database(db, create=False)
    try:
        return LedgerReader(engine).tree_head().time
    except InputError:
        return 0.0
    finally:
        engine.dispose()


def _drive(servers: dict[str, Any], urls: dict[str, str], config: Any, keys: Path,
           clock: Any, stop: threading.Event) -> None:
    """Each party's client posts its own aircraft to its own node twice a second; the story
    is told from what each node tells its party."""
    from detente.cli.client import ServiceClient
    from detente.cli.demo import _answers
    from detente.cli.demo_story import Story
    from detente.scenario.demo_traffic import DemoTraffic

    started = time.monotonic()
    for p, url in urls.items():
        while not getattr(servers[p], "started", False):
            if stop.is_set() or servers[p].should_exit:
                return
            time.sleep(0.05)
        if not _answers(url, stop):
            return
    print(f"ready: the three nodes answer ({time.monotonic() - started:.1f} s)")
    for p in PARTIES:
        print(f"console: {p} {urls[p]}/console/ (log in as {p}'s officials)")
        for o in config.parties[p].officials:
            print(f"key: {p} {o.id} {keys / (o.id + '.pem')}")
    print("Ctrl-C stops the demo. The story, as each party's node tells it (scenario time, "
          "UTC):", flush=True)
    traffic = DemoTraffic()
    now = clock.now
    t0 = now()
    clients = {p: ServiceClient(urls[p], p, keys / f"{p}.pem", clock=now) for p in PARTIES}
    story = Story(config, urls["RUS"], keys, since=t0)
    links_told: dict[tuple[str, str, str], str] = {}
    once = _Once()
    next_story = 0.0
    try:
        while not stop.is_set() and not any(s.should_exit for s in servers.values()):
            tick = time.monotonic()
            try:
                s = now() - t0
                for party, states in traffic.states_at(s, t0).items():
                    if states:
                        clients[party].post_states(states)
                if tick >= next_story:
                    views = {}
                    for p, c in clients.items():
                        alerts = c.get("/v1/alerts")["alerts"]
                        views[p] = ([a for a in alerts if a["kind"] != "link"], c.messages())
                        for line in _link_lines(p, alerts, links_told, now()):
                            print(line, flush=True)
                    for line in story.observe(now(), once(views)):
                        print(line, flush=True)
                    next_story = tick + STORY_POLL_S
            except DetenteError as exc:
                if stop.is_set():
                    return
                print(f"demo: {' '.join(str(exc).split())}", file=sys.stderr, flush=True)
            stop.wait(max(0.0, 0.5 - (time.monotonic() - tick)))
    finally:
        for c in clients.values():
            c.__exit__()


class _Once:
    """The encounter both nodes saw is one alert on each node: told once, under the id it was
    first told by. Two alerts are the same encounter when they name the same aircraft (each
    node names its own, and the other's where its picture shows it) in the same kind and
    airspace, or when one names the other in ``confirmed_by``."""

    def __init__(self) -> None:
        self.told: dict[Any, str] = {}  # encounter -> the alert id it is told by

    def __call__(self, views: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]
                 ) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        group: dict[str, Any] = {}  # alert id -> its encounter
        for alerts, _ in views.values():
            for a in alerts:
                tracks = tuple(sorted((t["party"], t.get("id") or "") for t in a["tracks"]))
                key = (a["kind"], a["detail"].get("airspace"), tracks)
                for other in (c["alert_id"] for c in a.get("confirmed_by", [])):
                    key = group.get(other, key)
                group[a["id"]] = key
                for other in (c["alert_id"] for c in a.get("confirmed_by", [])):
                    group[other] = key
        open_ids = set(group)
        for alert_id, key in group.items():
            if self.told.get(key) not in open_ids:
                self.told[key] = alert_id
        keep = set(self.told.values())
        return {p: ([a for a in alerts if a["id"] in keep], messages)
                for p, (alerts, messages) in views.items()}


def _link_lines(party: str, alerts: list[dict[str, Any]],
                told: dict[tuple[str, str, str], str], now: float) -> list[str]:
    """A line for each link incident of ``party``'s node raised or changed, and cleared."""
    from detente.cli.demo_story import _line

    lines = []
    open_now = set()
    for a in alerts:
        if a["kind"] != "link":
            continue
        key = (party, a["detail"]["peer"], a["detail"]["problem"])
        open_now.add(key)
        if told.get(key) != a["detail"]["text"]:
            told[key] = a["detail"]["text"]
            lines.append(_line(a["updated_at"], "LINK", f"{party}'s node: "
                               f"{a['detail']['text']}"))
    for key in [k for k in told if k[0] == party and k not in open_now]:
        del told[key]
        lines.append(_line(now, "LINK", f"{party}'s node: the {key[2]} incident with "
                                        f"{key[1]}'s node is over"))
    return lines

