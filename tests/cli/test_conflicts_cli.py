"""`detente conflicts` end to end, as a user runs it: a subprocess on real files."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.cli import conflicts
from detente.formats.states_csv import read_states_csv
from detente.geo import WGS84

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "paris_snapshot.csv"


def run(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "detente", "conflicts", *map(str, args)],
        capture_output=True, text=True, input=stdin, cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
    )


def rows(stdout):
    return list(csv.reader(io.StringIO(stdout)))


def test_bundled_real_sample_against_geodesic_sampling():
    done = run(SAMPLE, "--all-pairs")
    assert done.returncode == 0, done.stderr
    out = rows(done.stdout)
    assert out[0] == ["id1", "id2", "t_in", "t_out", "t_cpa", "d_cpa_m", "dv_cpa_m"]
    got = {(a, b) for a, b, *_ in out[1:]}
    assert all(a < b for a, b in got)
    assert [r[:2] for r in out[1:]] == sorted(r[:2] for r in out[1:])
    # Oracle: fly every aircraft of the snapshot along its geodesic for 300 s in 1 s steps and
    # measure every pair; keep those clearly inside (1 % margins) and clearly outside.
    s = read_states_csv(open(SAMPLE), str(SAMPLE))
    t = np.arange(0, 301.0)
    pos = [WGS84.fwd(np.full(t.size, s.lon[k]), np.full(t.size, s.lat[k]),
                     np.full(t.size, s.trk_deg[k]), s.gs_mps[k] * t)[:2] for k in range(len(s))]
    alt = s.alt_m[:, None] + s.vs_mps[:, None] * t
    sure, maybe = set(), set()
    for i in range(len(s)):
        for j in range(i + 1, len(s)):
            d = WGS84.inv(pos[i][0], pos[i][1], pos[j][0], pos[j][1])[2]
            dz = np.abs(alt[i] - alt[j])
            key = tuple(sorted((s.id[i], s.id[j])))
            if np.any((d < 9260 * 0.99) & (dz < 304.8 * 0.99)):
                sure.add(key)
            if np.any((d < 9260 * 1.01) & (dz < 304.8 * 1.01)):
                maybe.add(key)
    assert sure, "the sample should hold at least one conflict"
    assert sure <= got <= maybe


def test_party_filter_and_options():
    text = ("id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps\n"
            "a,X,37,36,5000,0,0,0\nb,X,37,36.01,5000,0,0,0\nc,Y,37,36.02,5000,0,0,0\n")
    assert [r[:2] for r in rows(run("-", stdin=text).stdout)[1:]] == [["a", "c"], ["b", "c"]]
    assert len(rows(run("-", "--all-pairs", stdin=text).stdout)) == 4
    # 0.01 deg of longitude at 37 N is ~888 m: a 500 m minimum leaves only nobody in conflict.
    assert len(rows(run("-", "--h-min", "500", stdin=text).stdout)) == 1


def test_bad_input_is_a_clear_error_and_nothing_on_stdout(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,lat,lon,alt_m,gs_mps,trk_deg,vs_mps\na,37,36,5000,200,90,0\n"
                   "b,37,36,5000,fast,90,0\n")
    done = run(bad)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"detente conflicts: {bad}, line 3, field 'gs_mps': expected a number, got 'fast'; "
        "correct that line and run again\n"
    )
    assert "Traceback" not in done.stderr
    missing = run(tmp_path / "nope.csv")
    assert missing.returncode == 1 and "cannot read" in missing.stderr
    negative = run(SAMPLE, "--lookahead", "-5")
    assert negative.returncode == 2 and "must be > 0" in negative.stderr


# Decimal ties and their neighbours (k/20 sits on a half of the first decimal; 0.15 is not
# exactly 0.15 in binary), the rest of the column's range, and what the engine never gives.
TIES = st.integers(0, 6_000).map(lambda k: k / 20) | st.integers(0, 6_000).map(
    lambda k: np.nextafter(k / 20, np.inf if k % 2 else -np.inf))
VALUES = TIES | st.floats(0, 400) | st.floats(0, 20_000) | st.sampled_from(
    [-0.0, 0.0, -0.25, 1e300, float("inf"), float("nan"), 2.5, 0.05, 299.95])


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUES, max_size=50), st.sampled_from([0, 1]))
def test_table_formatting_is_pythons(values, decimals):
    # The oracle is Python's own float formatting, value by value.
    assert conflicts._fixed(np.array(values, dtype=np.float64), decimals) == [
        f"{v:.{decimals}f}" for v in values]
