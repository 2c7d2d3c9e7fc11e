"""Make the databases of earlier versions that the migration tests upgrade, each written by
THAT version's code (a copy of its tree, on PYTHONPATH), not this one:

- tests/data/v1-demo.sqlite: commit 9fd5c2a, schema version 1 (before schema versions existed;
  its record is of detente-record/1, unsalted).
- tests/data/v2-demo.sqlite: commit 0f65a30 (main once the record was reworked: salted
  entries, C2SP checkpoints, ledger_heads with time_signature and whole-second times),
  schema version 2, also without a version stamp.

Each is the demo configuration, its 2015 scenario driven through the real API at 20 times real
time for a few seconds (reports, alerts, automatic warnings and their escalation, anchors,
cosignatures), then a clean stop, then VACUUM. The log key is not random: its 32 bytes are
SHA-256 of ``LOG_KEY_SEED``, so the tests rebuild it instead of keeping a key file.

    mkdir /tmp/prev && git archive 9fd5c2a | tar -x -C /tmp/prev
    .venv/bin/python tests/data/make_old_database.py --old /tmp/prev --out tests/data/v1-demo.sqlite
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

LOG_KEY_SEED = b"detente tests: the log key of v1-demo.sqlite"
# The scenario's start (2015-11-24 07:10 UTC, as the demo's clock would say had it started
# then): fixed, so that the database's times do not depend on when it was made.
START = 1_448_349_000.0

_DRIVER = r'''
import dataclasses, sys, threading, time
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from detente.api.app import create_app
from detente.cli import demo
from detente.data import bundled_path
from detente.service.clock import ScaledClock
from detente.service.config import load_config

seed, key_file, db, port, seconds, start = sys.argv[1:7]
key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
with open(key_file, "wb") as f:
    f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))
base = load_config(bundled_path("demo/border.toml"))
config = dataclasses.replace(base, settings=dataclasses.replace(
    base.settings, log_key_file=__import__("pathlib").Path(key_file), cycle_s=0.5))
clock = ScaledClock(rate=20.0, start=float(start))
app = create_app(config, db, clock=clock)
server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(port),
                                       log_level="warning", ws="websockets-sansio"))
keys = bundled_path("demo/border.toml").parent / "keys"
threading.Thread(target=demo._drive, args=(server, f"http://127.0.0.1:{port}", keys, clock),
                 daemon=True).start()
def stop():
    while not server.started:
        time.sleep(0.05)
    time.sleep(float(seconds))
    server.should_exit = True
threading.Thread(target=stop, daemon=True).start()
server.run()
'''


def log_key_bytes() -> bytes:
    return hashlib.sha256(LOG_KEY_SEED).digest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", required=True, type=Path,
                    help="a copy of the tree of the commit that writes the database")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seconds", type=float, default=14.0, help="wall-clock seconds of demo")
    ap.add_argument("--port", type=int, default=8765)
    args = ap.parse_args()
    if args.out.exists():
        sys.exit(f"{args.out} exists: remove it first")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(args.old.resolve() / "src")}
        subprocess.run([sys.executable, "-c", _DRIVER, log_key_bytes().hex(),
                        str(Path(tmp) / "log.pem"), f"sqlite:///{args.out.resolve()}",
                        str(args.port), str(args.seconds), str(START)],
                       env=env, cwd=tmp, check=True)
    db = sqlite3.connect(args.out)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA journal_mode=DELETE")
    db.execute("VACUUM")
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY 1"):
        (n,) = db.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        print(f"{name}: {n} rows")
    db.close()
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
