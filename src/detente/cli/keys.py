"""Make Ed25519 keys: ``detente keys new PARTY [--out FILE]``.

Writes the private key as PEM to a new file of mode 0600 (never overwriting one) and prints the
public key as one JSON line {"key_id", "party", "public_key"} for the service's configuration
and the other parties.
"""

from __future__ import annotations

import argparse
import json
import sys

from detente.ledger.keys import (
    generate_private_key,
    key_id,
    public_key_b64,
    public_key_bytes,
    write_private_key,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = sub.add_parser("new", help="make a key pair for a party (or for the log itself)")
    new.add_argument("party", metavar="PARTY", help="party name, e.g. TUR")
    new.add_argument("--out", metavar="FILE",
                     help="private key file to create (default: PARTY.pem); never overwritten")


def run(args: argparse.Namespace) -> int:
    key = generate_private_key()
    path = args.out or f"{args.party}.pem"
    write_private_key(path, key)
    print(json.dumps({"key_id": key_id(public_key_bytes(key)), "party": args.party,
                      "public_key": public_key_b64(key)}))
    print(f"private key written to {path} (mode 0600)", file=sys.stderr)
    return 0
