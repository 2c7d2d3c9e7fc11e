"""SBS-1 BaseStation lines (the port-30003 text of dump1090 and friends) in, TrackReports out.

A line holds 22 comma-separated fields::

    MSG,type,session,aircraft,hexident,flight,date_gen,time_gen,date_log,time_log,
    callsign,altitude(ft),groundspeed(kt),track(deg),lat,lon,vertical_rate(ft/min),
    squawk,alert,emergency,spi,onground

Mode S splits an aircraft's state over several messages: MSG,3 carries the airborne position
(and usually the altitude), MSG,4 the velocity (ground speed, track, vertical rate), MSG,5/6/7
an altitude alone. :class:`Sbs1Assembler` keeps, per hex ident, the last altitude and the last
velocity with their times, and emits a report when a position arrives and a velocity no older
than ``max_age_s`` is known. A report's time is the position's. Units are converted here, once.

Time. BaseStation writes the date and time fields in the receiver's LOCAL time, without a zone.
They are read in the ``timezone`` given (UTC by default: dump1090 and most receivers run on
UTC; configure the receiver's zone otherwise, e.g. ``ZoneInfo("America/Los_Angeles")``). The
generated time (fields 7-8) is used, else the logged time (fields 9-10). When both are empty, as
many feeds leave them, the line is stamped with the injected clock ``now()`` on arrival; the
assembler never reads the system clock itself.

A real feed has garbled lines. None of them raises: each malformed line becomes a
:class:`LineProblem` naming its line number (counted over the assembler's whole stream), the
field and the reason, and the stream goes on. Well-formed messages that give no report (a
position with no velocity yet, a surface position...) are counted in ``rejected`` by
``Reject(reason, field)``, like the other feed readers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from detente.formats.rejects import INVALID, NULL, ON_GROUND, Reject
from detente.geo.units import fpm_to_mps, ft_to_m, kt_to_mps
from detente.model.reports import TrackReport, report_problem

__all__ = [
    "FIELDS",
    "NO_VELOCITY",
    "STALE_VELOCITY",
    "LineProblem",
    "Sbs1Assembler",
]

FIELDS = (
    "message", "type", "session", "aircraft", "hexident", "flight", "date_gen", "time_gen",
    "date_log", "time_log", "callsign", "altitude", "groundspeed", "track", "latitude",
    "longitude", "vertical_rate", "squawk", "alert", "emergency", "spi", "onground",
)
_COL = {name: k for k, name in enumerate(FIELDS)}

NO_VELOCITY = "no velocity"  # a position for an aircraft whose velocity was never heard
STALE_VELOCITY = "stale velocity"  # the last velocity is more than max_age_s from the position

# Other BaseStation record kinds: selection, new id, new aircraft, status, clock. Well-formed,
# but they carry no state, so they are passed over without a word.
_NON_STATE = frozenset({"SEL", "ID", "AIR", "STA", "CLK"})
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class LineProblem:
    """A line that could not be read: ``line`` (1-based, over the stream), ``field`` (a name
    from :data:`FIELDS`, or None for the whole line) and ``problem`` (why)."""

    line: int
    field: str | None
    problem: str


class _Bad(Exception):
    """A malformed line; caught in feed_lines and turned into a LineProblem."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


@dataclass(slots=True)
class _Aircraft:
    """What is known of one hex ident: altitude (m) and velocity (m/s, deg, m/s), with times."""

    last_t: float
    alt_m: float | None = None
    alt_t: float = 0.0
    velocity: tuple[float, float, float] | None = None
    velocity_t: float = 0.0


def _number(fields: list[str], name: str) -> float | None:
    """The field as a float, None when empty; garbage or NaN/inf is a malformed line."""
    text = fields[_COL[name]].strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise _Bad(name, f"expected a number, got {text[:20]!r}") from None
    if not math.isfinite(value):
        raise _Bad(name, f"{text[:20]!r} is not a finite number")
    return value


class Sbs1Assembler:
    """Assembles SBS-1 messages into TrackReports, one stream at a time.

    Parameters
    ----------
    now : callable returning float, s UTC epoch
        The clock that stamps lines whose date and time fields are empty (the service passes its
        own; tests pass a fixed or stepped one).
    max_age_s : float, s
        Largest time between a position and the velocity (or the remembered altitude) combined
        with it. Older knowledge is not used, and aircraft silent for longer are forgotten.
        ADS-B broadcasts velocity twice a second, so 10 s rides out a patchy reception; the
        price is a track up to 30 deg stale in a rate-one turn (3 deg/s). Lower it where the
        receiver's coverage allows.
    timezone : tzinfo
        The zone of the receiver's date and time fields; UTC unless configured.
    """

    def __init__(
        self,
        *,
        now: Callable[[], float],
        max_age_s: float = 10.0,
        timezone: tzinfo = UTC,
    ) -> None:
        if not math.isfinite(max_age_s) or max_age_s < 0:
            raise ValueError(f"max_age_s must be a finite number >= 0, got {max_age_s!r}")
        self._now = now
        self._max_age_s = max_age_s
        self._timezone = timezone
        self._aircraft: dict[str, _Aircraft] = {}
        self._line = 0
        self._latest_t = -math.inf
        self._pruned_at = -math.inf
        self._rejected: Counter[Reject] = Counter()

    @property
    def rejected(self) -> Counter[Reject]:
        """Well-formed position and velocity messages that gave no report, since construction."""
        return Counter(self._rejected)

    @property
    def aircraft_count(self) -> int:
        """Hex idents currently remembered (heard within ``max_age_s`` of the newest line)."""
        return len(self._aircraft)

    def feed_lines(self, lines: Iterable[str]) -> tuple[list[TrackReport], list[LineProblem]]:
        """Read ``lines`` (with or without line endings) in order.

        Returns the reports assembled from them, in arrival order, and the malformed lines.
        Never raises on a line's content. Feed a live stream in batches (what arrived since the
        last call): reports come back when the call returns. State carries over between calls.
        """
        reports: list[TrackReport] = []
        problems: list[LineProblem] = []
        for text in lines:
            self._line += 1
            try:
                report = self._feed(text.rstrip("\r\n"))
            except _Bad as bad:
                problems.append(LineProblem(self._line, bad.field, bad.problem))
                continue
            if report is not None:
                reports.append(report)
            if self._latest_t - self._pruned_at > self._max_age_s:
                self._forget_silent()
        return reports, problems

    def _feed(self, text: str) -> TrackReport | None:
        if not text.strip():
            raise _Bad(None, "empty line")
        fields = text.split(",")
        kind = fields[0].strip()
        if kind in _NON_STATE:
            return None
        if kind != "MSG":
            raise _Bad("message", f"expected MSG, SEL, ID, AIR, STA or CLK, got {kind[:20]!r}")
        if len(fields) != len(FIELDS):
            field = FIELDS[len(fields)] if len(fields) < len(FIELDS) else None
            raise _Bad(field, f"{len(fields)} fields, expected {len(FIELDS)}")
        msg_type = fields[_COL["type"]].strip()
        if msg_type not in {"1", "2", "3", "4", "5", "6", "7", "8"}:
            raise _Bad("type", f"expected a transmission type 1 to 8, got {msg_type[:20]!r}")
        hexident = fields[_COL["hexident"]].strip()
        # dump1090 marks non-ICAO (TIS-B, anonymous) addresses with a leading '~'.
        digits = hexident.removeprefix("~")
        if len(digits) != 6 or not set(digits) <= _HEX:
            raise _Bad("hexident", f"expected 6 hex digits, got {hexident[:20]!r}")
        ident = hexident.lower()

        if msg_type in {"1", "8"}:  # callsign; all-call reply: nothing the report uses
            return None
        if msg_type == "2":  # surface position: not part of the airborne picture
            self._rejected[Reject(ON_GROUND)] += 1
            return None
        if msg_type == "3":
            return self._position(fields, ident)
        if msg_type == "4":
            self._velocity(fields, ident)
            return None
        altitude = _number(fields, "altitude")  # MSG,5/6/7: altitude alone, often empty
        if altitude is not None:
            ac = self._touch(ident, self._time(fields))
            ac.alt_m, ac.alt_t = ft_to_m(altitude), ac.last_t
        return None

    def _time(self, fields: list[str]) -> float:
        """Seconds of the UTC epoch for a line: its generated, else logged, time, else now()."""
        for date_name, time_name in (("date_gen", "time_gen"), ("date_log", "time_log")):
            date, clock = fields[_COL[date_name]].strip(), fields[_COL[time_name]].strip()
            if not date and not clock:
                continue
            if not date or not clock:
                empty = date_name if not date else time_name
                raise _Bad(empty, "date and time must both be given or both be empty")
            try:
                stamp = datetime.strptime(
                    f"{date} {clock}", "%Y/%m/%d %H:%M:%S.%f" if "." in clock
                    else "%Y/%m/%d %H:%M:%S",
                )
            except ValueError:
                raise _Bad(
                    date_name, f"expected YYYY/MM/DD and HH:MM:SS[.fff], got {date!r} {clock!r}"
                ) from None
            return stamp.replace(tzinfo=self._timezone).timestamp()
        return float(self._now())

    def _touch(self, ident: str, t: float) -> _Aircraft:
        ac = self._aircraft.get(ident)
        if ac is None:
            ac = self._aircraft[ident] = _Aircraft(last_t=t)
        ac.last_t = max(ac.last_t, t)
        self._latest_t = max(self._latest_t, t)
        return ac

    def _velocity(self, fields: list[str], ident: str) -> None:
        gs_kt = _number(fields, "groundspeed")
        track = _number(fields, "track")
        vs_fpm = _number(fields, "vertical_rate")
        t = self._time(fields)
        if gs_kt is None or track is None or vs_fpm is None:
            null = "groundspeed" if gs_kt is None else "track" if track is None else "vertical_rate"
            self._rejected[Reject(NULL, null)] += 1
            return
        ac = self._touch(ident, t)
        ac.velocity = (kt_to_mps(gs_kt), track, fpm_to_mps(vs_fpm))
        ac.velocity_t = t

    def _position(self, fields: list[str], ident: str) -> TrackReport | None:
        lat, lon = _number(fields, "latitude"), _number(fields, "longitude")
        altitude = _number(fields, "altitude")
        on_ground = fields[_COL["onground"]].strip() in {"-1", "1"}  # BaseStation true is -1
        t = self._time(fields)
        ac = self._touch(ident, t)
        if altitude is not None:
            ac.alt_m, ac.alt_t = ft_to_m(altitude), t
        if on_ground:
            self._rejected[Reject(ON_GROUND)] += 1
            return None
        if lat is None or lon is None:
            self._rejected[Reject(NULL, "latitude" if lat is None else "longitude")] += 1
            return None
        # No altitude in the message and none remembered within max_age_s: counted as null.
        if ac.alt_m is None or abs(t - ac.alt_t) > self._max_age_s:
            self._rejected[Reject(NULL, "altitude")] += 1
            return None
        if ac.velocity is None:
            self._rejected[Reject(NO_VELOCITY)] += 1
            return None
        if abs(t - ac.velocity_t) > self._max_age_s:
            self._rejected[Reject(STALE_VELOCITY)] += 1
            return None
        gs_mps, trk_deg, vs_mps = ac.velocity
        report = TrackReport(ident, t, lat, lon, ac.alt_m, gs_mps, trk_deg, vs_mps)
        problem = report_problem(report)
        if problem is not None:
            self._rejected[Reject(INVALID, problem[0])] += 1
            return None
        return report

    def _forget_silent(self) -> None:
        """Drop aircraft not heard within max_age_s of the newest line, so memory stays bounded
        by the traffic in range, not by every aircraft ever heard."""
        self._pruned_at = self._latest_t
        horizon = self._latest_t - self._max_age_s
        silent = [ident for ident, ac in self._aircraft.items() if ac.last_t < horizon]
        for ident in silent:
            del self._aircraft[ident]
