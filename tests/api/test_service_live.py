"""The service end to end: real uvicorn on loopback, real HTTP and WebSocket clients.

Three parties: A and B have an agreement (A shares its tracks inside a zone, rounded to 5 km;
B shares everything at full precision), C has none. C must learn nothing of A and B.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.geo import geodesic_destination, geodesic_distance
from detente.service.config import parse_config
from detente.service.frames import frame_tracks
from tests.live_server import collect, login, public_b64, serve

CENTRE = (36.0, 36.0)
# A's shared zone: a box south-west of the centre (lon/lat).
ZONE = {"type": "Polygon", "coordinates": [[[35.5, 35.5], [36.05, 35.5], [36.05, 36.05],
                                              [35.5, 36.05], [35.5, 35.5]]]}


@pytest.fixture(scope="module")
def keys():
    return {p: Ed25519PrivateKey.generate() for p in "ABC"}


@pytest.fixture(scope="module")
def server(keys, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("db")
    cfg = parse_config({
        "region": {"name": "test", "centre": list(CENTRE)},
        "service": {"cycle_s": 0.1, "stale_s": 60, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [{
            "parties": ["A", "B"],
            "shares": {"A": {"zones": [ZONE], "precision_m": 5000},
                       "B": {"zones": "all"}},
        }],
    })
    db = tmp / "detente.sqlite"
    with serve(create_app(cfg, f"sqlite:///{db}")) as base:
        yield base


@pytest.fixture(scope="module")
def tokens(server, keys):
    return {p: login(server, k, p) for p, k in keys.items()}


def state(track_id, lat, lon, trk, alt=6000.0, gs=200.0, t=None):
    return {"id": track_id, "t": time.time() if t is None else t, "lat": lat, "lon": lon,
            "alt_m": alt, "gs_mps": gs, "trk_deg": trk, "vs_mps": 0.0}


def post(server, token, states):
    with httpx.Client(base_url=server) as c:
        return c.post("/v1/states", json={"states": states},
                      headers={"Authorization": f"Bearer {token}"})


def test_need_to_know_end_to_end(server, tokens):
    # a1 inside A's zone, head-on with b1 60 km away (closing 400 m/s: loss of separation in
    # (60,000 - 9,260) / 400 = 127 s); a2 outside the zone; c1 right next to a1, no agreement.
    a1 = (35.8, 35.8)
    b_lat, b_lon = geodesic_destination(*a1, 90.0, 60_000.0)
    assert post(server, tokens["A"], [state("a1", *a1, 90.0),
                                      state("a2", 36.5, 36.5, 0.0)]).status_code == 200
    assert post(server, tokens["B"], [state("b1", float(b_lat), float(b_lon), 270.0)]
                ).status_code == 200
    assert post(server, tokens["C"], [state("c1", 35.8, 35.81, 90.0)]).status_code == 200

    msgs = {p: asyncio.run(collect(server, tokens[p], 1.0)) for p in "ABC"}

    alerts = {p: [m for m in msgs[p] if m["type"] == "alert"] for p in "ABC"}
    hello = {p: msgs[p][0] for p in "ABC"}
    open_a = hello["A"]["data"]["alerts"]
    open_b = hello["B"]["data"]["alerts"]
    assert len(open_a) == 1 and len(open_b) == 1
    assert open_a[0]["id"] == open_b[0]["id"]
    assert open_a[0]["kind"] == "tactical" and set(open_a[0]["parties"]) == {"A", "B"}
    assert 120 < open_a[0]["t_to_go_s"] < 127.5  # ~127 s less the time the test took
    assert open_a[0]["severity"] == "advisory"  # more than the 120 s warning time to go
    # C: no alert, no hello alerts, and no track but its own, ever.
    assert hello["C"]["data"]["alerts"] == [] and alerts["C"] == []
    for m in msgs["C"]:
        if m["type"] == "picture":
            assert {t["party"] for t in frame_tracks(m["data"])} == {"C"}
    # B sees a1 (inside A's zone) rounded to 5 km, not a2; A sees b1 at full precision.
    pic_b = frame_tracks([m for m in msgs["B"] if m["type"] == "picture"][-1]["data"])
    seen_b = {(t["party"], t["id"]): t for t in pic_b}
    assert ("A", "a2") not in seen_b and ("C", "c1") not in seen_b
    a1_view = seen_b[("A", "a1")]
    assert a1_view["precision_m"] == 5000
    off = geodesic_distance(a1[0], a1[1], a1_view["lat"], a1_view["lon"])
    assert 0 < off < 5000 * 0.75  # within half a cell diagonal
    pic_a = frame_tracks([m for m in msgs["A"] if m["type"] == "picture"][-1]["data"])
    b1_view = {(t["party"], t["id"]): t for t in pic_a}[("B", "b1")]
    assert b1_view["precision_m"] == 0
    # B's view of the alert tells of A's aircraft at a rounded position; it names a1, as B's
    # picture already shows a1 under its id on the same 5 km grid (nothing new is told).
    a_in_b = next(t for t in open_b[0]["tracks"] if t["party"] == "A")
    assert a_in_b["id"] == "a1" and a_in_b["precision_m"] == 5000


def test_alert_life_cycle_and_hysteresis(server, tokens):
    # Head-on 40 km apart: (40,000 - 9,260) / 400 = 76.9 s to go: a warning (<= 120 s).
    p = (35.6, 36.4)
    q_lat, q_lon = geodesic_destination(*p, 0.0, 40_000.0)
    post(server, tokens["A"], [state("a9", *p, 0.0, alt=9000)])
    post(server, tokens["B"], [state("b9", float(q_lat), float(q_lon), 180.0, alt=9000)])
    msgs = asyncio.run(collect(server, tokens["A"], 1.2))
    mine = [m["data"] for m in msgs if m["type"] == "alert"
            and ["A", "a9"] in [[t["party"], t["id"]] for t in m["data"]["tracks"]]]
    in_hello = [a for a in msgs[0]["data"]["alerts"]
                if {"party": "A", "id": "a9"} in a["tracks"]]
    seen = mine + in_hello
    assert seen, "the conflict raised no alert"
    ids = {a["id"] for a in seen}
    assert len(ids) == 1  # ten cycles, one alert: it is not re-raised every cycle
    assert [a["state"] for a in mine].count("raised") <= 1
    assert seen[-1]["severity"] == "warning"
    alert_id = ids.pop()
    seq = max(m["seq"] for m in msgs if m["seq"] is not None) if mine else msgs[0]["data"]["seq"]
    # B turns away: the pair is clean from the next cycle on and the alert clears after two.
    post(server, tokens["B"], [state("b9", float(q_lat), float(q_lon), 0.0, alt=9000)])
    later = asyncio.run(collect(server, tokens["A"], 1.0, since=seq))
    cleared = [m for m in later if m["type"] == "alert" and m["data"]["id"] == alert_id]
    assert [m["data"]["state"] for m in cleared] == ["cleared"]
    assert all(m["seq"] > seq for m in later if m["seq"] is not None)
    # Resuming from before the clear replays it once; resuming after it replays nothing.
    again = asyncio.run(collect(server, tokens["A"], 0.3, since=seq))
    assert [m["data"]["state"] for m in again if m["type"] == "alert"
            and m["data"]["id"] == alert_id] == ["cleared"]
    last = max(m["seq"] for m in again if m["seq"] is not None)
    after = asyncio.run(collect(server, tokens["A"], 0.3, since=last))
    assert [m for m in after if m["seq"] is not None and m["seq"] <= last] == []


@pytest.mark.parametrize(
    ("states", "status", "words"),
    [
        ([{"id": "x", "t": 0, "lat": 91, "lon": 0, "alt_m": 0, "gs_mps": 0, "trk_deg": 0}],
         422, "states.0.lat"),
        ([{"id": "x", "t": 0, "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 1600, "trk_deg": 0}],
         422, "states.0.gs_mps"),
        ([{"id": "x", "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 1, "trk_deg": 0}],
         422, "states.0.t: Field required"),
        ([{"id": "x", "t": 1e12, "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 1, "trk_deg": 0}],
         400, "states[0].t"),
        ([{"id": "x", "party": "B", "t": 0, "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 1,
           "trk_deg": 0}], 403, "not your party"),
    ],
)
def test_bad_batches_are_refused_whole(server, tokens, states, status, words):
    good = state("good1", 10.0, 10.0, 0.0)
    r = post(server, tokens["A"], [good, *states])
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and words.replace("states.0", "states.1").replace(
        "states[0]", "states[1]") in body["detail"]
    # Nothing of the refused batch entered: the good state is not in the picture either.
    with httpx.Client(base_url=server) as c:
        pic = c.get("/v1/picture", headers={"Authorization": f"Bearer {tokens['A']}"}).json()
    assert "good1" not in {t["id"] for t in pic["tracks"]}


def test_raw_bad_bodies(server, tokens):
    h = {"Authorization": f"Bearer {tokens['A']}", "content-type": "application/json"}
    with httpx.Client(base_url=server) as c:
        nan = (b'{"states": [{"id": "x", "t": 1, "lat": NaN, "lon": 0, "alt_m": 0,'
               b' "gs_mps": 0, "trk_deg": 0}]}')
        for body, status in [(b"{not json", 422), (nan, 422), (b"[]", 422),
                             (b" " * (5 * 1024 * 1024 + 1), 413)]:
            r = c.post("/v1/states", content=body, headers=h)
            assert r.status_code == status, (body[:30], r.text)
            assert r.headers["content-type"] == "application/problem+json"
        too_many = {"states": [state(f"x{k}", 0.0, 0.0, 0.0) for k in range(10_001)]}
        r = c.post("/v1/states", json=too_many, headers=h)
        assert r.status_code == 422 and "states" in r.json()["detail"]
        assert c.get("/v1/picture").status_code == 401
        assert c.get("/v1/picture", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/health").status_code == 200
        assert c.get("/openapi.json").json()["info"]["title"] == "detente"
