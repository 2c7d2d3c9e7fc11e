"""Opening the durable store: SQLAlchemy 2 on SQLite (embedded, default) or PostgreSQL.

SQLite runs in WAL mode with synchronous=FULL: a transaction that returned from COMMIT is on
disk (fsync'd), which is what lets the ledger hand out a receipt only for a durable entry.
Every table of every store module hangs off ``Base.metadata``; ``open_database`` creates the
missing ones, so a fresh file is usable at once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

from detente.errors import StoreError

__all__ = ["DEFAULT_DATABASE_URL", "Base", "open_database", "positional_insert"]

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
    except SQLAlchemyError as exc:
        raise StoreError(f"cannot open database {url}: {exc}") from exc
    return engine


@functools.lru_cache(maxsize=64)
def positional_insert(table: str, columns: Sequence[str], paramstyle: str) -> str:
    """An INSERT with positional parameters in the driver's own style, for ``executemany``
    with tuples: on hot paths SQLAlchemy's per-row parameter dicts cost more than the insert.
    ``columns`` must be a tuple (it is a cache key)."""
    if paramstyle == "qmark":
        marks = ["?"] * len(columns)
    elif paramstyle in ("format", "pyformat"):
        marks = ["%s"] * len(columns)
    elif paramstyle == "numeric":
        marks = [f":{k + 1}" for k in range(len(columns))]
    else:
        raise StoreError(f"unsupported driver parameter style {paramstyle!r}")
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
