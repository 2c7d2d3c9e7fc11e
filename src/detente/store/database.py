"""Opening the durable store: SQLAlchemy 2 on SQLite (embedded, default) or PostgreSQL.

SQLite runs in WAL mode with synchronous=FULL, PostgreSQL (through psycopg 3; a
``postgresql://`` URL means it) with its default synchronous_commit=on: either way a
transaction that returned from COMMIT is on disk (fsync'd), which is what lets the ledger hand
out a receipt only for a durable entry. Every table of every store module hangs off
``Base.metadata``; ``open_database`` brings the schema to this version's
(``store.migrations``: a fresh database gets every table, one written by an earlier version
is upgraded in place), so a database is usable at once.

What differs between the two is kept here: the URL's driver, SQLite's PRAGMAs, how many
parameters one statement may carry, the integer type of keys that grow without bound
(``BigId``), and ``append_lock``, which makes the numbers an append-only table hands out
follow the order of the commits (SQLite has one writer; PostgreSQL many).

Errors: nothing above the store sees SQLAlchemy's. ``store_errors`` turns them into StoreError
(the driver's error chained); ``reading`` and ``read_snapshot`` do it for every read made
through them. A writer translates its own (``write_transaction`` leaves them as they are): a
unique-key violation is a rule of the caller's (a ConflictingWriteError), not a failed store.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Connection, Engine, Integer, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from detente.errors import DiskFullError, InputError, StoreError

__all__ = [
    "CHANNEL", "DEFAULT_DATABASE_URL", "Base", "BigId", "Fence", "append_lock", "database_folder",
    "database_url", "free_page_bytes", "insert_rows", "is_disk_full", "is_postgresql", "lock_key",
    "notify", "open_database", "positional_insert", "read_snapshot", "reading", "set_fence",
    "startup_lock", "store_error", "store_errors", "write_transaction",
]

DEFAULT_DATABASE_URL = "sqlite:///detente.sqlite"

# Keys that grow with traffic (report rows, event rows, ledger indexes): 64-bit on
# PostgreSQL, where INTEGER is 32 (2^31 reports is two and a half days at 10,000 a second);
# on SQLite exactly INTEGER, which is 64-bit there and which an autoincrementing key must be
# declared as to be the table's rowid.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The drivers detente runs on: anything else is refused by name at start.
_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg",
            "postgres": "postgresql+psycopg"}


class Base(DeclarativeBase):
    """Declarative base of every detente table."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def database_url(url: str | URL) -> URL:
    """``url`` with the driver detente uses for its database (``postgresql://`` and
    ``postgres://`` mean psycopg 3); InputError naming the URL for any other database."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InputError(f"--db: not a database URL: {url!r} ({exc})") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in _DRIVERS or (driver and f"{backend}+{driver}" not in _DRIVERS.values()):
        raise InputError(f"--db: {parsed.drivername!r} is not a database detente runs on "
                         "(sqlite:///PATH or postgresql://USER@HOST:PORT/NAME)")
    return parsed.set(drivername=_DRIVERS[backend])


def is_postgresql(source: Engine | Connection) -> bool:
    return source.dialect.name == "postgresql"


def open_database(url: str | URL = DEFAULT_DATABASE_URL, *, create: bool = True,
                  application_name: str = "detente") -> Engine:
    """An Engine for ``url`` with detente's durability settings; if ``create``, the schema
    brought to this version's (tables created, or an earlier version's upgraded).

    Import the store modules whose tables you need before calling, so that they are registered
    on ``Base.metadata``. ``application_name`` names the connections on PostgreSQL (in
    pg_stat_activity): the leadership of several instances finds an old leader's by it.
    """
    parsed = database_url(url)
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "postgresql":
            # A pool as large as the threads that may hold a connection at once (event loop,
            # recorder, ledger, workers, leadership); connections checked before use, so one
            # cut by a restart of the server is replaced rather than handed out.
            engine = create_engine(parsed, pool_size=10, max_overflow=20, pool_pre_ping=True,
                                   connect_args={"application_name": application_name,
                                                 "connect_timeout": 10})
        else:
            engine = create_engine(parsed)
            event.listen(engine, "connect", _sqlite_pragmas)
        if create:
            from detente.store.migrations import upgrade
            upgrade(engine)
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open database {shown}: {exc}") from exc
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
_POSTGRESQL_MAX_PARAMETERS = 65_535  # the protocol's 16-bit count of bound parameters


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
    if conn.dialect.name == "postgresql":
        # COPY: one stream of rows, no statement to parse, values written by psycopg's C
        # code. 3,333 reports took 0.47 s in multi-row INSERTs, 0.10 s so (load average 8).
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        dbapi = conn.dialect.loaded_dbapi
        try:
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            with cursor, cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except dbapi.Error as exc:  # as SQLAlchemy would raise it (IntegrityError, ...)
            raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
        return
    per = _ROWS_PER_STATEMENT
    if conn.dialect.name == "sqlite":
        per = min(per, _sqlite_max_parameters(conn) // len(columns))
    else:
        per = min(per, _POSTGRESQL_MAX_PARAMETERS // len(columns))
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


def append_lock(conn: Connection, table: str) -> None:
    """Inside a write transaction, before it takes keys from ``table``'s sequence: the keys
    of the rows committed are then a prefix of the keys handed out, at every instant, so a
    reader that takes the rows after the last key it saw never misses one committed later
    with a smaller key (the record's anchors name report rows by key, and other instances
    follow the table by it).

    SQLite has one writer at a time, so nothing is needed. On PostgreSQL concurrent
    transactions draw from the sequence in any order and commit in another: a transaction
    advisory lock, held until COMMIT, makes them take turns (it is released only once the
    commit is visible).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(_ADVISORY_XACT_LOCK, {"k": lock_key(table)})


_ADVISORY_XACT_LOCK = text("SELECT pg_advisory_xact_lock(:k)")

# The channel other instances of a node LISTEN on (PostgreSQL): a commit that holds reports or
# events wakes them at once, instead of at their next look at the table.
CHANNEL = "detente"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :what)")


def notify(conn: Connection, what: str) -> None:
    """On PostgreSQL, tell the other instances at this transaction's commit that ``what``
    ("reports", "events") has new rows (identical notices of one transaction are sent once)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"what": what})


@contextlib.contextmanager
def startup_lock(engine: Engine) -> Iterator[None]:
    """Held while an instance sets up what the first start of a database creates (PostgreSQL;
    SQLite has one instance): instances of one node starting together do it one at a time."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock_key("startup")})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key("startup")})
            conn.commit()


@functools.lru_cache(maxsize=64)
def lock_key(name: str) -> int:
    """A stable advisory lock number (PostgreSQL's bigint) for ``name``."""
    return int.from_bytes(hashlib.sha256(b"detente:" + name.encode()).digest()[:8], "big") >> 1


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

# Run first in a fenced write transaction; raises (a retryable error) to refuse it.
Fence = Callable[[Connection], None]
_FENCES: dict[int, Fence] = {}


def set_fence(engine: Engine, fence: Fence | None) -> None:
    """Every fenced ``write_transaction`` on ``engine`` (in this process) first runs
    ``fence`` on its connection, which refuses the transaction by raising: the leadership of
    several instances of a node (``service.leadership``) checks there, inside the very
    transaction that writes, that this instance still holds the lease. None: no fence."""
    if fence is None:
        _FENCES.pop(id(engine), None)
    else:
        _FENCES[id(engine)] = fence


@contextlib.contextmanager
def write_transaction(engine: Engine, fenced: bool = True) -> Iterator[Connection]:
    """``engine.begin()`` for a transaction that writes, one such transaction at a time per
    database in this process, taken in turn; ``fenced`` (the default), it first passes the
    engine's fence, if it has one (``set_fence``). Only writes that any instance of a node may
    make (track reports) go unfenced.

    SQLite has one writer; a second one waits in its busy handler, which sleeps and retries
    (up to 100 ms a sleep) while the first may take the lock again and again. Measured here:
    a small commit beside the recorder's steady inserts waited a median 40 ms and up to
    2.1 s, against 4 ms alone. Queued here instead, a writer starts as soon as the one
    before it commits. Readers are not involved: in WAL mode they never wait for writers.
    """
    key = str(engine.url)
    with _WRITE_LOCKS_MUTEX:
        lock = _WRITE_LOCKS.setdefault(key, _FairLock())
    fence = _FENCES.get(id(engine)) if fenced else None
    lock.acquire()
    try:
        with engine.begin() as conn:
            if fence is not None:
                fence(conn)
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
