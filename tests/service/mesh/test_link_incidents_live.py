"""What a node tells its own party about its links, three nodes on loopback: RUS's node runs
30 s ahead of the others (its clock, and its feed's); COA's node dials TUR's through a proxy
that can cut the link; the TUR-COA agreement allows 3 s of silence and 2 s for a flash.

- Clocks: each link measures the offset (signed timestamps both ways): RUS's is seen 30 s
  ahead by TUR's and COA's nodes, beyond the 2 s tolerance, which each raises to its party;
  RUS's reports are put on TUR's clock by the offset, so TUR predicts the encounter at the
  hand-worked time (30 s off would move RUS's aircraft 6 km).
- A silent link: cut, both ends raise it to their own party after 3 s, with a flash to their
  own officials that climbs their ladder at 2 s; restored, the incident clears and the flash,
  unanswered, is overtaken by events. The console's links view says up or down and the age of
  the freshest data from each peer.
"""

from __future__ import annotations

import time

import pytest

from detente.geo import geodesic_destination
from tests.mesh_nodes import MeshRig
from tests.mesh_proxy import Proxy

SKEW_S = 30.0
AGREEMENTS = [
    {"parties": ["TUR", "RUS"]},
    {"parties": ["TUR", "COA"], "link": {"silence_s": 3.0}, "hotline": {"flash_s": 2.0}},
    {"parties": ["RUS", "COA"]},
]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("incidents"), ("COA", "RUS", "TUR"), AGREEMENTS)
    rig.skew["RUS"] = SKEW_S
    rig.proxy = Proxy(rig.url("TUR"))
    rig.via[("COA", "TUR")] = rig.proxy.url
    try:
        rig.start_all()
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()
        rig.proxy.stop()


def link_alerts(rig, party, peer, problem):
    with rig.client(party) as c:
        return [a for a in c.get("/v1/alerts")["alerts"] if a["kind"] == "link"
                and a["detail"]["peer"] == peer and a["detail"]["problem"] == problem]


def test_a_peer_s_clock_30_s_ahead_is_measured_and_raised(rig):
    for party in ("TUR", "COA"):
        link = rig.wait(lambda p=party: (lk := rig.links(p)["RUS"])["rtt_ms"] is not None
                        and lk)
        assert abs(link["clock_offset_s"] - SKEW_S) < 0.5
        (alert,) = rig.wait(lambda p=party: link_alerts(rig, p, "RUS", "clock"))
        assert alert["severity"] == "warning" and alert["parties"] == [party]
        assert abs(alert["detail"]["offset_s"] - SKEW_S) < 0.5
    # And from RUS's side, the others are 30 s behind.
    assert abs(rig.links("RUS")["TUR"]["clock_offset_s"] + SKEW_S) < 0.5
    assert not link_alerts(rig, "TUR", "COA", "clock")


def test_detection_puts_the_peer_s_reports_on_its_own_clock(rig):
    lat, lon = 36.0, 36.4
    r_lat, r_lon = geodesic_destination(lat, lon, 90.0, 60_000.0)
    posted = time.time()
    with rig.client("TUR") as tur:
        tur.post_states([{"id": "T-1", "t": posted, "lat": lat, "lon": lon, "alt_m": 8000.0,
                          "gs_mps": 200.0, "trk_deg": 90.0, "vs_mps": 0.0}])
    with rig.client("RUS") as rus:  # RUS's feed runs on RUS's clock
        rus.post_states([{"id": "R-1", "t": posted + SKEW_S, "lat": float(r_lat),
                          "lon": float(r_lon), "alt_m": 8000.0, "gs_mps": 200.0,
                          "trk_deg": 270.0, "vs_mps": 0.0}])

    def alert():
        with rig.client("TUR") as c:
            return [a for a in c.get("/v1/alerts")["alerts"] if a["kind"] == "tactical"]

    (a,) = rig.wait(alert)
    # 60 km apart closing at 400 m/s: separation (9,260 m) lost 126.85 s after posting.
    due = a["updated_at"] + a["t_to_go_s"] - posted
    assert abs(due - (60_000 - 9_260) / 400) < 2.0
    with rig.client("TUR") as c:
        (r1,) = [t for t in c.get("/v1/picture")["tracks"] if t["id"] == "R-1"]
    assert abs(r1["t"] - posted) < 1.0  # on TUR's clock, not 30 s in its future


def test_a_silent_link_is_raised_on_both_ends_and_climbs_their_ladders(rig):
    rig.proxy.carrying = False
    rig.proxy.cut()
    cut = time.time()
    for party, peer in (("TUR", "COA"), ("COA", "TUR")):
        (alert,) = rig.wait(lambda p=party, q=peer: link_alerts(rig, p, q, "silent"))
        assert alert["severity"] == "critical" and alert["parties"] == [party]
        # Raised once 3 s had passed since the last frame from the peer (a ping a second),
        # within the node's watch's tick (0.25 s) and a cycle.
        silent = alert["raised_at"] - alert["detail"]["since"]
        assert 3.0 < silent < 4.0 and alert["detail"]["since"] <= cut + 0.1
        assert rig.links(party)[peer]["state"] == "down"

        def flash(p=party, q=peer, a=alert):
            with rig.client(p, f"{p.lower()}-watch") as c:
                return [m for m in c.messages() if m["alert_id"] == a["id"]]

        (m,) = rig.wait(flash)
        assert (m["from_party"], m["to_party"], m["priority"]) == (party, party, "flash")
        assert m["automatic"] and peer in m["body"]
        # Unanswered for the flash deadline (2 s), it reaches the party's command.
        rig.wait(lambda p=party, a=alert: [
            m for m in flash(p, None, a) if m["state"] in ("escalated", "overdue")
            and m["level"] == 2], timeout=10)
    # RUS's links are not silent: nothing raised about them.
    assert not link_alerts(rig, "TUR", "RUS", "silent")


def test_the_link_restored_clears_it_and_overtakes_the_flash(rig):
    rig.proxy.carrying = True
    for party, peer in (("TUR", "COA"), ("COA", "TUR")):
        rig.wait(lambda p=party, q=peer: not link_alerts(rig, p, q, "silent"), timeout=30)
        link = rig.links(party)[peer]
        assert link["state"] == "up" and link["last_frame_age_s"] < 2.0
        with rig.client(party, f"{party.lower()}-watch") as c:
            (m,) = [m for m in c.messages() if m["automatic"] and m["from_party"] == party
                    and m["to_party"] == party]
        assert m["state"] == "overtaken"


def test_the_links_view_says_the_age_of_the_freshest_data_from_each_peer(rig):
    links = rig.links("TUR")
    assert set(links) == {"RUS", "COA"}
    # RUS sent R-1 in the test above (put on TUR's clock); COA has sent no aircraft.
    assert links["RUS"]["freshest_data_age_s"] is not None
    assert 0 <= links["RUS"]["freshest_data_age_s"] < 120
    assert links["COA"]["freshest_data_age_s"] is None
