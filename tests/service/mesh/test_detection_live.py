"""Detection across nodes, three nodes on loopback: each node judges its own aircraft against
its own and what peers share, and the peers' aircraft it sees against the airspace its party
protects; an alert that involves a peer's aircraft goes to the peer's node, which answers with
a signed receipt; an encounter both nodes see is shown once on each, with both nodes' signed
alerts. The third party hears nothing of it.

The geometry is worked by hand: TUR protects a square whose south edge is 36.0 N; RUS shares
with TUR only a box around it (35.8-36.4 N, 35.8-36.45 E). Frames are checked with the nodes'
public keys (cryptography), as the wire format documents them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from detente.geo import geodesic_destination
from tests.mesh_nodes import MeshRig

CONTEXT = b"detente link frame v1\x00"
SQUARE = [[36.0, 36.0], [36.25, 36.0], [36.25, 36.2], [36.0, 36.2], [36.0, 36.0]]
RUS_ZONE = {"type": "Polygon", "coordinates": [[[35.8, 35.8], [36.45, 35.8], [36.45, 36.4],
                                                [35.8, 36.4], [35.8, 35.8]]]}
BIG = {"type": "Polygon", "coordinates": [[[35.0, 35.0], [37.0, 35.0], [37.0, 37.0],
                                           [35.0, 37.0], [35.0, 35.0]]]}
AGREEMENTS = [
    {"parties": ["TUR", "RUS"],
     "shares": {"TUR": {"zones": [BIG], "precision_m": 1000},
                "RUS": {"zones": [RUS_ZONE]}}},
    {"parties": ["TUR", "COA"]},
    {"parties": ["RUS", "COA"], "shares": {"RUS": {"zones": "none"}, "COA": {"zones": "none"}}},
]
M_PER_DEG_LAT = 110_950.0  # at 36 N


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("detect")
    (tmp / "square.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        "properties": {"owner": "TUR", "kind": "national_territory", "floor_m": None,
                       "ceiling_m": None, "name": "square"}}]}))
    rig = MeshRig(tmp, ("COA", "RUS", "TUR"), AGREEMENTS, airspaces=["square.geojson"])
    try:
        rig.start_all()
        rig.wait_links_up()
        posted = time.time()
        lat, lon = 35.85, 35.85
        r_lat, r_lon = geodesic_destination(lat, lon, 0.0, 40_000.0)
        with rig.client("TUR") as tur:
            tur.post_states([state("T-9", lat, lon, 0.0, alt=9000.0)])
        with rig.client("RUS") as rus:
            rus.post_states([
                state("R-9", float(r_lat), float(r_lon), 180.0, alt=9000.0),
                # 40 km south of the square, outside the zone RUS shares: TUR cannot see it.
                state("R-FAR", 36.0 - 40_000 / M_PER_DEG_LAT, 36.12, 0.0, gs=250.0),
                # 11.1 km south of it, inside the zone: both see it.
                state("R-NEAR", 35.9, 36.2, 0.0, gs=250.0),
            ])
        rig.posted = posted
        yield rig
    finally:
        rig.stop_all()


def state(track_id, lat, lon, trk, alt=6000.0, gs=200.0):
    return {"id": track_id, "t": time.time(), "lat": lat, "lon": lon, "alt_m": alt,
            "gs_mps": gs, "trk_deg": trk, "vs_mps": 0.0}


def alerts(rig, party):
    with rig.client(party) as c:
        return c.get("/v1/alerts")["alerts"]


def signed_by(rig, party: str, frame_b64: str) -> dict:
    """The frame's payload, once its signature checks with ``party``'s node key."""
    wire = base64.b64decode(frame_b64)
    key = Ed25519PublicKey.from_public_bytes(
        rig.node_keys[party].public_key().public_bytes_raw())
    key.verify(wire[:64], CONTEXT + wire[64:])
    payload = json.loads(wire[64:])
    assert payload["from"] == party
    return payload


def of_kind(rig, party, kind, *ids):
    return [a for a in alerts(rig, party) if a["kind"] == kind
            and {t.get("id") for t in a["tracks"]} >= set(ids)]


def test_an_encounter_both_see_is_shown_once_on_each_with_both_signatures(rig):
    def both_signed(party):
        found = of_kind(rig, party, "tactical", "R-9" if party == "RUS" else "T-9")
        return found if found and len(found[0].get("signatures", [])) == 2 else None

    for party, peer in (("TUR", "RUS"), ("RUS", "TUR")):
        (alert,) = rig.wait(lambda p=party: both_signed(p))  # once, not twice
        assert {t["party"] for t in alert["tracks"]} == {"TUR", "RUS"}
        own, theirs = alert["signatures"]
        mine = signed_by(rig, party, own["frame"])
        other = signed_by(rig, peer, theirs["frame"])
        assert (mine["to"], mine["kind"], mine["body"]["alert"]["id"]) == (peer, "alert",
                                                                          alert["id"])
        assert other["to"] == party and other["kind"] == "alert"
        assert other["body"]["alert"]["kind"] == "tactical"
        # Loss of 9,260 m between two aircraft 40 km apart closing at 400 m/s: 76.9 s after
        # posting (the peer's aircraft is on a 1 km grid on RUS's node: 2.5 s either way).
        due = alert["updated_at"] + alert["t_to_go_s"] - rig.posted
        assert abs(due - (40_000 - 9_260) / 400) < 3.5
        assert alert["severity"] == "warning"


def test_the_peer_s_node_answers_each_alert_with_a_signed_receipt(rig):
    def receipted():
        """TUR's alert once RUS's receipt of TUR's latest frame of it is in."""
        found = of_kind(rig, "TUR", "tactical", "T-9")
        if not found or not found[0].get("receipts") or not found[0].get("signatures"):
            return None
        return found if found[0]["receipts"][0]["seq"] == found[0]["signatures"][0][
            "seq"] else None

    (alert,) = rig.wait(receipted)
    (receipt,) = alert["receipts"]
    assert receipt["party"] == "RUS"
    payload = signed_by(rig, "RUS", receipt["frame"])
    assert (payload["to"], payload["kind"]) == ("TUR", "receipt")
    # The receipt names, by its SHA-256, the frame of this alert that TUR's node sent RUS.
    own = alert["signatures"][0]
    assert own["party"] == "TUR" and payload["body"]["seq"] == own["seq"]
    wire = base64.b64decode(own["frame"])
    assert payload["body"]["digest"] == hashlib.sha256(wire).hexdigest()
    assert payload["body"]["id"] == alert["id"]


def test_an_incursion_only_the_aircraft_s_node_sees_reaches_the_protector(rig):
    with rig.client("TUR") as tur:
        assert "R-FAR" not in {t["id"] for t in tur.get("/v1/picture")["tracks"]}

    def from_rus():
        found = [a for a in alerts(rig, "TUR") if a["kind"] == "incursion"
                 and a.get("source") == "RUS" and a["detail"].get("airspace") == "square"]
        return found or None

    (alert,) = rig.wait(from_rus)
    # "A RUS aircraft, about here": TUR's picture does not show R-FAR, so RUS's node does not
    # name it to TUR (the hub's rule, applied by RUS's node before the alert left it).
    (track,) = alert["tracks"]
    assert track["party"] == "RUS" and track["id"] is None
    (conf,) = alert["confirmed_by"]
    payload = signed_by(rig, "RUS", conf["frame"])
    assert payload["body"]["alert"]["id"] == alert["id"]
    # 39.9 km from the border at 250 m/s: 160 s after posting (advisory).
    due = alert["updated_at"] + alert["t_to_go_s"] - rig.posted
    assert abs(due - 40_000 / 250) < 3.0
    # RUS's node keeps TUR's receipt of it.
    rig.wait(lambda: [a for a in of_kind(rig, "RUS", "incursion", "R-FAR")
                      if a.get("receipts")])


def test_an_incursion_both_see_is_one_alert_on_the_protector_s_node(rig):
    def matched():
        found = of_kind(rig, "TUR", "incursion", "R-NEAR")
        return found if found and found[0].get("signatures") else None

    found = rig.wait(matched)
    assert len(found) == 1 and "source" not in found[0]
    assert {s["party"] for s in found[0]["signatures"]} == {"TUR", "RUS"}
    due = found[0]["updated_at"] + found[0]["t_to_go_s"] - rig.posted
    assert abs(due - 0.1 * M_PER_DEG_LAT / 250) < 3.0
    assert found[0]["severity"] == "critical"


def test_the_third_party_hears_nothing_of_it(rig):
    time.sleep(1.0)
    assert not [a for a in alerts(rig, "COA") if a["kind"] in ("tactical", "incursion")]


def frame_entries(export: bytes, direction: str, peer: str) -> dict[tuple[str, int], bytes]:
    """The frames a node's record says crossed its link with ``peer`` in ``direction``:
    (kind, seq) -> the frame's bytes."""
    out = {}
    for line in export.splitlines():
        row = json.loads(line)
        st = row.get("leaf", {}).get("statement", {})
        body = st.get("body", {})
        if st.get("kind") == "mesh.frame" and body["direction"] == direction \
                and body["peer"] == peer:
            out[(body["kind"], body["seq"])] = base64.b64decode(body["frame"])
    return out


def test_each_node_s_heads_carry_its_peers_cosignatures_and_its_export_verifies(
        rig, capsys):
    from detente.cli.main import main

    for party in ("TUR", "RUS", "COA"):
        with rig.client(party) as c:
            settled = rig.wait(lambda c=c: c.get("/v1/record/head")["latest_settled"])
            head = c.get("/v1/record/head", params={"size": settled})
        assert head["cosigned_by"] == ["COA", "RUS", "TUR"] and head["settled"]
        path = rig.tmp / f"{party}-record.jsonl"
        path.write_bytes(rig.export(party))
        assert main(["verify", str(path)]) == 0, capsys.readouterr()


def test_two_nodes_exports_together_show_the_exchange_between_them(rig):
    tur, rus = rig.export("TUR"), rig.export("RUS")
    sent = frame_entries(tur, "out", "RUS")
    taken = frame_entries(rus, "in", "TUR")
    assert {k for k, _ in sent} >= {"alert", "hotline"}  # urgent alerts, warnings
    upto = rig.links("RUS")["TUR"]["received_seq"]
    for key, wire in sent.items():
        if key[1] <= upto:  # taken in by RUS's node by now: in its record, byte for byte
            assert taken.get(key) == wire, key
    # And the other way: what RUS's record says it took in, TUR's says it sent.
    assert [k for k, w in taken.items() if sent.get(k) != w] == []
