"""``detente export --with-recording`` and ``detente replay``, through main() and as a process.

The export is of a real service run (tests/replay_recording.py). The record part still verifies
with ``detente verify``; a replay refuses a record export that does not verify (with verify's
own message), a recording that is not of that export, and a recording whose hotline traffic or
alerts disagree with the signed record.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from detente.cli.main import main
from detente.data import bundled_path
from detente.service.replay import Replay, read_ledger_export, read_recording, recording_path
from tests.live_server import free_port
from tests.replay_recording import START, recorded_once


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return recorded_once(tmp_path_factory)


@pytest.fixture
def copy(run, tmp_path):
    """A private copy of the export and its recording, to spoil."""
    export = tmp_path / "record.jsonl"
    export.write_bytes(run.export.read_bytes())
    recording_path(export).write_bytes(run.recording.read_bytes())
    return export


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write_lines(path: Path, values: list[dict]) -> None:
    path.write_text("".join(json.dumps(v) + "\n" for v in values))


def replay_refuses(export: Path, capsys, *extra: str) -> str:
    capsys.readouterr()
    assert main(["replay", str(export), "--no-browser", *extra]) == 1
    return capsys.readouterr().err


def test_the_record_part_still_verifies_and_the_recording_says_it_is_not_signed(run, capsys):
    assert main(["verify", str(run.export)]) == 0
    assert capsys.readouterr().out.startswith("OK: ")
    header = lines(run.recording)[0]
    assert header["format"] == "detente-recording-v1" and header["signed"] is False
    assert header["note"].startswith("NOT SIGNED")
    assert header["ledger"]["root"] == read_ledger_export(run.export).report.root.hex()


def test_a_tampered_record_export_is_refused_with_verifys_message(copy, capsys):
    data = bytearray(copy.read_bytes())
    rng = random.Random(5)
    for _ in range(5):
        bad = bytearray(data)
        bit = rng.randrange(len(bad) * 8)
        bad[bit // 8] ^= 1 << bit % 8
        copy.write_bytes(bytes(bad))
        capsys.readouterr()
        assert main(["verify", str(copy)]) == 1
        verdict = capsys.readouterr().err
        assert verdict.startswith("detente verify: line ")
        assert "Error" not in verdict and verdict.count("\n") == 1
        assert replay_refuses(copy, capsys) == verdict.replace("detente verify", "detente replay")


def test_a_recording_that_disagrees_with_the_signed_record_is_refused(copy, capsys):
    rec = recording_path(copy)
    original = lines(rec)

    # A hotline message's words changed.
    spoiled = [dict(v) for v in original]
    for v in spoiled:
        if "event" in v and v["event"]["type"] == "hotline" and not v["event"]["data"]["automatic"]:
            v["event"] = {**v["event"], "data": {**v["event"]["data"], "body": "All is well."}}
    write_lines(rec, spoiled)
    err = replay_refuses(copy, capsys)
    assert re.search(r"hotline message \w+ disagrees with record entry \d+ \(body: the record "
                     r"says 'Leave the salient now.', the recording 'All is well.'\)", err), err

    # An acknowledgement that nobody signed.
    spoiled = [dict(v) for v in original]
    for v in spoiled:
        if "event" in v and v["event"]["type"] == "hotline" and v["event"]["data"]["ack"]:
            ack = {**v["event"]["data"]["ack"], "reply": "We were never warned."}
            v["event"] = {**v["event"], "data": {**v["event"]["data"], "ack": ack}}
    write_lines(rec, spoiled)
    assert "acknowledgement of hotline message" in replay_refuses(copy, capsys)

    # An alert the record holds, left out of what TUR was told.
    spoiled = [v for v in original if not ("event" in v and v["event"]["party"] == "TUR"
                                           and v["event"]["type"] == "alert")]
    spoiled[-1] = {"end": {**spoiled[-1]["end"],
                           "events": sum("event" in v for v in spoiled)}}
    write_lines(rec, spoiled)
    assert "but the recording never tells TUR of it" in replay_refuses(copy, capsys)

    # Cut short.
    write_lines(rec, original[:-1])
    assert "the recording ends early" in replay_refuses(copy, capsys)

    # A report that is not one, named by its line.
    at = next(n for n, v in enumerate(original) if "reports" in v)
    for bad in (["SU24", "soon", 0, 0, 0, 0, 0, 0], ["SU24", 1, 2, 3], [7, 1, 2, 3, 4, 5, 6, 7],
                ["SU24", 1, 2, 3, 4, 5, 6, None]):
        spoiled = [dict(v) for v in original]
        spoiled[at] = {"reports": {**original[at]["reports"], "rows": [bad]}}
        write_lines(rec, spoiled)
        assert f"line {at + 1}: " in replay_refuses(copy, capsys)


def test_track_reports_are_held_to_the_digests_anchored_in_the_record(copy, capsys):
    rec = recording_path(copy)
    original = lines(rec)
    reports = sum(len(v["reports"]["rows"]) for v in original if "reports" in v)
    ledger = read_ledger_export(copy)
    anchors = sum(e.statement.kind == "recording.anchor" for e in ledger.entries)
    checked = Replay(read_recording(rec), ledger).cross_check()
    # The run lasts 40 s, anchored every 10 s and at its stop: every report is anchored.
    assert checked["anchors"] == anchors >= 4 and checked["anchored_reports"] == reports > 200
    assert checked["unchecked_anchors"] == 0
    at = [n for n, v in enumerate(original) if "reports" in v]
    middle = at[len(at) // 2]

    # One report moved by 1e-7 degrees (about a centimetre).
    spoiled = [dict(v) for v in original]
    batch = spoiled[middle]["reports"]
    rows = [list(r) for r in batch["rows"]]
    rows[0][2] += 1e-7
    spoiled[middle] = {"reports": {**batch, "rows": rows}}
    write_lines(rec, spoiled)
    assert re.search(r"track reports of rows \d+ to \d+ \(received 2015-11-24 07:10:\S+ to "
                     r"\S+ \S+\) do not match their digest in record entry \d+: changed since",
                     replay_refuses(copy, capsys))

    # A batch of reports left out.
    spoiled = [v for n, v in enumerate(original) if n != middle]
    spoiled[-1] = {"end": {**spoiled[-1]["end"],
                           "reports": reports - len(original[middle]["reports"]["rows"]),
                           "batches": len(at) - 1}}
    write_lines(rec, spoiled)
    err = replay_refuses(copy, capsys)
    assert re.search(rf"{len(original[middle]['reports']['rows'])} of the \d+ track reports of "
                     r"rows .* anchored in record entry \d+, are missing from the recording", err)

    # A batch of reports shown twice.
    spoiled = [*original[:middle + 1], original[middle], *original[middle + 1:]]
    spoiled[-1] = {"end": {**spoiled[-1]["end"],
                           "reports": reports + len(original[middle]["reports"]["rows"]),
                           "batches": len(at) + 1}}
    write_lines(rec, spoiled)
    assert f"holds report row {original[middle]['reports']['row']} twice" in replay_refuses(
        copy, capsys)

    # A thinned anchor passed off as one the span cuts: the span moved past reports it holds.
    write_lines(rec, [{**original[0], "reports_from": original[middle]["reports"]["received"]},
                      *original[1:]])
    assert "outside the span its first line states" in replay_refuses(copy, capsys)

    # A header whose report span is not a number.
    write_lines(rec, [{**original[0], "reports_from": "yesterday"}, *original[1:]])
    assert "line 1: reports_from: expected a finite number, got 'yesterday'" in replay_refuses(
        copy, capsys)


def test_a_recording_of_another_record_is_refused(copy, capsys):
    rec = recording_path(copy)
    values = lines(rec)
    values[0]["ledger"]["root"] = "00" * 32
    write_lines(rec, values)
    assert "is not of this record export (root differ" in replay_refuses(copy, capsys)
    rec.unlink()
    assert "no recording" in replay_refuses(copy, capsys)


def test_export_options_are_checked(run, tmp_path, capsys):
    db = f"sqlite:///{run.export.parent / 'detente.sqlite'}"
    assert main(["export", "--db", db, "--with-recording"]) == 1
    assert "--with-recording needs --out" in capsys.readouterr().err
    assert main(["export", "--db", db, "--out", str(tmp_path / "x.jsonl"), "--from", "1"]) == 1
    assert "go with --with-recording" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--db", db, "--from", "yesterday"])
    # A configuration the service did not run (another region) is refused.
    other = tmp_path / "other.toml"
    other.write_text(bundled_path("demo/border.toml").read_text()
                      .replace('name = "Hatay border"', 'name = "elsewhere"'))
    assert main(["export", "--db", db, "--out", str(tmp_path / "x.jsonl"), "--with-recording",
                 "--config", str(other)]) == 1
    assert "the configuration the service ran with --config" in capsys.readouterr().err


def test_a_window_of_the_recording_replays_as_the_whole_one_does(run, tmp_path):
    whole = Replay(read_recording(run.recording), read_ledger_export(run.export))
    db = f"sqlite:///{run.export.parent / 'detente.sqlite'}"
    out = tmp_path / "window.jsonl"
    t0, t1 = START + 15, START + 30
    assert main(["export", "--db", db, "--out", str(out), "--with-recording",
                 "--from", "2015-11-24T07:10:15Z", "--to", str(t1)]) == 0
    part = Replay(read_recording(recording_path(out)), read_ledger_export(out))
    part.check_binding()
    checked = part.cross_check()
    # Anchors of reports after the window are cut by it: not checkable, and no false alarm.
    assert checked["anchors"] >= 2 and checked["unchecked_anchors"] >= 1
    assert (part.t_from, part.t_to) == (t0, t1)
    assert part.recording.reports < whole.recording.reports
    for t in (t0, t0 + 0.5, t0 + 7, t1):
        for party in ("TUR", "RUS", "COA"):
            assert part.view(party, t) == whole.view(party, t)


def test_a_database_whose_reports_are_all_gone_exports_a_recording_that_replays(run, tmp_path):
    # As after retention took every report: no anchor can be checked, and none is refused.
    path = tmp_path / "pruned.sqlite"
    source = sqlite3.connect(run.export.parent / "detente.sqlite")
    source.backup(target := sqlite3.connect(path))
    source.close()
    target.execute("DELETE FROM report_segments")
    target.commit()
    target.close()
    out = tmp_path / "pruned.jsonl"
    assert main(["export", "--db", f"sqlite:///{path}", "--out", str(out),
                 "--with-recording"]) == 0
    pruned = Replay(read_recording(recording_path(out)), read_ledger_export(out))
    assert pruned.recording.reports == 0
    checked = pruned.cross_check()
    assert checked["anchors"] == 0 and checked["unchecked_anchors"] >= 4


def test_replay_serves_the_console_and_stops_on_ctrl_c(run, tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "detente", "replay", str(run.export), "--port", str(port),
         "--party", "TUR", "--no-browser"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        out = []
        while not any(line.startswith("replay: ") for line in out):
            line = process.stdout.readline()
            assert line, "replay exited: " + "".join(out)
            out.append(line)
        text = "".join(out)
        assert text.startswith("OK: ")
        assert "3 hotline messages, 1 acknowledgements" in text
        assert "agree with the signed record" in text and "NOT SIGNED" in text
        assert f"replay: http://127.0.0.1:{port}/console/?source=replay&party=TUR" in text
        deadline = time.monotonic() + 20
        while True:
            try:
                info = httpx.get(f"http://127.0.0.1:{port}/v1/replay").json()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert info["party"] == "TUR"
    finally:
        process.send_signal(2)
        assert process.wait(timeout=20) == 0
