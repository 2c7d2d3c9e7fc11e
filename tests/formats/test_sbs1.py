"""SBS-1 assembler against the real Los Angeles sample and hand-written lines.

The sample's date and time fields are empty, so its lines are stamped by the injected clock;
expectations about it are recomputed here with plain string splitting, not the assembler's code.
"""

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.formats.rejects import INVALID, NULL, ON_GROUND, Reject
from detente.formats.sbs1 import (
    FIELDS,
    NO_VELOCITY,
    STALE_VELOCITY,
    LineProblem,
    Sbs1Assembler,
)
from detente.model.reports import report_problem

# A copy of the published sample (tests/data/samples/README.md).
DATA = Path(__file__).parents[1] / "data" / "samples"
T0 = 1_700_000_000.0


def fixed_clock():
    return T0


@pytest.fixture(scope="module")
def sample_lines():
    return (DATA / "sbs1_losangeles_sample.txt").read_text().splitlines()


def test_sample_shape(sample_lines):
    # The README's facts, checked with plain splitting.
    assert len(sample_lines) == 4_184
    fields = [line.split(",") for line in sample_lines]
    assert all(len(f) == 22 for f in fields)
    assert all(f[6:10] == ["", "", "", ""] for f in fields)  # no dates or times at all
    assert sum(1 for f in fields if f[14] and f[15]) == 74
    assert sum(1 for f in fields if f[1] == "3") == 74


def test_sample_reports_only_positions_after_a_velocity(sample_lines):
    # Oracle: with one instant for the whole file, a position yields a report exactly when a
    # velocity for the same hex ident came earlier in the file.
    velocity_heard: set[str] = set()
    expected = []
    for f in (line.split(",") for line in sample_lines):
        if f[1] == "4":
            velocity_heard.add(f[4])
        elif f[1] == "3" and f[4] in velocity_heard:
            expected.append((f[4].lower(), float(f[14]), float(f[15])))
    with_position = {f[4] for f in (line.split(",") for line in sample_lines) if f[1] == "3"}
    with_velocity = {f[4] for f in (line.split(",") for line in sample_lines) if f[1] == "4"}

    assembler = Sbs1Assembler(now=fixed_clock)
    reports, problems = assembler.feed_lines(sample_lines)

    assert problems == []
    assert [(r.id, r.lat, r.lon) for r in reports] == expected
    assert len(reports) == 70 <= 74  # 74 position lines bound the reports
    assert {r.id.upper() for r in reports} == with_position & with_velocity
    assert len(with_position & with_velocity) == 5
    assert assembler.rejected == {Reject(NO_VELOCITY): 74 - 70}
    assert all(r.t == T0 for r in reports)


def test_sample_first_report_by_hand(sample_lines):
    reports, _ = Sbs1Assembler(now=fixed_clock).feed_lines(sample_lines)
    # Line 112: MSG,3,,,AA779D,,,,,,,39000,,,34.19946,-118.22685,... combined with the velocity
    # of line 67: MSG,4,,,AA779D,,,,,,,,430,155,,,64,...
    r = reports[0]
    assert (r.id, r.lat, r.lon, r.trk_deg) == ("aa779d", 34.19946, -118.22685, 155.0)
    assert r.alt_m == pytest.approx(11887.2, abs=1e-9)  # 39,000 ft x 0.3048
    assert r.gs_mps == pytest.approx(221.211111, abs=1e-6)  # 430 kt x 1852 / 3600
    assert r.vs_mps == pytest.approx(0.32512, abs=1e-9)  # 64 ft/min x 0.3048 / 60


# --- hand-written lines -------------------------------------------------------------------


def msg(kind, hexident="ABC123", *, date="", time="", alt="", gs="", trk="", lat="", lon="",
        vs="", onground="0"):
    f = ["MSG", str(kind), "1", "1", hexident, "1", date, time, date, time, "", alt, gs, trk,
         lat, lon, vs, "", "0", "0", "0", onground]
    assert len(f) == len(FIELDS)
    return ",".join(f)


def position(hexident="ABC123", **kw):
    return msg(3, hexident, **{"alt": "10000", "lat": "37.0", "lon": "36.5", **kw})


def velocity(hexident="ABC123", **kw):
    return msg(4, hexident, **{"gs": "250", "trk": "90", "vs": "-500", **kw})


def at(seconds):
    """Date and time fields for T0 + seconds, in UTC."""
    stamp = datetime.fromtimestamp(T0 + seconds, UTC)
    return {"date": stamp.strftime("%Y/%m/%d"), "time": stamp.strftime("%H:%M:%S.%f")[:-3]}


def test_time_from_fields_and_clock_unused():
    calls = []

    def clock():
        calls.append(1)
        return 0.0

    assembler = Sbs1Assembler(now=clock, max_age_s=5)
    reports, problems = assembler.feed_lines(
        [velocity(**at(0)), position(**at(4.5)), position(**at(5.25)), velocity(**at(6))]
    )
    assert problems == []
    assert [r.t for r in reports] == [T0 + 4.5]  # 1700000004.5: 2023/11/14 22:13:24.500 UTC
    assert assembler.rejected == {Reject(STALE_VELOCITY): 1}  # 5.25 s > 5 s after the velocity
    assert calls == []  # stamped lines never consult the clock
    assert reports[0].alt_m == pytest.approx(3048.0)  # 10,000 ft
    assert reports[0].vs_mps == pytest.approx(-2.54)  # -500 ft/min x 0.3048 / 60


def test_configured_timezone():
    # The receiver writes local time; Los Angeles in November is UTC-8.
    local = datetime.fromtimestamp(T0, timezone(timedelta(hours=-8)))
    fields = {"date": local.strftime("%Y/%m/%d"), "time": local.strftime("%H:%M:%S")}
    assembler = Sbs1Assembler(now=fixed_clock, timezone=timezone(timedelta(hours=-8)))
    (report,), _ = assembler.feed_lines([velocity(**fields), position(**fields)])
    assert report.t == T0
    # Read as UTC (the default) the same fields are 8 hours early.
    (report,), _ = Sbs1Assembler(now=fixed_clock).feed_lines(
        [velocity(**fields), position(**fields)]
    )
    assert report.t == T0 - 8 * 3600


def test_stepped_clock_makes_velocity_stale():
    ticks = iter([T0, T0 + 3, T0 + 20, T0 + 21])
    assembler = Sbs1Assembler(now=lambda: next(ticks), max_age_s=10)
    reports, _ = assembler.feed_lines([velocity(), position(), position(), position("DEF456")])
    assert [r.t for r in reports] == [T0 + 3]
    assert assembler.rejected == {Reject(STALE_VELOCITY): 1, Reject(NO_VELOCITY): 1}


def test_altitude_remembered_from_altitude_messages():
    assembler = Sbs1Assembler(now=fixed_clock)
    reports, problems = assembler.feed_lines(
        [msg(5, alt="7400"), velocity(), position(alt=""), position("DEF456", alt="")]
    )
    assert problems == []
    assert [r.alt_m for r in reports] == [pytest.approx(2255.52)]  # 7,400 ft x 0.3048
    assert assembler.rejected == {Reject(NULL, "altitude"): 1}


def test_ground_empty_and_invalid_are_counted():
    assembler = Sbs1Assembler(now=fixed_clock)
    reports, problems = assembler.feed_lines([
        velocity(),
        msg(2, alt="0", gs="10", trk="90", lat="37", lon="36.5"),  # surface position
        position(onground="-1"),  # BaseStation writes true as -1
        position(lat="", lon=""),  # position not decoded yet
        velocity("DEF456", vs=""),
        position(lat="95.0"),  # decodes, but no aircraft is there
    ])
    assert reports == [] and problems == []
    assert assembler.rejected == {
        Reject(ON_GROUND): 2,
        Reject(NULL, "latitude"): 1,
        Reject(NULL, "vertical_rate"): 1,
        Reject(INVALID, "lat"): 1,
    }


def test_garbled_lines_are_counted_not_raised():
    lines = [
        velocity(),
        "",  # 2
        "MSG,3,,,ABC123,,,,,,,10000,,,37.0",  # 3 truncated
        position(lat="3x.7"),  # 4 non-numeric
        position(lon="nan"),  # 5 not finite
        "MSG,9" + ",x" * 20,  # 6 unknown type
        position("ABC12"),  # 7 short hex ident
        "\x00\x17garbage",  # 8
        position(**{"date": "2023/13/40", "time": "25:00:00"}),  # 9
        position(**{"date": "2023/11/14", "time": ""}),  # 10
        position() + ",extra",  # 11 two lines run together, say
        "STA,,5,179,400AE7,10103,2008/11/28,14:58:51.153,2008/11/28,14:58:51.153,RM",  # 12 ok
        position(),  # 13 still assembles after all that
    ]
    assembler = Sbs1Assembler(now=fixed_clock)
    reports, problems = assembler.feed_lines(lines)
    assert [r.id for r in reports] == ["abc123"]
    assert [(p.line, p.field) for p in problems] == [
        (2, None),
        (3, "longitude"),  # the first missing field: 15 of 22 present
        (4, "latitude"),
        (5, "longitude"),
        (6, "type"),
        (7, "hexident"),
        (8, "message"),
        (9, "date_gen"),
        (10, "time_gen"),
        (11, None),
    ]
    assert "expected a number" in problems[2].problem
    assert "15 fields, expected 22" in problems[1].problem


def test_line_numbers_run_over_the_stream():
    assembler = Sbs1Assembler(now=fixed_clock)
    assembler.feed_lines([velocity(), position()])
    _, problems = assembler.feed_lines(["garbage\r\n"])
    assert problems == [LineProblem(3, "message", "expected MSG, SEL, ID, AIR, STA or CLK, "
                                                  "got 'garbage'")]


def test_silent_aircraft_are_forgotten():
    assembler = Sbs1Assembler(now=fixed_clock, max_age_s=10)
    assembler.feed_lines([velocity("AAAAAA", **at(0)), velocity("BBBBBB", **at(0))])
    assert assembler.aircraft_count == 2
    reports, _ = assembler.feed_lines([velocity("BBBBBB", **at(30)), position("AAAAAA", **at(30))])
    assert reports == []
    assert assembler.aircraft_count == 2  # AAAAAA heard again at 30 s, with no velocity
    assert assembler.rejected == Counter({Reject(NO_VELOCITY): 1})
    assembler.feed_lines([velocity("BBBBBB", **at(60))])
    assert assembler.aircraft_count == 1


@pytest.mark.parametrize("max_age_s", [-1.0, float("nan"), float("inf")])
def test_bad_max_age(max_age_s):
    with pytest.raises(ValueError, match="max_age_s"):
        Sbs1Assembler(now=fixed_clock, max_age_s=max_age_s)


# --- fuzzed: a garbled feed never raises --------------------------------------------------

SAMPLE_HEAD = [velocity(), position(), msg(5, alt="7400"), velocity(**at(1)), position(**at(1))]


@st.composite
def garbled(draw):
    """A well-formed line cut, spliced or overwritten at random, or plain random text."""
    line = draw(st.sampled_from(SAMPLE_HEAD))
    how = draw(st.sampled_from(["cut", "overwrite", "insert", "text"]))
    k = draw(st.integers(0, len(line)))
    junk = draw(st.text(max_size=8))
    if how == "cut":
        return line[:k]
    if how == "overwrite":
        return line[:k] + junk + line[k + len(junk):]
    if how == "insert":
        return line[:k] + junk + line[k:]
    return draw(st.text(max_size=60))


@settings(max_examples=300, deadline=None)
@given(st.lists(garbled(), max_size=20))
def test_fuzzed_lines_never_raise(lines):
    assembler = Sbs1Assembler(now=fixed_clock)
    reports, problems = assembler.feed_lines([*SAMPLE_HEAD[:2], *lines])
    assert len(problems) <= len(lines)
    assert all(2 < p.line <= len(lines) + 2 for p in problems)
    assert all(report_problem(r) is None for r in reports)
