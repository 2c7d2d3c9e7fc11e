"""Peer links as a receiving node judges them: TUR's and COA's nodes run for real on loopback;
RUS's node is played by the test (``FakePeer``: RUS's real node key, frames made by hand).

Both ends authenticate by signed challenges; every frame is signed and sequenced. A forged,
misaddressed, replayed or out-of-order frame is refused (the connection closes: a real peer
reconnects and resumes from the last frame taken), kept whole as evidence, and raised to TUR
as a link incident; a frame whose content breaks the agreement is refused, kept and raised
too. COA, the third party, hears nothing of it. The oracle for each frame is how the test
made it: which key signed it, which sequence number it carries, where its aircraft is
against the zone RUS shares (a box drawn here).
"""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest
import websockets.exceptions
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.geo.projection import LocalProjection
from detente.ledger import (
    Ledger,
    generate_private_key,
    key_statement,
    origin_for,
    public_key_bytes,
)
from detente.store import ledger_tables as _ledger_tables  # noqa: F401 - the log's tables
from detente.store.database import open_database
from tests.mesh_nodes import CENTRE, FakePeer, MeshRig

BOX = {"type": "Polygon", "coordinates": [[[35.5, 35.5], [36.5, 35.5], [36.5, 36.5],
                                           [35.5, 36.5], [35.5, 35.5]]]}
AGREEMENTS = [
    {"parties": ["TUR", "RUS"],
     "shares": {"RUS": {"zones": [BOX], "precision_m": 1000}, "TUR": {"zones": "all"}}},
    {"parties": ["TUR", "COA"]},
    {"parties": ["RUS", "COA"]},
]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("links"), ("COA", "RUS", "TUR"), AGREEMENTS)
    try:
        rig.start("TUR")
        rig.start("COA")
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()


def evidence(rig, party="TUR"):
    with rig.client(party) as c:
        return c.get("/v1/mesh/evidence")["evidence"]


def incident(rig, party="TUR"):
    with rig.client(party) as c:
        found = [a for a in c.get("/v1/alerts")["alerts"]
                 if a["kind"] == "link" and a["detail"]["problem"] == "refused"]
    return found[0] if found else None


def refused_as(rig, before: int, wire: bytes, reason: str) -> dict:
    """The one new piece of evidence: this frame, whole, refused for ``reason``."""
    got = rig.wait(lambda: (e := evidence(rig)) and len(e) > before and e)
    assert len(got) == before + 1
    row = got[-1]
    assert (row["peer"], row["reason"]) == ("RUS", reason)
    assert base64.b64decode(row["frame"]) == wire
    alert = rig.wait(lambda: incident(rig))
    assert alert["parties"] == ["TUR"] and alert["detail"]["peer"] == "RUS"
    assert alert["detail"]["reason"] == reason and alert["detail"]["evidence"] == row["id"]
    return row


def receipt(seq: int) -> dict:
    return {"seq": seq, "kind": "alert", "digest": "00" * 32}


def grid_state(track_id: str, x_km: int, y_km: int) -> list[float]:
    """A state on RUS's grids: 1 km in the region's projection (6-decimal degrees), 1,000 ft,
    10 m/s, 10 deg, 2.5 m/s (SharingPolicy.coarsen)."""
    lat, lon = LocalProjection(*CENTRE).inverse(np.array([x_km * 1000.0]),
                                                np.array([y_km * 1000.0]))
    return [float(round(time.time())), round(float(lat[0]), 6), round(float(lon[0]), 6),
            20 * 304.8, 200.0, 90.0, 0.0]  # FL200; speed, track, rate on their grids


def test_a_handshake_signed_with_another_key_makes_no_link(rig):
    with pytest.raises((websockets.exceptions.ConnectionClosed, AssertionError, TimeoutError)):
        peer = FakePeer(rig, "RUS", "TUR", key=Ed25519PrivateKey.generate())
        peer.live("ping", {"t1": time.time()})
        assert not peer.closed_by_node()
    assert rig.links("TUR")["RUS"]["state"] == "down"


def test_an_honest_frame_on_the_agreed_grid_in_the_zone_is_taken(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before = len(evidence(rig))
    row = grid_state("R-OK", 10, 12)
    peer.live("states", {"party": "RUS", "precision_m": 1000, "ids": ["R-OK"], "v": [row]})
    seen = rig.wait(lambda: [t for t in _picture(rig) if t["id"] == "R-OK"])
    assert (seen[0]["lat"], seen[0]["lon"]) == (row[1], row[2])
    assert seen[0]["party"] == "RUS" and seen[0]["precision_m"] == 1000
    assert rig.links("TUR")["RUS"]["state"] == "up"
    assert len(evidence(rig)) == before
    peer.close()


def _picture(rig):
    with rig.client("TUR") as c:
        return c.get("/v1/picture")["tracks"]


def test_a_forged_frame_is_refused_kept_and_raised(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before, have = len(evidence(rig)), peer.have
    wire = peer.durable("receipt", receipt(1), have + 1, key=Ed25519PrivateKey.generate())
    assert peer.closed_by_node()
    refused_as(rig, before, wire, "forged")
    assert FakePeer(rig, "RUS", "TUR").have == have  # not taken


def test_a_misaddressed_frame_is_refused(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before = len(evidence(rig))
    wire = peer.durable("receipt", receipt(1), peer.have + 1, to="COA")
    assert peer.closed_by_node()
    refused_as(rig, before, wire, "misaddressed")


def test_a_durable_frame_sent_twice_is_taken_once(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before, have = len(evidence(rig)), peer.have
    peer.durable("receipt", receipt(1), have + 1)
    rig.wait(lambda: rig.links("TUR")["RUS"]["received_seq"] == have + 1)
    again = peer.durable("receipt", receipt(1), have + 1)
    assert peer.closed_by_node()
    refused_as(rig, before, again, "replayed")
    assert FakePeer(rig, "RUS", "TUR").have == have + 1


def test_a_live_frame_of_an_earlier_session_is_refused(rig):
    first = FakePeer(rig, "RUS", "TUR")
    old = first.live("ping", {"t1": time.time()})
    assert [f.kind for f in first.frames(2.0) if f.kind == "pong"]
    first.close()
    second = FakePeer(rig, "RUS", "TUR")
    before = len(evidence(rig))
    second.ws.send(old)
    assert second.closed_by_node()
    refused_as(rig, before, old, "replayed")


def test_a_frame_out_of_order_is_refused_and_the_gap_is_not_skipped(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before, have = len(evidence(rig)), peer.have
    wire = peer.durable("receipt", receipt(1), have + 2)
    assert peer.closed_by_node()
    refused_as(rig, before, wire, "out-of-order")
    peer = FakePeer(rig, "RUS", "TUR")
    assert peer.have == have
    peer.durable("receipt", receipt(1), have + 1)
    peer.durable("receipt", receipt(1), have + 2)  # now in order: both taken
    rig.wait(lambda: rig.links("TUR")["RUS"]["received_seq"] == have + 2)


def test_states_out_of_agreement_are_refused_and_never_in_the_picture(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    outside = grid_state("R-OUT", 0, 0)
    outside[1] = 36.9  # north of the box RUS shares (35.5-36.5 N)
    off_grid = grid_state("R-FINE", 20, 20)
    off_grid[1] += 0.001  # about 111 m off the 1 km grid
    cases = [
        ({"party": "RUS", "precision_m": 1000, "ids": ["R-OUT"], "v": [outside]},
         "outside every zone RUS shares"),
        ({"party": "RUS", "precision_m": 1000, "ids": ["R-FINE"], "v": [off_grid]},
         "finer than the agreed grid (1000 m)"),
        ({"party": "COA", "precision_m": 1000, "ids": ["C-1"], "v": [grid_state("C-1", 3, 3)]},
         "a node sends its own party's aircraft only"),
    ]
    for body, words in cases:
        before = len(evidence(rig))
        wire = peer.live("states", body)
        row = refused_as(rig, before, wire, "out-of-agreement")
        assert words in row["detail"]["detail"]
    ids = {t["id"] for t in _picture(rig)}
    assert not ids & {"R-OUT", "R-FINE", "C-1"}
    assert rig.links("TUR")["RUS"]["state"] == "up"  # content is judged; the link holds
    peer.close()


def test_an_alert_of_other_parties_on_the_link_is_refused_and_counts_as_taken(rig):
    peer = FakePeer(rig, "RUS", "TUR")
    before, have = len(evidence(rig)), peer.have
    alert = {"id": "a" * 32, "kind": "tactical", "state": "raised", "severity": "warning",
             "parties": ["COA", "TUR"], "tracks": [{"party": "COA", "id": "C-1"},
                                                    {"party": "TUR", "id": "T-1"}],
             "t_to_go_s": 90.0, "point": [36.0, 36.0], "detail": {},
             "raised_at": time.time(), "updated_at": time.time(), "acknowledged_by": []}
    wire = peer.durable("alert", {"alert": alert}, have + 1)
    row = refused_as(rig, before, wire, "out-of-agreement")
    assert "an alert between RUS and TUR only" in row["detail"]["detail"]
    # Taken (kept as evidence, not shown): the link goes on past it.
    rig.wait(lambda: rig.links("TUR")["RUS"]["received_seq"] == have + 1)
    with rig.client("TUR") as c:
        assert all(a["id"] != "a" * 32 for a in c.get("/v1/alerts")["alerts"])
    peer.close()


def test_refusals_are_the_receiving_party_s_alone(rig):
    alert = rig.wait(lambda: incident(rig))
    assert alert["detail"]["count"] >= 5
    with rig.client("COA") as c:
        assert not [a for a in c.get("/v1/alerts")["alerts"] if a["kind"] == "link"]
        assert c.get("/v1/mesh/evidence")["evidence"] == []
    # The incident is in TUR's record, addressed to TUR alone.
    assert b'"problem":"refused"' in rig.export("TUR")


def test_a_peer_s_log_showing_two_histories_is_caught_kept_and_raised(rig):
    """RUS's log shows TUR's node a head of size 2, then one of size 3 that does not extend it
    (two logs under one key: its entry 1 differs); the consistency proof fails."""
    log_key = generate_private_key()
    origin = origin_for("detente/mesh-test/RUS")

    def log(name: str, authors: list[str]) -> Ledger:
        ledger = Ledger(open_database(f"sqlite:///{rig.tmp / name}"), log_key, origin=origin,
                        clock=time.time)
        for author in ["detente", *authors]:
            key = log_key if author == "detente" else generate_private_key()
            ledger.append(key_statement(key, key, author=author, time=time.time()))
        return ledger

    one, two = log("one.sqlite", ["X"]), log("two.sqlite", ["Y", "Z"])
    held, offered = one.tree_head(), two.tree_head()
    assert (held.size, offered.size) == (2, 3)

    def body(head, from_size, proof):
        return {"head": head.to_json(), "from_size": from_size, "origin": origin,
                "proof": [base64.b64encode(p).decode() for p in proof],
                "log_key": base64.b64encode(public_key_bytes(log_key)).decode()}

    peer = FakePeer(rig, "RUS", "TUR")
    have = peer.have
    peer.durable("head", body(held, 0, []), have + 1)
    cosigs = [f for f in peer.frames(3.0) if f.kind == "cosig"]
    assert cosigs  # the first head, taken on its signature, co-signed by TUR's party key
    before = len(evidence(rig))
    wire = peer.durable("head", body(offered, held.size,
                                     two.consistency_proof(held.size, offered.size)),
                        have + 2)
    got = rig.wait(lambda: (e := evidence(rig)) and len(e) > before and e)
    row = got[-1]
    assert row["reason"] == "split-view" and base64.b64decode(row["frame"]) == wire
    assert row["detail"]["held"] == held.to_json()
    assert row["detail"]["offered"] == offered.to_json()

    def raised():
        with rig.client("TUR") as c:
            return [a for a in c.get("/v1/alerts")["alerts"] if a["kind"] == "link"
                    and a["detail"]["problem"] == "split-view"]

    (alert,) = rig.wait(raised)
    assert alert["severity"] == "critical" and alert["detail"]["evidence"] == row["id"]
    # Not co-signed: no cosignature of the second head came back.
    assert not [f for f in peer.frames(2.0) if f.kind == "cosig"
                and f.body["cosignature"]["size"] == offered.size]
    peer.close()
