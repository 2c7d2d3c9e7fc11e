"""Watch the record for your party: check each new signed tree head against the last one you
accepted (consistency proof), co-sign it, and keep it; and answer every entry your party is
told (alerts, intent overlaps, hotline messages to it) with a delivery receipt signed by your
party's key, so that "we were never warned" can be checked against your own signature.

Runs until interrupted (or once with --once). Every accepted head is appended to --heads (JSON
lines), which `detente verify --heads` checks a later export against; the last event whose
entry was receipted is kept beside it (``FILE.told``), so a restart neither misses nor
repeats one. A head that contradicts
one you accepted is a split view: the command prints an ALERT with both signed heads (the
evidence), does not co-sign, and exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from detente.cli.options import add_login_options
from detente.errors import InputError
from detente.ledger import SplitViewError, TreeHead
from detente.ledger.keys import b64decode_strict

SPLIT_VIEW_EXIT = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_login_options(parser, official="none")
    parser.add_argument("--heads", default=None, metavar="FILE",
                        help="JSON lines of accepted heads (default PARTY-heads.jsonl)")
    parser.add_argument("--log-key", default=None, metavar="BASE64",
                        help="the log's public key from your agreement (else trusted on first "
                             "use and printed)")
    parser.add_argument("--every", type=float, default=5.0, metavar="S",
                        help="seconds between looks (default %(default)g)")
    parser.add_argument("--once", action="store_true", help="look once and stop")


def run(args: argparse.Namespace) -> int:
    from detente.cli.client import ServiceClient, Witness

    path = Path(args.heads or f"{args.party}-heads.jsonl")
    kept = []
    if path.exists():
        kept = [TreeHead.from_json(json.loads(line)) for line in path.read_text().splitlines()
                if line.strip()]
    log_key = None if args.log_key is None else b64decode_strict(args.log_key, "--log-key")
    if log_key is not None and len(log_key) != 32:
        raise InputError(f"--log-key: {len(log_key)} bytes, an Ed25519 public key has 32: give "
                         "the log's public key (base64) from your agreement")
    told = Path(f"{path}.told")
    told_seq = int(told.read_text().strip() or 0) if told.exists() else 0
    with ServiceClient(args.url, args.party, args.key) as client:
        w = Witness(client, log_key, kept, told_seq=told_seq)
        while True:
            try:
                head = w.step()
            except SplitViewError as exc:
                ev = exc.evidence
                print(f"ALERT {args.party}: the log showed two histories: {exc}\n"
                      f"held:    {json.dumps(ev.held.to_json())}\n"
                      f"offered: {json.dumps(ev.offered.to_json())}", file=sys.stderr)
                return SPLIT_VIEW_EXIT
            if head is not None:
                with path.open("a") as f:
                    f.write(json.dumps(head.to_json()) + "\n")
                print(f"{args.party} co-signed tree head {head.size} "
                      f"({head.root.hex()[:16]}...)", file=sys.stderr)
            receipted = w.receipt_told()
            if receipted:
                told.write_text(f"{w.told_seq}\n")
                print(f"{args.party} receipted {receipted} entries it was told",
                      file=sys.stderr)
            if args.once:
                return 0
            time.sleep(args.every)
