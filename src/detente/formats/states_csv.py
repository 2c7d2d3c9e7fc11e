"""The states CSV: id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps (party optional), SI units.

Reading validates every row and stops at the first bad one with a RecordError naming the file,
the line and the field; nothing is returned for a file that has a bad row.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from typing import TextIO

import numpy as np

from detente.errors import InputError, RecordError
from detente.model.states import MAX_SPEED_MPS, MAX_VERTICAL_RATE_MPS, States

__all__ = ["NUMERIC_COLUMNS", "REQUIRED_COLUMNS", "read_states_csv"]

NUMERIC_COLUMNS = ("lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps")
REQUIRED_COLUMNS = ("id", *NUMERIC_COLUMNS)

# (low, high) inclusive; None = unbounded. Altitude is bounded loosely: real feeds report
# barometric altitudes below sea level, and anything above 100 km is not an aircraft.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    "lat": (-90.0, 90.0),
    "lon": (-180.0, 180.0),
    "alt_m": (-1_000.0, 100_000.0),
    "gs_mps": (0.0, MAX_SPEED_MPS),
    "trk_deg": (-360.0, 360.0),
    "vs_mps": (-MAX_VERTICAL_RATE_MPS, MAX_VERTICAL_RATE_MPS),
}
_UNITS = {"lat": "deg", "lon": "deg", "alt_m": "m", "gs_mps": "m/s", "trk_deg": "deg",
          "vs_mps": "m/s"}


def _number(text: str, source: str, line: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        shown = text if text.strip() else "an empty value"
        raise RecordError(source, line, field, f"expected a number, got {shown!r}") from None
    if not math.isfinite(value):
        raise RecordError(source, line, field, f"{text.strip()} is not a finite number")
    low, high = _RANGES[field]
    if (low is not None and value < low) or (high is not None and value > high):
        raise RecordError(
            source, line, field,
            f"{value:g} {_UNITS[field]} is outside [{low:g}, {high:g}] {_UNITS[field]}",
        )
    return value


def read_states_csv(stream: TextIO | Iterable[str], source: str = "<stdin>") -> States:
    """Parse a states CSV from ``stream``; ``source`` names it in errors (usually the path)."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{source}: empty file, expected a header line") from None
    except csv.Error as exc:
        raise RecordError(source, 1, None, f"not CSV: {exc}") from None
    header = [h.strip() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise RecordError(
            source, 1, missing[0],
            f"missing column(s) {', '.join(missing)}; header must hold "
            f"id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps (party optional)",
        )
    index = {name: header.index(name) for name in (*REQUIRED_COLUMNS, "party") if name in header}
    has_party = "party" in index
    width = len(header)

    ids: list[str] = []
    parties: list[str] = []
    values: list[list[float]] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) < width:
                field = header[len(row)]
                raise RecordError(
                    source, line, field, f"row has {len(row)} fields, header has {width}"
                )
            ident = row[index["id"]].strip()
            if not ident:
                raise RecordError(source, line, "id", "empty id")
            if ident in seen:
                raise RecordError(
                    source, line, "id", f"duplicate id {ident!r} (first on line {seen[ident]})"
                )
            seen[ident] = line
            ids.append(ident)
            if has_party:
                party = row[index["party"]].strip()
                if not party:
                    raise RecordError(source, line, "party", "empty party")
                parties.append(party)
            values.append([_number(row[index[c]], source, line, c) for c in NUMERIC_COLUMNS])
    except csv.Error as exc:
        raise RecordError(source, line, None, f"not CSV: {exc}") from None

    cols = np.array(values, dtype=np.float64).reshape(-1, len(NUMERIC_COLUMNS))
    return States.from_columns(
        np.array(ids, dtype=object),
        *(cols[:, k] for k in range(len(NUMERIC_COLUMNS))),
        party=np.array(parties, dtype=object) if has_party else None,
    )
