"""`detente serve` killed hard again and again (SIGKILL, no time to anchor) leaves no recorded
report unanchored: each start anchors at once what the last run left, long before anchor_s.

The oracle is the database read with the sqlite3 module and each anchored run of rows hashed
by hand (tests/store/test_report_digest.py): the anchors must cover every recorded row,
once, and each must hash to its digest.
"""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.ledger import LedgerReader
from detente.store.database import open_database
from detente.store.report_digest import ANCHOR_KIND
from tests.live_server import free_port, login
from tests.store.test_report_digest import by_hand

ROOT = Path(__file__).resolve().parents[2]
KILLS = 4
ANCHOR_S = 3_600.0  # far longer than any run here: only a start's own anchoring can help


def write_config(tmp: Path, keys: dict[str, Ed25519PrivateKey]) -> Path:
    lines = ['[region]\nname = "kills"\ncentre = [36.0, 36.0]\n',
             f'[service]\ncycle_s = 0.2\nanchor_s = {ANCHOR_S}\n'
             f'log_key = "{tmp / "log.pem"}"\n']
    for party, key in keys.items():
        raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                            serialization.PublicFormat.Raw)
        lines.append(f'[[parties]]\nid = "{party}"\n'
                     f'public_keys = ["{base64.b64encode(raw).decode()}"]\n')
    lines.append('[[agreements]]\nparties = ["A", "B"]\n')
    path = tmp / "kills.toml"
    path.write_text("\n".join(lines))
    return path


def start(config: Path, db: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "detente", "serve", "--config", str(config), "--db",
         f"sqlite:///{db}", "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        assert server.poll() is None, "detente serve exited"
        time.sleep(0.1)
    server.kill()
    pytest.fail("detente serve did not start")


def post_some(base: str, keys: dict[str, Ed25519PrivateKey], round_: int) -> int:
    sent = 0
    for party, key in keys.items():
        token = login(base, key, party)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            for batch in range(3):
                now = time.time()
                states = [{"id": f"{party}{round_}-{k}", "t": now,
                           "lat": 35.0 + k / 100 + (party == "B"), "lon": 36.0 + batch / 10,
                           "alt_m": 7000.0, "gs_mps": 200.0, "trk_deg": 90.0, "vs_mps": 0.0}
                          for k in range(40)]
                assert c.post("/v1/states", json={"states": states}).status_code == 200
                sent += len(states)
    return sent


def anchors(db: Path) -> list[dict]:
    reader = LedgerReader(open_database(f"sqlite:///{db}"))
    return [e.statement.body for e in (reader.entry(i) for i in range(reader.size))
            if e.statement.kind == ANCHOR_KIND]


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT rowid, party, track_id, received, t, lat, lon, alt_m, gs_mps, trk_deg, "
            "vs_mps FROM track_reports ORDER BY rowid").fetchall()


def test_every_start_anchors_what_a_hard_stop_left(tmp_path):
    keys = {p: Ed25519PrivateKey.generate() for p in "AB"}
    config, db = write_config(tmp_path, keys), tmp_path / "d.sqlite"
    sent = 0
    for round_ in range(KILLS):
        server, base = start(config, db)
        sent += post_some(base, keys, round_)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    recorded = rows(db)
    assert len(recorded) == sent
    # One more start: within seconds (not anchor_s), the anchors cover every recorded row.
    server, _ = start(config, db)
    try:
        deadline = time.monotonic() + 30
        while max((a["last_row"] for a in anchors(db)), default=0) < recorded[-1][0]:
            assert time.monotonic() < deadline, "the left-over reports were not anchored"
            time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait(10)
    found = sorted(anchors(db), key=lambda a: a["first_row"])
    # Earlier starts anchored too, before they were killed (each its predecessor's reports,
    # unless a kill came first: then the next start takes them).
    assert len(found) >= 2
    by_row = {r[0]: r[1:] for r in recorded}
    expected_first = 1
    for a in found:
        assert a["first_row"] == expected_first  # no gap, no overlap
        span = [by_row[k] for k in range(a["first_row"], a["last_row"] + 1)]
        assert a["reports"] == len(span)
        assert a["sha256"] == hashlib.sha256(b"".join(by_hand(*r) for r in span)).hexdigest()
        expected_first = a["last_row"] + 1
    assert expected_first == recorded[-1][0] + 1
