"""`detente incursions`: CSV out for the 2015 case, clear errors for bad input, no traceback."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from detente.cli.main import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIO_CSV = EXAMPLES / "yayladagi_2015.csv"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_2015_case_with_the_bundled_territory(capsys):
    code, out, err = run(capsys, "incursions", str(SCENARIO_CSV))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["id", "airspace", "t_entry", "t_exit", "entry_lat", "entry_lon",
                             "inside_m"]
    assert [r["id"] for r in rows] == ["SU24-LEAD", "SU24-WING"]
    lead = rows[0]
    assert lead["airspace"] == "Turkey"
    assert float(lead["t_exit"]) - float(lead["t_entry"]) == pytest.approx(17.0, abs=3.0)
    # Entry on the salient's eastern flank, within 2 km of the tip at 35.808 N, 36.154 E.
    assert abs(float(lead["entry_lat"]) - 35.808) < 0.02
    assert abs(float(lead["entry_lon"]) - 36.154) < 0.02
    assert "4 aircraft, 1 airspaces: 2 incursions" in err


def test_short_lookahead_sees_nothing_yet(capsys):
    code, out, _ = run(capsys, "incursions", str(SCENARIO_CSV), "--lookahead", "100")
    assert code == 0 and out.splitlines() == [
        "id,airspace,t_entry,t_exit,entry_lat,entry_lon,inside_m"
    ]


def test_exit_beyond_lookahead_is_empty_and_proximity_lists_warnings(capsys, tmp_path):
    zone = {"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"name": "R1", "owner": "TUR", "kind": "restricted_area",
                       "floor_m": None, "ceiling_m": 10000, "buffer_m": 5000},
        "geometry": {"type": "Polygon",
                     "coordinates": [[[0, -0.05], [1, -0.05], [1, 0.05], [0, 0.05], [0, -0.05]]]},
    }]}
    (tmp_path / "z.geojson").write_text(json.dumps(zone), encoding="utf-8")
    states = tmp_path / "s.csv"
    states.write_text(
        "id,party,lat,lon,alt_m,gs_mps,trk_deg,vs_mps\n"
        "IN,RUS,0,-0.05,3000,100,90,0\n"
        "NEAR,RUS,0.068,-0.08,3000,100,90,0\n",
        encoding="utf-8",
    )
    code, out, _ = run(capsys, "incursions", str(states), "--airspace", str(tmp_path / "z.geojson"))
    assert code == 0
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert (row["id"], row["t_exit"]) == ("IN", "")  # 1 degree wide: still inside at 300 s
    code, out, _ = run(capsys, "incursions", str(states), "--airspace", str(tmp_path / "z.geojson"),
                       "--proximity")
    (near,) = list(csv.DictReader(io.StringIO(out)))
    assert near["id"] == "NEAR" and 1900 < float(near["d_min_m"]) < 2100


def test_bad_airspace_file_names_the_feature_without_traceback(capsys, tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature",
        "properties": {"name": "Bowtie", "owner": "TUR", "kind": "restricted_area",
                       "floor_m": 0, "ceiling_m": 1000},
        "geometry": {"type": "Polygon",
                     "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]},
    }]}), encoding="utf-8")
    code, out, err = run(capsys, "incursions", str(SCENARIO_CSV), "--airspace", str(bad))
    assert code == 1 and out == ""
    assert err.startswith("detente incursions: ") and "feature 0 ('Bowtie')" in err
    assert err.endswith("; correct that geometry and run again\n") and "Error" not in err
    assert "Traceback" not in err


def test_missing_and_non_geojson_files(capsys, tmp_path):
    code, _, err = run(capsys, "incursions", str(SCENARIO_CSV), "--airspace", str(tmp_path / "no"))
    assert code == 1 and err.startswith("detente incursions: cannot read")
    code, _, err = run(capsys, "incursions", str(SCENARIO_CSV), "--airspace", str(SCENARIO_CSV))
    assert code == 1 and "not GeoJSON" in err


def test_help_states_the_default_airspace(capsys):
    with pytest.raises(SystemExit):
        main(["incursions", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "default: Turkey's national territory shipped with detente" in out
