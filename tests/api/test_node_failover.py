"""Two instances of one node (`detente serve` processes) on one real PostgreSQL: the leader is
killed (SIGKILL) or paused (SIGSTOP, then SIGCONT) while two parties report a head-on pair,
their automatic warnings escalate every 3 s and an official keeps sending hotline messages
through the follower.

What must hold, read from the database with psycopg and from the clients' own records of what
they were answered and sent: the other instance leads within 5 s; every message acknowledged
with a 201 is in the record, every refusal is a 503 with Retry-After; the conflict is one alert
(one id, raised once, in the streams and in the record); escalations go on after the change of
leader; each party's stream, resumed at the other instance with its last seq, holds every
stored event once, in order; the record's export verifies. The recording, which both instances
write (each thins the reports it takes in, learning what the other kept: the aircraft's
reports alternate between them), is anchored whole: the anchors follow each other from the
first report number, each digest is that of the segments decoded by hand; every accepted
report is within the tolerance of its track's last kept report (the thinning's oracle).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.ledger import LedgerReader, sign_statement
from detente.ledger.audit import audit_export
from detente.ledger.keys import public_key_bytes
from detente.store.database import open_database
from tests.live_server import free_port, login
from tests.postgres import raw_rows
from tests.store.test_report_digest import by_hand
from tests.store.test_report_segments import recorded
from tests.store.test_report_thinning import oracle_departs

ROOT = Path(__file__).resolve().parents[2]
T_FLASH = 3.0


def _b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def write_config(tmp: Path, keys: dict[str, Ed25519PrivateKey]) -> Path:
    lines = ['[region]\nname = "node"\ncentre = [36.0, 36.0]\n',
             f'[service]\ncycle_s = 0.25\nanchor_s = 2.0\nlog_key = "{tmp / "log.pem"}"\n']
    for party in ("A", "B"):
        lines.append(f'[[parties]]\nid = "{party}"\npublic_keys = ["{_b64(keys[party])}"]\n')
        for level, who in ((1, "watch"), (2, "command"), (3, "head")):
            name = f"{party.lower()}-{who}"
            lines.append(f'[[parties.officials]]\nid = "{name}"\nname = "{name}"\n'
                         f'level = {level}\npublic_key = "{_b64(keys[name])}"\n')
    lines.append(f'[[agreements]]\nparties = ["A", "B"]\n[agreements.hotline]\n'
                 f'flash_s = {T_FLASH}\n')
    path = tmp / "node.toml"
    path.write_text("\n".join(lines))
    return path


class Instance:
    def __init__(self, config: Path, url: str, tmp: Path, name: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "detente", "serve", "--config", str(config), "--db", url,
             "--port", str(self.port)],
            cwd=tmp, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"))

    def role(self) -> str | None:
        try:
            return httpx.get(f"{self.base}/health", timeout=1.0).json().get("role")
        except (httpx.HTTPError, ValueError):
            return None

    def wait_role(self, role: str, seconds: float = 90.0) -> float:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"instance exited: {self.log.read_text()[-3000:]}")
            if self.role() == role:
                return time.monotonic()
            time.sleep(0.05)
        raise AssertionError(f"no {role} within {seconds} s: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


class Stream:
    """A party's stream client: on a lost connection it resumes at the next instance with the
    last seq it saw. Keeps every durable message it was sent."""

    def __init__(self, bases: list[str], token: str) -> None:
        self.bases, self.token = bases, token
        self.got: list[dict] = []
        self.reconnects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            last = max((m["seq"] for m in self.got), default=0)
            url = self.bases[k % len(self.bases)].replace("http", "ws")
            url += f"/v1/stream?token={self.token}&since={last}"
            try:
                async with websockets.connect(url, open_timeout=3, max_size=None) as ws:
                    while not self._stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            m = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                            if m.get("seq") is not None:
                                self.got.append(m)
            except (OSError, websockets.WebSocketException, TimeoutError):
                self.reconnects += 1
                k += 1
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Traffic:
    """A's and B's aircraft head-on (posted to both instances in turn), and a-watch's hotline
    messages to B through the follower; every answer kept."""

    def __init__(self, bases: list[str], tokens: dict[str, str], watch: Ed25519PrivateKey
                 ) -> None:
        self.bases, self.tokens, self.watch = bases, tokens, watch
        self.sent: list[tuple[str, int, str | None]] = []  # (message id, status, Retry-After)
        self.posts: list[tuple[int, str | None]] = []
        self.accepted: list[dict] = []  # the states answered 200
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        t0 = time.time()
        k = 0
        with httpx.Client(timeout=10.0) as client:
            while not self._stop.is_set():
                now = time.time()
                s = now - t0
                # 40 km apart closing at 300 m/s: within the warning time from the start.
                for party, lon, trk in (("A", 35.80 + s * 150 / 90_000, 90.0),
                                        ("B", 36.24 - s * 150 / 90_000, 270.0)):
                    k += 1
                    state = {"id": f"{party}1", "t": now, "lat": 36.0, "lon": lon,
                             "alt_m": 6000.0, "gs_mps": 150.0, "trk_deg": trk, "vs_mps": 0.0}
                    # A client of a node: an instance that does not answer is tried again at
                    # the other one.
                    for base in (self.bases[k % 2], self.bases[(k + 1) % 2]):
                        try:
                            r = client.post(f"{base}/v1/states", json={"states": [state]},
                                            timeout=2.0, headers={
                                                "Authorization": f"Bearer {self.tokens[party]}"})
                        except httpx.HTTPError:
                            self.posts.append((0, None))
                            continue
                        self.posts.append((r.status_code, r.headers.get("retry-after")))
                        if r.status_code == 200:
                            self.accepted.append(state)
                        break
                mid = uuid.uuid4().hex
                signed = sign_statement(self.watch, kind="hotline.message", author="A/a-watch",
                                        time=now, body={"id": mid, "to_party": "B",
                                                        "priority": "routine", "body": "hold"})
                base = self.bases[1]  # the follower at the start
                try:
                    r = client.post(f"{base}/v1/hotline/messages", json=signed.to_json(),
                                    headers={"Authorization": f"Bearer {self.tokens['a-watch']}"})
                    self.sent.append((mid, r.status_code, r.headers.get("retry-after")))
                except httpx.HTTPError:
                    self.sent.append((mid, 0, None))
                self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(20)


def _register(base: str, token: str, key: Ed25519PrivateKey, author: str) -> None:
    from detente.ledger import key_statement
    st = key_statement(key, key, author=author, time=time.time())
    r = httpx.post(f"{base}/v1/record/statements", json={"statements": [st.to_json()]},
                   headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code in (200, 201), r.text


def _node(tmp_path: Path, url: str):
    keys = {n: Ed25519PrivateKey.generate() for n in
            ("A", "B", "a-watch", "a-command", "a-head", "b-watch", "b-command", "b-head")}
    config = write_config(tmp_path, keys)
    first = Instance(config, url, tmp_path, "first")
    first.wait_role("leader")
    second = Instance(config, url, tmp_path, "second")
    second.wait_role("follower")
    tokens = {n: login(first.base, keys[n], n.split("-")[0].upper(),
                       n if "-" in n else None) for n in keys}
    _register(first.base, tokens["a-watch"], keys["a-watch"], "A/a-watch")
    return keys, first, second, tokens


def _check(url: str, log_key: Ed25519PrivateKey | None, tmp_path: Path, traffic: Traffic,
           streams: dict[str, Stream], t_change: float) -> dict:
    """The invariants, from the database (psycopg) and the clients' own records."""
    engine = open_database(url)
    reader = LedgerReader(engine)
    out = io.BytesIO()
    reader.export(out)
    report = audit_export(io.BytesIO(out.getvalue()))
    entries = [json.loads(line) for line in out.getvalue().splitlines()[1:]
               if line.startswith(b'{"index"')]
    statements = [e["leaf"]["statement"] for e in entries]
    said = {s["body"].get("id") for s in statements if s["kind"] == "hotline.message"}
    ok = [m for m, status, _ in traffic.sent if status == 201]
    refused = [(status, retry) for _, status, retry in traffic.sent if status != 201]
    assert ok and set(ok) <= said, "an acknowledged hotline message is not in the record"
    assert all(status == 503 and retry for status, retry in refused), refused
    # Every answer was a success or a retryable refusal (0: an instance that was down).
    assert all(s in (0, 200) or (s == 503 and r) for s, r in traffic.posts), \
        [p for p in traffic.posts if p[0] != 200][:5]
    # One conflict, one alert: raised once in the record (one statement for each party told,
    # addressed to it), one id in the streams.
    raised = [s["body"] for s in statements if s["kind"] == "alert"
              and s["body"]["transition"] == "raised"]
    assert len({b["id"] for b in raised}) == 1, raised
    assert sorted(b["to"] for b in raised) == sorted({b["to"] for b in raised}), raised
    for party, stream in streams.items():
        stored = raw_rows(url, "SELECT seq, type, body FROM events WHERE party = ? "
                               "ORDER BY seq", (party,))
        seqs = [m["seq"] for m in stream.got]
        assert seqs == list(range(1, len(seqs) + 1)), f"{party}: missed or repeated {seqs}"
        assert len(seqs) >= len(stored) - 5  # the last events may come after the client stopped
        assert [(m["seq"], m["type"], m["data"]) for m in stream.got] == \
            [(s, t, json.loads(b)) for s, t, b in stored[:len(seqs)]]
        ids = {m["data"]["id"] for m in stream.got if m["type"] == "alert"}
        assert len(ids) == 1, ids
    # The automatic warnings' deadlines ran on: a step (to the heads, then overdue) after it.
    after = [s for s in statements if s["kind"] in ("hotline.escalated", "hotline.overdue")
             and s["time"] > t_change + 1]
    assert after, "no escalation after the change of leader"
    kept = _check_recording(url, statements, traffic)
    return {"entries": report.entries, "sent": len(ok), "refused": len(refused),
            "reports": len(traffic.accepted), "kept": kept}


def _check_recording(url: str, statements: list[dict], traffic: Traffic) -> int:
    """The recording both instances wrote: anchored whole and in order, each anchor's digest
    that of the segments decoded by hand; every accepted report within the tolerance of its
    track's last kept report flown on. Returns how many reports were kept."""
    rows = recorded(url)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    anchors = sorted((s["body"] for s in statements if s["kind"] == "recording.anchor"),
                     key=lambda b: b["first_row"])
    assert anchors and anchors[0]["first_row"] == 1
    for a, b in itertools.pairwise(anchors):
        assert b["first_row"] == a["last_row"] + 1, (a, b)  # no report twice, none left out
    for a in anchors:
        assert a["tolerance"]["position_m"] == 50.0  # the default tolerance, said
        digest = hashlib.sha256(b"".join(by_hand(*r[1:]) for r in rows
                                         if a["first_row"] <= r[0] <= a["last_row"]))
        assert a["sha256"] == digest.hexdigest() and a["reports"] == \
            a["last_row"] - a["first_row"] + 1
    assert anchors[-1]["last_row"] >= len(rows) - 20  # the last few may be anchored later
    by_track: dict[str, list[list[float]]] = {}
    for r in rows:
        by_track.setdefault(r[2], []).append(list(r[4:]))
    for state in traffic.accepted:
        new = [state[k] for k in ("t", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps")]
        before = [k for k in by_track[state["id"]] if k[0] <= state["t"] + 0.001]
        assert before, f"no kept report of {state['id']} at or before {state['t']}"
        ref = max(before, key=lambda k: k[0])
        assert oracle_departs(ref, new) in (False, None), (state, ref)
    assert len(rows) < len(traffic.accepted)  # thinned, across the two instances
    return len(rows)


@pytest.mark.parametrize("how", ["kill", "pause"])
def test_the_other_instance_takes_over(tmp_path, postgres_url, how):
    keys, first, second, tokens = _node(tmp_path, postgres_url)
    bases = [first.base, second.base]
    streams = {"A": Stream([second.base, first.base], tokens["a-watch"]),
               "B": Stream([first.base, second.base], tokens["B"])}
    traffic = Traffic(bases, tokens, keys["a-watch"])
    try:
        # Until the automatic warnings have escalated once.
        deadline = time.monotonic() + 60
        while not raw_rows(postgres_url, "SELECT 1 FROM events WHERE type = 'hotline' AND "
                                         "body LIKE ? LIMIT 1", ('%"escalated"%',)):
            assert time.monotonic() < deadline, "no escalation before the change"
            time.sleep(0.2)
        t_change = time.time()
        stopped = time.monotonic()
        os.kill(first.proc.pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        took = second.wait_role("leader", 30) - stopped
        assert took < 5.0, f"took over in {took:.2f} s"
        if how == "pause":
            time.sleep(1.0)
            os.kill(first.proc.pid, signal.SIGCONT)
            first.wait_role("follower", 20)
            assert "no longer the leader" in first.log.read_text()
        time.sleep(T_FLASH * 2 + 2)  # escalations carry on at the new leader
    finally:
        traffic.stop()
        for s in streams.values():
            s.stop()
    try:
        figures = _check(postgres_url, None, tmp_path, traffic, streams, t_change)
    finally:
        second.stop()
        first.stop()
    print(f"{how}: took over in {took:.2f} s; {figures}")
    assert streams["B"].reconnects >= (1 if how == "kill" else 0)
    assert public_key_bytes(keys["A"])  # the keys were the test's own
