"""Live operational intents: the F3548 write rules, the in-memory index, who sees what.

``IntentBook`` keeps the live intents of one region: the table (``store.intents``) is the
source of truth, a ``VolumeIndex`` (``engines.volume_index``) its live part in memory, so that
a write is checked against 100,000 intents in about a millisecond of CPU (bench/strategic.py).

- ``load`` rebuilds the book from the table at start (Ended and expired rows stay in the table
  and out of the index);
- ``put`` judges a write by detente's rules (ownership, versions; ``engines.f3548``:
  transition, key, priority), commits it, and only then changes the index (write-through: a
  failed commit leaves both as they were);
- other rule sets (the F3548 DSS interface, ``service.dss``) use the same primitives under
  ``lock``: ``live``, ``project``, ``touching``, ``write``;
- intents leave by themselves once Ended or once their last volume has ended: every call takes
  the caller's ``now`` (float UTC epoch, s) and first drops what expired before it.

Who sees what: an intent's owner sees it whole; another party sees its volumes only where the
owner's agreement shares them (``volumes_shown``), and otherwise its id, owner, state and
version: enough to present it in a key, which is what a party writing next to it must do.
An intent managed by a USS through the DSS interface shows no version here: F3548 has the
managing USS give it out, with the details.

Start-up: the rows are decoded in one vectorised pass (``store.intent_codecs``); the intents
themselves stay as the columns read until one is asked for.

One process owns a book. Several processes on one database would each need to see the
others' writes; the guarded UPDATE refuses a write that lost such a race, but nothing here
refreshes a book from another process's commits.
"""

from __future__ import annotations

import gc
import logging
import secrets
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine

from detente.engines.f3548 import (
    AgreementPolicy,
    DefaultPolicy,
    Overlap,
    check_transition,
    check_write,
)
from detente.engines.strategic import MAX_REGION_RADIUS_M, Volumes, project_volumes
from detente.engines.volume_index import VolumeIndex
from detente.errors import ConflictingWriteError, GeometryError, InputError
from detente.geo.geodesic import geodesic_distance
from detente.geo.projection import LocalProjection
from detente.model.intent import IntentState, OperationalIntent, Volume4D, unchecked
from detente.store.intent_codecs import grid_centre, grid_key, grid_volumes, read_intent
from detente.store.intents import IntentTable, Step

__all__ = ["IntentBook", "WriteResult", "volumes_shown"]

log = logging.getLogger("detente.service")


def _random_version() -> str:
    return secrets.token_hex(16)


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


def volumes_shown(owner: str, viewer: str, policy: AgreementPolicy) -> bool:
    """May ``viewer`` (a party) see the volumes of ``owner``'s intents?"""
    return owner == viewer or policy.shares_volumes(owner, viewer)


def _restamped(intent: OperationalIntent, version: str, state: IntentState) -> OperationalIntent:
    """``intent`` with a new version and state, without validating its volumes once more
    (``dataclasses.replace`` would: a tenth of a write's CPU)."""
    return unchecked(
        OperationalIntent, id=intent.id, owner=intent.owner, state=state,
        priority=intent.priority, volumes=intent.volumes, version=version,
    )


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A write that went through: the intent as stored (with its new version) and the
    overlaps with other parties' intents that the rules allowed (to notify their owners)."""

    intent: OperationalIntent
    overlaps: tuple[Overlap, ...]


class IntentBook:
    """The live intents of a region, indexed for 4-D overlap queries, written through.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        From ``store.database.open_database`` (``store.intents`` imported first).
    projection : LocalProjection
        The grid of the region served; footprints beyond ``MAX_REGION_RADIUS_M`` from its
        centre are refused.
    new_version : callable, optional
        Makes a fresh opaque version per write (default: 128 random bits in hex).

    Every method takes ``now`` (s, UTC epoch) and is safe to call from several threads.
    ``managed`` maps the id of a live intent that a USS manages through the DSS interface to
    what the DSS keeps of it (``.manager`` names the USS); detente's own API may not change
    those. Entries leave with their intent.
    """

    def __init__(
        self,
        engine: Engine,
        projection: LocalProjection,
        *,
        new_version: Callable[[], str] = _random_version,
    ) -> None:
        self.engine = engine
        self.projection = projection
        self.lock = threading.RLock()
        self.managed: dict[str, Any] = {}
        self._table = IntentTable(engine)
        self._index = VolumeIndex(projection)
        self._grid_key = grid_key(projection)
        self._new_version = new_version
        # Live id -> the intent, or its row's position in the columns read at start while it
        # has not been asked for.
        self._intents: dict[str, OperationalIntent | int] = {}
        self._loaded: tuple[tuple[Any, ...], ...] = ()

    # --- start ---------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        engine: Engine,
        projection: LocalProjection,
        *,
        now: float,
        new_version: Callable[[], str] = _random_version,
        foreign: bool = True,
    ) -> IntentBook:
        """The book of every intent in the table that is live at ``now``.

        Rows stored for another grid are projected afresh (slow: ~0.5 ms per intent, until its
        next change rewrites the row) when they fit this region, and left out when they do
        not; with ``foreign=False`` they are left out (another region's book holds them).
        """
        book = cls(engine, projection, new_version=new_version)
        with book.lock, _gc_paused():
            # Read and indexed in one expression: the 100,000 rows are freed before the
            # collector is back on, which would otherwise walk them all once.
            book._load(book._table.read_live(now), foreign)
            book._index.rebuild()
        return book

    def _load(self, rows: Sequence[Any], foreign: bool) -> None:
        own = self._grid_key
        fresh = [r for r in rows if r[8] == own and r[7] is not None]
        if len(fresh) == len(rows):
            self._load_grid(rows)
            return
        self._load_grid(fresh)
        if foreign:
            near = {key: self._may_fit(key) for key in {r[8] for r in rows}}
            self._adopt([read_intent(r[:6]) for r in rows
                         if (r[8] != own or r[7] is None) and near[r[8]]])

    def _may_fit(self, key: str | None) -> bool:
        """Can rows stored for the grid named ``key`` lie in this region? Not when that grid's
        centre is beyond twice the region's radius (another region's rows)."""
        centre = grid_centre(key)
        if centre is None:
            return True
        p = self.projection
        return float(geodesic_distance(p.lat0, p.lon0, *centre)) <= 2 * MAX_REGION_RADIUS_M

    def _load_grid(self, rows: Sequence[Any]) -> None:
        if not rows:
            return
        ids, owners, states, priorities, versions, texts, ends, grids, _ = zip(*rows,
                                                                               strict=True)
        codes = {o: self._index.group(o) for o in set(owners)}
        group = np.fromiter(map(codes.__getitem__, owners), dtype=np.intp, count=len(owners))
        end = np.fromiter(ends, dtype=float, count=len(ends))
        self._index.load(ids, grid_volumes(grids, group), end)
        self._loaded = (ids, owners, states, priorities, versions, texts)
        self._intents.update(zip(ids, range(len(ids)), strict=True))

    def _adopt(self, intents: Sequence[OperationalIntent]) -> None:
        """Index ``intents`` (already checked), projecting them; those beyond the region
        are left out."""
        if not intents:
            return
        try:
            vols = self._project_many(intents)
        except GeometryError:
            fits = []
            for it in intents:
                try:
                    self.project(it)
                    fits.append(it)
                except GeometryError:
                    pass
            log.warning("%d live intents of another grid lie outside this region: left out",
                        len(intents) - len(fits))
            if not fits:
                return
            intents, vols = fits, self._project_many(fits)
        ends = np.searchsorted(vols.intent, np.arange(len(intents)), side="right")
        for it, a, b in zip(intents, [0, *ends[:-1].tolist()], ends.tolist(), strict=True):
            self._index.insert(it.id, vols.take(np.arange(a, b)), it.time_end_s)
            self._intents[it.id] = it

    # --- reads ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._index)

    def get(self, intent_id: str, *, now: float) -> OperationalIntent | None:
        """The live intent ``intent_id`` as it stands, or None."""
        with self.lock:
            return self.live(intent_id, now)

    def overlaps(self, intent: OperationalIntent, *, now: float) -> list[Overlap]:
        """Other parties' live intents that ``intent`` overlaps (what a write of it would meet)."""
        with self.lock:
            self.expire(now)
            return self._overlaps(intent)

    def query(self, volumes: Sequence[Volume4D], *, now: float) -> list[OperationalIntent]:
        """Every live intent, of any owner, that intersects one of ``volumes`` (sorted by id)."""
        probe = OperationalIntent("\x00query", "\x00query", IntentState.ACCEPTED, 0,
                                  tuple(volumes))
        with self.lock:
            self.expire(now)
            vols = project_volumes([probe], self.projection, group=[-1])
            return [self._read(i) for i in sorted(set(self._index.hits(vols).ids))]

    # --- detente's own writes ------------------------------------------------------------

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
            F3548 refuses, an intent a USS manages; ``MissingKeyError`` and
            ``PriorityConflictError`` from the rules.
        InputError, GeometryError
            An intent that has already ended, a footprint outside the region.
        StoreError
            The commit failed; nothing changed.
        """
        policy = policy or DefaultPolicy()
        with self.lock:
            previous = self.live(intent.id, now)
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
                managed = self.managed.get(intent.id)
                if managed is not None:
                    raise ConflictingWriteError(
                        f"intent {intent.id!r} is managed by the USS {managed.manager!r} "
                        f"through the DSS interface; only it may change it"
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
                stored = _restamped(previous, self.new_version(), IntentState.ENDED)
                self.write(stored, previous, None)
                return WriteResult(stored, ())
            if intent.time_end_s < now:
                raise InputError(
                    f"intent {intent.id!r} ended at {intent.time_end_s!r} s, before now "
                    f"({now!r} s)"
                )
            vols = self.project(intent)
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
            stored = _restamped(intent, self.new_version(), intent.state)
            self.write(stored, previous, vols)
            return WriteResult(stored, allowed)

    # --- primitives for a rule set (hold ``lock`` around a whole write) ------------------

    def expire(self, now: float) -> list[str]:
        """Drop what ended before ``now``; returns the ids dropped."""
        gone = self._index.expire(now)
        for intent_id in gone:
            del self._intents[intent_id]
            self.managed.pop(intent_id, None)
        return gone

    def live(self, intent_id: str, now: float) -> OperationalIntent | None:
        """The live intent ``intent_id`` at ``now``, or None."""
        self.expire(now)
        return self._read(intent_id) if intent_id in self._intents else None

    def project(self, intent: OperationalIntent) -> Volumes:
        """``intent``'s volumes in this region's grid (GeometryError beyond the region)."""
        return project_volumes([intent], self.projection, group=[self._index.group(intent.owner)])

    def touching(self, vols: Volumes, *, other_owners: bool = False) -> list[OperationalIntent]:
        """The live intents (sorted by id) whose volumes intersect one of ``vols``; with
        ``other_owners``, of another owner than each row's. Call ``expire`` first."""
        hits = self._index.hits(vols, other_groups=other_owners)
        return [self._read(i) for i in sorted(set(hits.ids))]

    def overlapping(self, intent: OperationalIntent, vols: Volumes) -> list[Overlap]:
        """Other owners' live intents that ``intent`` (projected: ``vols``) overlaps, with
        the volume pairs that meet. Call ``expire`` first."""
        return self._overlaps(intent, vols)

    def new_version(self) -> str:
        return self._new_version()

    def write(self, stored: OperationalIntent, previous: OperationalIntent | None,
              vols: Volumes | None, *, also: Sequence[Step] = (),
              reuse_at: float | None = None) -> None:
        """Commit ``stored`` (replacing ``previous``; Ended when ``vols`` is None) with the
        ``also`` statements in one transaction, then update the index. ``reuse_at``: a
        creation under the id of an intent that is over at that time (s)."""
        self._table.save(stored, vols, self._grid_key,
                         replaces=None if previous is None else previous.version,
                         reuse_at=reuse_at, also=also)
        if vols is None:
            self._index.remove(stored.id)
            self._intents.pop(stored.id, None)
            self.managed.pop(stored.id, None)
        else:
            self._index.insert(stored.id, vols, stored.time_end_s)
            self._intents[stored.id] = stored

    # --- internals -----------------------------------------------------------------------

    def _project_many(self, intents: Sequence[OperationalIntent]) -> Volumes:
        return project_volumes(intents, self.projection,
                               group=[self._index.group(it.owner) for it in intents])

    def _read(self, intent_id: str) -> OperationalIntent:
        intent = self._intents[intent_id]
        if isinstance(intent, int):
            intent = self._intents[intent_id] = read_intent(
                tuple([col[intent] for col in self._loaded]))
        return intent

    def _overlaps(self, intent: OperationalIntent, vols: Volumes | None = None) -> list[Overlap]:
        if vols is None:
            vols = self.project(intent)
        hits = self._index.hits(vols, other_groups=True)
        if not hits:
            return []
        pairs: dict[str, list[tuple[int, int]]] = {}
        for other, q, v in zip(hits.ids, vols.volume[hits.probe].tolist(), hits.volume.tolist(),
                               strict=True):
            if other != intent.id:
                pairs.setdefault(other, []).append((q, v))
        return [Overlap(self._read(i), tuple(sorted(p))) for i, p in sorted(pairs.items())]
