import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.geo import geodesic_distance
from detente.model.reports import TrackReport
from detente.service.picture import Picture


def r(track_id, t, lat=36.0, lon=36.0, gs=100.0, trk=90.0, alt=5000.0, vs=0.0):
    return TrackReport(track_id, t, lat, lon, alt, gs, trk, vs)


def test_stale_tracks_leave_and_old_reports_never_enter():
    p = Picture(stale_s=60)
    assert p.accept("A", [r("a", 100), r("b", 30)], now=100) == 1  # b is already 70 s old
    assert [t.id for t in p] == ["a"]
    assert p.expire(now=160) == []
    assert p.expire(now=160.5) == [("A", "a")]
    assert len(p) == 0


def test_out_of_order_reports_do_not_move_a_track_back():
    p = Picture(stale_s=60, history_s=30)
    p.accept("A", [r("a", 100, lat=36.1)], now=100)
    p.accept("A", [r("a", 95, lat=36.0)], now=100)
    tr = p.get("A", "a")
    assert tr.last.t == 100 and tr.last.lat == 36.1
    assert tr.as_of(97).t == 95 and tr.as_of(94) is None


def test_history_is_trimmed_to_what_a_delayed_share_needs():
    p = Picture(stale_s=600, history_s=10)
    p.accept("A", [r("a", t) for t in range(0, 100)], now=100)
    ts = [x.t for x in p.get("A", "a").history]
    assert ts[-1] == 99 and ts[0] >= 89 - 1 and p.get("A", "a").as_of(89) is not None


def test_snapshot_extrapolates_to_now_along_the_track():
    p = Picture()
    p.accept("A", [r("a", 100, gs=200, trk=90, vs=5)], now=110)
    s, age = p.snapshot(now=110)
    assert age.tolist() == [10.0]
    # 10 s at 200 m/s due east: 2,000 m from the report; climbing 5 m/s: +50 m.
    assert geodesic_distance(36.0, 36.0, s.lat[0], s.lon[0]) == pytest.approx(2000, abs=1e-3)
    assert s.alt_m[0] == 5050 and s.party.tolist() == ["A"]
    empty, age = Picture().snapshot(now=0)
    assert len(empty) == 0 and np.asarray(age).size == 0


def test_retention_prunes_old_records(database_url):
    import asyncio

    from detente.service.clock import ManualClock
    from detente.service.config import parse_config
    from detente.service.mechanism import Mechanism
    from detente.store.database import open_database
    from detente.store.recording import reports_received_between

    key = "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="
    cfg = parse_config({"region": {"centre": [36, 36]}, "service": {"retention_days": 1},
                        "parties": [{"id": "A", "public_keys": [key]}]})
    clock = ManualClock(1_000_000.0)
    engine = open_database(database_url)
    mech = Mechanism(cfg, engine, clock)

    def count():
        return len(list(reports_received_between(engine, None, None)))

    async def go():
        await mech.ingest("A", [r("old", clock.now())])
        clock.advance(86_400 - 1)
        await mech.ingest("A", [r("new", clock.now())])
        await mech.prune()
        assert count() == 2  # the old one is a second short of a day
        clock.advance(2)
        await mech.prune()
        assert count() == 1

    asyncio.run(go())
    mech.close()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from("abcde"), st.integers(0, 20),
                                   st.floats(-89, 89)), max_size=12), max_size=6))
def test_accept_keeps_the_newest_report_of_each_track_like_a_plain_dict(batches):
    """Oracle: a dict updated report by report, in arrival order, where a report replaces the
    current one when it is not older (a repeat of the same instant: the latest word)."""
    p = Picture(stale_s=15)
    expected: dict[str, tuple[float, float]] = {}
    for k, batch in enumerate(batches):
        now = 5.0 + 3 * k
        p.accept("A", [r(i, float(t), lat=lat) for i, t, lat in batch], now=now)
        for i, t, lat in batch:
            if t >= now - 15 and (i not in expected or t >= expected[i][0]):
                expected[i] = (float(t), lat)
    got = {tr.id: (tr.last.t, tr.last.lat) for tr in p}
    assert got == expected


def test_rows_freed_by_expiry_are_reused_without_mixing_tracks():
    p = Picture(stale_s=10)
    p.accept("A", [r(f"a{k}", 0.0, lat=k) for k in range(100)], now=0)
    p.accept("B", [r("b", 5.0, lat=-1)], now=5)
    assert len(p.expire(now=10.5)) == 100
    p.accept("C", [r(f"c{k}", 11.0, lat=k / 2) for k in range(50)], now=11)
    party, ids, c = p.columns()
    got = sorted(zip(party.tolist(), ids.tolist(), c[:, 1].tolist(), strict=True))
    assert got == sorted([("B", "b", -1.0)] + [("C", f"c{k}", k / 2) for k in range(50)])


@pytest.mark.parametrize("lat", [0.0, 36.0, 70.0])
def test_a_track_flying_as_predicted_is_not_changed_and_a_departure_is(lat):
    """Hand-worked: 250 m/s on track 045 for 10 s is 2,500 m along the geodesic (WGS84)."""
    from detente.geo import WGS84

    p = Picture(stale_s=60)
    first = p.accept_batch("A", [r("a", 100.0, lat=lat, lon=20.0, gs=250.0, trk=45.0),
                                 r("b", 100.0, lat=lat, lon=21.0, gs=250.0, trk=45.0)], now=100)
    assert sorted(first.changed) == ["a", "b"]  # new to the picture

    def flown(dist_m, trk=45.0, gs=250.0, alt=5000.0, vs=0.0, off_track_m=0.0):
        lon, la, _ = WGS84.fwd(20.0, lat, 45.0, dist_m)
        if off_track_m:
            lon, la, _ = WGS84.fwd(lon, la, 135.0, off_track_m)
        return r("a", 110.0, lat=la, lon=lon, gs=gs, trk=trk, alt=alt, vs=vs)

    cases = [(flown(2500.0), False), (flown(2800.0), False), (flown(3100.0), True),
             (flown(2500.0, off_track_m=600.0), True), (flown(2500.0, trk=48.0), True),
             (flown(2500.0, gs=247.0), True), (flown(2500.0, alt=5040.0), True),
             (flown(2500.0, vs=-1.5), True)]
    for report, changed in cases:
        q = Picture(stale_s=60)
        q.accept("A", [r("a", 100.0, lat=lat, lon=20.0, gs=250.0, trk=45.0)], now=100)
        assert q.accept_batch("A", [report], now=110).changed == (["a"] if changed else []), (
            report)
    # An older report changes nothing, not even the prediction.
    assert p.accept_batch("A", [r("a", 90.0, lat=lat + 1)], now=110).changed == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 20),
                                   st.floats(-60, 60)), max_size=10), max_size=8),
       st.integers(0, 20), st.sampled_from([5.0, 12.0]))
def test_a_delayed_view_is_the_latest_report_at_or_before_the_cut(batches, delay, history_s):
    """Oracle: every report that entered, kept in plain lists; for each live track, the
    latest with t <= now - delay (of equal times, the later to arrive) when delay <=
    history_s, which is all a delayed share asks (picture.history_s is the longest delay).
    Reports are ``age`` seconds old when they arrive, in any order."""
    p = Picture(stale_s=15, history_s=history_s)
    seen: dict[str, list[tuple[float, int, float]]] = {}
    order = 0
    now = 0.0
    for k, batch in enumerate(batches):
        now = 5.0 + 3 * k
        p.accept("A", [r(i, now - age, lat=lat) for i, age, lat in batch], now=now)
        for i, age, lat in batch:
            if age <= 15:
                seen.setdefault(i, []).append((now - age, order, lat))
            order += 1
        gone = p.expire(now)
        for _, i in gone:
            seen.pop(i, None)
    view = p.view()
    ids = view.columns.ids
    cut = now - min(delay, history_s)
    which = np.arange(len(ids))
    got_at, values = view.as_of(which, cut)
    got = {ids[k]: (v[0], v[1]) for k, v in zip(got_at.tolist(), values.tolist(), strict=True)}
    expected = {}
    for i in ids.tolist():
        before = [x for x in seen[i] if x[0] <= cut]
        if before:
            t, _, lat = max(before)
            expected[i] = (t, lat)
    assert got == expected
