"""The suggested resolution of an alert: what each party's aircraft in it could turn to.

An alert that has come within the warning time (raised or updated at warning or critical)
gets, for each party whose aircraft is in it, the smallest heading change that clears the
predicted conflict (``detente.engines.resolution``): for an incursion, the turn that keeps the
aircraft out of every airspace another party protects over the look-ahead, or for one inside
already the heading that leaves soonest; for a loss of separation, the turn of each aircraft
that keeps it out of conflict with the other (which holds its course) and out of protected
airspace, both at once: a turn that leads into someone's territory is no resolution.

It is computed once per announcement, not every cycle: an alert's prediction, and with it the
resolution, stands until the alert is announced again. It goes into the alert's private
detail (``_resolution``: party -> the engine's row plus the aircraft's id), which the sharing
policy shows to that party alone (a heading reveals a track) and the record does not hold.

``tracks_of`` runs on the event loop (it reads the picture); ``advise`` is pure and may run
in a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from detente.engines.resolution import (
    DEFAULT_STEP_DEG,
    candidate_headings,
    incursion_clear,
    incursion_exits,
    incursion_turns,
    smallest_turns,
    tactical_clear,
)
from detente.model.states import States
from detente.service.alerting import Alert, Transition
from detente.service.detection import Terms
from detente.service.picture import Columns, Picture, extrapolate

__all__ = ["advise", "advise_all", "tracks_of", "wants_advice"]

_URGENT = ("warning", "critical")


def wants_advice(tr: Transition) -> bool:
    """An announcement of an alert within the warning time: one that gets a resolution."""
    return (tr.change in ("raised", "updated") and tr.alert.severity in _URGENT
            and tr.alert.kind in ("incursion", "tactical"))


def tracks_of(alert: Alert, picture: Picture) -> Columns | None:
    """The alert's aircraft as the picture holds them now, in the alert's order (None when
    one has left the picture: nothing to advise)."""
    rows = [picture.current(party, track_id) for party, track_id in alert.tracks]
    if any(r is None for r in rows):
        return None
    return Columns(np.array([p for p, _ in alert.tracks], dtype=object),
                   np.array([i for _, i in alert.tracks], dtype=object),
                   np.array(rows, dtype=np.float64))


def advise(alert: Alert, tracks: Columns, now: float, terms: Terms
           ) -> dict[str, dict[str, Any]]:
    """{party: resolution} for the alert's aircraft (``tracks_of``), flown on to ``now``.

    A resolution is ``Turns.row`` (side, and the smallest clear turn right and left with
    the heading and how much further it may go) with ``aircraft``, the track's id; for an
    aircraft inside protected airspace ``{aircraft, side, exit: {heading_deg, turn_deg,
    t_exit_s}}`` (exit None and side "none" when no heading leaves within the look-ahead).
    """
    states, _ = extrapolate(tracks, now)
    if alert.kind == "incursion":
        return _incursion(alert, states, terms)
    if alert.kind == "tactical" and len(states) == 2:
        return _tactical(alert, states, terms)
    return {}


def _incursion(alert: Alert, states: States, terms: Terms) -> dict[str, dict[str, Any]]:
    party, track_id = alert.tracks[0]
    ag = terms.agreement(party, str(alert.detail.get("owner")))
    if ag is None:
        return {}
    one = states.take([0])
    if alert.detail.get("violation"):
        with terms.geometry_lock:
            ex = incursion_exits(one, terms.airspace_index, lookahead_s=ag.lookahead_s)
        if ex.inside[0] and math.isfinite(float(ex.heading_deg[0])):
            return {party: {"aircraft": track_id, "side": _side(float(ex.turn_deg[0])),
                            "exit": {"heading_deg": round(float(ex.heading_deg[0]), 1),
                                     "turn_deg": round(float(ex.turn_deg[0]), 1),
                                     "t_exit_s": round(float(ex.t_exit_s[0]), 1)}}}
        if ex.inside[0]:
            return {party: {"aircraft": track_id, "side": "none", "exit": None}}
        # Out already, by the picture as it is now: advise as for an aircraft outside.
    with terms.geometry_lock:
        turns = incursion_turns(one, terms.airspace_index, lookahead_s=ag.lookahead_s)
    return {party: {"aircraft": track_id, **turns.row(0)}}


def _tactical(alert: Alert, states: States, terms: Terms) -> dict[str, dict[str, Any]]:
    (pa, ia), (pb, ib) = alert.tracks
    ag = terms.agreement(pa, pb)
    if ag is None:
        return {}
    own, other = np.array([0, 1]), np.array([1, 0])
    headings = candidate_headings(states.trk_deg, DEFAULT_STEP_DEG)
    clear = tactical_clear(states, own, other, headings, horizontal_m=ag.h_min_m,
                           vertical_m=ag.v_min_m, lookahead_s=ag.lookahead_s,
                           projection=terms.projection)
    if terms.airspaces:
        # The same candidates against protected airspace: a turn must clear both.
        with terms.geometry_lock:
            outside, _ = incursion_clear(states, terms.airspace_index, headings,
                                         lookahead_s=ag.lookahead_s)
        clear &= outside
    turns = smallest_turns(states.trk_deg, headings, clear)
    return {pa: {"aircraft": ia, **turns.row(0)}, pb: {"aircraft": ib, **turns.row(1)}}


def _side(turn_deg: float) -> str:
    return "right" if turn_deg > 0 else "left" if turn_deg < 0 else "clear"


def advise_all(items: Sequence[tuple[Alert, Columns]], now: float, terms: Terms
               ) -> list[dict[str, dict[str, Any]]]:
    """``advise`` for each (alert, tracks): one worker-thread hop for a cycle's alerts."""
    return [advise(alert, tracks, now, terms) for alert, tracks in items]
