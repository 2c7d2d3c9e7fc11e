"""OpenSky readers against samples of real extracts and a hand-written REST document.

Expected counts are recomputed here with plain Python over the raw JSON, not with the reader's
own code; converted values are worked by hand in comments (1 ft = 0.3048 m, 1 kt = 1852/3600
m/s, 1 ft/min = 0.3048/60 m/s, all exact by definition).
"""

import csv
import gzip
import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.errors import InputError
from detente.formats.opensky import REST_FIELDS, read_opensky_records, read_opensky_states
from detente.formats.rejects import INVALID, NULL, ON_GROUND, Reject
from detente.model.reports import report_problem

# Cut from the published extracts by tests/data/samples/make_samples.py (README there).
DATA = Path(__file__).parents[1] / "data" / "samples"
NEEDED = ("latitude", "longitude", "altitude", "groundspeed", "track", "vertical_rate")


def load(name):
    with gzip.open(DATA / name, "rt") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def paris():
    return load("opensky_paris_2021-10-07_4_aircraft.json.gz")


@pytest.fixture(scope="module")
def paris_decoded(paris):
    return read_opensky_records(paris)


@pytest.fixture(scope="module")
def switzerland():
    return load("opensky_switzerland_2018-08-01_first_1000.json.gz")


# --- records format, real data ------------------------------------------------------------


def test_paris_first_record_converted_by_hand(paris, paris_decoded):
    raw = paris[0]
    assert (raw["icao24"], raw["timestamp"]) == ("0101de", 1633608773000)
    r = paris_decoded.reports[0]
    assert r.id == "0101de"
    assert r.t == 1633608773.0  # ms -> s
    assert (r.lat, r.lon) == (raw["latitude"], raw["longitude"])
    assert r.alt_m == pytest.approx(4160.52, abs=1e-9)  # 13,650 ft x 0.3048
    assert r.gs_mps == pytest.approx(167.194444, abs=1e-6)  # 325 kt x 1852 / 3600
    assert r.vs_mps == pytest.approx(-4.55168, abs=1e-9)  # -896 ft/min x 0.3048 / 60
    assert r.trk_deg == raw["track"]  # degrees true, unchanged


def test_paris_skips_counted_independently(paris, paris_decoded):
    onground = sum(1 for rec in paris if rec["onground"])
    airborne = [rec for rec in paris if not rec["onground"]]
    first_null = Counter(
        next(k for k in NEEDED if rec[k] is None)
        for rec in airborne
        if any(rec[k] is None for k in NEEDED)
    )
    complete = sum(1 for rec in airborne if all(rec[k] is not None for k in NEEDED))
    # Figures of the sample (tests/data/samples/README.md: 3,657 records of 4 aircraft).
    assert (len(paris), onground, complete) == (3_657, 277, 2_688)
    assert first_null == {"groundspeed": 691, "altitude": 1}
    # No exact repeats in this file: the reader passes repeats through, so none are counted.
    assert len({(rec["icao24"], rec["timestamp"]) for rec in paris}) == len(paris)

    reports, rejected = paris_decoded
    expected = Counter({Reject(ON_GROUND): onground})
    expected.update({Reject(NULL, k): n for k, n in first_null.items()})
    assert rejected == expected
    # Nothing in this file is refused by report_problem, so every complete airborne row is kept.
    assert len(reports) == complete
    assert len(reports) + sum(rejected.values()) == len(paris)


def test_paris_reports_are_valid_in_window_and_in_order(paris, paris_decoded):
    reports = paris_decoded.reports
    start = datetime(2021, 10, 7, 12, tzinfo=UTC).timestamp()
    end = datetime(2021, 10, 7, 15, tzinfo=UTC).timestamp()
    assert all(start <= r.t <= end for r in reports)
    assert all(report_problem(r) is None for r in reports)
    ids = {r.id for r in reports}
    assert ids <= {rec["icao24"] for rec in paris}
    assert len(ids) == 3  # 394c0c never reports a ground speed
    # Input order is kept: the reports are the complete airborne rows, in file order.
    kept = [
        (rec["icao24"], rec["timestamp"] / 1000)
        for rec in paris
        if not rec["onground"] and all(rec[k] is not None for k in NEEDED)
    ]
    assert [(r.id, r.t) for r in reports] == kept


def test_paris_agrees_with_the_derived_csv(paris_decoded):
    # adsb_paris_2021-10-07_5s.csv was derived from the same JSON by other code (README: onground
    # and null rows dropped, first report per aircraft per 5 s bin, converted to SI and printed
    # rounded); the sample keeps its rows of the same aircraft. Every row must be one of our
    # reports, equal to the CSV's printed precision.
    with open(DATA / "adsb_paris_2021-10-07_5s_4_aircraft.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 541
    ours = {(r.id, r.t): r for r in paris_decoded.reports}
    # Half a unit of the last printed digit (5 decimals for lat/lon, 1 for alt_m, 2 for the
    # rest), plus float slack.
    half_unit = {"lat": 5e-6, "lon": 5e-6, "alt_m": 0.05, "gs_mps": 0.005, "trk_deg": 0.005,
                 "vs_mps": 0.005}
    for row in rows:
        r = ours[(row["icao24"], float(row["timestamp"]))]
        for name, tol in half_unit.items():
            assert abs(float(row[name]) - getattr(r, name)) <= tol + 1e-9, (row, name)
    # And the same binning of our reports gives the same number of rows.
    first_in_bin = {(r.id, int(r.t) // 5) for r in paris_decoded.reports}
    assert len(first_in_bin) == len(rows)


def test_switzerland_without_onground_key(switzerland):
    assert "onground" not in switzerland[0]
    reports, rejected = read_opensky_records(switzerland)
    assert rejected == Counter()  # this extract has no nulls and no surface traffic
    assert len(reports) == len(switzerland) == 1_000
    r = reports[0]
    assert r.id == "3003ae"
    assert r.t == 1533101250.0
    assert r.alt_m == pytest.approx(10660.38, abs=1e-9)  # 34,975 ft x 0.3048
    assert r.gs_mps == pytest.approx(228.149389, abs=1e-6)  # 443.4869334744 kt x 1852 / 3600
    assert r.vs_mps == pytest.approx(4.8768, abs=1e-9)  # 960 ft/min x 0.3048 / 60


# --- records format, hand-written ---------------------------------------------------------

GOOD = {
    "timestamp": 1_700_000_000_500, "icao24": "ABC123", "callsign": "X", "latitude": 37.0,
    "longitude": 36.5, "altitude": 10_000, "groundspeed": 0, "track": 90.0,
    "vertical_rate": 0.0, "onground": False, "squawk": None,
}


def test_record_integers_and_case():
    (r,), rejected = read_opensky_records([GOOD])
    assert not rejected
    assert r.id == "abc123"  # lower-case, as OpenSky writes icao24
    assert r.t == 1_700_000_000.5
    assert r.alt_m == pytest.approx(3048.0)  # 10,000 ft
    assert r.gs_mps == 0.0


def test_record_nan_and_out_of_range_are_counted_invalid():
    bad = [
        {**GOOD, "altitude": math.nan},
        {**GOOD, "latitude": 91.0},
        {**GOOD, "vertical_rate": math.inf},
        {**GOOD, "icao24": "  "},
        {**GOOD, "groundspeed": -(10**400)},  # valid JSON, too large for a float
    ]
    reports, rejected = read_opensky_records(bad)
    assert reports == []
    assert rejected == {
        Reject(INVALID, "alt_m"): 1,
        Reject(INVALID, "lat"): 1,
        Reject(INVALID, "vs_mps"): 1,
        Reject(INVALID, "id"): 1,
        Reject(INVALID, "gs_mps"): 1,
    }


@pytest.mark.parametrize(
    ("records", "words"),
    [
        ({"a": 1}, "expected a list"),
        ([GOOD, "x"], "records[1]: expected an object"),
        ([GOOD, {k: v for k, v in GOOD.items() if k != "track"}], "records[1], field 'track'"),
        ([{**GOOD, "latitude": "48.1"}], "records[0], field 'latitude': expected a number"),
        ([{**GOOD, "altitude": True}], "records[0], field 'altitude'"),
        ([{**GOOD, "icao24": 123}], "records[0], field 'icao24'"),
        ([{**GOOD, "onground": 0}], "records[0], field 'onground'"),
        ([{**GOOD, "onground": 10**5000}], "records[0], field 'onground': .* got int$"),
        ([{**GOOD, "latitude": "4" * 10**6}], "field 'latitude': .* got str '4{20}'...$"),
    ],
)
def test_malformed_records_raise_naming_index_and_field(records, words):
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")) as err:
        read_opensky_records(records)
    assert len(str(err.value)) < 120  # a wrong value is described, never dumped whole


# --- REST /states/all, hand-written -------------------------------------------------------

# A /states/all response as the API documents it. NaN is not JSON, but Python's json module
# (and many producers) accept it, so the reader must meet it.
REST = """{"time": 1700000010, "states": [
 ["4b1806", "SWR123  ", "Switzerland", 1700000008, 1700000009, 8.5, 47.4, 10972.8, false,
  231.5, 90.0, -2.6, null, 11100.0, "1000", false, 0],
 ["4b1807", "SWR124  ", "Switzerland", null, 1700000009, 8.6, 47.5, 3000.0, false,
  120.0, 180.0, 0.0, null, null, null, false, 0],
 ["4b1808", "SWR125  ", "Switzerland", 1700000008, 1700000009, 8.55, 47.45, null, true,
  5.0, 270.0, null, null, null, null, false, 0],
 ["4b1809", "", "Switzerland", null, 1700000009, null, null, 5000.0, false,
  200.0, 10.0, 0.0, null, null, null, false, 0],
 ["4b180a", "", "Switzerland", 1700000008, 1700000009, 8.7, 47.6, 5000.0, false,
  null, null, null, null, null, null, false, 0],
 ["4b180b", "", "Switzerland", 1700000008, 1700000009, 8.8, 47.7, NaN, false,
  200.0, 10.0, 0.0, null, 5000.0, null, false, 0],
 ["4b180c", "EZY1", "United Kingdom", 1700000007, 1700000009, 8.9, 47.8, 9000, false,
  220, 45, 0, [1, 2], 9100, "2000", false, 0, 4],
 ["4b180d", "", "Switzerland", null, null, 8.8, 47.7, 5000.0, false,
  200.0, 10.0, 0.0, null, 5000.0, null, false, 0]
]}"""


def test_rest_document():
    reports, rejected = read_opensky_states(json.loads(REST))
    assert [r.id for r in reports] == ["4b1806", "4b1807", "4b180c"]
    first, fallback, with_category = reports
    # SI already: no conversion.
    assert (first.t, first.lat, first.lon, first.alt_m) == (1700000008, 47.4, 8.5, 10972.8)
    assert (first.gs_mps, first.trk_deg, first.vs_mps) == (231.5, 90.0, -2.6)
    assert fallback.t == 1700000009  # time_position null: last_contact
    assert with_category.alt_m == 9000.0  # barometric, never geo_altitude
    assert rejected == {
        Reject(ON_GROUND): 1,
        Reject(NULL, "latitude"): 1,
        Reject(NULL, "velocity"): 1,
        Reject(INVALID, "alt_m"): 1,
        Reject(NULL, "time_position"): 1,  # and last_contact: no time at all
    }


def test_rest_empty_box():
    assert read_opensky_states({"time": 1, "states": None}) == ([], Counter())


def row(**changes):
    base = json.loads(REST)["states"][0]
    for name, value in changes.items():
        base[REST_FIELDS.index(name)] = value
    return base


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        ([], "expected an object"),
        ({"time": 1}, "missing field 'states'"),
        ({"states": {}}, "field 'states': expected a list"),
        ({"states": [row(), "x"]}, r"states\[1\]: expected a list"),
        ({"states": [row(), row()[:16]]}, r"states\[1\], field 'position_source': row has 16"),
        ({"states": [row()[:5]]}, r"states\[0\], field 'longitude'"),
        ({"states": [row(latitude="47.4")]}, r"states\[0\], field 'latitude': expected a number"),
        ({"states": [row(velocity=True)]}, r"states\[0\], field 'velocity'"),
        ({"states": [row(on_ground=None)]}, r"states\[0\], field 'on_ground'"),
        ({"states": [row(icao24=None)]}, r"states\[0\], field 'icao24'"),
    ],
)
def test_rest_malformed_raises_naming_row_and_field(doc, words):
    with pytest.raises(InputError, match=words):
        read_opensky_states(doc)


# --- fuzzed: any decoded JSON gives reports or an InputError, nothing else ----------------

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(-(10**400), 10**400) | st.floats()
    | st.text(max_size=6)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=5),
    max_leaves=30,
)


@st.composite
def mutated_rows(draw):
    """The hand-written rows with values swapped for random JSON, and cut at random."""
    rows = json.loads(REST)["states"]
    for _ in range(draw(st.integers(0, 4))):
        r = draw(st.sampled_from(rows))
        r[draw(st.integers(0, len(r) - 1))] = draw(JSON)
    if draw(st.booleans()):
        r = draw(st.sampled_from(rows))
        del r[draw(st.integers(0, len(r))):]
    return {"time": 1, "states": rows}


@settings(max_examples=300, deadline=None)
@given(st.one_of(JSON, mutated_rows()))
def test_fuzzed_states_give_reports_or_input_error(doc):
    try:
        reports, rejected = read_opensky_states(doc)
    except InputError:
        return
    assert all(report_problem(r) is None for r in reports)
    assert len(reports) + sum(rejected.values()) == len(doc["states"] or [])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({k: JSON_SCALARS for k in GOOD}), max_size=5) | JSON)
def test_fuzzed_records_give_reports_or_input_error(records):
    try:
        reports, rejected = read_opensky_records(records)
    except InputError:
        return
    assert all(report_problem(r) is None for r in reports)
    assert len(reports) + sum(rejected.values()) == len(records)
