"""Write the whole record (entries, signed tree heads, cosignatures, the log's public key) as
canonical JSON lines, for ``detente verify``. Needs no private key.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from detente.errors import InputError
from detente.ledger.log import LedgerReader
from detente.store.database import DEFAULT_DATABASE_URL, open_database

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default=DEFAULT_DATABASE_URL, metavar="URL",
                        help="database URL (default %(default)s)")
    parser.add_argument("--out", metavar="FILE", help="file to write (default: stdout)")


def run(args: argparse.Namespace) -> int:
    reader = LedgerReader(open_database(args.db, create=False))
    if args.out is None:
        lines = reader.export(sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        # Written beside the target and renamed: a reader never sees half an export.
        target = Path(args.out)
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
        except OSError as exc:
            raise InputError(f"cannot write {target}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                lines = reader.export(out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    head = reader.tree_head()
    print(f"exported {lines} lines: {head.size} entries, root {head.root.hex()}", file=sys.stderr)
    return 0
