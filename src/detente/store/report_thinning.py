"""Which track reports the recording keeps: dead reckoning within a stated tolerance.

A track flying on as it said it would says nothing new in its next report. The recording
keeps a report when it departs from the track's last KEPT report flown on to its time (along
the geodesic of its track at its ground speed, altitude by its vertical rate: how the
service's picture flies a report on) by more than the tolerance: ``position_m`` across the
ground, ``altitude_m``, ``speed_mps`` of ground speed, ``track_deg``, ``vertical_mps``; or
when it is the first of its track. When a report comes ``max_gap_s`` or more after the last
kept one, the latest report held back since is kept first (then the new one is judged
against it), or, with none held back, the new one: so two consecutive kept reports less than
``max_gap_s`` apart had the track reporting all the while, and two that far apart or more
had it silent in between (a window of the recording always holds every live track). The last
report of a track that stops reporting is kept when it leaves the live picture, ``stale_s``
later (``Thinner.stale``). So every report the service accepted is, to within the tolerance,
its track's last kept report flown on to its time, and a replay shows every track the live
picture held, where it showed it, within the tolerance (``service.replay_thinning``).

Kept reports are put on a grid first (``quantize``): t and received to 1 ms, latitude and
longitude to 1e-7 deg (1.1 cm or less), altitude to 1 cm, speeds to 1 cm/s, track to 0.001
deg. What is recorded and anchored in the record is the report on that grid, exactly; the
grid is far inside any tolerance and lets the recording store integers (``report_segments``).

``EXACT`` keeps every report as received, to the last bit, on no grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from detente.geo.geodesic import geodesic_destination
from detente.model.reports import REPORT_COLUMNS

__all__ = ["DEFAULT_TOLERANCE", "EXACT", "GRID", "Held", "Thinner", "Tolerance", "departures",
           "quantize", "quantize_times"]

# Per column of REPORT_COLUMNS: how many steps to one unit (t in ms, lat/lon in 1e-7 deg, ...).
GRID = np.array([1e3, 1e7, 1e7, 1e2, 1e2, 1e3, 1e2])
_T, _LAT, _LON, _ALT, _GS, _TRK, _VS = range(len(REPORT_COLUMNS))
# WGS84, for the radii of curvature that turn a small difference of degrees into metres.
_A = 6_378_137.0
_E2 = 6.694379990141317e-3


@dataclass(frozen=True)
class Tolerance:
    """How far a report may depart from its track's last kept report, flown on, and not be
    kept (SI units); and the longest time between two kept reports of a live track."""

    position_m: float = 50.0
    altitude_m: float = 15.0
    speed_mps: float = 2.0
    track_deg: float = 2.0
    vertical_mps: float = 1.0
    max_gap_s: float = 30.0

    @property
    def exact(self) -> bool:
        """Every report kept, as received (no grid either)."""
        return self.max_gap_s <= 0

    def body(self) -> dict[str, Any]:
        """As it is said in the record's anchors and in the recording."""
        return {"exact": True} if self.exact else asdict(self)

    @classmethod
    def from_body(cls, body: Any) -> Tolerance:
        """Read ``body``; ValueError if it is not a tolerance."""
        if not isinstance(body, dict):
            raise ValueError(f"tolerance: not an object: {body!r}")
        if body.get("exact") is True:
            return EXACT
        names = [f for f in cls.__dataclass_fields__]
        values = [body.get(f) for f in names]
        if set(body) != set(names) or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                and v >= 0 for v in values):
            raise ValueError(f"tolerance: expected {', '.join(names)} (numbers >= 0), got "
                             f"{body!r}")
        return cls(*(float(v) for v in values))


DEFAULT_TOLERANCE = Tolerance()
EXACT = Tolerance(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def quantize(values: np.ndarray) -> np.ndarray:
    """``values`` (n, 7) in REPORT_COLUMNS order on the recording's grid (a copy); a track
    that rounds to 360 deg is 0."""
    q = np.round(values * GRID) / GRID
    q[:, _TRK] = np.where(q[:, _TRK] >= 360.0, 0.0, q[:, _TRK])
    return q + 0.0  # no negative zero


def quantize_times(received: np.ndarray | float) -> np.ndarray:
    """Times (s) on the recording's grid (1 ms)."""
    return np.round(np.asarray(received, dtype=np.float64) * 1e3) / 1e3 + 0.0


def departures(ref: np.ndarray, new: np.ndarray, tol: Tolerance) -> np.ndarray:
    """Rows of ``new`` (n, 7) that depart from ``ref`` (n, 7: each row's track's last kept
    report; t = -inf for none) flown on to their time, beyond ``tol``."""
    dt = new[:, _T] - ref[:, _T]
    fresh = ~np.isfinite(dt)
    dt = np.where(fresh, 0.0, dt)
    lat, lon = geodesic_destination(ref[:, _LAT], ref[:, _LON], ref[:, _TRK],
                                    np.where(fresh, 0.0, ref[:, _GS] * dt))
    lat = np.where(fresh, new[:, _LAT], lat)
    lon = np.where(fresh, new[:, _LON], lon)
    # Metres per degree at the predicted point (meridional and prime vertical radii): the
    # distance checked is tens of metres, where the flat step is exact to a millimetre.
    s = np.sin(np.radians(lat))
    w = 1.0 - _E2 * s * s
    north = np.radians(new[:, _LAT] - lat) * _A * (1.0 - _E2) / w ** 1.5
    east = (np.radians((new[:, _LON] - lon + 180.0) % 360.0 - 180.0) * _A / np.sqrt(w)
            * np.cos(np.radians(lat)))
    turned = np.abs((new[:, _TRK] - ref[:, _TRK] + 180.0) % 360.0 - 180.0)
    return (fresh | (dt >= tol.max_gap_s)
            | (np.hypot(north, east) > tol.position_m)
            | (np.abs(new[:, _ALT] - (ref[:, _ALT] + ref[:, _VS] * dt)) > tol.altitude_m)
            | (np.abs(new[:, _GS] - ref[:, _GS]) > tol.speed_mps)
            | (turned > tol.track_deg)
            | (np.abs(new[:, _VS] - ref[:, _VS]) > tol.vertical_mps))


@dataclass(frozen=True)
class Held:
    """Reports the thinner held back and now gives to be kept: one party's, with the time
    each was received."""

    party: str
    ids: list[str]
    values: np.ndarray
    received: np.ndarray


class Thinner:
    """Per track: its last kept report, and its latest report not kept (held, in case it is
    the last the track sends). Not thread-safe: the recorder's thread alone uses it.

    Every change is logged until ``commit`` (the transaction holding the kept reports is
    committed) or undone by ``rollback`` (it failed): a kept report that did not reach the
    database must not be the reference later reports are judged against.
    """

    def __init__(self, tolerance: Tolerance = DEFAULT_TOLERANCE) -> None:
        self.tolerance = tolerance
        self._slot: dict[tuple[str, str], int] = {}
        self._key: list[tuple[str, str] | None] = []
        self._free: list[int] = []
        self._ref = np.empty((0, len(REPORT_COLUMNS)))
        self._held = np.empty((0, len(REPORT_COLUMNS)))
        self._held_received = np.empty(0)
        self._latest = np.empty(0)  # the latest report's t, kept or not
        self._undo: list[Any] = []

    def __len__(self) -> int:
        return len(self._slot)

    def select(self, party: str, ids: Sequence[str], values: np.ndarray, received: float
               ) -> tuple[np.ndarray, Held | None]:
        """Which of one party's reports (``values`` (n, 7), already on the grid unless the
        tolerance is exact) to keep: a boolean mask; and the reports held back before that
        are to be kept now (the last before a gap of ``max_gap_s``: see the module), if any.
        Reports of one track within a batch are judged in order, each against the kept one
        before it."""
        n = len(ids)
        if self.tolerance.exact or n == 0:
            return np.ones(n, dtype=bool), None
        if len(set(ids)) == n:  # the usual batch: one report per track
            keep, held = self._select_unique(party, list(ids), values, received)
            return keep, held
        keep = np.zeros(n, dtype=bool)
        first: dict[str, int] = {}
        rounds: list[list[int]] = []
        for k, i in enumerate(ids):  # a track's k-th report of the batch goes in round k
            r = first.get(i, 0)
            first[i] = r + 1
            if r == len(rounds):
                rounds.append([])
            rounds[r].append(k)
        promoted: list[Held] = []
        for members in rounds:
            rows = np.asarray(members, dtype=np.intp)
            keep[rows], held = self._select_unique(party, [ids[k] for k in members],
                                                   values[rows], received)
            if held is not None:
                promoted.append(held)
        if not promoted:
            return keep, None
        return keep, Held(party, [i for h in promoted for i in h.ids],
                          np.concatenate([h.values for h in promoted]),
                          np.concatenate([h.received for h in promoted]))

    def _select_unique(self, party: str, ids: list[str], values: np.ndarray, received: float
                       ) -> tuple[np.ndarray, Held | None]:
        slots, new = self._slots(party, ids)
        saved = (slots, self._ref[slots].copy(), self._held[slots].copy(),
                 self._held_received[slots].copy(), self._latest[slots].copy(), new)
        self._undo.append(("select", saved))
        # A report max_gap_s or more after the last kept one: the report held back before it
        # is kept first, so that two kept reports max_gap_s apart or more have nothing
        # between them (the track was silent), and those closer have (it was reporting).
        ref_t = self._ref[slots, _T]
        gap = ((values[:, _T] - ref_t >= self.tolerance.max_gap_s) & np.isfinite(ref_t)
               & (self._held[slots, _T] > ref_t))
        promoted = None
        if gap.any():
            up = slots[gap]
            promoted = Held(party, [ids[k] for k in np.flatnonzero(gap).tolist()],
                            self._held[up].copy(), self._held_received[up].copy())
            self._ref[up] = self._held[up]
            self._held[up, _T] = -np.inf
        keep = departures(self._ref[slots], values, self.tolerance)
        kept, held = slots[keep], slots[~keep]
        self._ref[kept] = values[keep]
        self._held[kept, _T] = -np.inf
        later = values[~keep, _T] >= self._held[held, _T]
        self._held[held[later]] = values[~keep][later]
        self._held_received[held[later]] = received
        self._latest[slots] = np.maximum(self._latest[slots], values[:, _T])
        return keep, promoted

    def learn(self, party: str, ids: Sequence[str], values: np.ndarray) -> None:
        """Reports of ``party`` kept elsewhere (``values`` (n, 7) on the grid): another
        instance of the node kept them, or the recording holds them from before a start. Each
        track's latest becomes its last kept report unless this thinner's is as recent; a
        report held here that it is not older than is dropped (it was not the last before a
        silence: the track went on reporting elsewhere, and what it said there was kept)."""
        if self.tolerance.exact or not len(ids):
            return
        latest: dict[str, int] = {}
        for k in np.argsort(values[:, _T], kind="stable").tolist():
            latest[ids[k]] = k  # by time: the latest report of each track wins
        rows = values[np.fromiter(latest.values(), dtype=np.intp, count=len(latest))]
        slots, new = self._slots(party, list(latest))
        self._undo.append(("select", (slots, self._ref[slots].copy(), self._held[slots].copy(),
                                      self._held_received[slots].copy(),
                                      self._latest[slots].copy(), new)))
        newer = rows[:, _T] > self._ref[slots, _T]
        up = slots[newer]
        self._ref[up] = rows[newer]
        superseded = up[self._held[up, _T] <= rows[newer, _T]]
        self._held[superseded, _T] = -np.inf
        self._latest[slots] = np.maximum(self._latest[slots], rows[:, _T])

    def _slots(self, party: str, ids: list[str]) -> tuple[np.ndarray, list[tuple[str, str]]]:
        keys = [(party, i) for i in ids]
        found = list(map(self._slot.get, keys))
        new = []
        if None in found:
            for k, slot in enumerate(found):
                if slot is None:
                    found[k] = self._allocate(keys[k])
                    new.append(keys[k])
        return np.fromiter(found, dtype=np.intp, count=len(found)), new

    def _allocate(self, key: tuple[str, str]) -> int:
        if self._free:
            slot = self._free.pop()
        else:
            slot = len(self._key)
            self._key.append(None)
            if slot >= len(self._ref):
                cap = max(64, 2 * len(self._ref))
                self._ref = np.resize(self._ref, (cap, len(REPORT_COLUMNS)))
                self._held = np.resize(self._held, (cap, len(REPORT_COLUMNS)))
                self._held_received = np.resize(self._held_received, cap)
                self._latest = np.resize(self._latest, cap)
        self._key[slot] = key
        self._slot[key] = slot
        self._ref[slot, _T] = -np.inf
        self._held[slot, _T] = -np.inf
        self._latest[slot] = -np.inf
        return slot

    def stale(self, before: float) -> list[Held]:
        """Forget the tracks whose latest report is older than ``before`` (s): they left the
        live picture. Returns their held reports, to be kept: each such track's last one."""
        if not self._slot:
            return []
        used = np.fromiter(self._slot.values(), dtype=np.intp, count=len(self._slot))
        return self._forget(used[self._latest[used] < before])

    def everything_held(self) -> list[Held]:
        """Every held report, to be kept (a clean stop); the tracks are forgotten."""
        if not self._slot:
            return []
        return self._forget(np.fromiter(self._slot.values(), dtype=np.intp,
                                        count=len(self._slot)))

    def _forget(self, slots: np.ndarray) -> list[Held]:
        if slots.size == 0:
            return []
        saved = [(s, self._key[s], self._ref[s].copy(), self._held[s].copy(),
                  float(self._held_received[s]), float(self._latest[s])) for s in slots.tolist()]
        self._undo.append(("forget", saved))
        by_party: dict[str, tuple[list[str], list[int]]] = {}
        for s in slots.tolist():
            key = self._key[s]
            assert key is not None
            if np.isfinite(self._held[s, _T]):
                ids, held = by_party.setdefault(key[0], ([], []))
                ids.append(key[1])
                held.append(s)
            del self._slot[key]
            self._key[s] = None
            self._free.append(s)
        # The freed slots keep their values until the next select: read them now.
        return [Held(party, ids, self._held[held].copy(), self._held_received[held].copy())
                for party, (ids, held) in by_party.items()]

    def commit(self) -> None:
        """The changes since the last commit or rollback are durable."""
        self._undo.clear()

    def rollback(self) -> None:
        """Undo every change since the last commit: the transaction failed."""
        for kind, saved in reversed(self._undo):
            if kind == "select":
                slots, ref, held, held_received, latest, new = saved
                self._ref[slots], self._held[slots] = ref, held
                self._held_received[slots], self._latest[slots] = held_received, latest
                for key in new:
                    slot = self._slot.pop(key)
                    self._key[slot] = None
                    self._free.append(slot)
            else:
                for s, key, ref, held, held_received, latest in saved:
                    if s in self._free:
                        self._free.remove(s)
                    self._key[s] = key
                    self._slot[key] = s
                    self._ref[s], self._held[s] = ref, held
                    self._held_received[s], self._latest[s] = held_received, latest
        self._undo.clear()
