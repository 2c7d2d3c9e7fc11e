"""Detection: what the engines see in one snapshot of the picture, as findings.

A pure function of its arguments, with no clock and no state: the service hands it the
picture extrapolated to one instant (``Picture.snapshot``) and the ``Terms`` it judges by
(the agreements, the protected airspaces and the region's grid). Only parties that agreed are
judged against each other, each pair of aircraft by its agreement's minima, look-ahead and
warning times; an aircraft near airspace is judged when its party and the airspace's owner
agreed. Alerts (``alerting.AlertBook``) make life cycles of the findings.

``subset`` makes a partial look: only the findings that involve those tracks (the fresh ones
of an ingest), at a cost that follows them rather than the whole picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detente.engines import incursion
from detente.engines.incursion import AirspaceIndex
from detente.engines.tactical import Encounters, PairMinima, detect_between
from detente.geo.projection import LocalProjection
from detente.geo.stereographic import StereographicProjection
from detente.model.airspace import Airspace
from detente.model.states import States
from detente.service.alerting import Finding, severity_for
from detente.service.config import Agreement, Config

__all__ = ["Terms", "findings"]

# A partial look at up to this many fresh tracks first narrows the picture to the aircraft near
# them (one pass over the picture per fresh track); more look at the whole picture.
_NEAR_MAX_FRESH = 64
# Lower bounds of the length of a degree on WGS84: of latitude (at the equator), of longitude
# at the equator (times cos(latitude) elsewhere; the ellipsoid only lengthens it).
_M_PER_DEG_LAT_MIN = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_319.0


@dataclass(frozen=True)
class Terms:
    """What detection judges by. ``agreements``: one per pair of parties (where a
    configuration names a pair twice, the first, as ``Config.agreement`` reads it);
    ``airspaces`` with their ``airspace_index``; ``projection``: the region's grid."""

    agreements: tuple[Agreement, ...]
    airspaces: tuple[Airspace, ...]
    airspace_index: AirspaceIndex
    projection: LocalProjection

    @classmethod
    def of(cls, config: Config, projection: LocalProjection) -> Terms:
        """A configuration's terms (its airspace files read and indexed here)."""
        airspaces = tuple(config.load_airspaces())
        first: dict[frozenset[str], Agreement] = {}
        for ag in config.agreements:
            first.setdefault(frozenset(ag.parties), ag)
        return cls(tuple(first.values()), airspaces,
                   AirspaceIndex.build(airspaces, StereographicProjection(*config.centre)),
                   projection)

    def agreement(self, a: str, b: str) -> Agreement | None:
        return next((ag for ag in self.agreements if set(ag.parties) == {a, b}), None)


def findings(states: States, terms: Terms, subset: np.ndarray | None = None) -> list[Finding]:
    """Every conflict and incursion between parties that agreed, in ``states`` (the picture
    at one instant). ``subset`` (sorted indices into ``states``): only those involving these
    tracks."""
    if len(states) == 0 or not terms.agreements:
        return []
    if subset is not None:
        if subset.size == 0:
            return []
        states, subset = _near(states, subset, terms.agreements)
    found = _incursions(states if subset is None else states.take(subset), terms)
    if len(states) < 2:
        return found
    return found + _conflicts(states, terms, subset)


def _near(states: States, subset: np.ndarray, agreements: Sequence[Agreement]
          ) -> tuple[States, np.ndarray]:
    """The states that could conflict with those at ``subset`` within any agreement's
    look-ahead, and where ``subset`` is among them: a partial look at a few fresh tracks
    then costs little however large the picture is.

    Conservative: two aircraft can come within h_min of each other in T seconds only if
    they are now within h_min + (v1 + v2) T, and a box in degrees 10 % larger than that
    distance holds every such aircraft. Many fresh tracks (a whole fleet's batch), or
    boxes near a pole or across the antimeridian, keep the whole picture.
    """
    if subset.size > _NEAR_MAX_FRESH:
        return states, subset
    reach = (max(a.h_min_m for a in agreements) + (float(states.gs_mps.max())
             + states.gs_mps[subset]) * max(a.lookahead_s for a in agreements)) * 1.1
    lat0, lon0 = states.lat[subset], states.lon[subset]
    dlat = reach / _M_PER_DEG_LAT_MIN
    top = np.abs(lat0) + dlat
    if (top >= 89.0).any():
        return states, subset
    dlon = reach / (_M_PER_DEG_LON_EQUATOR * np.cos(np.radians(top)))
    if ((np.abs(lon0) + dlon) >= 180.0).any():
        return states, subset
    near = np.zeros(len(states), dtype=bool)
    for la, lo, a, b in zip(lat0.tolist(), lon0.tolist(), dlat.tolist(), dlon.tolist(),
                            strict=True):
        near |= (np.abs(states.lat - la) <= a) & (np.abs(states.lon - lo) <= b)
    keep = np.flatnonzero(near)
    return states.take(keep), np.searchsorted(keep, subset)


def _incursions(states: States, terms: Terms) -> list[Finding]:
    """Aircraft about to enter (or inside) airspace another party protects, between parties
    that agreed: one finding per aircraft and airspace, its first stay inside."""
    if not terms.airspaces or len(states) == 0:
        return []
    lookahead = max(a.lookahead_s for a in terms.agreements)
    inc = incursion.detect(states, terms.airspace_index, lookahead_s=lookahead).incursions
    out = []
    seen: set[tuple[str, ...]] = set()
    for k in range(len(inc)):
        i, space = int(inc.i[k]), terms.airspaces[int(inc.airspace[k])]
        party, track = str(states.party[i]), str(states.id[i])
        ag = terms.agreement(party, space.owner)
        key = ("incursion", party, track, space.name)
        t_entry = float(inc.t_entry[k])
        if ag is None or key in seen or t_entry > ag.lookahead_s:
            continue
        seen.add(key)
        violation = bool(inc.violation[k])
        point = (float(inc.entry_lon[k]), float(inc.entry_lat[k]))
        t_exit = float(inc.t_exit[k])
        out.append(Finding(
            kind="incursion", key=key, parties=tuple(sorted({party, space.owner})),
            tracks=((party, track),), t_to_go_s=0.0 if violation else t_entry,
            severity="critical" if violation else severity_for(
                t_entry, ag.warning_s, ag.critical_s),
            point=point,
            detail={
                "airspace": space.name, "owner": space.owner, "kind": str(space.kind),
                "violation": violation, "t_entry_s": round(t_entry, 1),
                "t_exit_s": None if not np.isfinite(t_exit) else round(t_exit, 1),
                "inside_m": round(float(inc.inside_m[k])),
                "_points": {party: point},
            },
        ))
    return out


def _conflicts(states: States, terms: Terms, subset: np.ndarray | None) -> list[Finding]:
    """Pairs of aircraft losing separation, each judged by its parties' agreement."""
    agreements = terms.agreements
    found = detect_between(
        states, [PairMinima(ag.parties, ag.h_min_m, ag.v_min_m, ag.lookahead_s)
                 for ag in agreements],
        projection=terms.projection, subset=subset)
    return _conflict_findings(found, states, agreements)


def _conflict_findings(e: Encounters, states: States, agreements: Sequence[Agreement]
                       ) -> list[Finding]:
    c = e.conflicts
    parties, ids = states.party, states.id
    out = []
    for k, (i, j) in enumerate(zip(c.i.tolist(), c.j.tolist(), strict=True)):
        ag = agreements[int(e.minima[k])]
        a, b = (str(parties[i]), str(ids[i])), (str(parties[j]), str(ids[j]))
        at_i = (float(e.lon_i[k]), float(e.lat_i[k]))
        at_j = (float(e.lon_j[k]), float(e.lat_j[k]))
        t_in = float(c.t_in[k])
        tracks = tuple(sorted((a, b)))
        out.append(Finding(
            kind="tactical", key=("tactical", *tracks), parties=tuple(sorted({a[0], b[0]})),
            tracks=tracks, t_to_go_s=t_in,
            severity=severity_for(t_in, ag.warning_s, ag.critical_s),
            # Midway between the two at closest approach.
            point=((at_i[0] + at_j[0]) / 2, (at_i[1] + at_j[1]) / 2),
            detail={
                "t_in_s": round(t_in, 1), "t_out_s": round(float(c.t_out[k]), 1),
                "t_cpa_s": round(float(c.t_cpa[k]), 1), "d_cpa_m": round(float(c.d_cpa_m[k])),
                "dv_cpa_m": round(float(c.dv_cpa_m[k])),
                "_points": {a[0]: at_i, b[0]: at_j},
            },
        ))
    return out
