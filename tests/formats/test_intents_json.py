"""The intents JSON reader: round trip, and errors that name the intent and the volume."""

from __future__ import annotations

import io
import json

import pytest

from detente.errors import GeometryError, InputError
from detente.formats.intents_json import intent_to_json, read_intents_json

GOOD = {
    "id": "a", "owner": "TR", "state": "Accepted", "priority": 3,
    "volumes": [
        {"footprint": {"type": "Polygon", "coordinates": [
            [[30.0, 40.0], [30.01, 40.0], [30.01, 40.01], [30.0, 40.0]]]},
         "altitude_lower_m": 0, "altitude_upper_m": 120,
         "time_start": "2026-11-26T13:00:00Z", "time_end": "2026-11-26T13:10:00.5+00:00"},
        {"footprint": {"type": "Circle", "center": [30.02, 40.0], "radius_m": 250.5},
         "altitude_lower_m": 10.25, "altitude_upper_m": 120,
         "time_start": "2026-11-26T15:00:00+02:00", "time_end": "2026-11-26T13:30:00Z"},
    ],
}


def read(data):
    return read_intents_json(io.StringIO(json.dumps(data)), "f.json")


def test_reads_units_and_times():
    (it,) = read([GOOD])
    p, c = it.volumes
    assert p.footprint.lat == (40.0, 40.0, 40.01) and p.footprint.lon == (30.0, 30.01, 30.01)
    # 2026-11-26T13:00:00Z: `date -ud 2026-11-26T13:00:00Z +%s` = 1795698000
    assert p.time_start_s == 1795698000.0 and p.time_end_s == 1795698000.0 + 600.5
    assert c.time_start_s == 1795698000.0 and c.footprint.radius_m == 250.5
    assert (c.footprint.lat, c.footprint.lon) == (40.0, 30.02)


def test_round_trip():
    (it,) = read([GOOD])
    assert read([intent_to_json(it)]) == [it]
    again = intent_to_json(it.with_version("v7"))
    assert again["version"] == "v7" and read([again])[0].version == "v7"


def bad(path, value):
    data = json.loads(json.dumps(GOOD))
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "error", "message"),
    [
        (("volumes", 1, "footprint", "center"), [30.0, 95.0], GeometryError,
         "intent 'a': volume 1: circle centre: latitude 95 deg is outside"),
        (("volumes", 0, "altitude_lower_m"), 500, InputError,
         "intent 'a': volume 0: altitude_lower_m 500 m is above altitude_upper_m 120 m"),
        (("volumes", 1, "time_end"), "2026-11-26T13:00:00Z", InputError,
         "intent 'a': volume 1: time_start .* is not before time_end"),
        (("volumes", 0, "time_start"), "2026-11-26T13:00:00", InputError,
         "volume 0: time_start '2026-11-26T13:00:00' has no UTC offset"),
        (("volumes", 0, "time_start"), "tomorrow", InputError, "is not an ISO 8601 date-time"),
        (("volumes", 0, "footprint", "coordinates"),
         [[[30.0, 40.0], [30.01, 40.01], [30.01, 40.0], [30.0, 40.01], [30.0, 40.0]]],
         GeometryError, "intent 'a': volume 0: the polygon is not simple"),
        (("volumes", 0, "footprint", "coordinates"), [[[30.0, 40.0]], [[30.0, 40.0]]],
         InputError, "exactly one ring .no holes."),
        (("volumes", 0, "footprint", "type"), "MultiPolygon", InputError, "footprint must be"),
        (("volumes", 0, "altitude_upper_mm"), 3, InputError, "unknown field.* 'altitude_upper_mm'"),
        (("volumes", 0, "time_end"), KeyError, InputError, "missing field.* 'time_end'"),
        (("priority",), "high", InputError, "intent 'a': priority must be an integer"),
        (("volumes", 1, "footprint", "center"), [30.0], InputError, "center must be .lon, lat."),
    ],
)
def test_errors_name_file_intent_and_volume(path, value, error, message):
    with pytest.raises(error, match=r"^f\.json: ") as exc:
        read([bad(path, value)])
    assert exc.match(message)


def test_nan_in_json_is_refused():
    text = json.dumps([GOOD]).replace("10.25", "NaN")
    with pytest.raises(InputError, match="volume 1: altitude_lower_m must be a finite number"):
        read_intents_json(io.StringIO(text), "f.json")


def test_file_level_errors():
    with pytest.raises(InputError, match="not JSON"):
        read_intents_json(io.StringIO("[{"), "f.json")
    with pytest.raises(InputError, match="expected a JSON list of intents, got an object"):
        read(GOOD)
    with pytest.raises(InputError, match=r"intent 'a': duplicate id \(first at #0\)"):
        read([GOOD, GOOD])
    with pytest.raises(InputError, match=r"intent #1: an intent must be an object, got 3$"):
        read([GOOD, 3])
