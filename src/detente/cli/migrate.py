"""Bring a database to this version's schema, or move a node's database to another.

    detente migrate --db URL                  upgrade URL in place (a start does it too)
    detente migrate --db TARGET --from URL    copy every row of URL into TARGET, an empty
                                              database (SQLite to PostgreSQL, say); URL is
                                              upgraded in place first

The copy keeps every key as it is (the record's anchors name report rows by key) and checks
the rows per table afterwards; run it with the service stopped. Then `detente export` of both
gives the same record, byte for byte.
"""

from __future__ import annotations

import argparse
import sys

from detente.store.database import open_database

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="URL",
                        help="the database to upgrade, or to copy into")
    parser.add_argument("--from", dest="source", default=None, metavar="URL",
                        help="copy this database into --db (which must be empty)")


def run(args: argparse.Namespace) -> int:
    # Every table must be registered before the schema is compared.
    from detente.api.app import create_app  # noqa: F401 - imports every store module
    from detente.store import migrations

    if args.source is None:
        engine = open_database(args.db, create=False)
        before = migrations.upgrade(engine)
        print(f"{args.db}: schema version {before or 'none'} -> {migrations.SCHEMA_VERSION}")
        engine.dispose()
        return 0
    source = open_database(args.source, create=False)
    target = open_database(args.db, create=False)

    def progress(table: str, n: int) -> None:
        print(f"\r{table}: {n:,} rows", end="", file=sys.stderr, flush=True)

    copied = migrations.copy_database(source, target, progress=progress)
    print(file=sys.stderr)
    for table, n in copied.items():
        print(f"{table}: {n:,} rows")
    source.dispose()
    target.dispose()
    return 0
