"""Need-to-know: what each party may see of the others, decided by agreements alone.

Detection runs on full-precision data; this module decides what leaves the service. A party
sees all of its own aircraft. It sees another party's aircraft only if an agreement between
them says the other shares them: inside the shared zones, rounded to the agreed grid, delayed
as agreed. An alert goes to the parties whose aircraft are in it, and no one else; each is told
of the other's aircraft only as precisely as the agreement allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from detente.geo.projection import LocalProjection
from detente.model.reports import TrackReport
from detente.service.alerting import Alert
from detente.service.config import Config, Share
from detente.service.picture import Picture

__all__ = ["SharingPolicy", "TrackView"]


@dataclass(frozen=True)
class TrackView:
    """A track as one viewer may see it; precision_m = 0 means full precision."""

    party: str
    id: str
    t: float
    lat: float
    lon: float
    alt_m: float
    gs_mps: float
    trk_deg: float
    vs_mps: float
    precision_m: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "party": self.party, "id": self.id, "t": self.t, "lat": self.lat, "lon": self.lon,
            "alt_m": self.alt_m, "gs_mps": self.gs_mps, "trk_deg": self.trk_deg,
            "vs_mps": self.vs_mps, "precision_m": self.precision_m,
        }


def _round(value: float, step: float) -> float:
    return float(np.round(value / step) * step) if step > 0 else value


class SharingPolicy:
    """Applies a Config's agreements; ``projection`` is the region's grid for rounding."""

    def __init__(self, config: Config, projection: LocalProjection) -> None:
        self.config = config
        self.projection = projection
        for ag in config.agreements:
            for share in ag.shares.values():
                if share.zones is not None:
                    shapely.prepare(share.zones)

    def share(self, owner: str, viewer: str) -> Share | None:
        """What ``owner`` shares with ``viewer``; None when no agreement binds them."""
        if owner == viewer:
            return None
        ag = self.config.agreement(owner, viewer)
        return None if ag is None else ag.shares[owner]

    def max_delay_s(self) -> float:
        return max((s.delay_s for ag in self.config.agreements for s in ag.shares.values()),
                   default=0.0)

    def coarsen(self, r: TrackReport, party: str, precision_m: float, alt_precision_m: float
                ) -> TrackView:
        """``r`` rounded to a grid of ``precision_m`` in the region's projection."""
        if precision_m <= 0:
            return TrackView(party, r.id, r.t, r.lat, r.lon, r.alt_m, r.gs_mps, r.trk_deg,
                             r.vs_mps, 0.0)
        lat, lon = self._round_point((r.lon, r.lat), precision_m)
        # Speed and direction are coarsened too: an exact velocity refines a rounded position
        # over a few reports.
        return TrackView(
            party, r.id, round(r.t), lat, lon,
            _round(r.alt_m, alt_precision_m), _round(r.gs_mps, 10.0),
            _round(r.trk_deg, 10.0) % 360.0, _round(r.vs_mps, 2.5), precision_m,
        )

    def visible_tracks(self, viewer: str, picture: Picture, now: float) -> list[TrackView]:
        """Every track ``viewer`` may see at ``now``, as it may see it."""
        out: list[TrackView] = []
        others: dict[str, list[TrackReport]] = {}
        for tr in picture:
            if tr.party == viewer:
                r = tr.last
                out.append(TrackView(viewer, r.id, r.t, r.lat, r.lon, r.alt_m, r.gs_mps,
                                     r.trk_deg, r.vs_mps, 0.0))
                continue
            share = self.share(tr.party, viewer)
            if share is None or (share.zones is not None and share.zones.is_empty):
                continue
            r = tr.last if share.delay_s <= 0 else tr.as_of(now - share.delay_s)
            if r is not None:
                others.setdefault(tr.party, []).append(r)
        for owner, reports in others.items():
            share = self.share(owner, viewer)
            assert share is not None
            if share.zones is not None:
                inside = shapely.contains_xy(share.zones, [r.lon for r in reports],
                                             [r.lat for r in reports])
                reports = [r for r, ok in zip(reports, inside, strict=True) if ok]
            out.extend(self.coarsen(r, owner, share.precision_m, share.alt_precision_m)
                       for r in reports)
        return out

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
            tr = picture.get(party, track_id)
            if tr is not None:
                coarse = self.coarsen(tr.last, party, share.alert_precision_m, 304.8)
                entry.update(lat=coarse.lat, lon=coarse.lon, alt_m=coarse.alt_m,
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
        la, lo = self.projection.inverse(_round(float(x), precision_m),
                                         _round(float(y), precision_m))
        return round(float(la), 6), round(float(lo), 6)
