"""The ``detente`` command: one argparse parser, one module per sub-command.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is listed
once in ``COMMANDS``. Any DetenteError is printed as ``Type: message`` with exit status 1 and no
traceback; a traceback means a bug in detente, not in the user's input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from detente import __version__
from detente.errors import DetenteError

__all__ = ["COMMANDS", "main"]

# name -> (module under detente.cli, one-line help). Modules import lazily so that
# `detente --help` stays fast and one command's heavy imports never slow another.
COMMANDS: dict[str, tuple[str, str]] = {
    "conflicts": ("conflicts", "predict losses of separation between aircraft in a states CSV"),
    "incursions": ("incursions", "predict entries into airspace protected by another party"),
    "demo": ("demo", "the built-in 2015 border scenario with the service and the console"),
    "serve": ("serve", "run the service (API, detection cycle, record)"),
    "login": ("login", "log in to a service with a key file and print a bearer token"),
    "witness": ("witness", "check, co-sign and keep the record's tree heads for your party"),
    "hotline": ("hotline", "send, list and acknowledge hotline messages; a message's timeline"),
    "keys": ("keys", "make an Ed25519 key pair for a party"),
    "export": ("export", "write the whole signed record to a file (and the recorded states)"),
    "verify": ("verify", "check a record export offline: signatures, roots, consistency"),
    "replay": ("replay", "play an exported record back into the console, with a time slider"),
    "intents": ("intents", "operational intents: check a file of them for 4-D overlaps"),
    "migrate": ("migrate", "upgrade a database's schema, or copy a node's database to another"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detente",
        description="Deconfliction for parties that share an airspace but not their trust.",
    )
    parser.add_argument("--version", action="version", version=f"detente {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"detente.cli.{module_name}")
        p = sub.add_parser(name, help=help_text, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DetenteError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `detente conflicts ... | head` closes stdout early; that is not an error.
        return 0


if __name__ == "__main__":
    sys.exit(main())
