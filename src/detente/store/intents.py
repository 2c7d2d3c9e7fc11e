"""Operational intents in the database: one row per intent, as last written.

The table is the source of truth (the service keeps its live part indexed in memory:
``service.intents``). Ended and expired rows stay for the record. Each row keeps its volumes
twice (``store.intent_codecs``): as given (JSON) and as the index's grid holds them, so that
a start reads them back without projecting anything.

Writes are guarded: an UPDATE names the version it replaces and matches no row if another
writer changed it since (the write is then refused, nothing changed). They take their turn
through ``store.database.write_transaction`` like every writer to the database, and run
statements compiled once on the driver's cursor (``store.compiled``). Every database error,
reads included, becomes a ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import (
    Engine,
    Float,
    Integer,
    LargeBinary,
    String,
    Text,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from detente.engines.strategic import Volumes, project_volumes
from detente.errors import ConflictingWriteError
from detente.geo.projection import LocalProjection
from detente.model.intent import IntentState, OperationalIntent
from detente.store.compiled import Compiled, read_compiled, write_compiled
from detente.store.database import Base
from detente.store.intent_codecs import encode_grids, encode_volumes, grid_key

__all__ = ["LOADED_COLUMNS", "IntentRow", "IntentTable", "row_values"]


class IntentRow(Base):
    """One operational intent, as last written (Ended and expired ones stay for the record)."""

    __tablename__ = "operational_intents"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    owner: Mapped[str] = mapped_column(String, index=True)
    state: Mapped[str] = mapped_column(String)
    priority: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String)
    time_start: Mapped[float] = mapped_column(Float)  # s, UTC epoch
    time_end: Mapped[float] = mapped_column(Float, index=True)  # s, UTC epoch
    volumes: Mapped[str] = mapped_column(Text)  # JSON, see intent_codecs.encode_volumes
    # The volumes as the index holds them (grid envelopes, densified rings), derived from
    # ``volumes`` for the grid named by ``grid_key``: read back at start instead of projecting
    # 100,000 intents again. A row whose key differs from the index's is projected afresh.
    grid: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    grid_key: Mapped[str | None] = mapped_column(String, nullable=True)


_COLUMNS = ("id", "owner", "state", "priority", "version", "time_start", "time_end", "volumes",
            "grid", "grid_key")
# What a start reads of each live row, in this order.
LOADED_COLUMNS = ("id", "owner", "state", "priority", "version", "volumes", "time_end", "grid",
                  "grid_key")


def _values(intent: OperationalIntent, vols: Volumes | None, key: str | None
            ) -> dict[str, object]:
    """The columns of ``intent`` (with its grid blob when ``vols`` is given)."""
    grid = None if vols is None else encode_grids(vols, np.array([len(vols)]))[0]
    return dict(zip(_COLUMNS, (
        intent.id, intent.owner, intent.state.value, intent.priority, intent.version,
        intent.time_start_s, intent.time_end_s, encode_volumes(intent.volumes), grid, key,
    ), strict=True))


def row_values(
    intents: Sequence[OperationalIntent], projection: LocalProjection
) -> list[dict[str, object]]:
    """The ``IntentRow`` columns of stored intents (ones with a version), for bulk imports.

    Rows written this way skip the F3548 rules: only for data already judged elsewhere.
    """
    for it in intents:
        if it.version is None:
            raise ValueError(f"intent {it.id!r} has no version: store it through the service")
    vols = project_volumes(intents, projection)
    blobs = encode_grids(vols, np.bincount(vols.intent, minlength=len(intents)))
    key = grid_key(projection)
    out = []
    for it, grid in zip(intents, blobs, strict=True):
        row = _values(it, None, key)
        row["grid"] = grid
        out.append(row)
    return out


Step = tuple[Compiled, Mapping[str, object]]


class IntentTable:
    """The table's statements, compiled once for ``engine``, and the reads and writes the
    service makes with them. ``also``: statements of other tables (from ``compiled``) to
    commit in the same transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        table = IntentRow.__table__
        c = table.c
        self._insert = Compiled(insert(table), engine, _COLUMNS)
        where = (c.id == bindparam("where_id"), c.version == bindparam("where_version"))
        self._update = Compiled(update(table).where(*where), engine, _COLUMNS[1:], guarded=True)
        self._end = Compiled(update(table).where(*where), engine, ("state", "version"),
                             guarded=True)
        # A row that is over (Ended, or its last volume gone) written afresh under its id.
        self._reuse = Compiled(
            update(table).where(c.id == bindparam("where_id"), or_(
                c.state == bindparam("where_ended"), c.time_end < bindparam("where_now"))),
            engine, _COLUMNS[1:], guarded=True)
        # The live rows, found through the index on time_end when they are few among the
        # table's (Ended and expired rows stay on record), by one scan when they are many: at
        # 100,000 live rows of 100,000 the scan costs 0.4 s of CPU, 100,000 lookups 0.65 s.
        live = (c.state != bindparam("ended"),)
        columns = [c[k] for k in LOADED_COLUMNS]
        self._load_indexed = Compiled(
            select(*columns).where(*live, c.time_end >= bindparam("now")), engine
        )
        self._load_scan = Compiled(
            select(*columns).where(*live, c.time_end + literal_column("0") >= bindparam("now")),
            engine,
        )
        self._count_live = Compiled(
            select(func.count()).select_from(table).where(c.time_end >= bindparam("now")), engine
        )
        self._count_all = Compiled(select(func.count()).select_from(table), engine)

    def read_live(self, now: float) -> list[Any]:
        """Every row live at ``now`` (not Ended, last volume not over), ``LOADED_COLUMNS``."""
        ((live,),) = self.read(self._count_live, {"now": now})
        ((total,),) = self.read(self._count_all, {})
        return self.read(self._load_scan if 3 * live > total else self._load_indexed,
                         {"ended": IntentState.ENDED.value, "now": now})

    def read(self, statement: Compiled, values: Mapping[str, object]) -> list[Any]:
        return read_compiled(self.engine, statement, values, what="operational intents")

    def write(self, steps: Sequence[Step], intent_id: str) -> bool:
        """Commit ``steps`` together; False when a guarded one matched no row."""
        return write_compiled(
            self.engine, steps, what=f"intent {intent_id!r}",
            duplicate=f"intent id {intent_id!r} is already used (ids are never reused)")

    def save(self, stored: OperationalIntent, vols: Volumes | None, key: str | None, *,
             replaces: str | None, reuse_at: float | None = None, also: Sequence[Step] = ()
             ) -> None:
        """Write ``stored``: a new row (``replaces`` None), the row at version ``replaces``
        (``vols`` None: only state and version change, the volumes stay as they were), or,
        with ``reuse_at`` (s), a row under the same id that is over at that time.

        Raises ConflictingWriteError when the row is not as expected (another writer changed
        it, or the id is taken), StoreError when the commit fails; nothing is written then.
        """
        values = _values(stored, vols, key)
        if reuse_at is not None:
            step: Step = (self._reuse, {**values, "where_id": stored.id, "where_now": reuse_at,
                                        "where_ended": IntentState.ENDED.value})
        elif replaces is None:
            step = (self._insert, values)
        else:
            where = {"where_id": stored.id, "where_version": replaces}
            step = (self._end, {"state": values["state"], "version": values["version"], **where}
                    ) if vols is None else (self._update, {**values, **where})
        if not self.write([step, *also], stored.id):
            raise ConflictingWriteError(
                f"intent {stored.id!r} was changed by another writer; read it again"
                if reuse_at is None else
                f"intent id {stored.id!r} is already used by a live intent")
