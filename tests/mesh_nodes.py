"""Three (or more) parties' nodes on loopback for tests: each its own database, keys and port,
started and stopped one by one (a node stopped and started again keeps its database).

``MeshRig(tmp, agreements)`` writes each party's keys and a configuration per node; a link's
URL can be pointed elsewhere (a proxy) with ``via``; a node's clock can be off by ``skew``.
A node runs in this process (uvicorn in a thread: ``start``) or as its own ``detente serve``
process (``start_process``), which a test may kill outright.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import websockets.exceptions
import websockets.sync.client
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.ledger.keys import ed25519_verifies, public_key_b64, write_private_key
from detente.service.clock import SystemClock
from detente.service.config import parse_config
from detente.service.mesh import parse_node
from detente.service.mesh.frames import decode_frame, encode_frame, hello_message, session_id
from tests.live_server import free_port

CENTRE = (36.0, 36.0)
ROOT = Path(__file__).resolve().parents[1]


def _toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def write_toml(path: Path, doc: dict[str, Any]) -> None:
    """A configuration document as TOML: top-level keys, then its tables and arrays of tables,
    their values inline (all a configuration needs)."""
    def is_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    lines = [f"{k} = {_toml(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not is_tables(v)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines += [f"{kk} = {_toml(vv)}" for kk, vv in v.items()]
        elif is_tables(v):
            for item in v:
                lines.append(f"[[{k}]]")
                lines += [f"{kk} = {_toml(vv)}" for kk, vv in item.items()]
    path.write_text("\n".join(lines) + "\n")


class SkewedClock(SystemClock):
    """The machine's clock, ``skew`` seconds off."""

    def __init__(self, skew: float) -> None:
        self.skew = skew

    def now(self) -> float:
        return super().now() + self.skew


class NodeServer:
    def __init__(self, app: Any, port: int) -> None:
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio",
            ws_per_message_deflate=False, ws_max_size=16 * 1024 * 1024))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("node did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def app(self) -> Any:
        return self.server.config.app


def key_pair(tmp: Path, name: str) -> tuple[Ed25519PrivateKey, Path]:
    key = Ed25519PrivateKey.generate()
    path = tmp / f"{name}.pem"
    write_private_key(path, key)
    return key, path


class MeshRig:
    """Nodes of ``parties`` under ``agreements`` (the TOML form, as dicts), on loopback."""

    def __init__(self, tmp: Path, parties: tuple[str, ...], agreements: list[dict[str, Any]],
                 *, airspaces: list[str] | None = None, service: dict[str, Any] | None = None,
                 officials: bool = True) -> None:
        self.tmp = tmp
        self.parties = parties
        self.agreements = agreements
        self.airspaces = airspaces or []
        self.service = {"cycle_s": 0.2, "stale_s": 60, **(service or {})}
        self.ports = {p: free_port() for p in parties}
        self.keys: dict[str, Ed25519PrivateKey] = {}
        self.key_files: dict[str, Path] = {}
        self.node_keys: dict[str, Ed25519PrivateKey] = {}
        self.officials: dict[str, Ed25519PrivateKey] = {}
        for p in parties:
            self.keys[p], self.key_files[p] = key_pair(tmp, p)
            self.node_keys[p], _ = key_pair(tmp, f"node-{p}")
            if officials:
                self.officials[f"{p.lower()}-watch"], _ = key_pair(tmp, f"{p.lower()}-watch")
                self.officials[f"{p.lower()}-command"], _ = key_pair(tmp,
                                                                      f"{p.lower()}-command")
        self.via: dict[tuple[str, str], str] = {}  # (dialer, peer) -> URL in between
        self.skew: dict[str, float] = {}
        self.servers: dict[str, NodeServer] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, party: str) -> str:
        return f"http://127.0.0.1:{self.ports[party]}"

    def document(self, party: str) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "region": {"name": "mesh-test", "centre": list(CENTRE)},
            "service": {**self.service, "log_key": f"log-{party}.pem"},
            "parties": [{
                "id": p, "public_keys": [public_key_b64(self.keys[p])],
                "officials": [{"id": o, "name": o, "level": 1 if o.endswith("watch") else 2,
                               "public_key": public_key_b64(k)}
                              for o, k in self.officials.items()
                              if o.startswith(p.lower() + "-")],
            } for p in self.parties],
            "agreements": copy.deepcopy(self.agreements),
            "airspaces": self.airspaces,
            "node": {
                "party": party, "key": f"node-{party}.pem", "party_key": f"{party}.pem",
                "peers": [{"party": q, "url": self.via.get((party, q), self.url(q)),
                           "public_key": public_key_b64(self.node_keys[q])}
                          for q in self.parties if q != party and self._agree(party, q)],
            },
        }
        return doc

    def _agree(self, a: str, b: str) -> bool:
        return any(set(ag["parties"]) == {a, b} for ag in self.agreements)

    def start(self, party: str, clock: Any = None) -> str:
        doc = self.document(party)
        config = parse_config(doc, self.tmp)
        node = parse_node(doc, config, self.tmp)
        if clock is None:
            clock = SkewedClock(self.skew.get(party, 0.0))
        app = create_app(config, f"sqlite:///{self.tmp / f'{party}.sqlite'}", clock=clock,
                         mesh=node)
        self.servers[party] = NodeServer(app, self.ports[party])
        return self.url(party)

    def config_file(self, party: str) -> Path:
        path = self.tmp / f"{party}.toml"
        write_toml(path, self.document(party))
        return path

    def start_process(self, party: str) -> str:
        """The node as ``detente serve`` in a process of its own (its log beside it)."""
        log = (self.tmp / f"{party}.log").open("ab")
        self.processes[party] = subprocess.Popen(
            [sys.executable, "-m", "detente", "serve", "--config",
             str(self.config_file(party)), "--db", f"sqlite:///{self.tmp / f'{party}.sqlite'}",
             "--port", str(self.ports[party])],
            cwd=self.tmp, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url(party)}/health", timeout=1).status_code == 200:
                    return self.url(party)
            except httpx.HTTPError:
                pass
            if self.processes[party].poll() is not None:
                raise RuntimeError(f"{party}'s node exited: "
                                   + (self.tmp / f"{party}.log").read_text()[-2000:])
            time.sleep(0.1)
        self.kill(party)
        raise RuntimeError(f"{party}'s node did not start")

    def kill(self, party: str) -> None:
        """SIGKILL: no time to close anything."""
        process = self.processes.pop(party)
        process.send_signal(signal.SIGKILL)
        process.wait(30)

    def stop(self, party: str) -> None:
        if party in self.processes:
            process = self.processes.pop(party)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(30)
            return
        self.servers.pop(party).stop()

    def start_all(self) -> None:
        for p in self.parties:
            self.start(p)

    def stop_all(self) -> None:
        for p in [*self.servers, *self.processes]:
            self.stop(p)

    def mechanism(self, party: str) -> Any:
        return self.servers[party].app.state.mechanism

    def client(self, party: str, official: str | None = None) -> ServiceClient:
        key = self.officials[official] if official else self.keys[party]
        clock = SkewedClock(self.skew.get(party, 0.0)).now
        return ServiceClient(self.url(party), party, key, official=official, clock=clock)

    def links(self, party: str) -> dict[str, dict[str, Any]]:
        with self.client(party) as c:
            return {link["peer"]: link for link in c.get("/v1/mesh/links")["links"]}

    def wait(self, what: Callable[[], Any], timeout: float = 20.0, every: float = 0.1
             ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            got = what()
            if got:
                return got
            if time.monotonic() > deadline:
                raise AssertionError(f"not in {timeout} s: {what}")
            time.sleep(every)

    def running(self) -> list[str]:
        return [*self.servers, *self.processes]

    def wait_links_up(self, timeout: float = 30.0) -> None:
        def up() -> bool:
            for p in self.running():
                for peer, link in self.links(p).items():
                    if peer in self.running() and link["state"] != "up":
                        return False
            return True
        self.wait(up, timeout)

    def export(self, party: str) -> bytes:
        with httpx.Client(base_url=self.url(party), timeout=30) as h, self.client(party) as c:
            r = h.get("/v1/record/export", headers={"Authorization": f"Bearer {c.token}"})
            r.raise_for_status()
            return r.content


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


class FakePeer:
    """A peer's node played by a test: it holds the peer's real node key (a node that turned
    bad, or a test of what a node refuses), dials a node, does the handshake as the protocol
    says (service.mesh.frames), then sends whatever frames the test makes, right or wrong."""

    def __init__(self, rig: MeshRig, me: str, to: str, *, key: Ed25519PrivateKey | None = None,
                 received: int = 0) -> None:
        self.me, self.to = me, to
        self.key = key or rig.node_keys[me]
        self.peer_public = rig.node_keys[to].public_key().public_bytes_raw()
        url = rig.url(to).replace("http", "ws") + "/v1/mesh/link"
        # Entered here, left in close(): a peer lives across a test's calls.
        self.ws = websockets.sync.client.connect(url, max_size=16 * 1024 * 1024).__enter__()
        c1 = os.urandom(32)
        self.ws.send(json.dumps({"from": me, "to": to, "challenge": b64(c1)}))
        reply = json.loads(self.ws.recv(timeout=10))
        c2 = base64.b64decode(reply["challenge"])
        signature = base64.b64decode(reply["signature"])
        if not ed25519_verifies(self.peer_public, signature,
                                hello_message("accept", me, to, c1, c2)):
            raise AssertionError(f"{to}'s node did not sign its hello with its node key")
        assert "have" not in reply  # said only to a peer that proved its key
        self.ws.send(json.dumps({"have": received, "time": time.time(), "signature": b64(
            self.key.sign(hello_message("dial", me, to, c1, c2)))}))
        welcome = json.loads(self.ws.recv(timeout=10))
        self.have = welcome["have"]  # the last durable frame the node took in from us
        self.sid = session_id(c1, c2)
        self.n = 0

    def durable(self, kind: str, body: dict[str, Any], seq: int, *, to: str | None = None,
                key: Ed25519PrivateKey | None = None, t: float | None = None) -> bytes:
        wire = encode_frame(key or self.key, self.me, to or self.to, kind, body,
                            time.time() if t is None else t, seq=seq)
        self.ws.send(wire)
        return wire

    def live(self, kind: str, body: dict[str, Any], *, n: int | None = None,
             sid: str | None = None, t: float | None = None) -> bytes:
        if n is None:
            self.n += 1
            n = self.n
        wire = encode_frame(self.key, self.me, self.to, kind, body,
                            time.time() if t is None else t, sid=sid or self.sid, n=n)
        self.ws.send(wire)
        return wire

    def frames(self, seconds: float) -> list[Any]:
        """The node's frames to us for ``seconds`` (checked with its key), until it closes."""
        out = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            try:
                data = self.ws.recv(timeout=left)
            except TimeoutError:
                break
            except websockets.exceptions.ConnectionClosed:
                break
            out.append(decode_frame(data, self.peer_public, self.to, self.me))
        return out

    def closed_by_node(self, timeout: float = 10.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self.ws.recv(timeout=end - time.monotonic())
            except TimeoutError:
                return False
            except websockets.exceptions.ConnectionClosed:
                return True
        return False

    def close(self) -> None:
        self.ws.close()
