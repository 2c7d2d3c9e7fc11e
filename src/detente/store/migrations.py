"""The schema's versions, and how a database moves from one to the next.

A database says its version in ``detente_schema`` (one row) from version 3 on. Before that
table existed, two layouts were written, told apart by their columns:

1. up to commit 9fd5c2a (SQLite only; tests/data/v1-demo.sqlite is one): tree heads with a
   float time and no time signature; its record is of the earlier format (entries without salt
   and audience), which this version's ledger refuses to read or extend.
2. from commit 0f65a30 (the record as C2SP checkpoints; tests/data/v2-demo.sqlite is one):
   ``ledger_heads.time_signature``, times in whole seconds. Its record is this version's.
3. this version: the version stamp, the leadership lease of a node's instances
   (``node_leases``) and the compact recording (``report_segments``; ``track_reports``, where
   versions 1 and 2 recorded, stays and is read before it).

Each later version is one step here, run in one transaction. ``upgrade`` (which
``open_database`` calls) creates every table of a fresh database and stamps it with the
latest version; a database of an earlier version gets the steps it lacks; one of a later
version than this code knows is refused (an older detente must not write into a layout it
does not understand).

On PostgreSQL the upgrade holds a transaction advisory lock, so instances of one node that
start together upgrade once; its DDL is transactional, so an upgrade that fails leaves the
database as it was. SQLite commits DDL as it goes; a failed step leaves the version unstamped
and is run again at the next start (each step is written to be run again).

``copy_database`` moves a node's database to another (SQLite to PostgreSQL): every row of
every table, keys included (the record's anchors name report numbers). A database of version
1 is not copied: its record is of a format no database of this version can serve.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    LargeBinary,
    Table,
    func,
    inspect,
    select,
    text,
    tuple_,
)

from detente.errors import StoreError
from detente.store.database import Base, insert_rows, is_postgresql, lock_key
from detente.store.leases import leases_table  # noqa: F401 - version 3 adds it
from detente.store.report_segments import segments_table  # noqa: F401 - version 3 adds it

__all__ = ["SCHEMA_VERSION", "STEPS", "copy_database", "schema_version", "upgrade"]

schema_table = Table(
    "detente_schema", Base.metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("upgraded_at", Float, nullable=False),  # s, UTC epoch, by the database's clock
)


@dataclass(frozen=True)
class Step:
    """From ``version - 1`` to ``version``."""

    version: int
    says: str
    run: Callable[[Connection], None]


def _add_missing(conn: Connection) -> None:
    """Tables and indexes this version has and the database does not (all additions)."""
    Base.metadata.create_all(conn)
    # create_all adds no index to a table that exists.
    for table in Base.metadata.sorted_tables:
        for index in table.indexes:
            index.create(conn, checkfirst=True)


def _time_signatures(conn: Connection) -> None:
    """Version 2's column of the tree heads' time signatures, empty for the heads of version
    1 (they are not C2SP checkpoints: nothing can sign them now). The column ``time`` keeps
    its values: version 1's is float seconds, and SQLite keeps what a column holds whatever
    type it declares."""
    if "ledger_heads" not in inspect(conn).get_table_names():
        return
    if "time_signature" in {c["name"] for c in inspect(conn).get_columns("ledger_heads")}:
        return
    empty = "''::bytea" if is_postgresql(conn) else "X''"
    column = LargeBinary().compile(dialect=conn.dialect)
    conn.execute(text(f"ALTER TABLE ledger_heads ADD COLUMN time_signature {column} "
                      f"NOT NULL DEFAULT {empty}"))


STEPS: tuple[Step, ...] = (
    Step(2, "the record's tree heads as C2SP checkpoints: ledger_heads.time_signature (empty "
            "for version 1's heads; its record, of the earlier format, stays as it was)",
         _time_signatures),
    Step(3, "the schema's version (detente_schema), the leadership lease of a node's "
            "instances (node_leases), the compact recording (report_segments); no table of "
            "version 2 changes", _add_missing),
)
SCHEMA_VERSION = STEPS[-1].version


def schema_version(conn: Connection) -> int | None:
    """The database's schema version: None for an empty database; for one of detente's
    written before versions were stamped, 1 or 2 by its tree heads' columns."""
    names = set(inspect(conn).get_table_names())
    if schema_table.name in names:
        found = conn.execute(select(func.max(schema_table.c.version))).scalar()
        if found is not None:
            return int(found)
    ours = {t.name for t in Base.metadata.sorted_tables} - {schema_table.name}
    if not names & ours:
        return None
    if "ledger_heads" in names and "time_signature" not in {
            c["name"] for c in inspect(conn).get_columns("ledger_heads")}:
        return 1
    return 2


def upgrade(engine: Engine) -> int:
    """Bring the database to ``SCHEMA_VERSION``; returns the version it was at (0: empty)."""
    with engine.begin() as conn:
        if is_postgresql(conn):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("migrations")})
        found = schema_version(conn)
        if found is not None and found > SCHEMA_VERSION:
            raise StoreError(
                f"the database's schema is version {found}, newer than this detente's "
                f"({SCHEMA_VERSION}): run the detente that wrote it, or a newer one")
        if found == SCHEMA_VERSION:
            _add_missing(conn)  # tables of modules imported since (their own additions)
            return found
        if found is None:
            _add_missing(conn)
        else:
            for step in STEPS:
                if step.version > found:
                    step.run(conn)
            _add_missing(conn)
        conn.execute(schema_table.delete())
        conn.execute(schema_table.insert().values(
            version=SCHEMA_VERSION, upgraded_at=_db_now(conn)))
        return found or 0


def _db_now(conn: Connection) -> float:
    if is_postgresql(conn):
        return float(conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar())
    return float(conn.execute(text("SELECT (julianday('now') - 2440587.5) * 86400.0")).scalar())


def copy_database(source: Engine, target: Engine, chunk: int = 5_000,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Copy every row of ``source`` into ``target``, an empty database: both are upgraded to
    this version first (the source in place). Keys are kept as they are; on PostgreSQL each
    table's sequence then continues after the largest. Returns the rows per table; StoreError
    if the target holds any row already, or a count differs after the copy."""
    with source.connect() as conn:
        if schema_version(conn) == 1 and "ledger_entries" in inspect(conn).get_table_names() \
                and conn.execute(text("SELECT count(*) FROM ledger_entries")).scalar():
            raise StoreError(
                "the source database is of version 1: its record is of an earlier detente's "
                "format (entries without salt and audience, tree heads that are not C2SP "
                "checkpoints), which this version neither serves nor copies; export it with "
                "the detente that wrote it")
    upgrade(source)
    upgrade(target)
    tables = [t for t in Base.metadata.sorted_tables if t is not schema_table]
    with source.connect() as src:
        present = set(inspect(src).get_table_names())
    copied: dict[str, int] = {}
    with target.begin() as dst:
        for table in tables:
            if dst.execute(select(func.count()).select_from(table)).scalar():
                raise StoreError(f"the target database holds rows in {table.name} already: "
                                 "copy into an empty database")
        for table in tables:
            if table.name not in present:
                continue
            columns = tuple(c.name for c in table.columns)
            n = 0
            for rows in _chunks(source, table, chunk):
                insert_rows(dst, table.name, columns, rows)
                n += len(rows)
                if progress is not None:
                    progress(table.name, n)
            copied[table.name] = n
            if is_postgresql(dst):
                for c in table.primary_key.columns:
                    if c.autoincrement is True:
                        dst.execute(text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', '{c.name}'), "
                            f"COALESCE((SELECT max({c.name}) FROM {table.name}), 0) + 1, false)"))
        for name, n in copied.items():
            got = dst.execute(select(func.count()).select_from(Base.metadata.tables[name])).scalar()
            if got != n:
                raise StoreError(f"copy of {name}: {n} rows read, {got} in the target")
    return copied


def _chunks(engine: Engine, table: Table, chunk: int) -> Iterator[list[tuple[object, ...]]]:
    """The rows of ``table`` in primary-key order, ``chunk`` at a time (keyset pagination)."""
    key = list(table.primary_key.columns)
    query = select(*table.columns).order_by(*key)
    last: tuple[object, ...] | None = None
    while True:
        q = query
        if last is not None:
            q = q.where(key[0] > last[0] if len(key) == 1 else tuple_(*key) > tuple_(*last))
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(q.limit(chunk))]
        if not rows:
            return
        yield rows
        index = [list(table.columns).index(c) for c in key]
        last = tuple(rows[-1][i] for i in index)
