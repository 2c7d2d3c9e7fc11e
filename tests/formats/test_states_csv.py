import io
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.errors import InputError, RecordError
from detente.formats.states_csv import read_states_csv

HEADER = "id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps\n"


def read(text):
    return read_states_csv(io.StringIO(text), "s.csv")


def test_reads_columns_in_any_order_and_without_party():
    s = read("lat,lon,id,alt_m,gs_mps,trk_deg,vs_mps\n37.5,36.1,a,5791,120,90,0\n")
    assert s.party is None
    assert s.id.tolist() == ["a"]
    np.testing.assert_array_equal(s.alt_m, [5791.0])
    s = read(HEADER + "a,RUS,35.8,36.1,5791,120,90,-1.5\n\nb,TUR,36.5,36.2,7620,230,270,0\n")
    assert s.party.tolist() == ["RUS", "TUR"]
    np.testing.assert_array_equal(s.vs_mps, [-1.5, 0.0])


@pytest.mark.parametrize(
    ("row", "line", "field", "words"),
    [
        ("a,P,37,36,5000,200,90", 2, "vs_mps", "fields"),  # missing column
        ("a,P,north,36,5000,200,90,0", 2, "lat", "expected a number"),
        ("a,P,nan,36,5000,200,90,0", 2, "lat", "not a finite"),
        ("a,P,37,36,inf,200,90,0", 2, "alt_m", "not a finite"),
        ("a,P,91,36,5000,200,90,0", 2, "lat", "outside [-90, 90]"),
        ("a,P,37,181,5000,200,90,0", 2, "lon", "outside"),
        ("a,P,37,36,5000,1500.5,90,0", 2, "gs_mps", "outside [0, 1500]"),
        ("a,P,37,36,5000,-1,90,0", 2, "gs_mps", "outside"),
        ("a,P,37,36,5000,200,90,", 2, "vs_mps", "empty value"),
        (",P,37,36,5000,200,90,0", 2, "id", "empty id"),
    ],
)
def test_bad_rows_name_file_line_and_field(row, line, field, words):
    with pytest.raises(RecordError) as err:
        read(HEADER + row + "\n")
    assert (err.value.source, err.value.line, err.value.field) == ("s.csv", line, field)
    assert words in str(err.value)
    assert str(err.value).startswith(f"s.csv, line {line}, field {field!r}")


def test_error_on_a_later_line_counts_lines():
    good = "a,P,37,36,5000,200,90,0\nb,P,37,36,5000,200,90,0\n"
    with pytest.raises(RecordError) as err:
        read(HEADER + good + "c,P,37,36,5000,2000,90,0\n")
    assert err.value.line == 4


def test_duplicate_ids_and_missing_header_columns():
    with pytest.raises(RecordError, match="duplicate id 'a' \\(first on line 2\\)"):
        read(HEADER + "a,P,37,36,5000,200,90,0\na,Q,37,36,5000,200,90,0\n")
    with pytest.raises(RecordError, match="missing column\\(s\\) gs_mps"):
        read("id,lat,lon,alt_m,trk_deg,vs_mps\n")
    with pytest.raises(InputError, match="empty file"):
        read("")


# --- the column-by-column fast path against the rules, row by row -------------------------

RANGES = {"lat": (-90, 90), "lon": (-180, 180), "alt_m": (-1000, 100_000), "gs_mps": (0, 1500),
          "trk_deg": (-360, 360), "vs_mps": (-1500, 1500)}
NUMBERS = ("lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps")


def oracle(header, rows):
    """The file's rules written out plainly: (line, field) of the first fault, or the rows."""
    seen, kept = set(), []
    for line, row in enumerate(rows, start=2):
        if all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            return line, header[len(row)]
        cell = dict(zip(header, row, strict=False))
        if not cell["id"].strip() or cell["id"].strip() in seen:
            return line, "id"
        seen.add(cell["id"].strip())
        if "party" in header and not cell["party"].strip():
            return line, "party"
        for name in NUMBERS:
            try:
                value = float(cell[name])
            except ValueError:
                return line, name
            low, high = RANGES[name]
            if not (math.isfinite(value) and low <= value <= high):
                return line, name
        kept.append(cell)
    return kept


CELLS = st.sampled_from(["0", "37.5", "-12", "1e3", " 45 ", "1500", "1500.5", "91", "-1001",
                         "nan", "inf", "", "  ", "x", "1_0", "P", "Q"])


@settings(max_examples=300, deadline=None)
@given(
    header=st.permutations(["id", "party", *NUMBERS]) | st.permutations(["id", *NUMBERS]),
    rows=st.lists(st.lists(CELLS | st.sampled_from(["a", "b", "c"]), min_size=0, max_size=9),
                  max_size=6),
)
def test_column_checks_agree_with_the_rules_row_by_row(header, rows):
    text = ",".join(header) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    want = oracle(header, rows)
    if isinstance(want, tuple):
        with pytest.raises(RecordError) as err:
            read(text)
        assert (err.value.line, err.value.field) == want
        return
    s = read(text)
    assert s.id.tolist() == [c["id"].strip() for c in want]
    for name in NUMBERS:
        assert getattr(s, name).tolist() == [float(c[name]) for c in want]
    if "party" in header:
        assert s.party.tolist() == [c["party"].strip() for c in want]
    else:
        assert s.party is None
