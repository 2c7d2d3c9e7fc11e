"""Check a record export offline: every statement signature, every tree head against the root
recomputed from the entries, the consistency proofs between consecutive heads, every
cosignature. Prints a one-line verdict; on failure, the line and the entry or head that is bad.

Pin the log key you know with --log-key, and pass the tree heads you kept (JSON lines of
heads, as in receipts) with --heads to detect a log that rewrote history since you saw them.
"""

from __future__ import annotations

import argparse
import json

from detente.errors import InputError
from detente.ledger.audit import audit_export
from detente.ledger.heads import TreeHead
from detente.ledger.keys import b64decode_strict

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", metavar="RECORD_EXPORT", help="file written by detente export")
    parser.add_argument("--log-key", metavar="BASE64",
                        help="the log's public key as you know it (base64 of 32 bytes)")
    parser.add_argument("--heads", metavar="FILE",
                        help="tree heads you kept, one JSON object per line")


def _kept_heads(path: str) -> list[TreeHead]:
    try:
        with open(path, encoding="utf-8") as stream:
            lines = [line for line in stream if line.strip()]
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
    heads = []
    for number, line in enumerate(lines, 1):
        try:
            heads.append(TreeHead.from_json(json.loads(line), f"{path}, head {number}"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}, head {number}: not JSON ({exc})") from exc
    return heads


def run(args: argparse.Namespace) -> int:
    pinned = None if args.log_key is None else b64decode_strict(args.log_key, "--log-key")
    kept = [] if args.heads is None else _kept_heads(args.heads)
    try:
        stream = open(args.export, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {args.export}: {exc.strerror}") from exc
    with stream:
        report = audit_export(stream, log_key=pinned, kept_heads=kept)
    print(report.summary())
    return 0
