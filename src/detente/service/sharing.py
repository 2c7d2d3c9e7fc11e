"""Need-to-know: what each party may see of the others, decided by agreements alone.

Detection runs on full-precision data; this module decides what leaves the service. A party
sees all of its own aircraft. It sees another party's aircraft only if an agreement between
them says the other shares them: inside the shared zones, rounded to the agreed grid, delayed
as agreed. An alert goes to the parties whose aircraft are in it, and no one else; each is told
of the other's aircraft only as precisely as the agreement allows.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import shapely

from detente.geo.projection import LocalProjection
from detente.service.alerting import Alert
from detente.service.config import Config, Share
from detente.service.picture import Picture, View

__all__ = ["SharingPolicy", "StrategicPolicy", "Visible"]


def _grid(values: np.ndarray, step: float) -> np.ndarray:
    return np.round(values / step) * step if step > 0 else values


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


class SharingPolicy:
    """Applies a Config's agreements; ``projection`` is the region's grid for rounding."""

    def __init__(self, config: Config, projection: LocalProjection) -> None:
        self.config = config
        self.projection = projection
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
            entry: dict[str, Any] = {"party": party, "id": None}
            now_at = picture.current(party, track_id)
            if now_at is not None:
                (coarse,) = self.coarsen(now_at[None, :], share.alert_precision_m,
                                         304.8).tolist()
                entry.update(lat=coarse[1], lon=coarse[2], alt_m=coarse[3],
                             precision_m=share.alert_precision_m)
            tracks.append(entry)
        view["tracks"] = tracks
        # Where it happens, as seen by this viewer: a point on its own aircraft's path when the
        # engine gave one (it reveals nothing of the other), else rounded like the other's
        # aircraft. Keys starting with "_" are the service's own and never leave it.
        points = alert.detail.get("_points", {})
        if viewer in points:
            view["point"] = list(points[viewer])
        else:
            lat, lon = self._round_point(alert.point, min(
                (self.share(p, viewer).alert_precision_m  # type: ignore[union-attr]
                 for p in alert.parties if p != viewer), default=0.0))
            view["point"] = [lon, lat]
        view["detail"] = {k: v for k, v in alert.detail.items() if not k.startswith("_")}
        return view

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
