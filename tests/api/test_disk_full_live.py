"""A disk that fills up, live: the service's database on a 24 MB tmpfs made for the test, a
real server, reports fed until a file written beside the database takes the free space under
the thresholds. Every party is told; the oldest recording goes first; new reports are then
refused with 503 and Retry-After, over HTTP and the ingest socket, while a hotline message is
still sent, acknowledged and in the record; once room is made, reports are accepted again,
and the record, exported with ``detente export``, passes ``detente verify``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.ledger.keys import generate_private_key
from detente.service.config import parse_config
from detente.service.recording_file import (
    ledger_binding,
    read_ledger_export,
    read_recording,
    write_recording,
)
from detente.service.replay_checks import check_anchors
from detente.store.database import open_database
from tests.live_server import login, public_b64, serve

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000
WARN_MB, REFUSE_MB = 12, 8


@pytest.fixture()
def small_disk(tmp_path):
    """A 24 MB tmpfs, unmounted at the end whatever happened."""
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs for the test is not permitted here (needs root "
                    f"or CAP_SYS_ADMIN): {done.stderr.strip() or done.returncode}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        if os.path.ismount(where):  # still busy: detach it lazily
            subprocess.run(["umount", "-l", str(where)], check=False)


def _states(track: int, n: int, t: float) -> list[dict]:
    # Positions that differ from each other: the exact recording keeps every one, whole.
    return [{"id": f"t{k}", "t": t, "lat": 36.0 + k * 1e-4 + track * 1e-7,
             "lon": 35.0 + (k * 7919 % 1000) * 1e-4, "alt_m": 8000.0 + k + track * 0.01,
             "gs_mps": 200.0 + k % 50, "trk_deg": (k * 37 + track) % 360, "vs_mps": 0.0}
            for k in range(n)]


def _fill_to(filler: Path, folder: Path, free_mb: float) -> None:
    """Grow (or shrink) ``filler`` so that the filesystem has ``free_mb`` free."""
    have = filler.stat().st_size if filler.exists() else 0
    size = max(have + shutil.disk_usage(folder).free - int(free_mb * MB), 0)
    with filler.open("wb") as f:
        f.write(b"\0" * size)  # tmpfs: written bytes take space, a sparse file would not


def _service_events(base: str, token: str) -> list[dict]:
    r = httpx.get(f"{base}/v1/events", params={"since": 0},
                  headers={"Authorization": f"Bearer {token}"})
    return [e["data"] for e in r.json()["events"] if e["type"] == "service"]


def _wait(predicate, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    return predicate()


def _oldest_received(db: Path) -> float:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT min(received_from) FROM report_segments").fetchone()[0]


def test_disk_filling_up(small_disk, tmp_path):
    keys = {n: generate_private_key() for n in ("T", "R", "T-1", "R-1")}
    cfg = parse_config({
        "region": {"name": "disk", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.1, "log_key": str(tmp_path / "log.pem"), "stale_s": 2,
                    "future_tolerance_s": 1, "anchor_s": 1, "disk_warn_mb": WARN_MB,
                    "disk_refuse_mb": REFUSE_MB, "disk_check_s": 0.2,
                    "recording": {"exact": True}},
        "parties": [{"id": p, "public_keys": [public_b64(keys[p])], "officials": [{
            "id": f"{p}-1", "name": f"{p} watch", "level": 1,
            "public_key": public_b64(keys[f"{p}-1"])}]} for p in "TR"],
        "agreements": [{"parties": ["T", "R"]}],
    })
    db = small_disk / "d.sqlite"
    filler = small_disk / "filler"
    with serve(create_app(cfg, f"sqlite:///{db}")) as base:
        tokens = {p: login(base, keys[p], p) for p in "TR"}
        with ServiceClient(base, "T", keys["T"]) as feed:
            first = time.time()
            for k in range(30):  # ~2 MB of recording, the oldest of it from now
                feed.post_states(_states(k, 1000, time.time()))
            oldest = _oldest_received(db)
            assert oldest == pytest.approx(first, abs=1.0)
            # What was received before now - stale_s - future tolerance may be pruned.
            time.sleep(3.5)
            for k in range(30, 35):
                feed.post_states(_states(k, 1000, time.time()))

            # Something else fills the disk: under disk_warn_mb, above disk_refuse_mb.
            _fill_to(filler, small_disk, WARN_MB - 2)
            for p in "TR":
                told = _wait(lambda p=p: _service_events(base, tokens[p]))
                assert told and told[0]["disk"] == "low", told
                assert told[0]["warn_mb"] == WARN_MB and told[0]["reports_refused"] is False
                # Free space and a time: nothing about anyone's reports.
                assert set(told[0]) == {"disk", "free_mb", "warn_mb", "refuse_mb",
                                        "reports_refused", "recording_pruned_before"}
            pruned_before = told[0]["recording_pruned_before"]
            assert oldest < pruned_before <= time.time() - 3
            assert _oldest_received(db) >= pruned_before > oldest  # the oldest went first
            feed.post_states(_states(99, 10, time.time()))  # still accepted

            # Fuller: what pruning may free is not enough; new reports are refused.
            _fill_to(filler, small_disk, 2)

            def refused():
                r = feed.http.post("/v1/states", json={"states": _states(98, 10, time.time())})
                return r if r.status_code == 503 else None

            r = _wait(refused)
            assert r is not None, "reports were never refused"
            assert r.headers["content-type"] == "application/problem+json"
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["retry_after_s"] == int(r.headers["Retry-After"])
            body = r.json()
            assert body["type"] == "/problems/disk-full" and body["status"] == 503
            assert "nearly full" in body["detail"] and "send it again" in body["detail"]
            for p in "TR":
                assert _wait(lambda p=p: any(e["disk"] == "full" and e["reports_refused"]
                                             for e in _service_events(base, tokens[p])))

            async def over_socket() -> dict:
                url = base.replace("http", "ws") + f"/v1/ingest?token={feed.token}"
                async with websockets.connect(url) as ws:
                    await ws.send(json.dumps({"states": _states(97, 5, time.time())}))
                    return json.loads(await asyncio.wait_for(ws.recv(), 10))

            answer = asyncio.run(over_socket())
            assert (answer["status"], answer["type"]) == (503, "/problems/disk-full"), answer
            assert answer["retry_after_s"] >= 1

            # The record's appends go on: a hotline message, acknowledged, in the record.
            with ServiceClient(base, "T", keys["T-1"], official="T-1") as t1, \
                    ServiceClient(base, "R", keys["R-1"], official="R-1") as r1:
                sent = t1.send_message("R", "flash", "Disk low here; hotline still up.")
                message = sent["message"]
                assert sent["receipt"] is not None
                acked = r1.acknowledge(message["id"], "Received.")
                assert acked["message"]["state"] == "acknowledged"

            # Room again: reports are accepted, and every party is told.
            filler.unlink()
            assert _wait(lambda: feed.http.post("/v1/states", json={
                "states": _states(96, 10, time.time())}).status_code == 200)
            for p in "TR":
                assert _wait(lambda p=p: _service_events(base, tokens[p])[-1]["disk"] == "ok")

    export = tmp_path / "record.jsonl"
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "detente", "export", "--db", f"sqlite:///{db}",
                           "--out", str(export)], capture_output=True, text=True, cwd=ROOT,
                          env=env)
    assert done.returncode == 0, done.stderr
    said = {(line["index"], e["statement"]["kind"], e["statement"]["ref"])
            for line in map(json.loads, export.read_text().splitlines()) if "leaf" in line
            for e in [line["leaf"]]}
    index = message["record_index"]
    assert (index, "hotline.message", None) in said  # the message, and its answer to it
    assert any(kind == "hotline.ack" and ref == index for _, kind, ref in said)
    assert any(kind == "recording.anchor" for _, kind, _ in said)
    done = subprocess.run([sys.executable, "-m", "detente", "verify", "--allow-unsettled",
                           str(export)], capture_output=True, text=True, cwd=ROOT, env=env)
    assert done.returncode == 0 and done.stdout.startswith("OK:"), done.stdout + done.stderr

    # The recording that is left still holds to the record's anchors: those of the pruned
    # reports are not checkable (the recording starts after them), every other one is whole.
    recording = tmp_path / "record.recording.jsonl"
    engine = open_database(f"sqlite:///{db}", create=False)
    try:
        with recording.open("wb") as out:
            write_recording(out, engine, cfg, ledger_binding(export))
    finally:
        engine.dispose()
    checked = check_anchors(read_recording(recording), read_ledger_export(export))
    assert checked["unchecked_anchors"] >= 1 and checked["anchors"] >= 1, checked
