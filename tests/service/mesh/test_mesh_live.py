"""Three parties' nodes on loopback, each its own database, keys and port: links, sharing at
the source, detection across nodes, the hotline across links.

TUR shares with RUS only inside a box, on a 1 km grid; RUS shares everything with TUR; TUR
shares with COA on a 5 km grid; RUS and COA share no tracks.
"""

from __future__ import annotations

import time

import pytest

from detente.geo import geodesic_destination, geodesic_distance
from tests.mesh_nodes import MeshRig

BOX = {"type": "Polygon", "coordinates": [[[35.5, 35.5], [36.5, 35.5], [36.5, 36.5],
                                           [35.5, 36.5], [35.5, 35.5]]]}
AGREEMENTS = [
    {"parties": ["TUR", "RUS"],
     "shares": {"TUR": {"zones": [BOX], "precision_m": 1000}, "RUS": {"zones": "all"}}},
    {"parties": ["TUR", "COA"],
     "shares": {"TUR": {"zones": "all", "precision_m": 5000}, "COA": {"zones": "all"}}},
    {"parties": ["RUS", "COA"],
     "shares": {"RUS": {"zones": "none"}, "COA": {"zones": "none"}}},
]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("mesh"), ("COA", "RUS", "TUR"), AGREEMENTS)
    rig.start_all()
    try:
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()


def state(track_id, lat, lon, trk, alt=6000.0, gs=200.0):
    return {"id": track_id, "t": time.time(), "lat": lat, "lon": lon, "alt_m": alt,
            "gs_mps": gs, "trk_deg": trk, "vs_mps": 0.0}


def picture(rig, party):
    with rig.client(party) as c:
        return {(t["party"], t["id"]): t for t in c.get("/v1/picture")["tracks"]}


def test_links_come_up_both_ways_and_say_so(rig):
    for party in rig.parties:
        links = rig.links(party)
        assert set(links) == set(rig.parties) - {party}
        for link in links.values():
            assert link["state"] == "up" and link["sessions"] >= 1
            assert abs(link["clock_offset_s"]) < 0.5


def test_each_node_gets_only_what_its_agreement_gives(rig):
    with rig.client("TUR") as tur:
        tur.post_states([state("T-IN", 36.0037, 36.0041, 90.0), state("T-OUT", 37.0, 37.0, 90.0)])
    with rig.client("RUS") as rus:
        rus.post_states([state("R-1", 35.2, 35.2, 0.0)])
    rus_sees = rig.wait(lambda: (p := picture(rig, "RUS")) and ("TUR", "T-IN") in p and p)
    assert ("TUR", "T-OUT") not in rus_sees  # outside the zone TUR shares with RUS
    t_in = rus_sees[("TUR", "T-IN")]
    assert t_in["precision_m"] == 1000
    assert 0 < geodesic_distance(36.0037, 36.0041, t_in["lat"], t_in["lon"]) < 1000 * 0.75
    coa_sees = rig.wait(lambda: (p := picture(rig, "COA")) and ("TUR", "T-OUT") in p and p)
    assert coa_sees[("TUR", "T-IN")]["precision_m"] == 5000
    tur_sees = rig.wait(lambda: (p := picture(rig, "TUR")) and ("RUS", "R-1") in p and p)
    assert tur_sees[("RUS", "R-1")]["lat"] == 35.2  # full precision
    time.sleep(1.0)
    assert not any(owner == "RUS" for owner, _ in picture(rig, "COA"))
    # Nothing of RUS's aircraft ever reached COA's node: it holds no RUS report at all.
    assert "RUS" not in set(rig.mechanism("COA").picture.columns().party.tolist())


def test_both_nodes_see_the_encounter_and_show_it_once_with_both_words(rig):
    # Head-on, 40 km apart, closing at 400 m/s: separation lost in ~77 s (a warning).
    lat, lon = 35.9, 35.9
    q_lat, q_lon = geodesic_destination(lat, lon, 0.0, 40_000.0)
    with rig.client("TUR") as tur, rig.client("RUS") as rus:
        tur.post_states([state("T-9", lat, lon, 0.0, alt=9000)])
        rus.post_states([state("R-9", float(q_lat), float(q_lon), 180.0, alt=9000)])

    def confirmed(party, other):
        with rig.client(party) as c:
            alerts = [a for a in c.get("/v1/alerts")["alerts"] if a["kind"] == "tactical"
                      and {t["party"] for t in a["tracks"]} == {"TUR", "RUS"}]
        return alerts if alerts and all(
            any(x["party"] == other for x in a.get("confirmed_by", [])) for a in alerts) else None

    tur_alerts = rig.wait(lambda: confirmed("TUR", "RUS"))
    rus_alerts = rig.wait(lambda: confirmed("RUS", "TUR"))
    assert len(tur_alerts) == 1 and len(rus_alerts) == 1  # shown once on each node
    assert tur_alerts[0]["severity"] == "warning" and rus_alerts[0]["severity"] == "warning"
    # RUS's picture shows T-9 under its id on a 1 km grid, finer than the 5 km of alerts:
    # naming it tells RUS nothing new (the hub's rule, SharingPolicy.names).
    tur_in_rus = next(t for t in rus_alerts[0]["tracks"] if t["party"] == "TUR")
    assert tur_in_rus["id"] == "T-9" and tur_in_rus["precision_m"] == 5000
    assert not any(a["kind"] == "tactical" for a in _alerts(rig, "COA"))


def _alerts(rig, party):
    with rig.client(party) as c:
        return c.get("/v1/alerts")["alerts"]


def test_hotline_message_crosses_the_link_and_its_acknowledgement_comes_back(rig):
    with rig.client("TUR", "tur-watch") as tur:
        sent = tur.send_message("RUS", "flash", "Your aircraft R-1 is near our border.")
    mid = sent["message"]["id"] if "message" in sent else sent["id"]

    def at_rus():
        with rig.client("RUS", "rus-watch") as rus:
            return [m for m in rus.messages() if m["id"] == mid]

    got = rig.wait(at_rus)
    assert got[0]["from_party"] == "TUR" and got[0]["body"].startswith("Your aircraft")
    with rig.client("RUS", "rus-watch") as rus:
        rus.acknowledge(mid, "Understood, turning south.")

    def acked_at_tur():
        with rig.client("TUR", "tur-watch") as tur:
            return [m for m in tur.messages() if m["id"] == mid
                    and m["state"] == "acknowledged"]

    done = rig.wait(acked_at_tur)
    assert done[0]["reply"] == "Understood, turning south."
    assert done[0]["ack_by"] == "rus-watch"
    # COA's node never heard of it.
    with rig.client("COA", "coa-watch") as coa:
        assert all(m["id"] != mid for m in coa.messages())
