"""Ledger figures: signed appends per second, proofs at n = 1,000,000, and exports.

    .venv/bin/python bench/ledger.py                  # full run (builds 1,000,000 entries)
    .venv/bin/python bench/ledger.py --big 300000     # quicker

Prints figures on stdout and progress on stderr. Not a test: the numbers depend on the machine,
and on what else runs on it (each line gives the load average when it ended).

What is measured:
- appends/s: ``Ledger.append_many`` on a fresh SQLite file (WAL, synchronous=FULL) with
  statements the parties signed beforehand (their signing is their cost, reported apart).
  Every append verifies the author's Ed25519 signature and canonical form, hashes, persists
  entries and Merkle nodes, signs one tree head per batch, commits (fsync), and only then
  builds one receipt (inclusion proof) per entry. A batch size of 1 is the fsync-bound worst
  case. "verify threads" are the ``Ledger(verify_workers=...)`` threads that check signatures
  beside the appending thread (default: one per core but one). Each line also gives this
  process's CPU time per entry (all threads), "cores busy" (that CPU time over the wall time:
  how much of the machine the process got, 2.00 at most here), and the load average when it
  ended. Pre-signed
  statements carry their canonical bytes; the "received as JSON" line is the service's case,
  where the log serializes each statement once (RFC 8785) to check its signature.
- group commit: ``detente.service.record.Record.append_party`` called by many concurrent
  callers (asyncio tasks), each appending one pre-signed statement at a time and waiting for
  its receipt before the next: the record combines the callers waiting at each moment into
  one ``Ledger.append_groups`` (one transaction, one fsync, one head).
- proofs at n: inclusion and consistency proof build (``Ledger.inclusion_proof``: one SQL query
  for O(log n) nodes) and verify (``detente.ledger.verify``), median of many random indexes.
- export at n: ``LedgerReader.export_lines`` of the big tree (statements addressed to RUS and
  TUR), the operator's full export and COA's copy (leaf hashes only but for the key
  registrations), written to /dev/null in a fresh process: wall time, lines per second, size,
  and how much the process's peak RSS (VmHWM, reset just before) grew over its RSS before the
  export. The export streams from one snapshot in pages: that should not grow with n.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from detente.ledger import Ledger, generate_private_key, key_statement, sign_statement
from detente.ledger.hashing import RFC9162_SHA256
from detente.ledger.statements import SignedStatement, canonical_json
from detente.ledger.verify import verify_consistency, verify_inclusion
from detente.service.auth import Principal
from detente.service.clock import ManualClock
from detente.service.config import Config, Party
from detente.service.record import Record
from detente.store.database import open_database

T0 = 1.7e9


def presign(key, count, start=0):
    return [sign_statement(key, kind="alert", author="TUR", time=T0 + (start + n) / 1000,
                           body={"n": start + n, "parties": ["RUS", "TUR"],
                                 "text": "aircraft approaching your airspace"})
            for n in range(count)]


# Run in a fresh process, so that the peak RSS is the export's own and not the build's.
EXPORT_SCRIPT = """
import json, os, sys, time
from detente.ledger import LedgerReader
from detente.store.database import open_database

def status_mib(name):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(name + ":"):
                return int(line.split()[1]) / 1024

reader = LedgerReader(open_database(sys.argv[1], create=False))
party = sys.argv[2] or None
before = status_mib("VmRSS")
# Linux: reset the peak RSS (VmHWM) to the current RSS, so that imports do not count.
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
t0 = time.perf_counter()
size = lines = 0
with open(os.devnull, "wb") as out:
    for chunk in reader.export_chunks(party):
        out.write(chunk)
        size += len(chunk)
        lines += chunk.count(b"\\n")
wall = time.perf_counter() - t0
peak = status_mib("VmHWM")
print(json.dumps({"lines": lines, "bytes": size, "s": wall, "rss_growth_mib": peak - before}))
"""


def export_figure(db_url, party):
    done = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, db_url, party or ""],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def threads(workers):
    return "default" if workers is None else str(workers)


def fresh_ledger(directory, name, log_key, tur, workers=None):
    engine = open_database(f"sqlite:///{Path(directory) / name}")
    ledger = Ledger(engine, log_key, origin="detente/bench", verify_workers=workers)
    ledger.append(key_statement(tur, tur, author="TUR", time=1.0))
    return ledger


def append_rate(directory, log_key, tur, statements, batch, workers=None, tag=""):
    """Appends per second (wall clock) and this process's CPU seconds per append."""
    with fresh_ledger(directory, f"rate-{batch}-{threads(workers)}{tag}.sqlite", log_key, tur,
                      workers) as ledger:
        t0, c0 = time.perf_counter(), time.process_time()
        receipts = 0
        for k in range(0, len(statements), batch):
            receipts += len(ledger.append_many(statements[k:k + batch]))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return receipts / wall, cpu / receipts


def group_commit_rate(directory, log_key, tur, statements, callers):
    """Appends per second through the service's record with ``callers`` concurrent callers,
    this process's CPU seconds per append, and the mean number of statements per commit."""
    with fresh_ledger(directory, f"group-{callers}.sqlite", log_key, tur) as ledger:
        config = Config(region_name="bench", centre=(0.0, 0.0), agreements=(),
                        parties={"TUR": Party("TUR", "TUR", (tur.public_key(),))})
        record = Record(ledger, log_key, config, ManualClock(T0))
        tur_login = Principal("TUR", None, T0 + 86400)
        heads = len(ledger.heads())

        async def caller(k):
            for statement in statements[k::callers]:
                (_receipt,) = await record.append_party(tur_login, [statement])

        async def run():
            await asyncio.gather(*(caller(k) for k in range(callers)))

        t0, c0 = time.perf_counter(), time.process_time()
        asyncio.run(run())
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        commits = len(ledger.heads()) - heads
        return len(statements) / wall, cpu / len(statements), len(statements) / commits


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate-entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--big", type=int, default=1_000_000, help="tree size for proofs")
    parser.add_argument("--pool", type=int, default=20_000,
                        help="distinct pre-signed statements cycled to fill the big tree")
    parser.add_argument("--dir", help="where to put the databases (default: a temp dir)")
    parser.add_argument("--callers", type=int, default=1000,
                        help="concurrent callers for the group-commit figure")
    args = parser.parse_args()
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    # A fresh directory per run: the rates are for empty databases.
    directory = tempfile.mkdtemp(prefix="detente-bench-", dir=args.dir)
    log_key, tur = generate_private_key(), generate_private_key()
    print(f"python {sys.version.split()[0]}, databases in {directory}", file=sys.stderr)
    # Shared machines skew every figure below: say how busy this one was.
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    t0 = time.perf_counter()
    statements = presign(tur, args.rate_entries)
    sign_us = (time.perf_counter() - t0) / args.rate_entries * 1e6
    print(f"party-side signing (Ed25519 + RFC 8785): {sign_us:.1f} us per statement")

    ledger = fresh_ledger(directory, "parts.sqlite", log_key, tur)
    sample = statements[:2000]
    t0 = time.perf_counter()
    for s in sample:
        canonical_json(s.statement.to_json())
    canon_us = (time.perf_counter() - t0) / len(sample) * 1e6
    public = ledger.keys.current("TUR").public_key
    t0 = time.perf_counter()
    for s in sample:
        s.verify(public)
    verify_us = (time.perf_counter() - t0) / len(sample) * 1e6
    print(f"log-side cost per statement: RFC 8785 serialization {canon_us:.1f} us "
          f"(once per statement received as JSON), "
          f"Ed25519 signature check {verify_us:.1f} us")

    configs = [(1, None), (100, None), (args.batch, 0), (args.batch, 1), (args.batch, 2),
               (5 * args.batch, None)]
    for batch, workers in configs:
        n = min(len(statements), 500 if batch == 1 else len(statements))
        rate, cpu = append_rate(directory, log_key, tur, statements[:n], batch, workers)
        print(f"signed appends, batch {batch:>5}, {threads(workers)} verify threads: "
              f"{rate:,.0f} /s ({n:,} entries, receipt after durable commit; "
              f"{cpu * 1e6:.0f} us CPU per entry, {rate * cpu:.2f} cores busy, "
              f"load {os.getloadavg()[0]:.2f})")

    # What the service hands the log: statements rebuilt from JSON, so the log serializes each
    # one (RFC 8785) to check its signature, where pre-signed ones carry their bytes.
    received = [SignedStatement.from_json(s.to_json()) for s in statements]
    rate, cpu = append_rate(directory, log_key, tur, received, args.batch, tag="-json")
    print(f"signed appends, batch {args.batch:>5}, statements received as JSON: {rate:,.0f} /s "
          f"({len(received):,} entries; {cpu * 1e6:.0f} us CPU per entry, "
          f"{rate * cpu:.2f} cores busy, load {os.getloadavg()[0]:.2f})")

    rate, cpu, per_commit = group_commit_rate(directory, log_key, tur, statements, args.callers)
    print(f"group commit, {args.callers:,} concurrent callers of one statement each "
          f"(Record.append_party): {rate:,.0f} /s ({len(statements):,} entries, "
          f"{per_commit:,.0f} per commit; {cpu * 1e6:.0f} us CPU per entry, "
          f"{rate * cpu:.2f} cores busy, load {os.getloadavg()[0]:.2f})")

    # The big tree, through the same append path.
    big = fresh_ledger(directory, "big.sqlite", log_key, tur)
    pool = statements[: args.pool] if args.pool <= len(statements) else presign(tur, args.pool)
    t0 = time.perf_counter()
    last = t0
    while big.size < args.big:
        take = min(args.batch, args.big - big.size)
        start = (big.size - 1) % len(pool)
        chunk = (pool * 2)[start:start + take]
        big.append_many(chunk)
        now = time.perf_counter()
        if now - last > 5:
            rate = (big.size - 1) / (now - t0)
            print(f"  building: {big.size:,}/{args.big:,} entries, {rate:,.0f}/s, "
                  f"eta {(args.big - big.size) / rate:,.0f} s", file=sys.stderr)
            last = now
    build_s = time.perf_counter() - t0
    print(f"built a tree of {big.size:,} entries in {build_s:,.0f} s "
          f"({(big.size - 1) / build_s:,.0f} appends/s, batch {args.batch})")

    head = big.tree_head()
    n = head.size
    rng = random.Random(1)
    build_t, verify_t, sizes = [], [], []
    for index in (rng.randrange(n) for _ in range(300)):
        t0 = time.perf_counter()
        proof = big.inclusion_proof(index, n)
        t1 = time.perf_counter()
        leaf = RFC9162_SHA256.hash_leaf(big.entry_bytes(index))
        t2 = time.perf_counter()
        verify_inclusion(RFC9162_SHA256, index, n, leaf, proof, head.root)
        t3 = time.perf_counter()
        build_t.append(t1 - t0)
        verify_t.append(t3 - t2)
        sizes.append(len(proof))
    print(f"inclusion proof at n = {n:,}: build {statistics.median(build_t) * 1e3:.3f} ms, "
          f"verify {statistics.median(verify_t) * 1e3:.3f} ms (medians of 300), "
          f"{max(sizes)} hashes = {max(sizes) * 32} bytes (log2 n = {n.bit_length() - 1})")

    cbuild, cverify, csizes = [], [], []
    heads = {h.size: h for h in big.heads()}
    olds = rng.sample(sorted(s for s in heads if 0 < s < n), min(100, len(heads) - 2))
    for m in olds:
        t0 = time.perf_counter()
        proof = big.consistency_proof(m, n)
        t1 = time.perf_counter()
        verify_consistency(RFC9162_SHA256, m, n, proof, heads[m].root, head.root)
        t2 = time.perf_counter()
        cbuild.append(t1 - t0)
        cverify.append(t2 - t1)
        csizes.append(len(proof))
    print(f"consistency proof to n = {n:,}: build {statistics.median(cbuild) * 1e3:.3f} ms, "
          f"verify {statistics.median(cverify) * 1e3:.3f} ms (medians of {len(olds)}), "
          f"at most {max(csizes)} hashes")
    db = Path(directory) / "big.sqlite"
    print(f"database: {db.stat().st_size / 1e6:,.0f} MB for {n:,} entries")
    for party, what in ((None, "operator's full export"), ("COA", "COA's copy")):
        got = export_figure(f"sqlite:///{db}", party)
        print(f"export at n = {n:,}, {what}: {got['bytes'] / 1e6:,.0f} MB, {got['lines']:,} "
              f"lines in {got['s']:.1f} s ({got['lines'] / got['s']:,.0f} lines/s), peak RSS "
              f"+{got['rss_growth_mib']:.0f} MiB (load {os.getloadavg()[0]:.2f})")
    print(f"load average at end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
