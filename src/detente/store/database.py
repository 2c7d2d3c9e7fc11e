"""Opening the durable store: SQLAlchemy 2 on SQLite (embedded, default) or PostgreSQL.

SQLite runs in WAL mode with synchronous=FULL: a transaction that returned from COMMIT is on
disk (fsync'd), which is what lets the ledger hand out a receipt only for a durable entry.
Every table of every store module hangs off ``Base.metadata``; ``open_database`` creates the
missing ones, so a fresh file is usable at once.

Errors: nothing above the store sees SQLAlchemy's. ``store_errors`` turns them into StoreError
(the driver's error chained); ``reading`` and ``read_snapshot`` do it for every read made
through them. A writer translates its own (``write_transaction`` leaves them as they are): a
unique-key violation is a rule of the caller's (a ConflictingWriteError), not a failed store.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from detente.errors import DiskFullError, StoreError

__all__ = [
    "DEFAULT_DATABASE_URL", "Base", "database_folder", "free_page_bytes", "insert_rows",
    "is_disk_full", "open_database",
    "positional_insert", "read_snapshot", "reading", "store_error", "store_errors",
    "write_transaction",
]

DEFAULT_DATABASE_URL = "sqlite:///detente.sqlite"


class Base(DeclarativeBase):
    """Declarative base of every detente table."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def open_database(url: str = DEFAULT_DATABASE_URL, *, create: bool = True) -> Engine:
    """An Engine for ``url`` with detente's durability settings, tables created if ``create``.

    Import the store modules whose tables you need before calling, so that they are registered
    on ``Base.metadata``.
    """
    try:
        engine = create_engine(url, future=True)
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        if create:
            Base.metadata.create_all(engine)
            # create_all adds no index to a table that exists: a database made by an earlier
            # version gets the indexes added since.
            for table in Base.metadata.sorted_tables:
                for index in table.indexes:
                    index.create(engine, checkfirst=True)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open database {url}: {exc}") from exc
    return engine


def database_folder(engine: Engine) -> Path | None:
    """The folder of an SQLite database's file (where it and its WAL grow); None for an
    in-memory one, or another database (whose disk is its server's)."""
    if engine.dialect.name != "sqlite":
        return None
    name = engine.url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name).resolve().parent


def free_page_bytes(engine: Engine) -> int:
    """Bytes of the pages an SQLite database holds free (deleted rows' pages, reused by the
    next writes before the file grows); 0 for another database."""
    if engine.dialect.name != "sqlite":
        return 0
    with store_errors("cannot read the database's free pages"), engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA freelist_count").scalar_one()
        size = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
    return int(pages) * int(size)


@functools.lru_cache(maxsize=64)
def positional_insert(table: str, columns: Sequence[str], paramstyle: str, rows: int = 1) -> str:
    """An INSERT of ``rows`` rows with positional parameters in the driver's own style: on hot
    paths SQLAlchemy's per-row parameter dicts cost more than the insert. ``columns`` must be
    a tuple (it is a cache key)."""
    n = len(columns)
    if paramstyle == "qmark":
        marks = ["?"] * (n * rows)
    elif paramstyle in ("format", "pyformat"):
        marks = ["%s"] * (n * rows)
    elif paramstyle == "numeric":
        marks = [f":{k + 1}" for k in range(n * rows)]
    else:
        raise StoreError(f"unsupported driver parameter style {paramstyle!r}")
    values = ", ".join(f"({', '.join(marks[r * n:(r + 1) * n])})" for r in range(rows))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"


# Rows per INSERT statement at most; fewer where the database takes fewer parameters.
_ROWS_PER_STATEMENT = 1_000
_SQLITE_DEFAULT_MAX_PARAMETERS = 999  # before SQLite 3.32, and where it cannot be asked


def insert_rows(conn: Connection, table: str, columns: tuple[str, ...],
                rows: Sequence[tuple[Any, ...]]) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order) in a few multi-row statements.

    Not ``executemany``: the sqlite3 module lets go of the GIL and takes it back at every row
    of one, and while another thread runs Python each taking back waits for that thread's
    switch interval (5 ms). Beside a busy thread a transaction of 3,333 rows took seconds
    with executemany and some 50 ms in statements of 1,000 rows (bench/sqlite_inserts.py).
    """
    if not rows:
        return
    per = _ROWS_PER_STATEMENT
    if conn.dialect.name == "sqlite":
        per = min(per, _sqlite_max_parameters(conn) // len(columns))
    style = conn.dialect.paramstyle
    for k in range(0, len(rows), per):
        chunk = rows[k:k + per]
        conn.exec_driver_sql(positional_insert(table, columns, style, len(chunk)),
                             tuple(v for row in chunk for v in row))


def _sqlite_max_parameters(conn: Connection) -> int:
    raw = conn.connection.dbapi_connection
    getlimit = getattr(raw, "getlimit", None)  # Python 3.11+
    if getlimit is None:
        return _SQLITE_DEFAULT_MAX_PARAMETERS
    return int(getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


class _FairLock:
    """A lock handed to its waiters in the order they came (threading.Lock is not fair: a
    thread that releases and at once re-acquires can keep it from the others for long)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: collections.deque[threading.Lock] = collections.deque()

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        turn.acquire()  # released by release(): the lock is now ours

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().release()  # handed over: still held
            else:
                self._held = False


_WRITE_LOCKS: dict[str, _FairLock] = {}
_WRITE_LOCKS_MUTEX = threading.Lock()


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """``engine.begin()`` for a transaction that writes, one such transaction at a time per
    database in this process, taken in turn.

    SQLite has one writer; a second one waits in its busy handler, which sleeps and retries
    (up to 100 ms a sleep) while the first may take the lock again and again. Measured here:
    a small commit beside the recorder's steady inserts waited a median 40 ms and up to
    2.1 s, against 4 ms alone. Queued here instead, a writer starts as soon as the one
    before it commits. Readers are not involved: in WAL mode they never wait for writers.
    """
    key = str(engine.url)
    with _WRITE_LOCKS_MUTEX:
        lock = _WRITE_LOCKS.setdefault(key, _FairLock())
    lock.acquire()
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        lock.release()


def is_disk_full(exc: BaseException) -> bool:
    """Whether the driver refused a write for want of space (SQLite's SQLITE_FULL: the disk,
    or max_page_count; PostgreSQL's disk_full, SQLSTATE 53100)."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.Error):
        return getattr(orig, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or \
            "database or disk is full" in str(orig)
    return getattr(orig, "pgcode", None) == "53100" or getattr(orig, "sqlstate", None) == "53100"


def store_error(what: str, exc: SQLAlchemyError) -> StoreError:
    """The StoreError for a driver's error: a DiskFullError, retryable and without the
    driver's text, where it refused for want of space (the transaction rolled back whole)."""
    error = DiskFullError(f"{what}: the database's disk is full; nothing was written; try "
                          "again later") if is_disk_full(exc) else StoreError(f"{what}: {exc}")
    error.__cause__ = exc  # chained even where it is handed on rather than raised (a Future)
    return error


@contextlib.contextmanager
def store_errors(what: str) -> Iterator[None]:
    """SQLAlchemy errors raised inside become StoreError(``what``: the driver's message)."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(what, exc) from exc


@contextlib.contextmanager
def read_snapshot(engine: Engine) -> Iterator[Connection]:
    """A connection whose reads all see the database as it was at the first of them, however
    many statements they take and whatever writers commit meanwhile (an export, while the
    service records and prunes).

    SQLite's driver begins no transaction before a read, so each statement would see the
    latest commit: here BEGIN is sent explicitly (in WAL mode a read transaction keeps its
    snapshot until it ends). Elsewhere, a REPEATABLE READ transaction.
    """
    with store_errors("cannot read the database"), engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn


@contextlib.contextmanager
def reading(source: Engine | Connection) -> Iterator[Connection]:
    """``source`` itself if it is a connection (a snapshot, say), else a new one; whatever the
    reads through it raise from SQLAlchemy leaves as StoreError."""
    with store_errors("cannot read the database"):
        if isinstance(source, Connection):
            yield source
        else:
            with source.connect() as conn:
                yield conn
