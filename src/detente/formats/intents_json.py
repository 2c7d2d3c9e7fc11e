"""Operational intents as JSON: the body the API will take, and what ``detente intents`` reads.

A file holds a list of intents::

    [{"id": "tr-cap-1", "owner": "TR", "state": "Activated", "priority": 10,
      "version": "optional, opaque",
      "volumes": [
        {"footprint": {"type": "Polygon", "coordinates": [[[36.10, 35.90], [36.20, 35.90],
                                                           [36.20, 36.00], [36.10, 35.90]]]},
         "altitude_lower_m": 7000, "altitude_upper_m": 8000,
         "time_start": "2015-11-24T07:00:00Z", "time_end": "2015-11-24T09:00:00Z"},
        {"footprint": {"type": "Circle", "center": [36.154, 35.808], "radius_m": 5000},
         ...}]}]

Footprints follow GeoJSON: positions are [lon, lat] in degrees, a Polygon is one closed ring
(F3548 polygons have no holes). ``Circle`` is not GeoJSON: centre [lon, lat] and a ground
radius in metres. Times are ISO 8601 with a UTC offset; altitudes are metres. Unknown fields
are refused, so that a misspelt one is not silently ignored.

Errors name the file, the intent (id, or position when it has none) and the volume index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from detente.errors import InputError
from detente.model.intent import Circle, OperationalIntent, Polygon, Volume4D

__all__ = [
    "intent_from_json",
    "intent_to_json",
    "read_intents_json",
    "timestamp_to_iso",
]

_INTENT_FIELDS = {"id", "owner", "state", "priority", "version", "volumes"}
_VOLUME_FIELDS = {"footprint", "altitude_lower_m", "altitude_upper_m", "time_start", "time_end"}


def read_intents_json(stream: TextIO, source: str = "<stdin>") -> list[OperationalIntent]:
    """Parse a JSON list of intents; raise InputError (or GeometryError) naming the culprit."""
    try:
        data = json.load(stream)
    except json.JSONDecodeError as exc:
        raise InputError(f"{source}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, list):
        raise InputError(f"{source}: expected a JSON list of intents, got {_kind(data)}")
    intents: list[OperationalIntent] = []
    seen: dict[str, int] = {}
    for k, item in enumerate(data):
        name = f"intent #{k}"
        if isinstance(item, Mapping) and isinstance(item.get("id"), str):
            name = f"intent {item['id']!r}"
        try:
            intent = _intent(item)
        except InputError as exc:
            raise type(exc)(f"{source}: {name}: {exc}") from None
        if intent.id in seen:
            raise InputError(f"{source}: {name}: duplicate id (first at #{seen[intent.id]})")
        seen[intent.id] = k
        intents.append(intent)
    return intents


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), repr(value))


def _fields(obj: Any, allowed: set[str], required: set[str], what: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping):
        raise InputError(f"{what} must be an object, got {_kind(obj)}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(map(repr, unknown))} in {what}")
    missing = sorted(required - set(obj))
    if missing:
        raise InputError(f"missing field(s) {', '.join(map(repr, missing))} in {what}")
    return obj


def intent_from_json(obj: Any) -> OperationalIntent:
    """One intent from its parsed JSON object (as in a file, or an API body)."""
    return _intent(obj)


def _intent(obj: Any) -> OperationalIntent:
    f = _fields(obj, _INTENT_FIELDS, _INTENT_FIELDS - {"version"}, "an intent")
    if not isinstance(f["volumes"], list):
        raise InputError(f"volumes must be a list, got {_kind(f['volumes'])}")
    volumes = []
    for k, v in enumerate(f["volumes"]):
        try:
            volumes.append(_volume(v))
        except InputError as exc:
            raise type(exc)(f"volume {k}: {exc}") from None
    return OperationalIntent(
        id=f["id"], owner=f["owner"], state=f["state"], priority=f["priority"],
        volumes=tuple(volumes), version=f.get("version"),
    )


def _volume(obj: Any) -> Volume4D:
    f = _fields(obj, _VOLUME_FIELDS, _VOLUME_FIELDS, "a volume")
    return Volume4D(
        footprint=_footprint(f["footprint"]),
        altitude_lower_m=f["altitude_lower_m"],
        altitude_upper_m=f["altitude_upper_m"],
        time_start_s=_time(f["time_start"], "time_start"),
        time_end_s=_time(f["time_end"], "time_end"),
    )


def _position(p: Any, what: str) -> tuple[float, float]:
    if not isinstance(p, list) or len(p) != 2:
        raise InputError(f"{what} must be [lon, lat], got {json.dumps(p)}")
    return p[0], p[1]


def _footprint(obj: Any) -> Polygon | Circle:
    if not isinstance(obj, Mapping) or obj.get("type") not in ("Polygon", "Circle"):
        raise InputError('footprint must be {"type": "Polygon", ...} or {"type": "Circle", ...}')
    if obj["type"] == "Circle":
        f = _fields(obj, {"type", "center", "radius_m"}, {"type", "center", "radius_m"},
                    "a Circle footprint")
        lon, lat = _position(f["center"], "center")
        return Circle(lat=lat, lon=lon, radius_m=f["radius_m"])
    f = _fields(obj, {"type", "coordinates"}, {"type", "coordinates"}, "a Polygon footprint")
    rings = f["coordinates"]
    if not isinstance(rings, list) or len(rings) != 1 or not isinstance(rings[0], list):
        count = len(rings) if isinstance(rings, list) else 0
        raise InputError(
            f"Polygon coordinates must hold exactly one ring (no holes), got {count}"
        )
    points = [_position(p, f"vertex {k}") for k, p in enumerate(rings[0])]
    return Polygon(tuple(p[1] for p in points), tuple(p[0] for p in points))


def _time(text: Any, field: str) -> float:
    if not isinstance(text, str):
        raise InputError(f"{field} must be an ISO 8601 string, got {json.dumps(text)}")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{field} {text!r} is not an ISO 8601 date-time") from None
    if when.tzinfo is None:
        raise InputError(f"{field} {text!r} has no UTC offset (write Z for UTC)")
    return when.timestamp()


def timestamp_to_iso(t: float) -> str:
    """UTC epoch seconds to ISO 8601 with a Z (microseconds shown only when there are some)."""
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def intent_to_json(intent: OperationalIntent) -> dict[str, Any]:
    """The JSON object of ``intent``, as ``read_intents_json`` reads it back."""
    volumes = []
    for v in intent.volumes:
        fp = v.footprint
        if isinstance(fp, Circle):
            shape: dict[str, Any] = {"type": "Circle", "center": [fp.lon, fp.lat],
                                     "radius_m": fp.radius_m}
        else:
            ring = [[lon, lat] for lat, lon in zip(fp.lat, fp.lon, strict=True)]
            shape = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
        volumes.append({
            "footprint": shape,
            "altitude_lower_m": v.altitude_lower_m,
            "altitude_upper_m": v.altitude_upper_m,
            "time_start": timestamp_to_iso(v.time_start_s),
            "time_end": timestamp_to_iso(v.time_end_s),
        })
    out: dict[str, Any] = {"id": intent.id, "owner": intent.owner, "state": intent.state.value,
                           "priority": intent.priority}
    if intent.version is not None:
        out["version"] = intent.version
    out["volumes"] = volumes
    return out
