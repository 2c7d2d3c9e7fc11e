"""Live operational intents: a table in the embedded database and an in-memory index over it.

The table is the source of truth; ``IntentIndex`` is its live part, kept in memory so that a
write can be checked against 100,000 intents in about 2 ms of CPU (bench/strategic.py):

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
and the tree rebuilt, which costs O(n log n) once every ``_TAIL_MAX`` writes.

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
from dataclasses import dataclass, replace
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
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
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


# Built once: statements with bound parameters reuse SQLAlchemy's compiled form, where
# ``.values(...)`` per write would be coerced and compiled afresh (a millisecond a write).
_INSERT = insert(IntentRow)
_UPDATE = update(IntentRow).where(
    IntentRow.id == bindparam("where_id"), IntentRow.version == bindparam("where_version")
)


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


def _encode_grid(vols: Volumes) -> bytes:
    """One intent's rows of ``vols`` as float64 bytes: count, headers, then coordinates."""
    coords = []
    counts = []
    for g in vols.geometry:
        xy = shapely.get_coordinates(g)
        if xy.shape[0] > 1:
            xy = xy[:-1]  # rings are stored open
        coords.append(xy.reshape(-1))
        counts.append(xy.shape[0])
    head = np.column_stack([getattr(vols, f) for f in _HEADER] + [np.asarray(counts, float)])
    return np.concatenate(([float(len(vols))], head.reshape(-1), *coords)).tobytes()


def _decode_grid(blobs: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Headers (n x _WIDTH), grid coordinates (m x 2) and volume counts of many rows."""
    heads: list[np.ndarray] = []
    coords: list[np.ndarray] = []
    counts = np.empty(len(blobs), dtype=np.intp)
    for k, blob in enumerate(blobs):
        a = np.frombuffer(blob, dtype=np.float64)
        n = int(a[0])
        counts[k] = n
        heads.append(a[1 : 1 + n * _WIDTH])
        coords.append(a[1 + n * _WIDTH :])
    head = np.concatenate(heads).reshape(-1, _WIDTH) if heads else np.empty((0, _WIDTH))
    xy = np.concatenate(coords).reshape(-1, 2) if coords else np.empty((0, 2))
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
    ends = np.searchsorted(vols.intent, np.arange(len(intents)), side="right")
    starts = np.concatenate(([0], ends[:-1]))
    key = grid_key(projection)
    return [
        _values(it, vols.take(np.arange(a, b)), key)
        for it, a, b in zip(intents, starts.tolist(), ends.tolist(), strict=True)
    ]


def _values(intent: OperationalIntent, vols: Volumes, key: str) -> dict[str, object]:
    return {
        "id": intent.id,
        "owner": intent.owner,
        "state": intent.state.value,
        "priority": intent.priority,
        "version": intent.version,
        "time_start": intent.time_start_s,
        "time_end": intent.time_end_s,
        "volumes": _encode_volumes(intent.volumes),
        "grid": _encode_grid(vols),
        "grid_key": key,
    }


@dataclass(slots=True)
class _Unread:
    """A live intent loaded at start whose volumes are decoded only when first asked for."""

    id: str
    owner: str
    state: str
    priority: int
    version: str
    volumes: str

    def read(self) -> OperationalIntent:
        return unchecked(
            OperationalIntent, id=self.id, owner=self.owner, state=IntentState(self.state),
            priority=self.priority, volumes=_decode_volumes(self.volumes), version=self.version,
        )


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
        self._engine = engine
        self._proj = projection
        self._new_version = new_version
        self._lock = threading.RLock()
        self._live: dict[str, OperationalIntent | _Unread] = {}
        self._serial_of: dict[str, int] = {}  # id -> serial of its current slots
        self._id_of: dict[int, str] = {}
        # serial -> (first slot, end slot): an intent's volumes are appended together and
        # compaction keeps the order of what it keeps, so they always sit side by side.
        self._slots_of: dict[int, tuple[int, int]] = {}
        self._owner_code: dict[str, int] = {}
        self._next_serial = 0
        self._expiry: list[tuple[float, int]] = []  # (time_end, serial), a heap
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
        key = grid_key(projection)
        c = IntentRow.__table__.c
        query = select(
            c.id, c.owner, c.state, c.priority, c.version, c.volumes, c.time_end, c.grid,
            c.grid_key,
        ).where(c.state != IntentState.ENDED.value, c.time_end >= now)
        try:
            with engine.connect() as conn:
                rows = conn.execute(query).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot read operational intents: {exc}") from exc
        stale = [r for r in rows if r.grid_key != key or r.grid is None]
        with index._lock, _gc_paused():
            index._load_grid([r for r in rows if r.grid_key == key and r.grid is not None])
            # Rows written in another grid are projected again (slow: ~50 us per intent).
            index._add([_Unread(*r[:6]).read() for r in stale])
            index._rebuild_tree()
        return index

    # --- reads ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._live)

    def get(self, intent_id: str, *, now: float) -> OperationalIntent | None:
        """The live intent ``intent_id`` as it stands, or None."""
        with self._lock:
            self._expire(now)
            return self._read(intent_id) if intent_id in self._live else None

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
            hits = self._hits(vols)
            serial = self._cols["intent"]
            return [self._read(i) for i in sorted({self._id_of[serial[s]] for _, s in hits})]

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
            previous = self._read(intent.id) if intent.id in self._live else None
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
                stored = previous.with_version(self._new_version())
                stored = replace(stored, state=IntentState.ENDED)
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
            stored = intent.with_version(self._new_version())
            self._commit(stored, previous, vols)
            self._remove(intent.id)
            self._insert(stored, vols)
            self._maybe_rebuild()
            return WriteResult(stored, allowed)

    # --- internals -----------------------------------------------------------------------

    def _code(self, owner: str) -> int:
        return self._owner_code.setdefault(owner, len(self._owner_code))

    def _read(self, intent_id: str) -> OperationalIntent:
        entry = self._live[intent_id]
        if isinstance(entry, _Unread):
            entry = self._live[intent_id] = entry.read()
        return entry

    def _commit(
        self, stored: OperationalIntent, previous: OperationalIntent | None, vols: Volumes | None
    ) -> None:
        values = _values(stored, vols, grid_key(self._proj)) if vols is not None else {
            "state": stored.state.value, "version": stored.version,
        }
        values.pop("id", None)
        try:
            with write_transaction(self._engine) as conn:
                if previous is None:
                    conn.execute(_INSERT, {"id": stored.id, **values})
                else:
                    done = conn.execute(
                        _UPDATE, {"where_id": stored.id, "where_version": previous.version,
                                  **values},
                    )
                    if done.rowcount != 1:
                        raise ConflictingWriteError(
                            f"intent {stored.id!r} was changed by another writer; read it again"
                        )
        except IntegrityError as exc:
            raise ConflictingWriteError(
                f"intent id {stored.id!r} is already used (ids are never reused)"
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write intent {stored.id!r}: {exc}") from exc

    def _overlaps(self, intent: OperationalIntent, vols: Volumes | None = None) -> list[Overlap]:
        if vols is None:
            vols = project_volumes([intent], self._proj, group=[self._code(intent.owner)])
        pairs: dict[str, list[tuple[int, int]]] = {}
        serial = self._cols["intent"]
        for q, s in self._hits(vols):
            other = self._id_of[serial[s]]
            if other == intent.id or self._live[other].owner == intent.owner:
                continue
            pairs.setdefault(other, []).append(
                (int(vols.volume[q]), int(self._cols["volume"][s]))
            )
        return [Overlap(self._read(i), tuple(sorted(p))) for i, p in sorted(pairs.items())]

    def _hits(self, vols: Volumes) -> list[tuple[int, int]]:
        """(row of ``vols``, slot) for every live slot whose volume intersects the row's."""
        view = self._view()
        boxes = vols.boxes(TOUCH_TOLERANCE_M)
        parts_q: list[np.ndarray] = []
        parts_s: list[np.ndarray] = []
        if self._tree is not None:
            q, s = self._tree.query(boxes)
            parts_q.append(q)
            parts_s.append(s)
        lo, hi = self._n_static, self._n
        if hi > lo:
            tol = TOUCH_TOLERANCE_M
            for r in range(len(vols)):
                near = np.flatnonzero(
                    (view.xmin[lo:hi] <= vols.xmax[r] + tol)
                    & (view.xmax[lo:hi] >= vols.xmin[r] - tol)
                    & (view.ymin[lo:hi] <= vols.ymax[r] + tol)
                    & (view.ymax[lo:hi] >= vols.ymin[r] - tol)
                )
                parts_q.append(np.full(near.size, r, dtype=np.intp))
                parts_s.append(near + lo)
        if not parts_q:
            return []
        q = np.concatenate(parts_q).astype(np.intp)
        s = np.concatenate(parts_s).astype(np.intp)
        keep = self._alive[s]
        q, s = q[keep], s[keep]
        hit = touching(vols, q, view, s, self._proj)
        return list(zip(q[hit].tolist(), s[hit].tolist(), strict=True))

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

    def _load_grid(self, rows: Sequence[Any]) -> None:
        """Append rows whose ``grid`` blob was computed in this index's grid, unread."""
        if not rows:
            return
        head, xy, counts = _decode_grid([r.grid for r in rows])
        first = self._next_serial
        self._next_serial += len(rows)
        serial = np.repeat(np.arange(first, first + len(rows)), counts)
        codes = np.array([self._code(r.owner) for r in rows], dtype=np.intp)
        n = head.shape[0]
        within = np.arange(n) - np.repeat(np.cumsum(counts) - counts, counts)
        ncoord = head[:, -1].astype(np.intp)
        start = np.cumsum(ncoord) - ncoord
        circle = ~np.isnan(head[:, 2])
        geometry = np.empty(n, dtype=object)
        geometry[circle] = shapely.points(xy[start[circle]])
        poly = np.flatnonzero(~circle)
        if poly.size:
            take = np.repeat(start[poly], ncoord[poly]) + (
                np.arange(int(ncoord[poly].sum()))
                - np.repeat(np.cumsum(ncoord[poly]) - ncoord[poly], ncoord[poly])
            )
            ring = np.repeat(np.arange(poly.size), ncoord[poly])
            geometry[poly] = shapely.polygons(shapely.linearrings(xy[take], indices=ring))
        cols = dict(zip(_HEADER, head.T, strict=False))
        vols = Volumes(
            intent=serial, volume=within, group=np.repeat(codes, counts), geometry=geometry,
            **{f: np.ascontiguousarray(cols[f]) for f in _HEADER},
        )
        slot0 = self._n
        self._append(vols)
        ends = (slot0 + np.cumsum(counts)).tolist()
        serials = range(first, first + len(rows))
        ids = [r.id for r in rows]
        self._live.update(zip(ids, (_Unread(*r[:6]) for r in rows), strict=True))
        self._serial_of.update(zip(ids, serials, strict=True))
        self._id_of.update(zip(serials, ids, strict=True))
        self._slots_of.update(zip(serials, zip([slot0, *ends[:-1]], ends, strict=True),
                                  strict=True))
        self._expiry.extend(zip((r.time_end for r in rows), serials, strict=True))
        heapq.heapify(self._expiry)

    def _add(self, intents: Sequence[OperationalIntent]) -> None:
        """Append the volumes of ``intents`` (already checked) to the tail."""
        if not intents:
            return
        serials = np.arange(self._next_serial, self._next_serial + len(intents))
        self._next_serial += len(intents)
        vols = project_volumes(
            intents, self._proj, group=[self._code(it.owner) for it in intents]
        )
        vols = Volumes(*(serials[vols.intent] if f == "intent" else getattr(vols, f)
                         for f in _FIELDS))
        start = self._n
        self._append(vols)
        counts = np.bincount(vols.intent - serials[0], minlength=len(intents))
        offsets = start + np.concatenate(([0], np.cumsum(counts)))
        for k, it in enumerate(intents):
            serial = int(serials[k])
            self._live[it.id] = it
            self._serial_of[it.id] = serial
            self._id_of[serial] = it.id
            self._slots_of[serial] = (int(offsets[k]), int(offsets[k + 1]))
            self._expiry.append((it.time_end_s, serial))
        heapq.heapify(self._expiry)

    def _insert(self, intent: OperationalIntent, vols: Volumes) -> None:
        serial = self._next_serial
        self._next_serial += 1
        vols = Volumes(*(np.full(len(vols), serial, dtype=np.intp) if f == "intent"
                         else getattr(vols, f) for f in _FIELDS))
        start = self._n
        self._append(vols)
        self._live[intent.id] = intent
        self._serial_of[intent.id] = serial
        self._id_of[serial] = intent.id
        self._slots_of[serial] = (start, start + len(vols))
        heapq.heappush(self._expiry, (intent.time_end_s, serial))

    def _append(self, vols: Volumes) -> None:
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
        self._alive[self._n : need] = True
        self._n = need

    def _remove(self, intent_id: str) -> None:
        serial = self._serial_of.pop(intent_id, None)
        if serial is None:
            return
        del self._live[intent_id]
        del self._id_of[serial]
        a, b = self._slots_of.pop(serial)
        self._alive[a:b] = False
        self._dead += b - a

    def _expire(self, now: float) -> None:
        """Drop intents whose last volume ended before ``now`` (closed: live at the end)."""
        heap = self._expiry
        while heap and heap[0][0] < now:
            _, serial = heapq.heappop(heap)
            intent_id = self._id_of.get(serial)
            if intent_id is not None:
                self._remove(intent_id)
        self._maybe_rebuild()

    def _maybe_rebuild(self) -> None:
        if self._n - self._n_static > _TAIL_MAX or self._dead > max(_TAIL_MAX, self._n // 4):
            self._rebuild_tree()

    def _rebuild_tree(self) -> None:
        """Compact away dead slots and index every live one in a new static tree."""
        keep = np.flatnonzero(self._alive[: self._n])
        vols = self._view().take(keep)
        new_slot = np.full(self._n, -1, dtype=np.intp)
        new_slot[keep] = np.arange(keep.size)
        start = new_slot.tolist()
        self._slots_of = {s: (start[a], start[a] + b - a) for s, (a, b) in self._slots_of.items()}
        self._reset_columns(vols, len(vols))
        self._tree = shapely.STRtree(vols.boxes()) if len(vols) else None


def _empty_volumes() -> Volumes:
    f = np.empty(0)
    i = np.empty(0, dtype=np.intp)
    return Volumes(i, i, i, np.empty(0, dtype=object), f, f, f, f, f, f, f, f, f, f, f)
