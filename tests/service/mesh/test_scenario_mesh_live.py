"""The 2015 reconstruction across the mesh gives the same incursion warning, at the same time
within one cycle, as over the hub.

The mesh: the three nodes of examples/mesh/ (the demo's configuration, Turkey's territory
protected, the demo's keys), each with its own database on loopback, 1 s cycles; TUR and RUS
report their own aircraft to their own nodes once a second, flown from the scenario's start
along their geodesics, in real time from 20 s into it. The hub: the same scenario through one
Mechanism in virtual time (tests/service/yayladagi_run.py), 1 s steps. The warning is the
automatic flash from TUR's watch to RUS about the Su-24 lead (by design 150 s before its
entry: within the 120 s warning time from 30 s in).
"""

from __future__ import annotations

import re
import time
import tomllib

import pytest
from pyproj import Geod

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.data import bundled_path
from detente.scenario.yayladagi_2015 import ROWS
from detente.service.config import parse_config
from detente.service.mesh import parse_node
from tests.live_server import free_port
from tests.mesh_nodes import ROOT, NodeServer
from tests.service.yayladagi_run import START, demo_config, fly

EXAMPLES = ROOT / "examples" / "mesh"
KEYS = bundled_path("demo/border.toml").parent / "keys"
PARTIES = ("TUR", "RUS", "COA")
FROM_S = 20.0  # the mesh flies the scenario from 20 s in
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scenario-mesh")
    ports = {p: free_port() for p in PARTIES}
    servers = {}
    try:
        for party in PARTIES:
            doc = tomllib.loads((EXAMPLES / f"{party}.toml").read_text(encoding="utf-8"))
            doc["service"]["log_key"] = str(tmp / f"log-{party}.pem")
            for peer in doc["node"]["peers"]:
                peer["url"] = f"http://127.0.0.1:{ports[peer['party']]}"
            config = parse_config(doc, EXAMPLES)
            app = create_app(config, f"sqlite:///{tmp / party}.sqlite",
                             mesh=parse_node(doc, config, EXAMPLES))
            servers[party] = NodeServer(app, ports[party])
        yield {p: f"http://127.0.0.1:{port}" for p, port in ports.items()}
    finally:
        for server in servers.values():
            server.stop()


def states(party: str, elapsed: float, now: float) -> list[dict]:
    out = []
    for ident, owner, lat, lon, alt_m, gs, trk, vs in ROWS:
        if owner == party:
            lon2, lat2, back = GEOD.fwd(lon, lat, trk, gs * elapsed)
            out.append({"id": ident, "t": now, "lat": lat2, "lon": lon2, "alt_m": alt_m,
                        "gs_mps": gs, "trk_deg": (back + 180) % 360, "vs_mps": vs})
    return out


def warning_of(messages: list[dict]) -> dict | None:
    found = [m for m in messages if m["automatic"] and m["from_party"] == "TUR"
             and m["to_party"] == "RUS" and "SU24-LEAD" in m["body"]]
    return min(found, key=lambda m: m["created_at"]) if found else None


def words(text: str) -> str:
    """A warning's words without its clock times and the seconds to go."""
    return re.sub(r"at \d\d:\d\d:\d\dZ \(in \d+ s\)", "at T (in N s)", text)


def test_the_2015_warning_over_the_mesh_is_the_hub_s_within_one_cycle(mesh, tmp_path):
    hub = fly(tmp_path, demo_config(), until_s=34.0, step_s=1.0)
    try:
        (hub_m,) = [m for m in hub.mechanism.hotline.messages_for("RUS")
                    if m.automatic and m.from_party == "TUR" and "SU24-LEAD" in m.body]
        hub_at = hub_m.created_at - START
        hub_words = words(hub_m.body)
    finally:
        hub.close()
    assert hub_at == 30.0  # the design: 150 s before the entry, within the 120 s

    clients = {p: ServiceClient(mesh[p], p, KEYS / f"{p}.pem") for p in ("TUR", "RUS")}
    watch = {p: ServiceClient(mesh[p], p, KEYS / f"{p.lower()}-watch.pem",
                              official=f"{p.lower()}-watch") for p in ("TUR", "RUS")}
    try:
        start = time.time() - FROM_S
        got = None
        while time.time() - start < 45 and got is None:
            tick = time.time()
            for party, client in clients.items():
                client.post_states(states(party, tick - start, tick))
            got = warning_of(watch["TUR"].messages())
            time.sleep(max(0.0, 1.0 - (time.time() - tick)))
        assert got is not None, "no warning from TUR's node"
        mesh_at = got["created_at"] - start
        print(f"warning at {mesh_at:.2f} s over the mesh, {hub_at:.2f} s over the hub")
        assert abs(mesh_at - hub_at) <= 1.0, (mesh_at, hub_at)  # one cycle
        assert words(got["body"]) == hub_words
        # The same message, once, on RUS's node: RUS's watch reads TUR's words.
        at_rus = rig_wait(lambda: warning_of(watch["RUS"].messages()))
        assert (at_rus["id"], at_rus["body"]) == (got["id"], got["body"])
    finally:
        for c in (*clients.values(), *watch.values()):
            c.__exit__()


def rig_wait(what, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while (got := what()) is None:
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
    return got
