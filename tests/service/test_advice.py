"""The suggested resolution in alerts, against oracles that do not share the engine's method.

- The 2015 case flown through the service: the turn it suggests to RUS's lead is checked by
  sampling the lead's path every 25 m along the geodesic of the suggested heading (and of the
  heading 5 degrees short of it) against Turkey's territory (shapely), from where the picture
  had the lead when the warning was announced. Only RUS, whose aircraft it is, is told.
- A head-on pair, hand-worked: closing at equal speeds from D = 40 km, a turn of theta by one
  aircraft leaves a miss distance of D sin(theta / 2), so 5 NM needs theta >= 26.77 deg: the
  smallest turn on a 5-degree grid is 30 deg, each side, for each aircraft. With a box that
  the other party protects 5 km to the right of one aircraft's track, its right turn of 30 deg
  (heading 120: 11.5 km south of its track 20 km on) would lead into the box, so the
  suggestion for it is the left one: a turn never leads into protected airspace.
"""

from __future__ import annotations

import asyncio
import json
import math

import numpy as np
import pytest
import shapely
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyproj import Geod

from detente.model.airspace import Airspace, AirspaceKind
from detente.model.reports import TrackReport
from detente.scenario import turkey_territory
from detente.service.clock import ManualClock
from detente.service.config import Agreement, Config, Party, Share
from detente.service.mechanism import Mechanism
from detente.service.recording_file import airspace_collection
from detente.store import recording as rec
from detente.store.database import open_database
from tests.service.yayladagi_run import START, demo_config, fly

GEOD = Geod(ellps="WGS84")


def enters(polygon: shapely.Geometry, lat: float, lon: float, heading: float, gs: float,
           seconds: float = 300.0) -> bool:
    """Whether the path from (lat, lon) on ``heading`` enters ``polygon`` within ``seconds``,
    sampled every 25 m along the geodesic."""
    d = np.arange(0.0, gs * seconds, 25.0)
    lons, lats, _ = GEOD.fwd(np.full(d.size, lon), np.full(d.size, lat),
                             np.full(d.size, heading), d)
    return bool(shapely.contains_xy(polygon, lons, lats).any())


@pytest.fixture(scope="module")
def run_2015(tmp_path_factory):
    seen: dict[str, object] = {}

    def each(run, elapsed):
        # The lead's warning, as each party was told it when it was announced, and where the
        # picture had the lead then.
        for e, tr in run.transitions:
            if (e == elapsed and tr.alert.severity == "warning" and "lead" not in seen
                    and tr.alert.tracks == (("RUS", "SU24-LEAD"),)):
                m = run.mechanism
                seen["lead"] = m.picture.current("RUS", "SU24-LEAD")
                seen["alert"] = tr.alert
                seen["views"] = {p: m.sharing.alert_view(tr.alert, p, m.picture)
                                 for p in ("RUS", "TUR", "COA")}

    run = fly(tmp_path_factory.mktemp("advice"), demo_config(), until_s=60.0, each=each)
    yield run, seen
    run.close()


def test_the_lead_is_told_to_turn_left_heading_255_which_keeps_it_out_of_turkey(run_2015):
    _, seen = run_2015
    r = seen["views"]["RUS"]["detail"]["resolution"]
    assert r["aircraft"] == "SU24-LEAD" and r["side"] == "left"
    assert r["left"]["heading_deg"] == 255.0 and r["left"]["span_deg"] >= 30
    turkey = turkey_territory()[0].geometry
    _, lat, lon, _, gs, trk, _ = seen["lead"]
    # The reports were made at the announcement's own time: no extrapolation needed.
    assert seen["alert"].updated_at == seen["lead"][0]
    assert enters(turkey, lat, lon, trk, gs)  # as it flies: the incursion
    assert not enters(turkey, lat, lon, 255.0, gs)
    assert enters(turkey, lat, lon, 260.0, gs)  # 5 degrees short of it is not enough
    right = r["right"]["heading_deg"]
    assert not enters(turkey, lat, lon, right, gs)
    assert enters(turkey, lat, lon, (right - 5.0) % 360, gs)


def test_only_the_aircrafts_party_is_told_the_resolution(run_2015):
    run, seen = run_2015
    views = seen["views"]
    assert views["COA"] is None
    tur = views["TUR"]
    assert tur is not None and "resolution" not in tur["detail"]
    assert not any(k.startswith("_") for k in tur["detail"])
    # The record holds it only in RUS's own statement of the alert, addressed to RUS alone.
    told = set()
    for i in range(run.ledger.size):
        entry = run.ledger.entry(i)
        st = entry.statement
        if st.kind == "alert":
            assert entry.audience == (st.body["to"],)
            if "resolution" in st.body["detail"]:
                told.add(st.body["to"])
            assert not any(k.startswith("_") for k in st.body["detail"])
    assert told == {"RUS"}


def test_the_stream_carries_it_to_rus_alone(run_2015):
    run, seen = run_2015
    alert_id = seen["alert"].id
    for party in ("RUS", "TUR", "COA"):
        told = [d for _, kind, d in rec.events_since(run.mechanism.engine, party, 0)
                if kind == "alert" and d["id"] == alert_id]
        with_resolution = [d for d in told if "resolution" in d["detail"]]
        assert bool(with_resolution) == (party == "RUS"), party


def test_an_advisory_has_no_resolution(run_2015):
    run, _ = run_2015
    advisories = [tr for _, tr in run.transitions if tr.alert.severity == "advisory"]
    for tr in advisories:
        view = run.mechanism.sharing.alert_view(tr.alert, "RUS", run.mechanism.picture)
        assert "resolution" not in view["detail"]


# --- a head-on pair, by hand ----------------------------------------------------------------

LAT0, LON0 = 35.0, 30.0
KEYS = {p: Ed25519PrivateKey.generate() for p in "AB"}


def box_right_of_a() -> Airspace:
    """B's restricted area: 5 km to 50 km south of A's track, 20 km to 60 km east of A."""
    def at(east_m: float, north_m: float) -> tuple[float, float]:
        lon, lat, _ = GEOD.fwd(LON0, LAT0, 90.0, east_m)
        lon, lat, _ = GEOD.fwd(lon, lat, 180.0, -north_m)
        return lon, lat
    ring = [at(20e3, -5e3), at(60e3, -5e3), at(60e3, -50e3), at(20e3, -50e3)]
    return Airspace(name="BOX", owner="B", kind=AirspaceKind.RESTRICTED_AREA,
                    geometry=shapely.Polygon(ring))


def head_on(tmp_path, airspaces: list[Airspace]) -> dict[str, dict]:
    files = []
    if airspaces:
        files.append(tmp_path / "box.geojson")
        files[0].write_text(json.dumps(airspace_collection(airspaces)))
    config = Config(
        region_name="sea", centre=(LAT0, LON0 + 0.2),
        parties={p: Party(p, p, (k.public_key(),)) for p, k in KEYS.items()},
        agreements=(Agreement(("A", "B"), {"A": Share(), "B": Share()}),),
        airspace_files=tuple(files))
    clock = ManualClock(START)
    m = Mechanism(config, open_database(f"sqlite:///{tmp_path / 'd.sqlite'}"), clock)
    lon_b, lat_b, back = GEOD.fwd(LON0, LAT0, 90.0, 40_000.0)
    alt, gs = 9_000.0, 200.0

    async def go():
        await m.ingest("A", [TrackReport("a1", START, LAT0, LON0, alt, gs, 90.0, 0.0)])
        # pyproj's back azimuth at B points back to A: B flies it, head-on.
        await m.ingest("B", [TrackReport("b1", START, lat_b, lon_b, alt, gs, back % 360.0,
                                         0.0)])
        await m.cycle()
    asyncio.run(go())
    (alert,) = m.alerts.open_alerts()
    # Closing at 400 m/s from 40 km: 5 NM lost after 77 s, within the 120 s of a warning.
    assert alert.kind == "tactical" and alert.severity == "warning"
    views = {p: m.sharing.alert_view(alert, p, m.picture)["detail"].get("resolution")
             for p in "AB"}
    m.close()
    return views


def test_a_head_on_pair_each_turns_30_degrees(tmp_path):
    theta = 2 * math.degrees(math.asin(9_260.0 / 40_000.0))
    assert theta == pytest.approx(26.77, abs=0.01)  # so 30 on a 5-degree grid
    views = head_on(tmp_path, [])
    a, b = views["A"], views["B"]
    assert a["aircraft"] == "a1" and b["aircraft"] == "b1"
    assert (a["side"], a["right"]["turn_deg"], a["left"]["turn_deg"]) == ("right", 30, 30)
    assert a["right"]["heading_deg"] == 120 and a["left"]["heading_deg"] == 60
    # B flies 269.75 (the geodesic from A's east, 40 km on): the grid's 300 and 240.
    assert (b["side"], b["right"]["heading_deg"], b["left"]["heading_deg"]) == (
        "right", 300, 240)
    assert b["right"]["turn_deg"] == pytest.approx(30, abs=0.5)


def test_a_turn_that_leads_into_protected_airspace_is_not_suggested(tmp_path):
    box = box_right_of_a()
    # The hand-worked geometry, sampled: as it flies A stays out; 30 right goes in, 30 left not.
    assert not enters(box.geometry, LAT0, LON0, 90.0, 200.0)
    assert enters(box.geometry, LAT0, LON0, 120.0, 200.0)
    assert not enters(box.geometry, LAT0, LON0, 60.0, 200.0)
    views = head_on(tmp_path, [box])
    a, b = views["A"], views["B"]
    assert a["side"] == "left" and a["left"]["heading_deg"] == 60
    assert a["right"]["turn_deg"] > 30  # every heading the box takes is left out
    assert not enters(box.geometry, LAT0, LON0, a["right"]["heading_deg"], 200.0)
    # B's own airspace does not constrain B.
    assert (b["side"], b["right"]["heading_deg"]) == ("right", 300)
