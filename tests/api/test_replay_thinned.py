"""``detente replay`` of a real run whose recording kept only what the default tolerance keeps,
held to what each party was really shown (its stream, listened to while the service ran at
full rate: tests/replay_recording.py, with a turning, climbing coalition aircraft besides).

At each instant a picture frame was pushed, the replay gives each party the frame's tracks,
each within the stated tolerance of the frame's report flown on to the replay's instant
(pyproj's geodesics), with the frames' own rounding and the agreement's grid on top; the
alerts and hotline messages are exactly the stream's. The record's anchors say the tolerance,
signed, and prove exactly which reports were kept."""

from __future__ import annotations

import json
import math

import pytest
from pyproj import Geod

from detente.service.replay import Replay, read_ledger_export, read_recording
from detente.store.report_thinning import Tolerance
from tests.api.test_replay import shown
from tests.replay_recording import PARTIES, STEPS, recorded_once, states_at

GEOD = Geod(ellps="WGS84")
TOL = Tolerance()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return recorded_once(tmp_path_factory, thinned=True)


@pytest.fixture(scope="module")
def replay(run):
    r = Replay(read_recording(run.recording), read_ledger_export(run.export))
    r.check_binding()
    r.cross_check()
    return r


def test_the_recording_keeps_a_fraction_and_says_within_what_it_replays(run, replay):
    accepted = sum(len(states_at(p, step, 0.0, thinned=True))
                   for p in PARTIES for step in range(STEPS + 1))
    assert replay.recording.reports < accepted / 3
    assert replay.checked["anchored_reports"] == replay.recording.reports
    anchors = [e.statement.body for e in replay.ledger.entries
               if e.statement.kind == "recording.anchor"]
    assert anchors and all(a["tolerance"] == TOL.body() for a in anchors)  # signed
    info = replay.info()["recording"]
    assert info["tolerance"] == TOL.body()
    assert "within 50 m" in info["replays_within"] and "within 50 m" in replay.summary()
    # The turning aircraft is kept far more often than the straight ones.
    turning = sum(b.ids.count("COA-TURN") for b in replay.recording.batches)
    straight = sum(b.ids.count("COA-1") for b in replay.recording.batches)
    assert turning > 3 * straight


def close_enough(live: dict, got: dict) -> None:
    """``got`` (the replay's) within the tolerance of ``live`` (the frame's) flown on."""
    dt = got["t"] - live["t"]
    assert -0.01 <= dt <= 1.0, (live, got)  # the replay's instant, a frame's report before
    grid = live["precision_m"]
    lon, lat, _ = GEOD.fwd(live["lon"], live["lat"], live["trk_deg"], live["gs_mps"] * dt)
    off = GEOD.inv(lon, lat, got["lon"], got["lat"])[2]
    # Frames round lat/lon to 1e-6 deg (0.11 m); a share's grid may put the two in cells
    # side by side.
    assert off <= TOL.position_m + 0.3 + math.sqrt(2) * grid, (live, got, off)
    step = 0.05 + (100.0 if grid else 0.0)  # frames: a tenth; shares round altitude too
    assert abs(got["alt_m"] - (live["alt_m"] + live["vs_mps"] * dt)) <= (
        TOL.altitude_m + TOL.vertical_mps * dt + step)
    assert abs(got["gs_mps"] - live["gs_mps"]) <= TOL.speed_mps + 0.1 + (5.0 if grid else 0)
    turned = abs((got["trk_deg"] - live["trk_deg"] + 180) % 360 - 180)
    assert turned <= TOL.track_deg + 0.1 + (5.0 if grid else 0)
    assert abs(got["vs_mps"] - live["vs_mps"]) <= TOL.vertical_mps + 0.1 + (1.0 if grid else 0)


@pytest.mark.parametrize("party", PARTIES)
def test_each_party_is_shown_what_its_stream_showed_within_the_tolerance(run, replay, party):
    frames = shown(run.streams[party])
    instants = [t for t in frames if replay.t_from <= t <= replay.t_to]
    assert len(instants) >= 20
    checked = 0
    for t in instants:
        tracks, alerts, hotline = frames[t]
        view = json.loads(json.dumps(replay.view(party, t)))
        got = {(x["party"], x["id"]): x for x in view["tracks"]}
        assert set(got) == set(tracks), t
        for key, live in tracks.items():
            close_enough(live, got[key])
            checked += 1
        assert {a["id"]: a for a in view["alerts"]} == alerts, t
        assert {m["id"]: m for m in view["hotline"]} == hotline, t
    assert checked > 100
