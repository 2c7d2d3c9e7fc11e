"""Statements compiled once and run on the driver's cursor, for the hot write paths.

One insert and commit through SQLAlchemy's Connection cost 0.61 ms of CPU (checkout, execution
context, result set-up) against 0.26 ms on the driver alone, fsync included. The tables that use
this (operational intents, the DSS's) hold str, int, float and bytes only, which need no
conversion by SQLAlchemy on SQLite (nor, as far as their documentation goes, on the PostgreSQL
drivers; not tested here).

Every driver or SQLAlchemy error becomes a ``StoreError`` (a duplicate key a
``ConflictingWriteError``), with the original chained.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from detente.errors import ConflictingWriteError, StoreError
from detente.store.database import write_transaction

__all__ = ["Compiled", "read_compiled", "write_compiled"]


class Compiled:
    """A statement compiled once for one engine's dialect.

    ``guarded``: an UPDATE or DELETE that must match exactly one row, or the whole write is
    rolled back (the row changed since it was read).
    """

    def __init__(self, statement: Any, engine: Engine, keys: Sequence[str] | None = None,
                 *, guarded: bool = False) -> None:
        compiled = statement.compile(dialect=engine.dialect, column_keys=keys)
        self.sql = compiled.string
        self.guarded = guarded
        self._names = compiled.positiontup if compiled.positional else None

    def params(self, values: Mapping[str, object]) -> Any:
        names = self._names
        return values if names is None else tuple([values[n] for n in names])


class _NothingMatched(Exception):
    """Rolls back a write whose guarded statement matched no row."""


def _driver_errors(engine: Engine) -> tuple[type[BaseException], ...]:
    return (engine.dialect.dbapi.Error, SQLAlchemyError)  # type: ignore[union-attr]


def read_compiled(engine: Engine, statement: Compiled, values: Mapping[str, object], *,
                  what: str) -> list[Any]:
    """The rows of one read; ``what`` names them in the error."""
    try:
        conn = engine.raw_connection()
        try:
            cur = conn.cursor()
            cur.execute(statement.sql, statement.params(values))
            rows = cur.fetchall()
            cur.close()
        finally:
            conn.close()  # back to the pool, its read transaction ended
    except _driver_errors(engine) as exc:
        raise StoreError(f"cannot read {what}: {exc}") from exc
    return rows


def write_compiled(engine: Engine, steps: Sequence[tuple[Compiled, Mapping[str, object]]], *,
                   what: str, duplicate: str) -> bool:
    """Run ``steps`` in one transaction and commit it (durably: the engine's
    synchronous=FULL), in turn with this process's other writers to the database.

    Returns False, having changed nothing, when a guarded step matched no row. Raises
    ConflictingWriteError(``duplicate``) on a duplicate key, StoreError otherwise.
    """
    dbapi = engine.dialect.dbapi
    try:
        with write_transaction(engine) as conn:
            cur = conn.connection.driver_connection.cursor()
            for statement, values in steps:
                cur.execute(statement.sql, statement.params(values))
                if statement.guarded and cur.rowcount != 1:
                    raise _NothingMatched
            cur.close()
    except _NothingMatched:
        return False
    except dbapi.IntegrityError as exc:  # type: ignore[union-attr]
        raise ConflictingWriteError(duplicate) from exc
    except _driver_errors(engine) as exc:
        raise StoreError(f"cannot write {what}: {exc}") from exc
    return True
