"""OpenSky Network state vectors in, TrackReports out.

Two shapes of the same data:

- the REST API ``GET /states/all`` response, ``{"time": int, "states": [[17 or 18 values], ...]}``,
  already in SI units (m, m/s, deg, s): :func:`read_opensky_states`;
- the records shape of OpenSky extracts (the ``traffic`` package's samples, the files in
  ``shared/data``): a list of dicts in aviation units (ft, kt, ft/min, ms epoch):
  :func:`read_opensky_records`. Units are converted here, once, with :mod:`detente.geo.units`.

The report ``id`` is the ICAO 24-bit address in lower-case hex, as OpenSky writes it (SBS-1
writes it in upper case; both readers lower-case it, so one aircraft has one id across feeds).
Altitude is BAROMETRIC in both: separation minima are flown on pressure altitude, and a picture
holds one kind of altitude only (see :mod:`detente.model.states`), so ``geo_altitude`` is never
used as a fallback.

Records that cannot become a report are skipped and counted (:mod:`detente.formats.rejects`):
on ground first (surface traffic leaves the picture whatever else it lacks), then the first null
among latitude, longitude, altitude, speed, track, vertical rate and time (each counted once,
under that first null field), then whatever :func:`~detente.model.reports.report_problem`
refuses after conversion. A document of the wrong shape or with values of the wrong type raises
:class:`~detente.errors.InputError` naming the row index and the field: that is a broken
producer, not a noisy sky. Repeated reports are passed through as they come: deciding which
report of an aircraft is current is the picture's job, not the reader's.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from detente.errors import InputError
from detente.formats.rejects import INVALID, NULL, ON_GROUND, Decoded, Reject
from detente.geo.units import fpm_to_mps, ft_to_m, kt_to_mps
from detente.model.reports import TrackReport, report_problem

__all__ = ["REST_FIELDS", "read_opensky_records", "read_opensky_states"]

# Column order of a /states/all row (OpenSky REST API documentation). Rows have 17 values, or
# 18 with `category` when the request asks for `extended=1`. The tail has moved over the years
# (2017 rows carried an alert flag before spi), so nothing after vertical_rate is read.
REST_FIELDS = (
    "icao24", "callsign", "origin_country", "time_position", "last_contact",
    "longitude", "latitude", "baro_altitude", "on_ground", "velocity", "true_track",
    "vertical_rate", "sensors", "geo_altitude", "squawk", "spi", "position_source", "category",
)
_REST_MIN_LEN = 17
_COL = {name: k for k, name in enumerate(REST_FIELDS)}
# What a report needs, in the order a null is blamed.
_REST_NEEDED = ("latitude", "longitude", "baro_altitude", "velocity", "true_track",
                "vertical_rate")
_RECORD_NEEDED = ("latitude", "longitude", "altitude", "groundspeed", "track", "vertical_rate")


def _where(row: int, field: str, container: str) -> str:
    return f"{container}[{row}], field {field!r}"


def _shown(value: object) -> str:
    """A short description of a wrong value for an error message: never the whole of a long
    string or container, and never repr of a huge int (Python refuses past 4,300 digits)."""
    if isinstance(value, str):
        return f"str {value[:20]!r}" + ("..." if len(value) > 20 else "")
    if isinstance(value, bool | float):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


def _number(value: object, row: int, field: str, container: str) -> float | None:
    """``value`` as a float, None for null; anything else is a malformed document.

    bool is refused although it is an int in Python: ``true`` in a number column is a broken
    producer. NaN and infinities pass here (JSON parsers accept them) and are refused later,
    per report, by report_problem; so does an integer too large for a float (JSON allows any
    number of digits), as an infinity of its sign.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(
            f"{_where(row, field, container)}: expected a number or null, got {_shown(value)}"
        )
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _icao24(value: object, row: int, field: str, container: str) -> str:
    if not isinstance(value, str):
        raise InputError(
            f"{_where(row, field, container)}: expected a string, got {_shown(value)}"
        )
    return value.strip().lower()


def _flag(value: object, row: int, field: str, container: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(
            f"{_where(row, field, container)}: expected true or false, got {_shown(value)}"
        )
    return value


def _accept(report: TrackReport, reports: list[TrackReport], rejected: Counter[Reject]) -> None:
    problem = report_problem(report)
    if problem is None:
        reports.append(report)
    else:
        rejected[Reject(INVALID, problem[0])] += 1


def read_opensky_states(obj: object) -> Decoded:
    """Reports from a decoded ``/states/all`` response (SI units already; nothing converted).

    Parameters
    ----------
    obj : dict
        ``{"time": int s, "states": [row, ...] or null}``; each row holds the values named in
        :data:`REST_FIELDS` (17 or 18 of them; later additions are ignored). ``time`` (the
        response's time) is not used: each row carries its own.

    Returns
    -------
    Decoded
        ``reports``: one TrackReport per usable row, in row order; ``t`` (s, UTC epoch) is
        ``time_position``, or ``last_contact`` when that is null; ``alt_m`` is ``baro_altitude``
        (m), ``gs_mps`` is ``velocity`` (m/s), ``trk_deg`` is ``true_track`` (deg),
        ``vs_mps`` is ``vertical_rate`` (m/s). ``rejected``: skipped rows counted by
        ``Reject(reason, field)``.

    Raises
    ------
    InputError
        ``obj`` is not such a dict, a row is not a list of at least 17 values, or a value has
        the wrong type; the message names ``states[i]`` and the field.
    """
    if not isinstance(obj, Mapping):
        raise InputError(
            f"OpenSky states: expected an object with 'time' and 'states', got "
            f"{type(obj).__name__}"
        )
    if "states" not in obj:
        raise InputError("OpenSky states: missing field 'states'")
    rows = obj["states"]
    if rows is None:  # the API's answer when no aircraft is in the box
        rows = []
    if not isinstance(rows, list):
        raise InputError(
            f"OpenSky states: field 'states': expected a list or null, got {type(rows).__name__}"
        )

    reports: list[TrackReport] = []
    rejected: Counter[Reject] = Counter()
    for i, row in enumerate(rows):
        if not isinstance(row, list):
            raise InputError(f"states[{i}]: expected a list, got {type(row).__name__}")
        if len(row) < _REST_MIN_LEN:
            missing = REST_FIELDS[len(row)]
            raise InputError(
                f"states[{i}], field {missing!r}: row has {len(row)} values, "
                f"expected {_REST_MIN_LEN} or more"
            )
        icao = _icao24(row[_COL["icao24"]], i, "icao24", "states")
        numbers = {
            name: _number(row[_COL[name]], i, name, "states")
            for name in ("time_position", "last_contact", *_REST_NEEDED)
        }
        if _flag(row[_COL["on_ground"]], i, "on_ground", "states"):
            rejected[Reject(ON_GROUND)] += 1
            continue
        known = {name: v for name, v in numbers.items() if v is not None}
        null = next((name for name in _REST_NEEDED if name not in known), None)
        if null is not None:
            rejected[Reject(NULL, null)] += 1
            continue
        t = known.get("time_position", known.get("last_contact"))
        if t is None:
            rejected[Reject(NULL, "time_position")] += 1
            continue
        _accept(
            TrackReport(
                id=icao,
                t=t,
                lat=known["latitude"],
                lon=known["longitude"],
                alt_m=known["baro_altitude"],
                gs_mps=known["velocity"],
                trk_deg=known["true_track"],
                vs_mps=known["vertical_rate"],
            ),
            reports,
            rejected,
        )
    return Decoded(reports, rejected)


def read_opensky_records(records: object) -> Decoded:
    """Reports from OpenSky records in aviation units, converting each to SI once.

    Parameters
    ----------
    records : list of dict
        Each with ``timestamp`` (int, ms of the UTC epoch), ``icao24`` (str), ``latitude``,
        ``longitude`` (deg), ``altitude`` (ft, barometric), ``groundspeed`` (kt), ``track``
        (deg true), ``vertical_rate`` (ft/min), and optionally ``onground`` (bool; absent in
        older extracts, which hold airborne traffic only, and then taken as false). Other keys
        (``callsign``, ``squawk``...) are ignored. Numbers may be null.

    Returns
    -------
    Decoded
        ``reports``: one TrackReport per usable record, in input order, ``t`` = timestamp /
        1000 (s), ``alt_m`` (m), ``gs_mps`` (m/s), ``vs_mps`` (m/s). ``rejected``: skipped
        records counted by ``Reject(reason, field)``.

    Raises
    ------
    InputError
        ``records`` is not a list of dicts, a required key is missing, or a value has the wrong
        type; the message names ``records[i]`` and the field.
    """
    if not isinstance(records, list):
        raise InputError(f"OpenSky records: expected a list, got {type(records).__name__}")
    reports: list[TrackReport] = []
    rejected: Counter[Reject] = Counter()
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise InputError(f"records[{i}]: expected an object, got {type(rec).__name__}")
        absent = next(
            (k for k in ("timestamp", "icao24", *_RECORD_NEEDED) if k not in rec), None
        )
        if absent is not None:
            raise InputError(f"records[{i}], field {absent!r}: missing")
        icao = _icao24(rec["icao24"], i, "icao24", "records")
        timestamp_ms = _number(rec["timestamp"], i, "timestamp", "records")
        numbers = {name: _number(rec[name], i, name, "records") for name in _RECORD_NEEDED}
        if _flag(rec.get("onground", False), i, "onground", "records"):
            rejected[Reject(ON_GROUND)] += 1
            continue
        known = {name: v for name, v in numbers.items() if v is not None}
        null = next((name for name in _RECORD_NEEDED if name not in known), None)
        if null is not None:
            rejected[Reject(NULL, null)] += 1
            continue
        if timestamp_ms is None:
            rejected[Reject(NULL, "timestamp")] += 1
            continue
        _accept(
            TrackReport(
                id=icao,
                t=timestamp_ms / 1000.0,
                lat=known["latitude"],
                lon=known["longitude"],
                alt_m=ft_to_m(known["altitude"]),
                gs_mps=kt_to_mps(known["groundspeed"]),
                trk_deg=known["track"],
                vs_mps=fpm_to_mps(known["vertical_rate"]),
            ),
            reports,
            rejected,
        )
    return Decoded(reports, rejected)
