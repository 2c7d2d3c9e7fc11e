"""Live operational intents: a table in the embedded database and an in-memory index over it.

The table is the source of truth; ``IntentIndex`` is its live part, kept in memory so that a
write can be checked against 100,000 intents in about a millisecond of CPU (bench/strategic.py):

- ``IntentIndex.load`` rebuilds the index from the table at start (Ended and expired rows are
  left in the table and out of the index);
- ``IntentIndex.put`` checks a write (``engines.f3548``: transition, key, priority) against the
  index, commits it to the table, and only then changes the index (write-through: a failed
  commit leaves both as they were);
- intents leave the index by themselves once Ended or once their last volume has ended: every
  call takes the caller's ``now`` (float UTC epoch, s) and first drops what expired before it.

Index structure (measured with bench/strategic.py): an STRtree is static, so the index keeps a
static tree over most volumes plus a short tail of recent ones searched by a vectorised
envelope test; dead entries (changed or expired intents) are masked out. When the tail
outgrows ``_TAIL_MAX`` or dead entries pass a quarter of the total, the arrays are compacted
and the tree rebuilt (about 0.3 s at 200,000 volumes, once every ~2,000 writes).

Start-up: each row keeps its volumes as the index holds them (``grid``: envelopes and
densified rings in the index's grid), so a load decodes every blob in one vectorised pass and
projects nothing; the intents themselves stay as the columns read, decoded one by one when
first asked for; their expiry is one array sorted by end time, read through a cursor.

Writes take their turn through ``store.database.write_transaction`` like every writer to the
database, and run statements compiled once on the driver's cursor: SQLAlchemy's per-statement
execution machinery cost more CPU than the driver's execute, commit and fsync together.

One process owns an index. Several processes on one database would each need to see the
others' writes; the guarded UPDATE (``version`` must still be the one read) refuses a write
that lost such a race, but nothing here refreshes an index from another process's commits.
"""

from __future__ import annotations

import gc
import heapq
import json
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
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
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from detente.engines.f3548 import (
    AgreementPolicy,
    DefaultPolicy,
    Overlap,
    check_transition,
    check_write,
)
from detente.engines.strategic import (
    DENSIFY_TOLERANCE_M,
    TOUCH_TOLERANCE_M,
    Volumes,
    project_volumes,
    touching,
)
from detente.errors import ConflictingWriteError, InputError, StoreError
from detente.geo.projection import LocalProjection
from detente.model.intent import (
    Circle,
    IntentState,
    OperationalIntent,
    Polygon,
    Volume4D,
    unchecked,
)
from detente.store.database import Base, write_transaction

__all__ = ["IntentIndex", "IntentRow", "WriteResult", "grid_key", "row_values"]

# Longest tail of unindexed volumes before the tree is rebuilt. A tail probe is a vectorised
# envelope test (~10 us per 1,000 rows); a rebuild at 300,000 volumes costs ~0.3 s.
_TAIL_MAX = 4_096

_FIELDS = Volumes.__slots__


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
    volumes: Mapped[str] = mapped_column(Text)  # JSON, see _encode_volumes
    # The volumes as the index holds them (grid envelopes, densified rings), derived from
    # ``volumes`` for the grid named by ``grid_key``: read back at start instead of projecting
    # 100,000 intents again. A row whose key differs from the index's is projected afresh.
    grid: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    grid_key: Mapped[str | None] = mapped_column(String, nullable=True)


_COLUMNS = ("id", "owner", "state", "priority", "version", "time_start", "time_end", "volumes",
            "grid", "grid_key")
_LOADED = ("id", "owner", "state", "priority", "version", "volumes", "time_end", "grid",
           "grid_key")


def _ramp(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c - 1 for each c in ``counts``, concatenated."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _encode_volumes(volumes: Sequence[Volume4D]) -> str:
    """Volumes as compact JSON; Python floats round-trip exactly through their repr."""
    out: list[list[object]] = []
    for v in volumes:
        fp = v.footprint
        shape = (
            {"circle": [fp.lat, fp.lon, fp.radius_m]}
            if isinstance(fp, Circle)
            else {"polygon": [list(fp.lat), list(fp.lon)]}
        )
        out.append([shape, v.altitude_lower_m, v.altitude_upper_m, v.time_start_s, v.time_end_s])
    return json.dumps(out, separators=(",", ":"))


def _decode_volumes(text: str) -> tuple[Volume4D, ...]:
    """Inverse of _encode_volumes, without validating again what was validated on write."""
    volumes = []
    for shape, lo, hi, t0, t1 in json.loads(text):
        if "circle" in shape:
            lat, lon, r = shape["circle"]
            fp: Polygon | Circle = unchecked(Circle, lat=lat, lon=lon, radius_m=r)
        else:
            lat, lon = shape["polygon"]
            fp = unchecked(Polygon, lat=tuple(lat), lon=tuple(lon))
        volumes.append(
            unchecked(Volume4D, footprint=fp, altitude_lower_m=lo, altitude_upper_m=hi,
                      time_start_s=t0, time_end_s=t1)
        )
    return tuple(volumes)


# Per volume: lat, lon, radius_m, xmin, ymin, xmax, ymax, alt_lo, alt_hi, t_lo, t_hi, and the
# number of grid coordinates that follow the headers (1 for a circle's centre, the open
# densified ring for a polygon).
_HEADER = ("lat", "lon", "radius_m", "xmin", "ymin", "xmax", "ymax",
           "alt_lo", "alt_hi", "t_lo", "t_hi")
_WIDTH = len(_HEADER) + 1


def grid_key(projection: LocalProjection) -> str:
    """Names the grid (and densification) that a row's ``grid`` blob was computed in."""
    return f"aeqd:{projection.lat0!r}:{projection.lon0!r}:{DENSIFY_TOLERANCE_M!r}"


def _encode_grids(vols: Volumes, per_intent: np.ndarray) -> list[bytes]:
    """The ``grid`` blob of each intent: ``per_intent`` holds how many rows of ``vols`` (in
    order) are each intent's. A blob is float64: volume count, headers, then coordinates."""
    if per_intent.size == 1:  # a write: the general path's index arithmetic costs more
        head = np.empty((len(vols), _WIDTH))
        for k, f in enumerate(_HEADER):
            head[:, k] = getattr(vols, f)
        coords = [shapely.get_coordinates(g) for g in vols.geometry.tolist()]
        coords = [xy[:-1] if xy.shape[0] > 1 else xy for xy in coords]  # rings stored open
        head[:, -1] = [xy.shape[0] for xy in coords]
        parts = [np.array([float(len(vols))]), head.reshape(-1), *(xy.reshape(-1) for xy in coords)]
        return [np.concatenate(parts).tobytes()]
    xy, of = shapely.get_coordinates(vols.geometry, return_index=True)
    npts = np.bincount(of, minlength=len(vols))
    ring = npts > 1
    keep = np.ones(of.size, dtype=bool)
    keep[(np.cumsum(npts) - 1)[ring]] = False  # rings are stored open
    xy = xy[keep].reshape(-1)
    npts = npts - ring
    head = np.column_stack([getattr(vols, f) for f in _HEADER] + [npts.astype(float)])
    n_int = per_intent.size
    first_vol = np.cumsum(per_intent) - per_intent
    # Coordinates per intent (the sum of its volumes' counts), as float64 values.
    coords = np.add.reduceat(npts, first_vol) * 2 if n_int else np.zeros(0, np.intp)
    length = 1 + per_intent * _WIDTH + coords
    start = np.cumsum(length) - length
    out = np.empty(int(length.sum()))
    out[start] = per_intent
    vol_of = np.repeat(np.arange(n_int), per_intent)
    head_at = start[vol_of] + 1 + _ramp(per_intent) * _WIDTH
    out[head_at[:, None] + np.arange(_WIDTH)] = head
    out[np.repeat(start + 1 + per_intent * _WIDTH, coords) + _ramp(coords)] = xy
    buf = out.tobytes()
    return [buf[8 * a : 8 * (a + n)] for a, n in zip(start.tolist(), length.tolist(),
                                                       strict=True)]


def _decode_grids(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Headers (n x _WIDTH), grid coordinates (m x 2) and volume counts of many blobs."""
    length = np.fromiter(map(len, blobs), dtype=np.intp, count=len(blobs)) // 8
    big = np.frombuffer(b"".join(blobs), dtype=np.float64)
    start = np.cumsum(length) - length
    counts = big[start].astype(np.intp)
    head_len = counts * _WIDTH
    head = big[np.repeat(start + 1, head_len) + _ramp(head_len)].reshape(-1, _WIDTH)
    coord_len = length - 1 - head_len
    xy = big[np.repeat(start + 1 + head_len, coord_len) + _ramp(coord_len)].reshape(-1, 2)
    return head, xy, counts


def row_values(
    intents: Sequence[OperationalIntent], projection: LocalProjection
) -> list[dict[str, object]]:
    """The ``IntentRow`` columns of stored intents (ones with a version), for bulk imports.

    Rows written this way skip the F3548 rules: only for data already judged elsewhere.
    """
    for it in intents:
        if it.version is None:
            raise ValueError(f"intent {it.id!r} has no version: store it through put")
    vols = project_volumes(intents, projection)
    blobs = _encode_grids(vols, np.bincount(vols.intent, minlength=len(intents)))
    key = grid_key(projection)
    return [
        dict(zip(_COLUMNS, (*_values(it), grid, key), strict=True))
        for it, grid in zip(intents, blobs, strict=True)
    ]


def _values(intent: OperationalIntent) -> tuple[object, ...]:
    """The columns of ``intent`` up to ``volumes``, in ``_COLUMNS`` order."""
    return (intent.id, intent.owner, intent.state.value, intent.priority, intent.version,
            intent.time_start_s, intent.time_end_s, _encode_volumes(intent.volumes))


def _read_row(row: tuple[Any, ...]) -> OperationalIntent:
    """An intent from its columns (id, owner, state, priority, version, volumes JSON)."""
    ident, owner, state, priority, version, volumes = row
    return unchecked(
        OperationalIntent, id=ident, owner=owner, state=IntentState(state), priority=priority,
        volumes=_decode_volumes(volumes), version=version,
    )


def _restamped(intent: OperationalIntent, version: str, state: IntentState) -> OperationalIntent:
    """``intent`` with a new version and state, without validating its volumes once more
    (``dataclasses.replace`` would: a tenth of a write's CPU)."""
    return unchecked(
        OperationalIntent, id=intent.id, owner=intent.owner, state=state,
        priority=intent.priority, volumes=intent.volumes, version=version,
    )


class _Statement:
    """A statement compiled once for one dialect, run on a DBAPI cursor.

    One insert and commit through SQLAlchemy's Connection cost 0.61 ms of CPU (checkout,
    execution context, result set-up) against 0.26 ms on the driver alone, fsync included;
    this table's types (str, int, float, bytes) need no conversion by SQLAlchemy on SQLite
    (nor, as far as their documentation goes, on the PostgreSQL drivers; not tested here).
    """

    def __init__(self, statement: Any, dialect: Any, keys: Sequence[str] | None = None) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=keys)
        self.sql = compiled.string
        self._names = compiled.positiontup if compiled.positional else None

    def params(self, values: dict[str, object]) -> Any:
        names = self._names
        return values if names is None else tuple([values[n] for n in names])


class _Writer:
    """The index's statements, compiled once, and how they reach the database."""

    def __init__(self, engine: Engine) -> None:
        d = engine.dialect
        table = IntentRow.__table__
        c = table.c
        self._engine = engine
        self._dbapi = d.dbapi
        self.insert = _Statement(insert(table), d, _COLUMNS)
        where = (c.id == bindparam("where_id"), c.version == bindparam("where_version"))
        self.update = _Statement(update(table).where(*where), d, _COLUMNS[1:])
        self.end = _Statement(update(table).where(*where), d, ("state", "version"))
        # The live rows, found through the index on time_end when they are few among the
        # table's (Ended and expired rows stay on record), by one scan when they are many: at
        # 100,000 live rows of 100,000 the scan costs 0.4 s of CPU, 100,000 lookups 0.65 s.
        live = (c.state != bindparam("ended"),)
        columns = [c[k] for k in _LOADED]
        self.load_indexed = _Statement(
            select(*columns).where(*live, c.time_end >= bindparam("now")), d
        )
        self.load_scan = _Statement(
            select(*columns).where(*live, c.time_end + literal_column("0") >= bindparam("now")),
            d,
        )
        self.count_live = _Statement(
            select(func.count()).select_from(table).where(c.time_end >= bindparam("now")), d
        )
        self.count_all = _Statement(select(func.count()).select_from(table), d)

    def read(self, statement: _Statement, values: dict[str, object]) -> list[Any]:
        try:
            conn = self._engine.raw_connection()
            try:
                cur = conn.cursor()
                cur.execute(statement.sql, statement.params(values))
                rows = cur.fetchall()
                cur.close()
            finally:
                conn.close()  # back to the pool, its read transaction ended
        except (self._dbapi.Error, SQLAlchemyError) as exc:
            raise StoreError(f"cannot read operational intents: {exc}") from exc
        return rows

    def write(self, statement: _Statement, values: dict[str, object], intent_id: str) -> int:
        """Run one statement and commit it (durably: the engine's synchronous=FULL), in turn
        with this process's other writers to the database; returns the row count. An UPDATE
        that matched no row is rolled back."""
        try:
            with write_transaction(self._engine) as conn:
                cur = conn.connection.driver_connection.cursor()
                cur.execute(statement.sql, statement.params(values))
                count = cur.rowcount
                cur.close()
                if statement is not self.insert and count != 1:
                    raise _NothingMatched
        except _NothingMatched:
            return 0
        except self._dbapi.IntegrityError as exc:
            raise ConflictingWriteError(
                f"intent id {intent_id!r} is already used (ids are never reused)"
            ) from exc
        except (self._dbapi.Error, SQLAlchemyError) as exc:
            raise StoreError(f"cannot write intent {intent_id!r}: {exc}") from exc
        return count


class _NothingMatched(Exception):
    """Rolls back a guarded UPDATE whose row had changed."""


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bulk load creates 100,000s of objects.

    None of them forms a cycle, and every collection the allocations trigger walks all of
    them again: pausing saves a fifth of the load time (bench/strategic.py).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _random_version() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A write that went through: the intent as stored (with its new version) and the
    overlaps with other parties' intents that the rules allowed (to notify their owners)."""

    intent: OperationalIntent
    overlaps: tuple[Overlap, ...]


class IntentIndex:
    """The live intents of a region, indexed for 4-D overlap queries, written through.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From ``store.database.open_database`` (this module's table registered on import).
    projection : LocalProjection
        The grid of the region served; footprints beyond ``MAX_REGION_RADIUS_M`` from its
        centre are refused.
    new_version : callable, optional
        Makes a fresh opaque version per write (default: 128 random bits in hex).

    Every method takes ``now`` (s, UTC epoch) and is safe to call from several threads.
    """

    def __init__(
        self,
        engine: Engine,
        projection: LocalProjection,
        *,
        new_version: Callable[[], str] = _random_version,
    ) -> None:
        self._db = _Writer(engine)
        self._proj = projection
        self._grid_key = grid_key(projection)
        self._new_version = new_version
        self._lock = threading.RLock()
        self._serial_of: dict[str, int] = {}  # live id -> serial of its current slots
        self._id_of: list[str | None] = []  # serial -> id; None once replaced or removed
        # serial -> the intent; None for one loaded at start and not decoded yet, whose row
        # sits at (serial - _loaded_first) in the loaded columns.
        self._intent_of: list[OperationalIntent | None] = []
        self._loaded_rows: tuple[tuple[Any, ...], ...] = ()
        self._loaded_first = 0
        # serial -> [first slot, end slot): an intent's volumes are appended together and
        # compaction keeps the order of what it keeps, so they always sit side by side.
        self._slot_lo = np.zeros(0, dtype=np.intp)
        self._slot_hi = np.zeros(0, dtype=np.intp)
        self._owner_code: dict[str, int] = {}
        # Expiry: the intents loaded at start as one array sorted by end time, read through a
        # cursor; those written since in a heap of (time_end, serial).
        self._loaded_end = np.zeros(0)
        self._loaded_serial = np.zeros(0, dtype=np.intp)
        self._loaded_next = 0
        self._expiry: list[tuple[float, int]] = []
        self._cols: dict[str, np.ndarray] = {}
        self._alive = np.zeros(0, dtype=bool)
        self._n = 0
        self._n_static = 0
        self._dead = 0
        self._tree: shapely.STRtree | None = None
        self._reset_columns(_empty_volumes(), 0)

    # --- start ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        engine: Engine,
        projection: LocalProjection,
        *,
        now: float,
        new_version: Callable[[], str] = _random_version,
    ) -> IntentIndex:
        """The index of every intent in the table that is live at ``now``."""
        index = cls(engine, projection, new_version=new_version)
        with index._lock, _gc_paused():
            db = index._db
            ((live,),) = db.read(db.count_live, {"now": now})
            ((total,),) = db.read(db.count_all, {})
            # Read and indexed in one expression: the 100,000 rows are freed before the
            # collector is back on, which would otherwise walk them all once.
            index._load(db.read(db.load_scan if 3 * live > total else db.load_indexed,
                                {"ended": IntentState.ENDED.value, "now": now}))
            index._rebuild_tree()
        return index

    # --- reads ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._serial_of)

    def get(self, intent_id: str, *, now: float) -> OperationalIntent | None:
        """The live intent ``intent_id`` as it stands, or None."""
        with self._lock:
            self._expire(now)
            return self._read(intent_id) if intent_id in self._serial_of else None

    def overlaps(self, intent: OperationalIntent, *, now: float) -> list[Overlap]:
        """Other parties' live intents that ``intent`` overlaps (what a write of it would meet)."""
        with self._lock:
            self._expire(now)
            return self._overlaps(intent)

    def query(self, volumes: Sequence[Volume4D], *, now: float) -> list[OperationalIntent]:
        """Every live intent, of any owner, that intersects one of ``volumes`` (sorted by id)."""
        probe = OperationalIntent("\x00query", "\x00query", IntentState.ACCEPTED, 0,
                                  tuple(volumes))
        with self._lock:
            self._expire(now)
            vols = project_volumes([probe], self._proj, group=[-1])
            _, slots = self._hits(vols, other_owners=False)
            serial = self._cols["intent"][slots].tolist()
            ids = {self._id_of[s] for s in serial}
            return [self._read(i) for i in sorted(ids)]  # type: ignore[type-var]

    # --- writes --------------------------------------------------------------------------

    def put(
        self,
        intent: OperationalIntent,
        *,
        key: Collection[str] = (),
        policy: AgreementPolicy | None = None,
        now: float,
    ) -> WriteResult:
        """Create or change ``intent`` if the F3548 rules allow it; returns it as stored.

        A creation carries ``version=None``; a change carries the version it replaces (the
        owner's proof that it changes what it read). ``key`` holds the versions of other
        parties' intents the writer has read. State ``Ended`` withdraws the intent.

        Raises
        ------
        ConflictingWriteError
            Not the owner, a stale or missing own version, an id already used, a transition
            F3548 refuses; ``MissingKeyError`` and ``PriorityConflictError`` from the rules.
        InputError, GeometryError
            An intent that has already ended, a footprint outside the region.
        StoreError
            The commit failed; nothing changed.
        """
        policy = policy or DefaultPolicy()
        with self._lock:
            self._expire(now)
            previous = self._read(intent.id) if intent.id in self._serial_of else None
            if previous is None and intent.version is not None:
                raise ConflictingWriteError(
                    f"intent {intent.id!r} is not live (never created, ended or expired); "
                    f"a new intent carries no version"
                )
            if previous is not None:
                if previous.owner != intent.owner:
                    raise ConflictingWriteError(
                        f"intent {intent.id!r} belongs to {previous.owner}; "
                        f"{intent.owner} may not change it"
                    )
                if intent.version != previous.version:
                    raise ConflictingWriteError(
                        f"intent {intent.id!r} has changed since the version presented; "
                        f"read it again"
                    )
            if intent.state is IntentState.ENDED:
                check_transition(intent.id, None if previous is None else previous.state,
                                 intent.state)
                assert previous is not None  # check_transition refuses None -> Ended
                # Withdrawing keeps the volumes on record as they were last agreed.
                stored = _restamped(previous, self._new_version(), IntentState.ENDED)
                self._commit(stored, previous, None)
                self._remove(intent.id)
                return WriteResult(stored, ())
            if intent.time_end_s < now:
                raise InputError(
                    f"intent {intent.id!r} ended at {intent.time_end_s!r} s, before now "
                    f"({now!r} s)"
                )
            vols = project_volumes([intent], self._proj, group=[self._code(intent.owner)])
            overlaps = self._overlaps(intent, vols)
            before: set[str] = set()
            if (
                previous is not None
                and previous.state is IntentState.ACTIVATED
                and intent.state is IntentState.ACTIVATED
            ):
                before = {o.other.id for o in self._overlaps(previous)}
            allowed = check_write(intent, overlaps, key, policy=policy, previous=previous,
                                  previously_overlapped=before)
            stored = _restamped(intent, self._new_version(), intent.state)
            self._commit(stored, previous, vols)
            self._remove(intent.id)
            self._insert(stored, vols)
            self._maybe_rebuild()
            return WriteResult(stored, allowed)

    # --- internals -----------------------------------------------------------------------

    def _code(self, owner: str) -> int:
        return self._owner_code.setdefault(owner, len(self._owner_code))

    def _read(self, intent_id: str) -> OperationalIntent:
        serial = self._serial_of[intent_id]
        intent = self._intent_of[serial]
        if intent is None:
            k = serial - self._loaded_first
            intent = self._intent_of[serial] = _read_row(
                tuple([col[k] for col in self._loaded_rows])  # type: ignore[arg-type]
            )
        return intent

    def _commit(
        self, stored: OperationalIntent, previous: OperationalIntent | None, vols: Volumes | None
    ) -> None:
        db = self._db
        values: dict[str, object]
        if vols is None:
            values = {"state": stored.state.value, "version": stored.version}
        else:
            (grid,) = _encode_grids(vols, np.array([len(vols)]))
            values = dict(zip(_COLUMNS, (*_values(stored), grid, self._grid_key), strict=True))
        if previous is None:
            db.write(db.insert, values, stored.id)
            return
        values["where_id"] = stored.id
        values["where_version"] = previous.version
        if db.write(db.end if vols is None else db.update, values, stored.id) != 1:
            raise ConflictingWriteError(
                f"intent {stored.id!r} was changed by another writer; read it again"
            )

    def _overlaps(self, intent: OperationalIntent, vols: Volumes | None = None) -> list[Overlap]:
        if vols is None:
            vols = project_volumes([intent], self._proj, group=[self._code(intent.owner)])
        rows, slots = self._hits(vols, other_owners=True)
        if not rows.size:
            return []
        pairs: dict[str, list[tuple[int, int]]] = {}
        id_of = self._id_of
        for serial, q, v in zip(self._cols["intent"][slots].tolist(), vols.volume[rows].tolist(),
                                self._cols["volume"][slots].tolist(), strict=True):
            other = id_of[serial]
            if other != intent.id:
                pairs.setdefault(other, []).append((q, v))  # type: ignore[arg-type]
        return [Overlap(self._read(i), tuple(sorted(p))) for i, p in sorted(pairs.items())]

    def _hits(self, vols: Volumes, *, other_owners: bool) -> tuple[np.ndarray, np.ndarray]:
        """(rows of ``vols``, slots) of every live slot whose volume intersects the row's;
        with ``other_owners``, only slots of another group than the row's."""
        tol = TOUCH_TOLERANCE_M
        cols = self._cols
        parts_q: list[np.ndarray] = []
        parts_s: list[np.ndarray] = []
        if self._tree is not None:
            q, s = self._tree.query(vols.boxes(tol))
            parts_q.append(q)
            parts_s.append(s)
        lo, hi = self._n_static, self._n
        if hi > lo:
            # The tail: one vectorised envelope test of every row against every tail slot.
            near_q, near_s = np.nonzero(
                (cols["xmin"][lo:hi] <= vols.xmax[:, None] + tol)
                & (cols["xmax"][lo:hi] >= vols.xmin[:, None] - tol)
                & (cols["ymin"][lo:hi] <= vols.ymax[:, None] + tol)
                & (cols["ymax"][lo:hi] >= vols.ymin[:, None] - tol)
            )
            parts_q.append(near_q)
            parts_s.append(near_s + lo)
        q = np.concatenate(parts_q).astype(np.intp) if parts_q else np.zeros(0, np.intp)
        s = np.concatenate(parts_s).astype(np.intp) if parts_s else np.zeros(0, np.intp)
        # Cheap filters before the exact test: live slots, other owners, intervals that meet.
        keep = (
            self._alive[s]
            & (cols["alt_lo"][s] <= vols.alt_hi[q] + tol)
            & (vols.alt_lo[q] <= cols["alt_hi"][s] + tol)
            & (cols["t_lo"][s] <= vols.t_hi[q])
            & (vols.t_lo[q] <= cols["t_hi"][s])
        )
        if other_owners:
            keep &= cols["group"][s] != vols.group[q]
        q, s = q[keep], s[keep]
        if q.size:
            hit = touching(vols, q, self._view(), s, self._proj)
            q, s = q[hit], s[hit]
        return q, s

    def _view(self) -> Volumes:
        return Volumes(*(self._cols[f][: self._n] for f in _FIELDS))

    def _reset_columns(self, vols: Volumes, n_static: int) -> None:
        cap = max(2 * len(vols), 1024)
        self._cols = {}
        for f in _FIELDS:
            src = getattr(vols, f)
            col = np.empty(cap, dtype=src.dtype)
            col[: len(vols)] = src
            self._cols[f] = col
        self._alive = np.zeros(cap, dtype=bool)
        self._alive[: len(vols)] = True
        self._n = len(vols)
        self._n_static = n_static
        self._dead = 0

    def _new_serials(self, count: int) -> np.ndarray:
        first = len(self._id_of)
        self._id_of.extend([None] * count)
        self._intent_of.extend([None] * count)
        need = first + count
        if need > self._slot_lo.size:
            cap = max(need, 2 * self._slot_lo.size, 1024)
            for name in ("_slot_lo", "_slot_hi"):
                grown = np.zeros(cap, dtype=np.intp)
                old = getattr(self, name)
                grown[: old.size] = old
                setattr(self, name, grown)
        return np.arange(first, need)

    def _load(self, rows: Sequence[Any]) -> None:
        """Index the rows read at start: as stored where their ``grid`` blob is in this index's
        grid, projected again otherwise (slow: ~0.5 ms per intent, until its next change
        rewrites the blob); every intent left undecoded until asked for."""
        own = self._grid_key
        fresh = [r for r in rows if r[8] == own and r[7] is not None]
        if len(fresh) < len(rows):
            self._load_grid(fresh)
            self._add([_read_row(tuple(r[:6])) for r in rows if r[8] != own or r[7] is None])
        else:
            self._load_grid(rows)

    def _load_grid(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        ids, owners, states, priorities, versions, texts, ends, grids, _ = zip(*rows,
                                                                               strict=True)
        serials = self._new_serials(len(rows))
        head, xy, counts = _decode_grids(grids)
        codes = {o: self._code(o) for o in set(owners)}
        group = np.fromiter(map(codes.__getitem__, owners), dtype=np.intp, count=len(owners))
        n = head.shape[0]
        ncoord = head[:, -1].astype(np.intp)
        start = np.cumsum(ncoord) - ncoord
        circle = ~np.isnan(head[:, 2])
        geometry = np.empty(n, dtype=object)
        geometry[circle] = shapely.points(xy[start[circle]])
        poly = np.flatnonzero(~circle)
        if poly.size:
            take = np.repeat(start[poly], ncoord[poly]) + _ramp(ncoord[poly])
            ring = np.repeat(np.arange(poly.size), ncoord[poly])
            geometry[poly] = shapely.polygons(shapely.linearrings(xy[take], indices=ring))
        cols = dict(zip(_HEADER, head.T, strict=False))
        vols = Volumes(
            intent=np.repeat(serials, counts), volume=_ramp(counts),
            group=np.repeat(group, counts), geometry=geometry,
            **{f: np.ascontiguousarray(cols[f]) for f in _HEADER},
        )
        slot0 = self._n
        self._append(vols)
        hi = slot0 + np.cumsum(counts)
        self._slot_lo[serials] = hi - counts
        self._slot_hi[serials] = hi
        self._loaded_rows = (ids, owners, states, priorities, versions, texts)
        self._loaded_first = int(serials[0])
        self._serial_of.update(zip(ids, serials.tolist(), strict=True))
        self._id_of[serials[0] : serials[-1] + 1] = ids
        end = np.fromiter(ends, dtype=float, count=len(ends))
        order = np.argsort(end, kind="stable")
        self._loaded_end = end[order]
        self._loaded_serial = serials[order]
        self._loaded_next = 0

    def _add(self, intents: Sequence[OperationalIntent]) -> None:
        """Index ``intents`` (already checked), projecting them."""
        if intents:
            vols = project_volumes(
                intents, self._proj, group=[self._code(it.owner) for it in intents]
            )
            ends = np.searchsorted(vols.intent, np.arange(len(intents)), side="right")
            for it, a, b in zip(intents, [0, *ends[:-1].tolist()], ends.tolist(), strict=True):
                self._insert(it, vols.take(np.arange(a, b)))

    def _insert(self, intent: OperationalIntent, vols: Volumes) -> None:
        (serial,) = self._new_serials(1).tolist()
        start = self._n
        self._append(vols, serial=serial)
        self._intent_of[serial] = intent
        self._serial_of[intent.id] = serial
        self._id_of[serial] = intent.id
        self._slot_lo[serial] = start
        self._slot_hi[serial] = start + len(vols)
        heapq.heappush(self._expiry, (intent.time_end_s, serial))

    def _append(self, vols: Volumes, serial: int | None = None) -> None:
        """Append the rows of ``vols``; with ``serial``, as that intent's (whatever their
        ``intent`` column says)."""
        need = self._n + len(vols)
        cap = self._alive.size
        if need > cap:
            cap = max(need, 2 * cap)
            for f in _FIELDS:
                col = np.empty(cap, dtype=self._cols[f].dtype)
                col[: self._n] = self._cols[f][: self._n]
                self._cols[f] = col
            alive = np.zeros(cap, dtype=bool)
            alive[: self._n] = self._alive[: self._n]
            self._alive = alive
        for f in _FIELDS:
            self._cols[f][self._n : need] = getattr(vols, f)
        if serial is not None:
            self._cols["intent"][self._n : need] = serial
        self._alive[self._n : need] = True
        self._n = need

    def _remove(self, intent_id: str) -> None:
        serial = self._serial_of.pop(intent_id, None)
        if serial is None:
            return
        self._id_of[serial] = None
        self._intent_of[serial] = None
        a, b = int(self._slot_lo[serial]), int(self._slot_hi[serial])
        self._alive[a:b] = False
        self._dead += b - a

    def _expire(self, now: float) -> None:
        """Drop intents whose last volume ended before ``now`` (closed: live at the end)."""
        id_of = self._id_of
        stop = int(np.searchsorted(self._loaded_end, now, side="left"))
        if stop > self._loaded_next:
            for serial in self._loaded_serial[self._loaded_next : stop].tolist():
                if id_of[serial] is not None:
                    self._remove(id_of[serial])  # type: ignore[arg-type]
            self._loaded_next = stop
        heap = self._expiry
        while heap and heap[0][0] < now:
            _, serial = heapq.heappop(heap)
            if id_of[serial] is not None:
                self._remove(id_of[serial])  # type: ignore[arg-type]
        self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self._n - self._n_static > _TAIL_MAX or self._dead > max(_TAIL_MAX, self._n // 4):
            self._rebuild_tree()

    def _rebuild_tree(self) -> None:
        """Compact away dead slots and index every live one in a new static tree."""
        keep = np.flatnonzero(self._alive[: self._n])
        vols = self._view().take(keep)
        new_slot = np.full(self._n + 1, -1, dtype=np.intp)
        new_slot[keep] = np.arange(keep.size)
        live = np.fromiter(self._serial_of.values(), dtype=np.intp, count=len(self._serial_of))
        lo = self._slot_lo[live]
        self._slot_lo[live] = new_slot[lo]
        self._slot_hi[live] = new_slot[lo] + (self._slot_hi[live] - lo)
        self._reset_columns(vols, len(vols))
        if not len(vols):
            self._tree = None
            return
        # The tree holds envelopes only: a polygon's is its (x|y)(min|max) already, so the
        # polygon itself goes in; a circle needs the box around it.
        items = vols.geometry.copy()
        circle = np.flatnonzero(~np.isnan(vols.radius_m))
        items[circle] = shapely.box(vols.xmin[circle], vols.ymin[circle], vols.xmax[circle],
                                    vols.ymax[circle])
        self._tree = shapely.STRtree(items)


def _empty_volumes() -> Volumes:
    f = np.empty(0)
    i = np.empty(0, dtype=np.intp)
    return Volumes(i, i, i, np.empty(0, dtype=object), f, f, f, f, f, f, f, f, f, f, f)
