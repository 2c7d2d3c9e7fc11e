"""Crash safety: SIGKILL a writing process at random points; every receipt it handed out holds."""

import io
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger_helpers import Clock

from detente.ledger import Ledger, LogClient, Receipt, audit_export, key_statement
from detente.ledger.keys import public_key_bytes, write_private_key
from detente.store.database import open_database

SRC = Path(__file__).parents[2] / "src"

# The writer: appends batches of signed alerts (1 to 20, or 64 to 300, whose signatures threads
# check while the rows are already written in the open transaction) and prints each receipt as
# soon as append_many returns it, until it is killed.
CHILD = """
import json, random, sys
from detente.ledger import Ledger, load_private_key, sign_statement
from detente.store.database import open_database
url, log_pem, tur_pem, seed, smallest, largest = sys.argv[1:]
ledger = Ledger(open_database(url), load_private_key(log_pem), origin="detente/crash")
tur = load_private_key(tur_pem)
rng = random.Random(int(seed))
n = ledger.size
while True:
    batch = []
    for _ in range(rng.randint(int(smallest), int(largest))):
        batch.append(sign_statement(tur, kind="alert", author="TUR", time=1e9 + n,
                                    body={"n": n, "seed": int(seed)}))
        n += 1
    for receipt in ledger.append_many(batch):
        sys.stdout.write(json.dumps(receipt.to_json()) + "\\n")
    sys.stdout.flush()
"""


def test_receipts_survive_sigkill(tmp_path, database_url, log_key, tur):
    url = database_url
    log_pem, tur_pem = tmp_path / "log.pem", tmp_path / "tur.pem"
    write_private_key(log_pem, log_key)
    write_private_key(tur_pem, tur)
    Ledger(open_database(url), log_key, origin="detente/crash", clock=Clock()).append(
        key_statement(tur, tur, author="TUR", time=1.0))

    rng = random.Random(24112015)
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    receipts = []
    for round_ in range(6):
        sizes = ("1", "20") if round_ % 2 else ("64", "300")
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, url, str(log_pem), str(tur_pem), str(round_), *sizes],
            stdout=subprocess.PIPE, env=env)
        # Kill after a random number of receipts, then a random extra delay, so that the
        # kill lands anywhere: between batches, inside a batch, during COMMIT.
        for _ in range(rng.randint(1, 150 if round_ % 2 else 600)):
            line = child.stdout.readline()
            if not line:
                break
            receipts.append(Receipt.from_json(json.loads(line)))
        time.sleep(rng.uniform(0, 0.03))
        os.kill(child.pid, signal.SIGKILL)
        # Receipts the child printed before it died count too: it handed them out.
        for line in child.stdout:
            if line.endswith(b"\n"):
                receipts.append(Receipt.from_json(json.loads(line)))
        child.stdout.close()
        assert child.wait() == -signal.SIGKILL, f"round {round_}: child died on its own"

    assert len(receipts) >= 5
    ledger = Ledger(open_database(url), log_key, origin="detente/crash", clock=Clock(2e9))
    for receipt in receipts:
        assert receipt.index < ledger.size
        assert receipt.head == ledger.head(receipt.head.size)
        receipt.verify(public_key_bytes(log_key), ledger.entry_bytes(receipt.index))

    # Every head the writers signed is consistent with the one before, as a party sees it.
    client = LogClient("TUR", tur, public_key_bytes(log_key), "detente/crash")
    for older, newer in itertools.pairwise(ledger.heads()):
        proof = ledger.consistency_proof(older.size, newer.size) if older.size else []
        client.observe(newer, proof)
    out = io.BytesIO()
    ledger.export(out)
    report = audit_export(io.BytesIO(out.getvalue()), log_key=public_key_bytes(log_key))
    assert report.entries == ledger.size
