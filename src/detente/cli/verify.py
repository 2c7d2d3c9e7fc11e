"""Check a record export offline, the operator's full one or a party's copy: every statement
signature and audience, every delivery receipt against its entry, every tree head (a C2SP
checkpoint) against the root recomputed from the entries, the consistency proofs between
consecutive heads, every cosignature. Prints a verdict; on failure, the line and the entry or
head that is bad.

A head is settled once every party co-signed it. By default every entry must be under a
settled head unless it became part of the log less than --grace seconds before the export's
last head (by the heads' own times): the log key alone cannot make a settled head, so a record
its holder rewrote fails here, with no file kept aside. --allow-unsettled checks the rest only.

Pin the log key you know with --log-key, and pass the tree heads you kept (JSON lines of
heads, as in receipts) with --heads to compare them with this export.
"""

from __future__ import annotations

import argparse
import json

from detente.errors import InputError
from detente.ledger.audit import DEFAULT_GRACE_S, audit_export
from detente.ledger.heads import TreeHead
from detente.ledger.keys import b64decode_strict

__all__ = ["add_arguments", "run"]

# Deliveries not receipted, listed one a line at most this many (the count is always given).
UNRECEIPTED_SHOWN = 20


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: want seconds >= 0")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("export", metavar="RECORD_EXPORT",
                        help="file written by detente export, or a party's copy")
    parser.add_argument("--log-key", metavar="BASE64",
                        help="the log's public key as you know it (base64 of 32 bytes)")
    parser.add_argument("--heads", metavar="FILE",
                        help="tree heads you kept, one JSON object per line")
    parser.add_argument("--grace", type=_seconds, default=DEFAULT_GRACE_S, metavar="S",
                        help="entries may stay unsettled (not co-signed by every party) this "
                             "long, by the heads' own times (default %(default)g s)")
    parser.add_argument("--allow-unsettled", action="store_true",
                        help="do not fail on entries not under a settled head")


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
    kept = None if args.heads is None else _kept_heads(args.heads)
    try:
        stream = open(args.export, "rb")
    except OSError as exc:
        raise InputError(f"cannot read {args.export}: {exc.strerror}") from exc
    with stream:
        report = audit_export(stream, log_key=pinned, kept_heads=kept,
                              grace_s=None if args.allow_unsettled else args.grace)
    print(report.summary())
    for index, party in report.unreceipted[:UNRECEIPTED_SHOWN]:
        print(f"  entry {index}: no delivery receipt from {party}")
    if report.unreceipted_count > UNRECEIPTED_SHOWN:
        print(f"  ... and {report.unreceipted_count - UNRECEIPTED_SHOWN} more")
    return 0
