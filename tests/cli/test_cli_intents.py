"""``detente intents check`` on the shipped example and on bad input."""

from __future__ import annotations

from pathlib import Path

from detente.cli.main import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "intents.json"


def test_check_example(capsys):
    assert main(["intents", "check", str(EXAMPLE)]) == 0
    out, err = capsys.readouterr()
    # Worked by hand from examples/intents.json:
    # - ru-recce (circle 10 km about 36.20E 36.05N, 7,500-8,500 m, 08-09Z) lies inside the CAP
    #   box (7,000-8,000 m) during tr-cap-north (07-09Z) and touches tr-cap-relief at 09:00Z;
    # - ru-helo-sar (3 km about 36.13E 35.86N) reaches 35.887N, inside the patrol box from 35.88N;
    # - the Su-24 orbit (6 km about 36.10E 35.78N, 5,500-6,500 m, 07:30-08:00Z) meets the UAV
    #   orbit (4 km about 36.16E 35.83N: 7.8 km apart < 10 km, 5,000-6,000 m, from 07:30Z);
    # - the Su-24 legs are at 5,500 m and more, below the CAP: no overlap with it.
    assert out.splitlines() == [
        "id1,owner1,id2,owner2,volumes",
        "ru-helo-sar,RU,tr-heli-patrol,TR,0:0",
        "ru-recce,RU,tr-cap-north,TR,0:0",
        "ru-recce,RU,tr-cap-relief,TR,0:0",
        "ru-su24-sortie,RU,tr-uav-border,TR,2:0",
    ]
    assert err == "7 intents, 4 conflicting pairs\n"


def test_bad_file_prints_one_line_in_words(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "x", "owner": "A", "state": "Accepted", "priority": 0, "volumes": ['
                   '{"footprint": {"type": "Circle", "center": [30, 40], "radius_m": 5},'
                   '"altitude_lower_m": 0, "altitude_upper_m": 10,'
                   '"time_start": "2026-01-01T01:00:00Z", "time_end": "2026-01-01T00:00:00Z"}]}]')
    assert main(["intents", "check", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"detente intents: {bad}: intent 'x': volume 0: time_start")
    assert err.count("\n") == 1 and "Error" not in err
