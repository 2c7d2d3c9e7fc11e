"""A live index of 4-D volumes for overlap queries under writes: pure, in memory, no clock.

Each entry is an id (an intent's, a subscription's...) with its volumes projected into one grid
(``strategic.Volumes`` rows) and the time its last volume ends. ``hits`` answers which entries'
volumes intersect a probe's, with the strategic engine's exact 4-D test (``touching``); entries
leave by ``remove`` or, once their end has passed, by ``expire(now)`` (the caller passes the
time: the index reads no clock).

Structure (measured with bench/strategic.py): an STRtree is static, so the index keeps a static
tree over most volumes plus a short tail of recent ones searched by a vectorised envelope test;
dead slots (replaced, removed or expired entries) are masked out. When the tail outgrows
``TAIL_MAX`` or dead slots pass a quarter of the total, the arrays are compacted and the tree
rebuilt (about 0.3 s at 200,000 volumes, once every ~2,000 writes).

Expiry: the entries bulk-loaded at start (``load``) sit in one array sorted by end time, read
through a cursor; those inserted since in a heap of (end, serial).

Not thread-safe: the caller serialises calls (the service holds a lock around them).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
import shapely

from detente.engines.strategic import TOUCH_TOLERANCE_M, Volumes, touching
from detente.geo.projection import LocalProjection

__all__ = ["TAIL_MAX", "Hits", "VolumeIndex"]

# Longest tail of unindexed volumes before the tree is rebuilt. A tail probe is a vectorised
# envelope test (~10 us per 1,000 rows); a rebuild at 300,000 volumes costs ~0.3 s.
TAIL_MAX = 4_096

_FIELDS = Volumes.__slots__


def _empty_volumes() -> Volumes:
    f = np.empty(0)
    i = np.empty(0, dtype=np.intp)
    return Volumes(i, i, i, np.empty(0, dtype=object), f, f, f, f, f, f, f, f, f, f, f)


class Hits:
    """Intersecting pairs found by ``VolumeIndex.hits``, one row per pair of volumes.

    ``probe`` holds rows of the probe's Volumes, ``ids`` the entry ids (a list), ``volume``
    the volume index within each entry (its ``Volumes.volume``).
    """

    __slots__ = ("ids", "probe", "volume")

    def __init__(self, probe: np.ndarray, ids: list[str], volume: np.ndarray) -> None:
        self.probe = probe
        self.ids = ids
        self.volume = volume

    def __len__(self) -> int:
        return len(self.ids)


class VolumeIndex:
    """Live entries of 4-D volumes in one grid, for exact overlap queries.

    Parameters
    ----------
    projection : LocalProjection
        The grid every ``Volumes`` given to the index was projected in.
    tail_max : int, optional
        Longest tail of recent volumes before the tree is rebuilt (default ``TAIL_MAX``).

    ``Volumes.group`` is the caller's owner code (``group`` gives one per name): ``hits`` can
    leave out the probe's own group.
    """

    def __init__(self, projection: LocalProjection, *, tail_max: int | None = None) -> None:
        self.projection = projection
        self.tail_max = TAIL_MAX if tail_max is None else tail_max
        self._serial_of: dict[str, int] = {}  # live id -> serial of its current slots
        self._id_of: list[str | None] = []  # serial -> id; None once replaced or removed
        # serial -> [first slot, end slot): an entry's volumes are appended together and
        # compaction keeps the order of what it keeps, so they always sit side by side.
        self._slot_lo = np.zeros(0, dtype=np.intp)
        self._slot_hi = np.zeros(0, dtype=np.intp)
        self._group_code: dict[str, int] = {}
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

    # --- reads ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._serial_of)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._serial_of

    def ids(self) -> list[str]:
        """The live ids, in no particular order."""
        return list(self._serial_of)

    def group(self, name: str) -> int:
        """The group code of ``name`` (an owner), made on first use."""
        return self._group_code.setdefault(name, len(self._group_code))

    def hits(self, vols: Volumes, *, other_groups: bool = False) -> Hits:
        """Every (probe row, entry volume) pair that intersects in 4-D (closed intervals,
        footprints within ``TOUCH_TOLERANCE_M``); with ``other_groups``, only entries of
        another group than the probe row's. Expired entries are not dropped here: call
        ``expire`` first."""
        q, s = self._hit_slots(vols, other_groups)
        serials = self._cols["intent"][s]
        id_of = self._id_of
        return Hits(q, [id_of[k] for k in serials.tolist()],  # type: ignore[misc]
                    self._cols["volume"][s])

    # --- writes --------------------------------------------------------------------------

    def load(self, ids: Sequence[str], vols: Volumes, ends: np.ndarray) -> None:
        """Bulk-add entries read at start: ``vols.intent`` holds each row's position in
        ``ids`` (rows of one entry together, in order), ``ends`` each entry's end time (s).
        Then call ``rebuild``. Ids must be new to the index."""
        if not len(ids):
            return
        serials = self._new_serials(len(ids))
        counts = np.bincount(vols.intent, minlength=len(ids))
        vols = Volumes(**{f: getattr(vols, f) for f in _FIELDS if f != "intent"},
                       intent=serials[vols.intent])
        slot0 = self._n
        self._append(vols)
        hi = slot0 + np.cumsum(counts)
        self._slot_lo[serials] = hi - counts
        self._slot_hi[serials] = hi
        self._serial_of.update(zip(ids, serials.tolist(), strict=True))
        self._id_of[serials[0] : serials[-1] + 1] = ids
        order = np.argsort(ends, kind="stable")
        self._loaded_end = np.asarray(ends, dtype=float)[order]
        self._loaded_serial = serials[order]
        self._loaded_next = 0

    def insert(self, item_id: str, vols: Volumes, time_end: float) -> None:
        """Add ``item_id`` with ``vols`` (any ``intent`` column), replacing what it had."""
        self.remove(item_id)
        (serial,) = self._new_serials(1).tolist()
        start = self._n
        self._append(vols, serial=serial)
        self._serial_of[item_id] = serial
        self._id_of[serial] = item_id
        self._slot_lo[serial] = start
        self._slot_hi[serial] = start + len(vols)
        heapq.heappush(self._expiry, (time_end, serial))
        self._maybe_rebuild()

    def remove(self, item_id: str) -> bool:
        """Drop ``item_id``; False if it was not there."""
        serial = self._serial_of.pop(item_id, None)
        if serial is None:
            return False
        self._id_of[serial] = None
        a, b = int(self._slot_lo[serial]), int(self._slot_hi[serial])
        self._alive[a:b] = False
        self._dead += b - a
        return True

    def expire(self, now: float) -> list[str]:
        """Drop the entries whose end is before ``now`` (closed: live at the end); returns
        their ids."""
        gone: list[str] = []
        id_of = self._id_of
        stop = int(np.searchsorted(self._loaded_end, now, side="left"))
        if stop > self._loaded_next:
            for serial in self._loaded_serial[self._loaded_next : stop].tolist():
                item = id_of[serial]
                if item is not None:
                    self.remove(item)
                    gone.append(item)
            self._loaded_next = stop
        heap = self._expiry
        while heap and heap[0][0] < now:
            _, serial = heapq.heappop(heap)
            item = id_of[serial]
            if item is not None:
                self.remove(item)
                gone.append(item)
        self._maybe_rebuild()
        return gone

    def rebuild(self) -> None:
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

    # --- internals -----------------------------------------------------------------------

    def _hit_slots(self, vols: Volumes, other_groups: bool) -> tuple[np.ndarray, np.ndarray]:
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
        # Cheap filters before the exact test: live slots, other groups, intervals that meet.
        keep = (
            self._alive[s]
            & (cols["alt_lo"][s] <= vols.alt_hi[q] + tol)
            & (vols.alt_lo[q] <= cols["alt_hi"][s] + tol)
            & (cols["t_lo"][s] <= vols.t_hi[q])
            & (vols.t_lo[q] <= cols["t_hi"][s])
        )
        if other_groups:
            keep &= cols["group"][s] != vols.group[q]
        q, s = q[keep], s[keep]
        if q.size:
            hit = touching(vols, q, self._view(), s, self.projection)
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
        need = first + count
        if need > self._slot_lo.size:
            cap = max(need, 2 * self._slot_lo.size, 1024)
            for name in ("_slot_lo", "_slot_hi"):
                grown = np.zeros(cap, dtype=np.intp)
                old = getattr(self, name)
                grown[: old.size] = old
                setattr(self, name, grown)
        return np.arange(first, need)

    def _append(self, vols: Volumes, serial: int | None = None) -> None:
        """Append the rows of ``vols``; with ``serial``, as that entry's (whatever their
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

    def _maybe_rebuild(self) -> None:
        if (self._n - self._n_static > self.tail_max
                or self._dead > max(self.tail_max, self._n // 4)):
            self.rebuild()
