"""The demo's moving picture: the 2015 reconstruction flown as racetracks, plus real traffic.

A RECONSTRUCTION from public reports, with no claim about what really happened (see
``yayladagi_2015``): the two Su-24 (party RUS) fly a racetrack whose westbound leg is the
designed track that clips the Yayladağı salient for about 17 s, 240 s after the demo starts and
once per lap after that, turning away south into Syria; two F-16 (party TUR) fly a combat air
patrol north of the border; the background (party COA) is 15 minutes of REAL airborne ADS-B
traffic recorded over Paris on 7 October 2021, moved to the region (same azimuth and distance
from the region's centre as from Paris's), looped.

Everything is a function of scenario time ``s`` (seconds since the demo started): the demo
driver asks for the states at ``s`` and posts them through the API as each party's client
would.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from detente.data import bundled_path
from detente.geo.geodesic import geodesic_destination
from detente.geo.projection import LocalProjection
from detente.scenario.yayladagi_2015 import DESIGNED_ENTRY_S, LABEL, ROWS

__all__ = ["BACKGROUND_LABEL", "ENTRY_S", "LABEL", "DemoTraffic", "Racetrack"]

ENTRY_S = 240.0  # the lead's first entry into Turkey, in scenario seconds
BACKGROUND_LABEL = ("background: real ADS-B flights recorded over Paris on 2021-10-07 "
                    "(OpenSky Network), moved to the region")
_PARIS = (48.86, 2.35)
# South of the border, so that the real flights fly over Syria and Iraq rather than into
# Turkey (each such crossing would be an incursion of a coalition aircraft, on every lap).
_BACKGROUND_CENTRE = (34.6, 37.4)
_BACKGROUND_PERIOD_S = 900.0


@dataclass(frozen=True)
class Racetrack:
    """A racetrack: a leg from (lat, lon) along ``heading_deg``, a left turn of ``radius_m``,
    the leg back, a left turn home; flown at ``speed_mps`` and ``alt_m``. SI units."""

    lat: float
    lon: float
    heading_deg: float
    leg_m: float
    radius_m: float
    speed_mps: float
    alt_m: float

    @property
    def period_s(self) -> float:
        return 2 * (self.leg_m + math.pi * self.radius_m) / self.speed_mps

    def at(self, s: float) -> tuple[float, float, float]:
        """(lat, lon, true track) at ``s`` seconds from the start of the first leg."""
        proj = LocalProjection(self.lat, self.lon)
        h = math.radians(self.heading_deg)
        d = np.array([math.sin(h), math.cos(h)])  # east, north
        left = np.array([-d[1], d[0]])
        v, r, leg = self.speed_mps, self.radius_m, self.leg_m
        turn = math.pi * r / v
        tau = s % self.period_s
        if tau < leg / v:  # out
            p, u = d * v * tau, d
        elif tau < leg / v + turn:  # left turn about B + r left
            th = (tau - leg / v) * v / r
            c = d * leg + left * r
            p = c + _rot(-left * r, th)
            u = _rot(d, th)
        elif tau < 2 * leg / v + turn:  # back
            p = d * leg + 2 * r * left - d * v * (tau - leg / v - turn)
            u = -d
        else:  # left turn home about A + r left
            th = (tau - 2 * leg / v - turn) * v / r
            c = left * r
            p = c + _rot(left * r, th)
            u = _rot(-d, th)
        lat, lon = proj.inverse(p[0], p[1])
        return float(lat), float(lon), math.degrees(math.atan2(u[0], u[1])) % 360.0


def _rot(vec: np.ndarray, angle: float) -> np.ndarray:
    """Rotate (east, north) counter-clockwise: a left turn."""
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * vec[0] - s * vec[1], s * vec[0] + c * vec[1]])


class DemoTraffic:
    def __init__(self) -> None:
        lead = ROWS[0]
        # Start the westbound leg (ENTRY_S - DESIGNED_ENTRY_S) s of flight before the designed
        # state, so that the lead enters Turkey ENTRY_S after the start.
        back = (ENTRY_S - DESIGNED_ENTRY_S) * lead[5]
        lat0, lon0 = geodesic_destination(lead[2], lead[3], lead[6] + 180.0, back)
        self.su24 = Racetrack(float(lat0), float(lon0), lead[6], 45_000.0, 6_000.0, lead[5],
                              lead[4])
        self.trail_s = 2_000.0 / lead[5]  # the wingman, 2 km in trail
        self.cap = Racetrack(36.20, 36.05, 90.0, 40_000.0, 8_000.0, 180.0, 7_620.0)
        self.background = _load_background()

    def states_at(self, s: float, t0: float) -> dict[str, list[dict[str, Any]]]:
        """Each party's states at scenario time ``s`` (reports timed ``t0 + s``)."""
        t = t0 + s
        out: dict[str, list[dict[str, Any]]] = {"RUS": [], "TUR": [], "COA": []}
        for ident, ss in (("SU24-LEAD", s), ("SU24-WING", s - self.trail_s)):
            if ss >= 0:
                out["RUS"].append(_state(ident, t, *self.su24.at(ss), self.su24))
        for ident, ss in (("F16-1", s), ("F16-2", s + self.cap.period_s / 2)):
            out["TUR"].append(_state(ident, t, *self.cap.at(ss), self.cap))
        lap, within = divmod(s, _BACKGROUND_PERIOD_S)
        for ident, rows in self.background.items():
            times = rows[:, 0]
            k = int(np.searchsorted(times, within, side="right")) - 1
            if k < 0 or within - times[k] > 10.0:
                continue  # not in the air at this moment of the recording
            _, lat, lon, alt, gs, trk, vs = rows[k]
            out["COA"].append({
                "id": f"{ident}-{int(lap)}", "t": t - (within - times[k]), "lat": lat,
                "lon": lon, "alt_m": alt, "gs_mps": gs, "trk_deg": trk, "vs_mps": vs,
            })
        return out


def _state(ident: str, t: float, lat: float, lon: float, trk: float, rt: Racetrack
           ) -> dict[str, Any]:
    return {"id": ident, "t": t, "lat": lat, "lon": lon, "alt_m": rt.alt_m,
            "gs_mps": rt.speed_mps, "trk_deg": trk, "vs_mps": 0.0}


def _load_background() -> dict[str, np.ndarray]:
    """Per aircraft: rows (t_s, lat, lon, alt_m, gs_mps, trk_deg, vs_mps), moved to the region."""
    paris = LocalProjection(*_PARIS)
    here = LocalProjection(*_BACKGROUND_CENTRE)
    by_id: dict[str, list[list[float]]] = {}
    with bundled_path("demo/background_paris_2021-10-07.csv").open(newline="") as f:
        for r in csv.DictReader(f):
            by_id.setdefault(r["id"], []).append(
                [float(r[k]) for k in ("t_s", "lat", "lon", "alt_m", "gs_mps", "trk_deg",
                                       "vs_mps")])
    out = {}
    for ident, rows in by_id.items():
        a = np.array(rows)
        x, y = paris.forward(a[:, 1], a[:, 2])
        a[:, 1], a[:, 2] = here.inverse(x, y)
        out[ident] = a
    return out
