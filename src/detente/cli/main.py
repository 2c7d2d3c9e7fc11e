"""The ``detente`` command: one argparse parser, one module per sub-command.

Each sub-command module exposes ``add_arguments(parser)`` and ``run(args) -> int`` and is listed
once in ``COMMANDS``. Only the module of the sub-command being run is imported (its own heavy
imports inside ``run``), so ``detente --help`` costs about a bare Python start and no command
pays for another's libraries.

Errors are one line on stderr, in words: ``detente COMMAND: what is wrong, where; what to do``,
exit status 1. Any DetenteError is shown that way (see ``describe``), and so are mistakes on
the command line; a traceback means a bug in detente, not in the user's input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from detente import __version__
from detente.errors import DetenteError, GeometryError, RecordError, StoreError

__all__ = ["COMMANDS", "build_parser", "describe", "main"]

# name -> (module under detente.cli, one-line help).
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

# What to do, for errors whose message says what and where but not what next.
_NEXT_STEP: tuple[tuple[type[DetenteError], str], ...] = (
    (RecordError, "correct that line and run again"),
    (GeometryError, "correct that geometry and run again"),
    (StoreError, "check the database given with --db"),
)


class _Parser(argparse.ArgumentParser):
    """argparse with its mistakes on one line, and the way to the help in place of the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}; see {self.prog} --help\n")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported and given its arguments (the others
    are listed with their help line, which is all ``detente --help`` shows of them)."""
    parser = _Parser(
        prog="detente",
        description="Deconfliction for parties that share an airspace but not their trust.",
    )
    parser.add_argument("--version", action="version", version=f"detente {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        if name != command:
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(f"detente.cli.{module_name}")
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def describe(exc: DetenteError) -> str:
    """The error as one line of words: its message (which says what and where) and, when the
    message does not, what to do next. Never the exception's class name."""
    text = " ".join(str(exc).split()) or "failed"
    for kind, step in _NEXT_STEP:
        if isinstance(exc, kind):
            return f"{text}; {step}"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The top level takes no option with a value, so the first word is the command.
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except DetenteError as exc:
        print(f"detente {args.command}: {describe(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `detente conflicts ... | head` closes stdout early; that is not an error.
        return 0


if __name__ == "__main__":
    sys.exit(main())
