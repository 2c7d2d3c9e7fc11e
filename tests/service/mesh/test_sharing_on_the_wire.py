"""Sharing at the source, checked on the wire: three nodes (TUR, RUS, COA) whose links all go
through recording proxies; random aircraft of every party are posted to their own nodes, and
every frame that crossed any link is read back as the documented wire format says (64 bytes
of Ed25519 signature over ``b"detente link frame v1\\0" + payload``, then the JSON payload)
and held to the agreements:

- every frame is signed by the node of the party it says it is from, to the other end's;
- a states frame carries its sender's own aircraft only, each one a report that party posted,
  inside the zones the agreement gives (shapely on the report as posted), within half a grid
  cell's diagonal of it (geodesic distance), its altitude, speed, track and rate within half
  their grid steps, and no younger than the agreed delay when it left;
- the RUS-COA link, whose agreement shares no tracks, carries no states at all;
- a durable frame (alert, hotline) is about the two parties of its link only.

And, so that the check is not vacuous, every report inside a zone does reach the peer.
"""

from __future__ import annotations

import itertools
import json
import math
import time

import pytest
import shapely
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import shape

from tests.mesh_nodes import MeshRig
from tests.mesh_proxy import Proxy

CONTEXT = b"detente link frame v1\x00"
TR_BOX = {"type": "Polygon", "coordinates": [[[35.6, 35.7], [36.4, 35.7], [36.4, 36.3],
                                              [35.6, 36.3], [35.6, 35.7]]]}
CT_BOX = {"type": "Polygon", "coordinates": [[[35.0, 35.0], [36.0, 35.0], [36.0, 36.6],
                                              [35.0, 36.6], [35.0, 35.0]]]}
AGREEMENTS = [
    {"parties": ["TUR", "RUS"],
     "shares": {"TUR": {"zones": [TR_BOX], "precision_m": 1000},
                "RUS": {"zones": "all"}}},
    {"parties": ["TUR", "COA"],
     "shares": {"TUR": {"zones": "all", "precision_m": 5000, "delay_s": 2.0},
                "COA": {"zones": [CT_BOX]}}},
    {"parties": ["RUS", "COA"],
     "shares": {"RUS": {"zones": "none"}, "COA": {"zones": "none"}}},
]
# What each owner gives each viewer: zones (None: everywhere; empty: nothing), grid (m),
# altitude grid (m), delay (s); written out here from AGREEMENTS, by hand.
TERMS = {
    ("TUR", "RUS"): (shape(TR_BOX), 1000.0, 304.8, 0.0),
    ("RUS", "TUR"): (None, 0.0, 0.0, 0.0),
    ("TUR", "COA"): (None, 5000.0, 304.8, 2.0),
    ("COA", "TUR"): (shape(CT_BOX), 0.0, 0.0, 0.0),
    ("RUS", "COA"): (shapely.Polygon(), 0.0, 0.0, 0.0),
    ("COA", "RUS"): (shapely.Polygon(), 0.0, 0.0, 0.0),
}
PARTIES = ("COA", "RUS", "TUR")
GEOD = Geod(ellps="WGS84")

posted: dict[tuple[str, str], list[float]] = {}  # (party, id) -> [t, lat, lon, alt, gs, trk, vs]
examples = itertools.count()


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("wire"), PARTIES, AGREEMENTS)
    proxies = {}
    for a, b in itertools.combinations(PARTIES, 2):  # the first in order dials
        proxies[(a, b)] = Proxy(rig.url(b))
        rig.via[(a, b)] = proxies[(a, b)].url
    rig.proxies = proxies
    try:
        rig.start_all()
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()
        for p in proxies.values():
            p.stop()


def wire_frames(rig):
    """Every frame of the run: (sender, receiver, time, payload), signatures checked."""
    out = []
    for (a, b), proxy in rig.proxies.items():
        for t, direction, wire in proxy.frames():
            sender, receiver = (a, b) if direction == "out" else (b, a)
            key = Ed25519PublicKey.from_public_bytes(
                rig.node_keys[sender].public_key().public_bytes_raw())
            key.verify(wire[:64], CONTEXT + wire[64:])  # raises if not signed by the sender
            payload = json.loads(wire[64:])
            assert (payload["from"], payload["to"]) == (sender, receiver)
            out.append((sender, receiver, t, payload))
    return out


def states_on_wire(rig, ids=None):
    """(owner, viewer, frame time, id, values) of every state that crossed a link."""
    out = []
    for sender, receiver, _, p in wire_frames(rig):
        if p["kind"] != "states":
            continue
        body = p["body"]
        for track_id, values in zip(body["ids"], body["v"], strict=True):
            if ids is None or track_id in ids:
                out.append((body["party"], sender, receiver, p["t"], track_id, values))
    return out


def gives(owner: str, viewer: str, report: list[float]) -> bool:
    zones = TERMS[(owner, viewer)][0]
    return zones is None or (not zones.is_empty and zones.contains(
        shapely.Point(report[2], report[1])))


def check_state(owner, sender, receiver, sent_t, track_id, v) -> None:
    assert owner == sender, f"{sender} sent a state of {owner}'s aircraft {track_id}"
    assert (owner, track_id) in posted, f"{track_id}: not a report {owner} posted"
    r = posted[(owner, track_id)]
    _, grid, alt_grid, delay = TERMS[(owner, receiver)]
    assert gives(owner, receiver, r), f"{track_id} at {r[1]}, {r[2]}: outside the zones"
    _, _, dist = GEOD.inv(r[2], r[1], v[2], v[1])
    assert dist <= grid * math.sqrt(0.5) * 1.001 + 0.2, f"{track_id}: {dist:.0f} m off"
    assert abs(v[3] - r[3]) <= alt_grid / 2 + 1e-6
    if grid > 0:
        assert abs(v[4] - r[4]) <= 5 + 1e-9 and abs(v[6] - r[6]) <= 1.25 + 1e-9
        assert abs((v[5] - r[5] + 180) % 360 - 180) <= 5 + 1e-9
        assert abs(v[0] - r[0]) <= 0.5
    else:
        assert v == pytest.approx(r, abs=1e-6)
    assert sent_t - r[0] >= delay - 0.5, f"{track_id}: sent {sent_t - r[0]:.2f} s after"


reports = st.lists(st.tuples(
    st.sampled_from(PARTIES),
    st.floats(35.0, 37.0), st.floats(35.0, 37.0),        # lat, lon (deg)
    st.floats(0.0, 15_000.0), st.floats(0.0, 400.0),     # alt (m), ground speed (m/s)
    st.floats(0.0, 359.99), st.floats(-50.0, 50.0),      # track (deg), vertical rate (m/s)
    st.floats(0.0, 5.0)), min_size=1, max_size=40)       # age (s)


# Live nodes: no shrinking (each try is seconds of a real run); a failure prints its example.
@settings(max_examples=8, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batch=reports)
def test_every_state_on_the_wire_is_what_the_agreement_gives(rig, batch):
    k = next(examples)
    now = time.time()
    by_party: dict[str, list[dict]] = {}
    ids = set()
    for n, (party, lat, lon, alt, gs, trk, vs, age) in enumerate(batch):
        track_id = f"{party[0]}{k}-{n}"
        ids.add(track_id)
        report = [now - age, lat, lon, alt, gs, trk, vs]
        posted[(party, track_id)] = report
        by_party.setdefault(party, []).append(dict(zip(
            ("t", "lat", "lon", "alt_m", "gs_mps", "trk_deg", "vs_mps"), report,
            strict=True), id=track_id))
    for party, states in by_party.items():
        with rig.client(party) as c:
            c.post_states(states)
    expected = {(owner, viewer, track_id) for (owner, track_id) in posted
                if track_id in ids for viewer in PARTIES
                if viewer != owner and gives(owner, viewer, posted[(owner, track_id)])}

    deadline = time.monotonic() + 15
    while True:
        got = {(o, r, i) for o, _, r, _, i, _ in states_on_wire(rig, ids)}
        if got >= expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = {m: posted[(m[0], m[2])] for m in expected - got}
    assert not missing, f"never reached the peer: {missing}"
    assert got == expected  # nothing outside the zones, nothing to a party given nothing
    for row in states_on_wire(rig, ids):
        check_state(*row)


def test_the_whole_run_s_traffic_keeps_to_the_agreements(rig):
    frames = wire_frames(rig)
    assert len(frames) > 50
    assert len(posted) > 0
    for row in states_on_wire(rig):
        check_state(*row)
    kinds: dict[tuple[str, str], set[str]] = {}
    for sender, receiver, _, p in frames:
        kinds.setdefault((sender, receiver), set()).add(p["kind"])
        if p["kind"] == "alert":
            assert set(p["body"]["alert"]["parties"]) == {sender, receiver}
        if p["kind"] == "hotline":
            m = p["body"]["message"]
            assert {m["from_party"], m["to_party"]} == {sender, receiver}
    assert "states" not in kinds.get(("RUS", "COA"), set()) | kinds.get(("COA", "RUS"), set())
    assert "states" in kinds[("TUR", "RUS")] and "states" in kinds[("TUR", "COA")]
