"""Need-to-know: what each party may see of the others, decided by agreements alone.

Detection runs on full-precision data; this module decides what leaves the service. A party
sees all of its own aircraft. It sees another party's aircraft only if an agreement between
them says the other shares them: inside the shared zones, rounded to the agreed grid, delayed
as agreed. An alert goes to the parties whose aircraft are in it, and no one else; each is told
of the other's aircraft only as precisely as the agreement allows for alerts
(``alert_precision_m``), and learns its id only where its own picture already shows that
track under that id, at least as precisely as the alert places it and without delay (naming a
track shared on a coarser grid, or late, would tie the alert's finer or fresher position to
it). The suggested resolution is its aircraft's party's alone: a heading reveals a track.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

import numpy as np
import shapely

from detente.geo.projection import LocalProjection
from detente.service.alerting import Alert
from detente.service.config import Config, Share
from detente.service.picture import Picture, View

__all__ = ["ALERT_ALT_PRECISION_M", "SharingPolicy", "StrategicPolicy", "Visible"]

# An alert places another party's aircraft at a flight level (1,000 ft), when it rounds at all.
ALERT_ALT_PRECISION_M = 304.8


def _grid(values: np.ndarray, step: float) -> np.ndarray:
    return np.round(values / step) * step if step > 0 else values


def _as_fine(a: float, b: float) -> bool:
    """Whether a grid of ``a`` m is at least as fine as one of ``b`` m (0: exact)."""
    return a == 0 or (b != 0 and a <= b)


def _dicts(party: str, ids: np.ndarray, c: np.ndarray, precision_m: float
           ) -> list[dict[str, Any]]:
    cols = c.T.tolist()
    return [
        {"party": party, "id": i, "t": t, "lat": la, "lon": lo, "alt_m": al, "gs_mps": g,
         "trk_deg": tr, "vs_mps": v, "precision_m": precision_m}
        for i, t, la, lo, al, g, tr, v in zip(ids.tolist(), *cols, strict=True)
    ]


class Visible(NamedTuple):
    """The tracks of one owning party that a viewer may see: ids and an (n, 7) array of
    state columns (picture.COLUMNS), as precise as ``precision_m`` (m; 0 is full)."""

    party: str
    precision_m: float
    ids: np.ndarray
    values: np.ndarray


_OWN = Share()  # a party's own tracks: everywhere, exact, undelayed


class SharingPolicy:
    """Applies a Config's agreements; ``projection`` is the region's grid for rounding."""

    def __init__(self, config: Config, projection: LocalProjection) -> None:
        self.config = config
        self.projection = projection
        # Held to query the zones' prepared geometries, which frames (a worker thread) and
        # alert views (the event loop) both do: GEOS's prepared polygons are not safe to
        # query from two threads at once (see detection.Terms).
        self._zones_lock = threading.Lock()
        for ag in config.agreements:
            for share in ag.shares.values():
                if share.zones is not None:
                    shapely.prepare(share.zones)
                    # Its point locator built now, not raced for by two threads later (the
                    # frames' worker and an API request): see incursion.AirspaceIndex.
                    shapely.contains_xy(share.zones, 0.0, 0.0)

    def share(self, owner: str, viewer: str) -> Share | None:
        """What ``owner`` shares with ``viewer``; None when no agreement binds them."""
        if owner == viewer:
            return None
        ag = self.config.agreement(owner, viewer)
        return None if ag is None else ag.shares[owner]

    def max_delay_s(self) -> float:
        return max((s.delay_s for ag in self.config.agreements for s in ag.shares.values()),
                   default=0.0)

    def coarsen(self, c: np.ndarray, precision_m: float, alt_precision_m: float) -> np.ndarray:
        """Rows of state columns (t, lat, lon, alt_m, gs_mps, trk_deg, vs_mps) rounded: the
        position to a grid of ``precision_m`` in the region's projection, the altitude to
        ``alt_precision_m``. Speed and direction are coarsened too: an exact velocity refines
        a rounded position over a few reports."""
        if precision_m <= 0 or c.shape[0] == 0:
            return c
        out = c.copy()
        x, y = self.projection.forward(c[:, 1], c[:, 2])
        lat, lon = self.projection.inverse(_grid(x, precision_m), _grid(y, precision_m))
        out[:, 0] = np.round(c[:, 0])
        out[:, 1], out[:, 2] = np.round(lat, 6), np.round(lon, 6)
        out[:, 3] = _grid(c[:, 3], alt_precision_m)
        out[:, 4] = _grid(c[:, 4], 10.0)
        out[:, 5] = _grid(c[:, 5], 10.0) % 360.0
        out[:, 6] = _grid(c[:, 6], 2.5)
        return out

    def visible(self, viewer: str, picture: Picture | View, now: float) -> list[Visible]:
        """Every track ``viewer`` may see at ``now``, as it may see it, in columns: one group
        per owning party (its own first, at full precision). ``picture``: the picture, or a
        ``Picture.view()`` taken earlier (when this runs beside a changing picture)."""
        view = picture.view() if isinstance(picture, Picture) else picture
        party, ids, c = view.columns
        own = party == viewer
        out = [Visible(viewer, 0.0, ids[own], c[own])]
        for owner in sorted(set(party.tolist()) - {viewer}):
            share = self.share(owner, viewer)
            if share is None or (share.zones is not None and share.zones.is_empty):
                continue
            sel = np.flatnonzero(party == owner)
            if share.delay_s > 0:
                sel, vals = view.as_of(sel, now - share.delay_s)
            else:
                vals = c[sel]
            o_ids = ids[sel]
            if share.zones is not None:
                with self._zones_lock:
                    inside = shapely.contains_xy(share.zones, vals[:, 2], vals[:, 1])
                o_ids, vals = o_ids[inside], vals[inside]
            vals = self.coarsen(vals, share.precision_m, share.alt_precision_m)
            out.append(Visible(owner, share.precision_m, o_ids, vals))
        return out

    def visible_tracks(self, viewer: str, picture: Picture, now: float
                       ) -> list[dict[str, Any]]:
        """``visible`` as a list of dicts with party, id, the state columns and precision_m
        (0 is full precision)."""
        return [d for g in self.visible(viewer, picture, now)
                for d in _dicts(g.party, g.ids, g.values, g.precision_m)]

    def shown(self, viewer: str, owner: str, track_id: str, picture: Picture
              ) -> Share | None:
        """The terms on which ``viewer``'s picture shows ``owner``'s track ``track_id`` now,
        as ``visible`` decides (None: not at all; a party's own track: exact, undelayed). A
        delayed share is judged on the track as it is now, which is all its caller needs:
        nothing is named or told exactly on a delayed share."""
        if owner == viewer:
            return _OWN if picture.current(owner, track_id) is not None else None
        share = self.share(owner, viewer)
        if share is None:
            return None
        at = picture.current(owner, track_id)
        if at is None:
            return None
        if share.zones is not None:
            with self._zones_lock:
                if not shapely.contains_xy(share.zones, at[2], at[1]):
                    return None
        return share

    def sees_exactly(self, viewer: str, owner: str, track_id: str, picture: Picture) -> bool:
        """Whether ``viewer``'s picture shows the track now at full precision, undelayed:
        then a heading of it (a suggested turn) tells ``viewer`` nothing new."""
        s = self.shown(viewer, owner, track_id, picture)
        return s is not None and s.precision_m == 0 and s.delay_s == 0

    def names(self, viewer: str, owner: str, track_id: str, picture: Picture) -> bool:
        """Whether an alert may name ``owner``'s track to ``viewer``: its picture shows the
        track under that id now, undelayed, on a grid at least as fine as the alert's (for
        the position, and for the altitude)."""
        s = self.shown(viewer, owner, track_id, picture)
        if s is None or s.delay_s > 0:
            return False
        track_alt = 0.0 if s.precision_m == 0 else s.alt_precision_m
        alert_alt = 0.0 if s.alert_precision_m == 0 else ALERT_ALT_PRECISION_M
        return _as_fine(s.precision_m, s.alert_precision_m) and _as_fine(track_alt, alert_alt)

    def alert_view(self, alert: Alert, viewer: str, picture: Picture) -> dict[str, Any] | None:
        """The alert as ``viewer`` may see it, or None when it is none of its business."""
        if viewer not in alert.parties:
            return None
        for party in alert.parties:
            if party != viewer:
                share = self.share(party, viewer)
                if share is None or not share.alerts:
                    return None
        view = alert.as_dict()
        tracks = []
        for party, track_id in alert.tracks:
            if party == viewer:
                tracks.append({"party": party, "id": track_id})
                continue
            share = self.share(party, viewer)
            assert share is not None
            entry: dict[str, Any] = {
                "party": party,
                "id": track_id if self.names(viewer, party, track_id, picture) else None}
            now_at = picture.current(party, track_id)
            if now_at is not None:
                (coarse,) = self.coarsen(now_at[None, :], share.alert_precision_m,
                                         ALERT_ALT_PRECISION_M).tolist()
                entry.update(lat=coarse[1], lon=coarse[2], alt_m=coarse[3],
                             precision_m=share.alert_precision_m)
            tracks.append(entry)
        view["tracks"] = tracks
        # Where it happens, as seen by this viewer: a point on its own aircraft's path when the
        # engine gave one (it reveals nothing of the other), else rounded like the other's
        # aircraft; the exit point alike. Keys starting with "_" are the service's own and
        # never leave it.
        rounding = self._alert_rounding(alert, viewer)
        view["point"] = self._point_for(viewer, alert.point, alert.detail.get("_points", {}),
                                        rounding)
        detail = {k: v for k, v in alert.detail.items() if not k.startswith("_")}
        exits = alert.detail.get("_exit_points") or {}
        if exits:
            # One aircraft's exit (an incursion): exact to its own party, else rounded.
            detail["exit_point"] = self._point_for(viewer, next(iter(exits.values())), exits,
                                                   rounding)
        resolution = (alert.detail.get("_resolution") or {}).get(viewer)
        if resolution is not None and alert.state != "cleared":  # a cleared alert asks nothing
            detail["resolution"] = resolution
        view["detail"] = detail
        return view

    def _point_for(self, viewer: str, point: Any, exact: dict[str, Any], precision_m: float
                   ) -> list[float]:
        """[lon, lat]: ``viewer``'s own point in ``exact`` if it has one, else ``point``
        rounded to ``precision_m``."""
        if viewer in exact:
            return list(exact[viewer])
        lat, lon = self._round_point(tuple(point), precision_m)
        return [lon, lat]

    def _alert_rounding(self, alert: Alert, viewer: str) -> float:
        """The grid (m) on which ``viewer`` is told where an alert happens: the coarsest the
        other parties give it for alerts (0: exact)."""
        return max((s.alert_precision_m for s in (self.share(p, viewer)
                                                   for p in alert.parties if p != viewer)
                    if s is not None), default=0.0)

    def alert_point(self, alert: Alert, viewer: str) -> tuple[tuple[float, float], float]:
        """((lon, lat), precision_m): where ``alert`` happens as ``alert_view`` tells
        ``viewer``, and the grid it is rounded to (0: exact)."""
        points = alert.detail.get("_points", {})
        rounding = 0.0 if viewer in points else self._alert_rounding(alert, viewer)
        lon, lat = self._point_for(viewer, alert.point, points, rounding)
        return (lon, lat), rounding

    def _round_point(self, point: tuple[float, float], precision_m: float
                     ) -> tuple[float, float]:
        lon, lat = point
        if precision_m <= 0:
            return lat, lon
        x, y = self.projection.forward(lat, lon)
        la, lo = self.projection.inverse(_grid(x, precision_m), _grid(y, precision_m))
        return round(float(la), 6), round(float(lo), 6)


class StrategicPolicy:
    """The agreements, as the F3548 rules ask them (``engines.f3548.AgreementPolicy``)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def allows_equal_priority(self, party_a: str, party_b: str) -> bool:
        ag = self.config.agreement(party_a, party_b)
        return ag is not None and ag.equal_priority_allowed

    def shares_volumes(self, owner: str, viewer: str) -> bool:
        """Volumes are shown to a party the owner shares tracks with (in some zone)."""
        ag = self.config.agreement(owner, viewer)
        if ag is None:
            return False
        zones = ag.shares[owner].zones
        return zones is None or not zones.is_empty
