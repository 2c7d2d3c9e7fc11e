"""``detente replay``'s answers against what each party was really shown.

The oracle is the run itself: every party's stream, listened to while the service ran (see
tests/replay_recording.py). At each instant a picture frame was pushed, the replay must give
that party exactly the frame's tracks, and exactly the alerts and hotline messages its stream
had brought by then. Properties from the agreements and the signed record on top: a track
outside the zone TUR shares is never RUS's to see, RUS's tracks are never COA's, and the
incursion alert is shown to RUS and TUR from the instant the record says it was raised and
never to COA.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
import shapely

from detente.api.replay_app import create_replay_app
from detente.ledger import Receipt, SignedStatement
from detente.service.frames import frame_tracks
from detente.service.replay import Replay, read_ledger_export, read_recording
from tests.live_server import serve
from tests.replay_recording import PARTIES, RUS_FROM, START, recorded_once


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return recorded_once(tmp_path_factory)


@pytest.fixture(scope="module")
def replay(run):
    r = Replay(read_recording(run.recording), read_ledger_export(run.export))
    r.check_binding()
    r.cross_check()
    return r


def roundtrip(value):
    return json.loads(json.dumps(value))


def shown(stream):
    """What the party's console held after the last frame of each instant: {t: state}."""
    tracks, alerts, hotline, out, spoiled = {}, {}, {}, {}, set()
    for msg in stream:
        kind, data = msg["type"], msg.get("data")
        if kind == "alert":
            alerts[data["id"]] = data
        elif kind == "hotline":
            hotline[data["id"]] = data
        elif kind == "picture":
            # A frame is stamped with its cycle's start; when the test moved the clock on and
            # posted during the cycle, it holds the next instant's reports, and the events of
            # that cycle came before it: its instant is no oracle.
            frame = frame_tracks(data)
            if any(t["t"] > data["t"] for t in frame):
                out.pop(data["t"], None)
                spoiled.add(data["t"])
                continue
            if data["t"] in spoiled:
                continue
            tracks = {(t["party"], t["id"]): t for t in frame}
            out[data["t"]] = (tracks, dict(alerts), dict(hotline))
    return out


@pytest.mark.parametrize("party", PARTIES)
def test_the_replay_shows_each_party_what_its_stream_showed(run, replay, party):
    frames = shown(run.streams[party])
    instants = [t for t in frames if replay.t_from <= t <= replay.t_to]
    assert len(instants) >= 20  # most seconds of the run
    for t in instants:
        tracks, alerts, hotline = frames[t]
        view = roundtrip(replay.view(party, t))
        assert {(x["party"], x["id"]): x for x in view["tracks"]} == tracks, t
        assert {a["id"]: a for a in view["alerts"]} == alerts, t
        assert {m["id"]: m for m in view["hotline"]} == hotline, t


def instants(replay, step=0.5):
    return np.arange(replay.t_from - 2, replay.t_to + 2, step)


def test_a_track_outside_the_shared_zone_is_never_shown_to_the_other_party(replay):
    zone = replay.config.agreement("TUR", "RUS").shares["TUR"].zones
    seen_by_coa = 0
    for t in instants(replay):
        rus = {(x["party"], x["id"]): x for x in replay.tracks("RUS", t)}
        assert ("TUR", "F16-FAR") not in rus
        for x in rus.values():
            if x["party"] == "TUR":  # what TUR shares, inside its zone, on a 1 km grid
                assert shapely.contains_xy(zone, x["lon"], x["lat"]) and x["precision_m"] == 1000
        coa = {(x["party"], x["id"]): x for x in replay.tracks("COA", t)}
        assert not any(p == "RUS" for p, _ in coa)  # RUS shares no tracks with COA
        seen_by_coa += ("TUR", "F16-FAR") in coa
    assert seen_by_coa > 50  # TUR shares everything with COA: the far F-16 is COA's to see


def test_the_incursion_alert_is_shown_to_its_parties_from_its_raising_and_never_to_a_third(
        replay):
    # When it was raised, by the signed record: the alert statement of its warning.
    signed = [e.statement for e in replay.ledger.entries
              if e.statement.kind == "alert" and e.statement.author == "detente"]
    lead = next(s.body for s in signed
            if s.body["tracks"] == [{"party": "RUS", "id": "SU24-LEAD"}])
    assert lead["kind"] == "incursion" and sorted(lead["parties"]) == ["RUS", "TUR"]
    raised = lead["raised_at"]
    assert raised == START + RUS_FROM  # the Su-24s' first report: 130 s from entry
    for t in instants(replay, 0.25):
        for party in ("RUS", "TUR"):
            ids = {a["id"] for a in replay.alerts(party, t)}
            assert (lead["id"] in ids) == (t >= raised), (party, t)
        assert replay.alerts("COA", t) == []
        assert not any(m["to_party"] == "COA" or m["from_party"] == "COA"
                       for m in replay.hotline("COA", t))


def test_the_tree_head_is_the_records_latest_at_each_instant(replay):
    heads = replay.ledger.heads
    for t in instants(replay):
        view = replay.tree_head(t)
        before = [h for h in heads if h.time <= t]
        if not before:
            assert view is None
            continue
        assert view["size"] == before[-1].size
        made = {c.party for c in replay.ledger.cosignatures[view["size"]] if c.time <= t}
        assert set(view["cosigned_by"]) == made
        assert view["settled"] == (made >= set(PARTIES))
    assert replay.tree_head(replay.t_to)["latest_settled"] > 0  # the witnesses co-signed


def test_the_replay_service_answers_as_the_replay_does(replay):
    with serve(create_replay_app(replay, "RUS")) as base, httpx.Client(base_url=base) as c:
        info = c.get("/v1/replay").json()
        assert (info["from"], info["to"]) == (replay.t_from, replay.t_to)
        assert [p["id"] for p in info["parties"]] == list(PARTIES)
        assert info["party"] == "RUS" and info["recording"]["signed"] is False
        assert info["record"]["verified"] is True
        t = START + 25.5
        got = c.get("/v1/replay/view", params={"party": "TUR", "t": t}).json()
        assert got == roundtrip(replay.view("TUR", t))
        bad = c.get("/v1/replay/view", params={"party": "XYZ", "t": t})
        assert bad.status_code == 400 and "no party 'XYZ'" in bad.json()["detail"]
        assert c.get("/v1/replay/view", params={"party": "TUR"}).status_code == 422
        assert [p["colour"] for p in info["parties"]] == [
            replay.config.parties[p].colour for p in PARTIES]
        moments = c.get("/v1/replay/timeline", params={"party": "RUS"}).json()["moments"]
        assert [m["label"] for m in moments][:2] == ["incursion advisory"] * 2
        # Each moment says what happened; the first is an alert raised (where the page opens).
        assert moments[0]["type"] == "alert" and moments[0]["what"] == "advisory"
        assert {m["what"] for m in moments if m["type"] == "alert"} >= {"advisory", "warning"}
        assert {m["what"] for m in moments if m["type"] == "hotline"} >= {"sent",
                                                                          "acknowledged"}
        assert c.get("/v1/airspaces").json()["features"][0]["properties"]["owner"] == "TUR"
        home = c.get("/", follow_redirects=False)
        assert home.headers["location"] == "/console/?source=replay&party=RUS"
        assert c.get("/console/replay.js").status_code == 200
        # A message's receipt, as the service gives them: it verifies with the log's key.
        flash = next(m for m in replay.hotline("RUS", replay.t_to) if m["automatic"])
        index = flash["record_index"]
        for t in (START + 25, replay.t_to):
            got = c.get(f"/v1/replay/receipts/{index}", params={"t": t}).json()
            entry = SignedStatement.from_json(got["entry"])
            assert entry.statement.body["id"] == flash["id"]
            receipt = Receipt.from_json(got["receipt"])
            receipt.verify(replay.ledger.log_key, leaf=entry.leaf())
            assert receipt.head == max((h for h in replay.ledger.heads if h.time <= t),
                                       key=lambda h: h.size)
        assert c.get("/v1/replay/receipts/999", params={"t": t}).status_code == 400
        # Read-only: nothing to post to.
        assert c.post("/v1/states", json={}).status_code in (404, 405)


def test_every_entry_has_a_receipt_under_every_head_that_holds_it(replay):
    log_key = replay.ledger.log_key
    for index, signed in enumerate(replay.ledger.entries):
        for head in replay.ledger.heads:
            if head.size <= index:
                continue
            got = replay.receipt(index, head.time)
            receipt = Receipt.from_json(got["receipt"])
            receipt.verify(log_key, leaf=signed.leaf())
            assert receipt.head.time <= head.time
