"""The hotline's traffic through a real mechanism.

A message id names one message for good: after the hotline has forgotten the message (an hour
on, or a restart), a retry with the same id is the same message, and other content under it a
conflict. Oracle: the record, read entry by entry.

The 2015 case in virtual time: the automatic warning's time is the designed entry's (07:10:00Z
plus 150 s), its point the designed crossing found by dense sampling, and it tells the sending
party nothing its agreement keeps from it; when the lead has left (by design, 17 s after its
entry) and the alert cleared, the unanswered warning is overtaken by events and climbs no
further."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest
import shapely
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyproj import Geod

from detente.errors import ConflictingWriteError
from detente.ledger import Ledger, key_statement, sign_statement
from detente.scenario import turkey_territory
from detente.scenario.yayladagi_2015 import ROWS
from detente.service.auth import Principal
from detente.service.clock import ManualClock
from detente.service.config import Agreement, Config, Official, Party, Share
from detente.service.mechanism import Mechanism
from detente.service.record import Record
from detente.store import recording as rec
from detente.store.database import open_database
from tests.service.yayladagi_run import LEAD_ENTRY_S, LEAD_INSIDE_S, START, demo_config, fly

T0 = 1_448_349_000.0
LOG = Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32)
WATCH = Ed25519PrivateKey.from_private_bytes(bytes([4]) * 32)


def config() -> Config:
    watch = Official("tur-watch", "TUR", "TUR watch", "military", 1, WATCH.public_key())
    return Config(region_name="test", centre=(36.0, 36.0),
                  agreements=(Agreement(("TUR", "RUS"), {"TUR": Share(), "RUS": Share()}),),
                  parties={"TUR": Party("TUR", "Turkey", (Ed25519PrivateKey.generate()
                                                          .public_key(),), (watch,)),
                           "RUS": Party("RUS", "Russia", (Ed25519PrivateKey.generate()
                                                          .public_key(),))})


def start(url, clock):
    cfg, engine = config(), open_database(url)
    ledger = Ledger(engine, LOG, origin="detente/test", clock=clock.now, verify_workers=1)
    return Mechanism(cfg, engine, clock, Record(ledger, LOG, cfg, clock)), ledger


def message(clock, text):
    return sign_statement(WATCH, kind="hotline.message", author="TUR/tur-watch",
                          time=clock.now(), body={"id": "m-1", "to_party": "RUS",
                                                  "priority": "routine", "body": text})


def said(ledger) -> list[dict]:
    return [e.statement.body for e in (ledger.entry(i) for i in range(ledger.size))
            if e.statement.kind == "hotline.message"]


@pytest.mark.parametrize("restart", [False, True])
def test_a_forgotten_message_id_still_names_its_message(database_url, restart):
    clock = ManualClock(T0)
    me = Principal("TUR", "tur-watch", T0 + 10 * 3600)

    async def go():
        m, ledger = start(database_url, clock)
        await m.record.append_party(me, [key_statement(WATCH, WATCH, author="TUR/tur-watch",
                                                       time=clock.now())])
        first, receipt = await m.send_message(me, message(clock, "Say intentions."))
        assert receipt is not None
        clock.advance(2 * 3600)
        await m.prune()
        assert m.hotline.get("m-1") is None  # routine and two hours old: out of memory
        if restart:
            m.close()
            m, ledger = start(database_url, clock)
            m.hotline.prune(clock.now() - 3600)  # as a long-running service would have
        again, receipt = await m.send_message(me, message(clock, "Say intentions."))
        assert receipt is None and again.record_index == first.record_index
        with pytest.raises(ConflictingWriteError, match="different content"):
            await m.send_message(me, message(clock, "Something else."))
        m.close()
        return ledger

    ledger = asyncio.run(go())
    assert said(ledger) == [{"id": "m-1", "to_party": "RUS", "priority": "routine",
                             "body": "Say intentions."}]


# --- the 2015 case in virtual time: the automatic warning's words, and overtaken by events ----

POSITION = re.compile(r"(\d+)°(\d+(?:\.\d)?)′([NS]) (\d+)°(\d+(?:\.\d)?)′([EW])")
GEOD = Geod(ellps="WGS84")


def parse_position(text: str) -> tuple[float, float, bool]:
    """(lat, lon, tenths of a minute given) of the one position in ``text``."""
    (m,) = POSITION.findall(text)
    lat = (int(m[0]) + float(m[1]) / 60) * (1 if m[2] == "N" else -1)
    lon = (int(m[3]) + float(m[4]) / 60) * (1 if m[5] == "E" else -1)
    return lat, lon, "." in m[1]


def designed_entry() -> tuple[float, float]:
    """Where the lead crosses into Turkey, by dense sampling (every 10 m) of its geodesic."""
    ident, _, lat, lon, _, gs, trk, _ = ROWS[0]
    assert ident == "SU24-LEAD"
    d = np.arange(0.0, gs * 400.0, 10.0)
    lons, lats, _ = GEOD.fwd(np.full(d.size, lon), np.full(d.size, lat), np.full(d.size, trk), d)
    k = int(np.flatnonzero(shapely.contains_xy(turkey_territory()[0].geometry, lons, lats))[0])
    return float(lats[k]), float(lons[k])


def lead_warning(run):
    return next(m for m in run.mechanism.hotline.messages_for("RUS")
                if m.automatic and m.to_party == "RUS" and m.created_at == START + 30.0)


# What RUS shares with TUR -> the words TUR's watch's warning may say: the lead's id, the turn
# as a heading, the entry point exactly.
WORDS = [
    ({}, True, True, True),  # the demo's: all tracks exactly, alerts exactly
    ({"alert_precision_m": 5_000.0}, True, True, False),
    ({"zones": shapely.Polygon(), "alert_precision_m": 5_000.0}, False, False, False),
    ({"precision_m": 10_000.0, "alert_precision_m": 5_000.0}, False, False, False),
]


@pytest.mark.parametrize(("rus_to_tur", "named", "heading", "exact_point"), WORDS)
def test_the_warning_tells_its_sender_no_more_than_its_agreement_does(
        tmp_path, rus_to_tur, named, heading, exact_point):
    run = fly(tmp_path, demo_config(rus_to_tur), until_s=32.0)
    try:
        m = lead_warning(run)
        text = m.body
        # Sent on behalf of TUR's watch, read by both: one message, in both parties' lists.
        assert m.from_party == "TUR" and m in run.mechanism.hotline.messages_for("TUR")
        # 07:10:00Z plus the designed 150 s to the entry; announced 120 s before it.
        assert "will enter Turkey airspace (TUR) at 07:12:30Z (in 120 s)" in text
        assert ("SU24-LEAD" in text) == named
        assert text.startswith("AUTOMATIC WARNING from detente on behalf of TUR watch: "
                               f"your aircraft {'SU24-LEAD ' if named else ''}will enter")
        # The turn the service suggests to RUS (test_advice holds it to the border).
        assert ("Turn left heading 255 or more." in text) == heading
        assert ("Turn left 5° or more." in text) == (not heading)
        lat, lon, tenths = parse_position(text)
        want_lat, want_lon = designed_entry()
        off = float(GEOD.inv(lon, lat, want_lon, want_lat)[2])
        assert not re.search(r"\d\.\d{3}", text)  # no decimal degrees at all
        if exact_point:
            assert tenths and off < 250.0  # a tenth of a minute, and the engine's 1 s
            assert "grid" not in text
        else:
            # Whole minutes of the 5 km grid point TUR is given: never the point itself.
            assert not tenths and "(5 km grid)" in text
            (g_lon, g_lat), grid = run.mechanism.sharing.alert_point(
                run.mechanism.alerts.get(m.alert_id), "TUR")
            assert grid == 5_000.0
            assert abs(lat - g_lat) <= 0.5 / 60 + 1e-9 and abs(lon - g_lon) <= 0.5 / 60 + 1e-9
            assert off <= 5_000.0 * 0.71 + 1_500.0
        # The record names who the automatic message is between.
        (said,) = [run.ledger.entry(i).statement for i in range(run.ledger.size)
                   if run.ledger.entry(i).statement.kind == "hotline.message"
                   and run.ledger.entry(i).statement.body["id"] == m.id]
        assert (said.body["from_party"], said.body["to_party"], said.body["body"]) == (
            "TUR", "RUS", text)
    finally:
        run.close()


def test_the_2015_warning_is_overtaken_when_the_aircraft_has_left_and_climbs_no_further(
        tmp_path):
    # Flash deadlines of 90 s: the warning (at 30 s) would reach level 2 at 120 s and level 3
    # at 210 s; the lead leaves Turkey at 150 + 17 = 167 s and its alert clears two cycles on.
    run = fly(tmp_path, demo_config(flash_s=90.0), until_s=240.0)
    try:
        m = run.mechanism.hotline.get(lead_warning(run).id)
        assert (m.state, m.level, m.sender_level, m.deadline) == ("overtaken", 2, 2, None)
        left = START + LEAD_ENTRY_S + LEAD_INSIDE_S
        assert left <= m.overtaken_at <= left + 8.0
        cleared = [e for e, tr in run.transitions
                   if tr.change == "cleared" and tr.alert.id == m.alert_id]
        assert cleared == [m.overtaken_at - START]
        # In the record: one escalation (level 2), then the message overtaken; nothing after.
        steps = [(i, run.ledger.entry(i).statement) for i in range(run.ledger.size)]
        about = [(i, st.kind, st.body) for i, st in steps
                 if st.ref == m.record_index and st.kind != "hotline.delivery"]
        assert [k for _, k, _ in about] == ["hotline.escalated", "hotline.overtaken"]
        assert about[-1][2] == {"message_id": m.id, "alert_id": m.alert_id, "level": 2}
        # Both parties were told, each in its own stream.
        for party in ("RUS", "TUR"):
            told = [d for _, kind, d in rec.events_since(run.mechanism.engine, party, 0)
                    if kind == "hotline" and d["id"] == m.id]
            assert [d["change"] for d in told] == ["sent", "escalated", "overtaken"], party
            assert (told[-1]["state"], told[-1]["deadline"], told[-1]["overtaken_at"]) == (
                "overtaken", None, m.overtaken_at)
        assert not any(d["id"] == m.id for _, kind, d in
                       rec.events_since(run.mechanism.engine, "COA", 0) if kind == "hotline")
        # As the store keeps it across a restart.
        assert rec.message_body(run.mechanism.engine, m.id)["state"] == "overtaken"
    finally:
        run.close()
