"""Validation of operational intents: each bad input is refused with a message that names it."""

from __future__ import annotations

import math

import pytest

from detente.errors import GeometryError, InputError
from detente.model.intent import (
    MAX_VERTICES,
    Circle,
    IntentState,
    OperationalIntent,
    Polygon,
    Volume4D,
)

T0 = 1_795_000_000.0
SQUARE = Polygon((40.0, 40.0, 40.01, 40.01), (30.0, 30.01, 30.01, 30.0))


def volume(fp=SQUARE, lo=0.0, hi=100.0, t0=T0, t1=T0 + 600.0) -> Volume4D:
    return Volume4D(fp, lo, hi, t0, t1)


def test_closed_ring_is_stored_open():
    p = Polygon.from_lonlat([(30, 40), (30.01, 40), (30.01, 40.01), (30, 40.01), (30, 40)])
    assert p.lat == (40.0, 40.0, 40.01, 40.01)
    assert p.lon == (30.0, 30.01, 30.01, 30.0)


def test_antimeridian_polygon_is_simple():
    # Two vertices either side of 180 deg: 0.02 deg wide, not 359.98 deg.
    Polygon((10.0, 10.0, 10.01, 10.01), (179.99, -179.99, -179.99, 179.99))


@pytest.mark.parametrize(
    ("lat", "lon", "message"),
    [
        ((40.0, 91.0, 40.01), (30.0, 30.01, 30.01), "latitude 91 deg is outside [-90, 90]"),
        ((40.0, 40.0, 40.01), (30.0, 180.5, 30.01), "longitude 180.5 deg is outside"),
        ((40.0, 40.0), (30.0, 30.01), "at least 3 vertices"),
        # A bow tie: edges 0-1 and 2-3 cross.
        ((40.0, 40.01, 40.0, 40.01), (30.0, 30.01, 30.01, 30.0), "not simple"),
        ((40.0, 40.0, 40.0), (30.0, 30.01, 30.02), "no area"),
        # Around the north pole, every edge short.
        ((85.0, 85.0, 85.0, 85.0), (0.0, 90.0, 180.0, -90.0), "encloses a pole"),
        # Nearly antipodal vertices: the "shortest path" is not a thing one can plan on.
        ((0.0, 0.0, 1.0), (0.0, 179.0, 90.0), "more than the 1000 km allowed"),
    ],
)
def test_bad_polygons(lat, lon, message):
    with pytest.raises(GeometryError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Polygon(lat, lon)


def test_bow_tie_message_names_a_vertex():
    with pytest.raises(GeometryError, match=r"self-intersection near vertex \d"):
        Polygon((40.0, 40.01, 40.0, 40.01), (30.0, 30.01, 30.01, 30.0))


def test_nan_vertex():
    with pytest.raises(InputError, match="vertex 1 latitude must be a finite number"):
        Polygon((40.0, math.nan, 40.01), (30.0, 30.01, 30.01))


def test_vertex_limit_is_f3548s():
    n = MAX_VERTICES + 1
    # A regular polygon of 10,001 vertices, radius 0.1 deg: simple, just too many vertices.
    lat = tuple(40.0 + 0.1 * math.sin(2 * math.pi * k / n) for k in range(n))
    lon = tuple(30.0 + 0.1 * math.cos(2 * math.pi * k / n) for k in range(n))
    with pytest.raises(GeometryError, match="10001 vertices, more than the 10000 allowed"):
        Polygon(lat, lon)


def test_vertex_limit_counts_all_volumes():
    n = 5_001
    lat = tuple(40.0 + 0.1 * math.sin(2 * math.pi * k / n) for k in range(n))
    lon = tuple(30.0 + 0.1 * math.cos(2 * math.pi * k / n) for k in range(n))
    big = volume(Polygon(lat, lon))
    with pytest.raises(GeometryError, match="10002 vertices over all volumes"):
        OperationalIntent("a", "A", IntentState.ACCEPTED, 0, (big, big))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"lo": 200.0, "hi": 100.0}, InputError, "altitude_lower_m 200 m is above"),
        ({"t0": T0, "t1": T0}, InputError, "time_start .* is not before time_end"),
        ({"t0": T0 + 1, "t1": T0}, InputError, "is not before"),
        ({"lo": math.nan}, InputError, "altitude_lower_m must be a finite number"),
        ({"t1": math.inf}, InputError, "time_end must be a finite number"),
        ({"hi": 1e6}, InputError, "altitude_upper_m 1e\\+06 m is outside"),
    ],
)
def test_bad_volumes(kwargs, error, message):
    with pytest.raises(error, match=message):
        volume(**kwargs)


def test_flat_band_is_a_volume():
    assert volume(lo=100.0, hi=100.0).altitude_upper_m == 100.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((91.0, 30.0, 100.0), "latitude 91 deg"),
        ((40.0, 30.0, 0.0), "radius 0 m is outside"),
        ((40.0, 30.0, -5.0), "radius -5 m is outside"),
        ((40.0, 30.0, 2e6), "radius 2e\\+06 m is outside"),
        ((math.nan, 30.0, 5.0), "finite"),
    ],
)
def test_bad_circles(args, message):
    with pytest.raises(InputError, match=message):
        Circle(*args)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("state", "Flying", "state 'Flying' is not one of Accepted, Activated"),
        ("priority", 1.5, "priority must be an integer"),
        ("priority", True, "priority must be an integer"),
        ("owner", "", "owner must be a non-empty string"),
        ("id", None, "id must be a non-empty string"),
        ("volumes", (), "at least one volume"),
    ],
)
def test_bad_intents(field, value, message):
    fields = {"id": "a", "owner": "A", "state": "Accepted", "priority": 0,
              "volumes": (volume(),)}
    fields[field] = value
    with pytest.raises(InputError, match=message):
        OperationalIntent(**fields)


def test_state_text_becomes_enum_and_liveness_is_closed():
    it = OperationalIntent("a", "A", "Activated", 3, [volume(), volume(t0=T0 + 900, t1=T0 + 1200)])
    assert it.state is IntentState.ACTIVATED
    assert (it.time_start_s, it.time_end_s) == (T0, T0 + 1200)
    assert it.is_live(T0 + 1200) and not it.is_live(T0 + 1200.001)
    ended = OperationalIntent("a", "A", "Ended", 3, [volume()])
    assert not ended.is_live(T0)
