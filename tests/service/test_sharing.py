"""Need-to-know rules against hand-built agreements."""

import pytest

from detente.geo import LocalProjection, geodesic_distance
from detente.model.reports import TrackReport
from detente.service.alerting import Alert
from detente.service.config import parse_config
from detente.service.picture import Picture
from detente.service.sharing import SharingPolicy

KEY = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="  # RFC 8032 test 1 pubkey
ZONE = {"type": "Polygon", "coordinates": [[[35, 35], [36.5, 35], [36.5, 36.5], [35, 36.5],
                                              [35, 35]]]}


@pytest.fixture
def policy():
    cfg = parse_config({
        "region": {"centre": [36.0, 36.0]},
        "parties": [{"id": p, "public_keys": [KEY]} for p in "ABC"],
        "agreements": [
            {"parties": ["A", "B"], "shares": {
                "A": {"zones": [ZONE], "precision_m": 2000, "delay_s": 30},
                "B": {"zones": "all", "alerts": True}}},
            {"parties": ["A", "C"], "shares": {"A": {"zones": "none", "alerts": False},
                                               "C": {"zones": "none"}}},
        ],
    })
    return SharingPolicy(cfg, LocalProjection(36.0, 36.0))


def rep(track_id, t, lat, lon):
    return TrackReport(track_id, t, lat, lon, 5123.0, 187.0, 93.0, 1.3)


def test_zones_precision_delay(policy):
    pic = Picture(stale_s=600, history_s=policy.max_delay_s())
    pic.accept("A", [rep("in", 60, 36.0123, 36.0456), rep("in", 100, 36.01, 36.0),
                     rep("out", 100, 37.0, 37.0)], now=100)
    pic.accept("B", [rep("b", 100, 36.2, 36.2)], now=100)
    pic.accept("C", [rep("c", 100, 36.3, 36.3)], now=100)
    seen_by_b = {(v["party"], v["id"]): v for v in policy.visible_tracks("B", pic, now=100)}
    assert set(seen_by_b) == {("A", "in"), ("B", "b")}  # not A's track outside the zone
    v = seen_by_b[("A", "in")]
    # Delayed 30 s: B sees the report of t=60, not the one of t=100, on a 2 km grid.
    assert v["t"] == 60 and v["precision_m"] == 2000
    assert 0 < geodesic_distance(36.0123, 36.0456, v["lat"], v["lon"]) <= 2000 * 0.71
    assert v["alt_m"] % 304.8 == pytest.approx(0, abs=1e-6) and v["gs_mps"] % 10 == 0
    seen_by_a = {(v["party"], v["id"]): v for v in policy.visible_tracks("A", pic, now=100)}
    assert seen_by_a[("B", "b")]["lat"] == 36.2 and seen_by_a[("B", "b")]["precision_m"] == 0
    assert ("C", "c") not in seen_by_a  # C shares nothing with A
    assert {(v["party"], v["id"]) for v in policy.visible_tracks("C", pic, now=100)} == {
        ("C", "c")}


def test_alerts_go_to_their_parties_only(policy):
    pic = Picture()
    pic.accept("A", [rep("a", 100, 36.0, 36.0)], now=100)
    pic.accept("B", [rep("b", 100, 36.05, 36.0)], now=100)
    alert = Alert(id="x", kind="tactical", key=("k",), parties=("A", "B"),
                  tracks=(("A", "a"), ("B", "b")), state="raised", severity="warning",
                  t_to_go_s=90, point=(36.0, 36.02), raised_at=100, updated_at=100,
                  detail={"d_cpa_m": 10, "_points": {"A": (36.0, 36.0), "B": (36.0, 36.05)}})
    assert policy.alert_view(alert, "C", pic) is None
    for_b = policy.alert_view(alert, "B", pic)
    a_entry = next(t for t in for_b["tracks"] if t["party"] == "A")
    assert a_entry["id"] is None and a_entry["precision_m"] == 5000
    assert for_b["point"] == [36.0, 36.05] and "_points" not in for_b["detail"]
    for_a = policy.alert_view(alert, "A", pic)
    assert {"party": "A", "id": "a"} in for_a["tracks"]
    # A does not share alerts with C: an A-C alert reaches neither... by A's choice, C is
    # not told, and A is told only if C shares alerts with A (it does, by default).
    ac = Alert(id="y", kind="tactical", key=("k2",), parties=("A", "C"),
               tracks=(("A", "a"), ("C", "c")), state="raised", severity="warning",
               t_to_go_s=90, point=(36.0, 36.0), raised_at=100, updated_at=100, detail={})
    assert policy.alert_view(ac, "C", pic) is None
    assert policy.alert_view(ac, "A", pic) is not None
