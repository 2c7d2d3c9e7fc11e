"""Suggested resolutions: the smallest heading change that clears a predicted conflict.

Semantics: the aircraft turns at once (now) onto a new true track and flies on along the
geodesic of that track at its present ground speed and vertical rate, as the detection engines
extrapolate; everyone else keeps flying as they are. A heading is *clear* when, so flown, the
aircraft's predicted path over the look-ahead

- enters no airspace protected by another party (``incursion_clear``: the incursion engine's
  own definition, floor and ceiling included), or
- loses separation with none of the given aircraft (``tactical_clear``: the tactical engine's
  own definition and minima).

Headings are whole multiples of ``step_deg`` (default 5 deg: what a controller would say, "turn
right heading 230"), plus the present track (a turn of 0). ``smallest_turns`` picks, on each
side, the clear heading reached by the smallest turn, and says how much further the turn can go
and stay clear (``right_span_deg``), so that "heading 230 or more" is said only when it is true.
Clear masks of several kinds combine with ``&`` before ``smallest_turns`` (a tactical turn that
would take the aircraft into protected airspace is no resolution).

The turn itself is not modelled (a real one takes seconds: 3 deg/s at rate one), nor is any
margin added: the heading is the least that clears the straight-line prediction, which is the
thing the alert is about. An aircraft already inside protected airspace has no clear heading;
``incursion_exits`` gives the heading that leaves it soonest.

Everything is vectorised over (aircraft x candidate headings): one call of the detection engine
on all candidates at once. Units: deg (true, clockwise from north), m, m/s, s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from detente.engines import incursion
from detente.engines.tactical import (
    DEFAULT_HORIZONTAL_M,
    DEFAULT_LOOKAHEAD_S,
    DEFAULT_VERTICAL_M,
    pair_conflicts,
)
from detente.geo.projection import LocalProjection
from detente.model.airspace import Airspace
from detente.model.states import States

__all__ = [
    "DEFAULT_MAX_TURN_DEG",
    "DEFAULT_STEP_DEG",
    "Exits",
    "Turns",
    "candidate_headings",
    "incursion_clear",
    "incursion_exits",
    "incursion_turns",
    "smallest_turns",
    "tactical_clear",
    "tactical_turns",
]

DEFAULT_STEP_DEG = 5.0
DEFAULT_MAX_TURN_DEG = 180.0


@dataclass(frozen=True, slots=True)
class Turns:
    """The smallest clearing turn on each side, one row per aircraft (or pair) asked about.

    Attributes
    ----------
    clear_now : ndarray of bool
        The present track is clear: no turn is needed (both turns are then 0).
    right_deg, left_deg : ndarray, deg
        The smallest clear turn to the right (clockwise) and to the left, >= 0; NaN when no
        heading within the largest turn allowed is clear on that side.
    right_heading_deg, left_heading_deg : ndarray, deg
        The true track after that turn, in [0, 360); NaN with the turn.
    right_span_deg, left_span_deg : ndarray, deg
        How much further than the smallest turn the aircraft can turn on that side and stay
        clear at every candidate heading in between (0: only that heading; the turn allowed
        is the limit). NaN with the turn.
    side : ndarray of str
        "clear" (no turn needed), "right" or "left" (the smaller turn; right on a tie, as the
        rules of the air have converging aircraft turn right), or "none".
    """

    clear_now: np.ndarray
    right_deg: np.ndarray
    right_heading_deg: np.ndarray
    right_span_deg: np.ndarray
    left_deg: np.ndarray
    left_heading_deg: np.ndarray
    left_span_deg: np.ndarray
    side: np.ndarray

    def __len__(self) -> int:
        return int(self.clear_now.size)

    def row(self, k: int) -> dict[str, object]:
        """Row ``k`` as plain numbers (None for NaN), e.g. for an alert's detail."""
        def num(a: np.ndarray) -> float | None:
            v = float(a[k])
            return None if math.isnan(v) else round(v, 1)
        return {
            "side": str(self.side[k]),
            "right": {"turn_deg": num(self.right_deg), "heading_deg": num(self.right_heading_deg),
                      "span_deg": num(self.right_span_deg)},
            "left": {"turn_deg": num(self.left_deg), "heading_deg": num(self.left_heading_deg),
                     "span_deg": num(self.left_span_deg)},
        }


@dataclass(frozen=True, slots=True)
class Exits:
    """For aircraft inside protected airspace: the heading that leaves it soonest.

    Attributes
    ----------
    inside : ndarray of bool
        Inside an airspace of another party now (in its altitude band).
    heading_deg : ndarray, deg
        The candidate heading with the earliest exit from every such airspace (the smallest
        turn among equals); NaN when not inside, or when no heading leaves within the
        look-ahead.
    turn_deg : ndarray, deg
        Signed turn to it: > 0 right, < 0 left.
    t_exit_s : ndarray, s
        When the aircraft is out on that heading.
    """

    inside: np.ndarray
    heading_deg: np.ndarray
    turn_deg: np.ndarray
    t_exit_s: np.ndarray


def candidate_headings(trk_deg: ArrayLike, step_deg: float = DEFAULT_STEP_DEG) -> np.ndarray:
    """(N, K) candidate true tracks: the present one (column 0), then every multiple of
    ``step_deg`` in [0, 360) other than it."""
    if not (math.isfinite(step_deg) and 0.0 < step_deg <= 90.0 and (360.0 / step_deg).is_integer()):
        raise ValueError(f"step_deg must divide 360 and be in (0, 90], got {step_deg}")
    trk = np.mod(np.asarray(trk_deg, dtype=np.float64).reshape(-1), 360.0)
    grid = np.arange(0.0, 360.0, step_deg)
    # The grid heading equal to the present track is column 0 already: shift it off by
    # replacing it with a duplicate of the track (harmless: same turn, same answer).
    return np.column_stack([trk, np.broadcast_to(grid, (trk.size, grid.size))])


def _turns(trk: np.ndarray, headings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Right (clockwise) and left turns (deg, in [0, 360)) from ``trk`` (N,) to ``headings``."""
    right = np.mod(headings - trk[:, None], 360.0)
    left = np.mod(trk[:, None] - headings, 360.0)
    # Rounding of a grid heading equal to the track must not read as a full circle.
    right = np.where(right > 360.0 - 1e-9, 0.0, right)
    left = np.where(left > 360.0 - 1e-9, 0.0, left)
    return right, left


def smallest_turns(
    trk_deg: ArrayLike,
    headings_deg: np.ndarray,
    clear: np.ndarray,
    *,
    max_turn_deg: float = DEFAULT_MAX_TURN_DEG,
) -> Turns:
    """The smallest clear turn on each side, from (N, K) candidate headings and their (N, K)
    clear mask (``candidate_headings`` order: column 0 is the present track).

    Parameters
    ----------
    trk_deg : array_like, deg
        Present true tracks (N).
    headings_deg : ndarray, deg
        Candidate true tracks (N, K).
    clear : ndarray of bool
        Whether each candidate is clear (N, K); combine kinds with ``&``.
    max_turn_deg : float, deg
        Largest turn to consider on each side (<= 180).
    """
    trk = np.mod(np.asarray(trk_deg, dtype=np.float64).reshape(-1), 360.0)
    headings = np.asarray(headings_deg, dtype=np.float64)
    clear = np.asarray(clear, dtype=bool)
    if headings.ndim != 2 or headings.shape != clear.shape or headings.shape[0] != trk.size:
        raise ValueError("headings and clear must both be (N, K) for N tracks")
    n, k = headings.shape
    if k == 0:
        raise ValueError("no candidate headings")
    rows = np.arange(n)
    right, left = _turns(trk, headings)
    out: dict[str, np.ndarray] = {}
    for name, turn in (("right", right), ("left", left)):
        # Candidates in the order of the turn on this side; those beyond the limit never count.
        order = np.argsort(turn, axis=1, kind="stable")
        t = np.take_along_axis(turn, order, axis=1)
        allowed = t <= max_turn_deg + 1e-9
        ok = np.take_along_axis(clear, order, axis=1) & allowed
        found = ok.any(axis=1)
        f = np.argmax(ok, axis=1)
        # The run of clear headings from the first: it ends before the next allowed heading
        # that is not clear, or at the last allowed one.
        stops = (np.arange(k)[None, :] > f[:, None]) & allowed & ~ok
        g = np.where(stops.any(axis=1), np.argmax(stops, axis=1), allowed.sum(axis=1))
        first = t[rows, f]
        last = t[rows, np.maximum(g - 1, f)]
        sign = 1.0 if name == "right" else -1.0
        out[f"{name}_deg"] = np.where(found, first, np.nan)
        out[f"{name}_span_deg"] = np.where(found, last - first, np.nan)
        out[f"{name}_heading_deg"] = np.where(found, np.mod(trk + sign * first, 360.0), np.nan)
    clear_now = clear[:, 0].copy()
    r, lt = out["right_deg"], out["left_deg"]
    side = np.where(clear_now, "clear", np.where(
        np.isnan(r) & np.isnan(lt), "none",
        np.where(np.isnan(lt) | (r <= lt), "right", "left")))
    return Turns(clear_now=clear_now, side=side.astype(object), **out)


def _repeat(states: States, k: int, trk: np.ndarray) -> States:
    """Each aircraft k times, with the (N * k) tracks ``trk``."""
    rep = (lambda a: np.repeat(a, k))  # noqa: E731
    return States(
        rep(states.id), rep(states.lat), rep(states.lon), rep(states.alt_m),
        rep(states.gs_mps), trk, rep(states.vs_mps),
        party=None if states.party is None else rep(states.party),
    )


def incursion_clear(
    states: States,
    airspaces: Sequence[Airspace] | incursion.AirspaceIndex,
    headings_deg: np.ndarray,
    *,
    lookahead_s: float = incursion.DEFAULT_LOOKAHEAD_S,
) -> tuple[np.ndarray, incursion.Incursions]:
    """(N, K) mask: on candidate heading k, aircraft n's path enters no airspace of another
    party within the look-ahead (``incursion.detect``'s definition). Also returns the
    incursions of the N * K candidate paths (row n * K + k), for the caller's own use."""
    n, k = headings_deg.shape
    if n == 0 or k == 0:
        return np.ones((n, k), bool), incursion.Incursions.empty()
    flown = _repeat(states, k, headings_deg.reshape(-1))
    report = incursion.detect(flown, airspaces, lookahead_s=lookahead_s)
    hit = np.zeros(n * k, bool)
    hit[report.incursions.i] = True
    return ~hit.reshape(n, k), report.incursions


def incursion_turns(
    states: States,
    airspaces: Sequence[Airspace] | incursion.AirspaceIndex,
    *,
    lookahead_s: float = incursion.DEFAULT_LOOKAHEAD_S,
    step_deg: float = DEFAULT_STEP_DEG,
    max_turn_deg: float = DEFAULT_MAX_TURN_DEG,
) -> Turns:
    """The smallest turn, each side, that keeps each aircraft out of every airspace of another
    party over the look-ahead. Pass an ``AirspaceIndex`` to reuse the service's index."""
    headings = candidate_headings(states.trk_deg, step_deg)
    clear, _ = incursion_clear(states, airspaces, headings, lookahead_s=lookahead_s)
    return smallest_turns(states.trk_deg, headings, clear, max_turn_deg=max_turn_deg)


def incursion_exits(
    states: States,
    airspaces: Sequence[Airspace] | incursion.AirspaceIndex,
    *,
    lookahead_s: float = incursion.DEFAULT_LOOKAHEAD_S,
    step_deg: float = DEFAULT_STEP_DEG,
) -> Exits:
    """For each aircraft inside an airspace of another party now, the candidate heading on
    which it is out of every such airspace soonest."""
    headings = candidate_headings(states.trk_deg, step_deg)
    n, k = headings.shape
    _, inc = incursion_clear(states, airspaces, headings, lookahead_s=lookahead_s)
    inside = np.zeros(n, bool)
    out_at = np.zeros(n * k)  # per candidate: when it is outside for good (inf: never)
    if len(inc):
        inside[inc.i[inc.violation] // k] = True
        ends = np.where(np.isnan(inc.t_exit), np.inf, inc.t_exit)
        np.maximum.at(out_at, inc.i, ends)
    out_at = out_at.reshape(n, k)
    right, left = _turns(np.mod(states.trk_deg, 360.0), headings)
    signed = np.where(right <= left, right, -left)
    # Earliest exit first, then the smallest turn.
    order = np.lexsort((np.abs(signed), out_at), axis=1) if k else np.zeros((n, 0), np.intp)
    best = order[:, 0] if k else np.zeros(n, np.intp)
    rows = np.arange(n)
    t = out_at[rows, best] if k else np.full(n, np.inf)
    ok = inside & np.isfinite(t)
    return Exits(
        inside=inside,
        heading_deg=np.where(ok, headings[rows, best] if k else np.nan, np.nan),
        turn_deg=np.where(ok, signed[rows, best] if k else np.nan, np.nan),
        t_exit_s=np.where(ok, t, np.nan),
    )


def tactical_clear(
    states: States,
    own: ArrayLike,
    other: ArrayLike,
    headings_deg: np.ndarray,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    projection: LocalProjection | None = None,
) -> np.ndarray:
    """(P, K) mask: aircraft ``own[p]`` on candidate heading k (``headings_deg[p, k]``) loses
    separation with ``other[p]``, flying on as it is, at no time of the look-ahead
    (``tactical.pair_conflicts``' definition)."""
    own = np.asarray(own, dtype=np.intp).reshape(-1)
    other = np.asarray(other, dtype=np.intp).reshape(-1)
    p, k = headings_deg.shape
    if own.size != p or other.size != p:
        raise ValueError("own, other and the rows of headings_deg must have the same length")
    if p == 0 or k == 0:
        return np.ones((p, k), bool)
    proj = projection or LocalProjection.about(states.lat, states.lon)
    # Candidates first (P * K rows), then the other aircraft of each pair (P rows).
    lat = np.r_[np.repeat(states.lat[own], k), states.lat[other]]
    lon = np.r_[np.repeat(states.lon[own], k), states.lon[other]]
    gs = np.r_[np.repeat(states.gs_mps[own], k), states.gs_mps[other]]
    trk = np.r_[headings_deg.reshape(-1), states.trk_deg[other]]
    z = np.r_[np.repeat(states.alt_m[own], k), states.alt_m[other]]
    vz = np.r_[np.repeat(states.vs_mps[own], k), states.vs_mps[other]]
    x, y, vx, vy = proj.motion(lat, lon, gs, trk)
    i = np.arange(p * k)
    j = p * k + np.repeat(np.arange(p), k)
    c = pair_conflicts(i, j, x, y, z, vx, vy, vz, horizontal_m=horizontal_m,
                       vertical_m=vertical_m, lookahead_s=lookahead_s, aeqd_metric=True)
    hit = np.zeros(p * k, bool)
    hit[c.i] = True
    return ~hit.reshape(p, k)


def tactical_turns(
    states: States,
    own: ArrayLike,
    other: ArrayLike,
    *,
    horizontal_m: float = DEFAULT_HORIZONTAL_M,
    vertical_m: float = DEFAULT_VERTICAL_M,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    projection: LocalProjection | None = None,
    step_deg: float = DEFAULT_STEP_DEG,
    max_turn_deg: float = DEFAULT_MAX_TURN_DEG,
) -> Turns:
    """The smallest turn, each side, of aircraft ``own[p]`` that keeps it out of loss of
    separation with ``other[p]`` (which holds its course) over the look-ahead."""
    own = np.asarray(own, dtype=np.intp).reshape(-1)
    headings = candidate_headings(states.trk_deg[own], step_deg)
    clear = tactical_clear(states, own, other, headings, horizontal_m=horizontal_m,
                           vertical_m=vertical_m, lookahead_s=lookahead_s,
                           projection=projection)
    return smallest_turns(states.trk_deg[own], headings, clear, max_turn_deg=max_turn_deg)
