"""Need-to-know rules against hand-built agreements."""

import numpy as np
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


# --- another party's aircraft named, the exit point, the resolution ----------------------------

# What B shares with A, and whether an alert may name B's track "b" to A. The oracle is A's
# own picture (``visible``): a track is named only where that picture shows it under its id,
# undelayed, at least as precisely as the alert places it (5 km, and flight levels, unless
# the agreement says otherwise).
NAMING = [
    ({"zones": "none"}, False),                                   # shares no tracks
    ({"precision_m": 10_000}, False),                             # a grid coarser than 5 km
    ({"precision_m": 5_000}, True),                               # the alert's own grid
    ({"precision_m": 1_000}, True),
    ({"precision_m": 1_000, "alt_precision_m": 1_000}, False),    # levels coarser than FL
    ({}, True),                                                   # everything, exactly
    ({"alert_precision_m": 0}, True),
    ({"precision_m": 1_000, "alert_precision_m": 0}, False),      # alerts finer than tracks
    ({"delay_s": 30}, False),                                     # shown late
    ({"zones": [{"type": "Polygon", "coordinates": [[[30, 30], [31, 30], [31, 31], [30, 31],
                                                     [30, 30]]]}]}, False),  # elsewhere
]


def two_party_policy(b_shares: dict) -> SharingPolicy:
    return SharingPolicy(parse_config({
        "region": {"centre": [36.0, 36.0]},
        "parties": [{"id": p, "public_keys": [KEY]} for p in "AB"],
        "agreements": [{"parties": ["A", "B"], "shares": {"B": b_shares, "A": {}}}],
    }), LocalProjection(36.0, 36.0))


def pair_alert(**kw) -> Alert:
    fields = dict(id="x", kind="tactical", key=("k",), parties=("A", "B"),
                  tracks=(("A", "a"), ("B", "b")), state="raised", severity="warning",
                  t_to_go_s=90, point=(36.0, 36.02), raised_at=100, updated_at=100,
                  detail={"_points": {"A": (36.0, 36.0), "B": (36.0, 36.05)}})
    fields.update(kw)
    return Alert(**fields)


@pytest.mark.parametrize(("b_shares", "named"), NAMING)
def test_another_partys_track_is_named_only_where_the_viewers_picture_shows_it(b_shares,
                                                                               named):
    policy = two_party_policy(b_shares)
    pic = Picture(stale_s=600, history_s=policy.max_delay_s())
    pic.accept("A", [rep("a", 100, 36.0, 36.0)], now=100)
    pic.accept("B", [rep("b", 60, 36.05, 35.99), rep("b", 100, 36.05, 36.0)], now=100)
    view = policy.alert_view(pair_alert(), "A", pic)
    entry = next(t for t in view["tracks"] if t["party"] == "B")
    assert entry["id"] == ("b" if named else None)
    shown = {(v["party"], v["id"]): v for v in policy.visible_tracks("A", pic, now=100)}
    share = policy.share("B", "A")
    if named:  # the oracle: A's picture holds it, as precisely, now
        v = shown[("B", "b")]
        assert v["t"] == 100
        assert v["precision_m"] == 0 or 0 < v["precision_m"] <= share.alert_precision_m
    # Named or not, B sees its own aircraft by name, and A's only where A shares it.
    for_b = policy.alert_view(pair_alert(), "B", pic)
    assert {"party": "B", "id": "b"} in for_b["tracks"]


def test_the_exit_point_is_exact_for_its_aircrafts_party_and_rounded_for_the_other():
    pic = Picture()
    pic.accept("B", [rep("b", 100, 36.0, 36.0)], now=100)
    exit_at = (36.1234, 36.0456)
    alert = Alert(id="i", kind="incursion", key=("i",), parties=("A", "B"),
                  tracks=(("B", "b"),), state="raised", severity="warning", t_to_go_s=90,
                  point=(36.1, 36.04), raised_at=100, updated_at=100,
                  detail={"airspace": "AREA", "owner": "A", "t_exit_s": 120.0,
                          "_points": {"B": (36.1, 36.04)}, "_exit_points": {"B": exit_at}})
    coarse = two_party_policy({})  # alerts to A on a 5 km grid
    for_b = coarse.alert_view(alert, "B", pic)
    assert for_b["detail"]["exit_point"] == list(exit_at)
    for_a = coarse.alert_view(alert, "A", pic)
    lon, lat = for_a["detail"]["exit_point"]
    off = geodesic_distance(exit_at[1], exit_at[0], lat, lon)
    assert 0 < off <= 5000 * 0.71  # a grid point, within half a diagonal
    # On the same grid as the entry point: both rounded alike.
    lon_e, lat_e = for_a["point"]
    x, y = coarse.projection.forward(np.array([lat, lat_e]), np.array([lon, lon_e]))
    assert np.allclose(np.asarray(x) / 5000, np.round(np.asarray(x) / 5000), atol=1e-6)
    assert np.allclose(np.asarray(y) / 5000, np.round(np.asarray(y) / 5000), atol=1e-6)
    exact = two_party_policy({"alert_precision_m": 0})
    assert exact.alert_view(alert, "A", pic)["detail"]["exit_point"] == list(exit_at)
    assert "_exit_points" not in for_a["detail"] and "_exit_points" not in for_b["detail"]


def test_the_resolution_is_its_aircrafts_partys_alone_and_not_once_cleared():
    policy = two_party_policy({})
    pic = Picture()
    pic.accept("A", [rep("a", 100, 36.0, 36.0)], now=100)
    pic.accept("B", [rep("b", 100, 36.05, 36.0)], now=100)
    turn_a = {"aircraft": "a", "side": "left", "right": {}, "left": {}}
    turn_b = {"aircraft": "b", "side": "right", "right": {}, "left": {}}
    alert = pair_alert(detail={"_resolution": {"A": turn_a, "B": turn_b}})
    assert policy.alert_view(alert, "A", pic)["detail"]["resolution"] == turn_a
    assert policy.alert_view(alert, "B", pic)["detail"]["resolution"] == turn_b
    cleared = pair_alert(state="cleared", detail=alert.detail)
    assert "resolution" not in policy.alert_view(cleared, "A", pic)["detail"]
