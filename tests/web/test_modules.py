"""The page's modules one at a time, in Chromium. Their arithmetic against independent Python
implementations: canonical JSON against the ``rfc8785`` package, statements signed with
WebCrypto against ``detente.ledger`` (which the service uses to check them), predicted paths
against pyproj's geodesics; and the panels on a shape of the service's that the demo does not
produce."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
import rfc8785
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pyproj import Geod

from detente.ledger import SignedStatement, key_id, public_key_bytes

from .conftest import STATIC, open_console

TRICKY: list[Any] = [
    {"b": 1, "a": 2, "": 0, "aa": 3, "A": 4},
    # Keys sort by UTF-16 code units: a surrogate pair (D83D...) before U+E000, unlike code points.
    {"\ue000": 1, "\U0001f600": 2, "\u00e9": 3, "\u20ac": 4, "\x7f": 5},
    [1.5, -0.0, 0.0, 1e21, 1e20, 1e-7, 1e-6, 0.1 + 0.2, 5e-324, 1.7976931348623157e308,
     2.0**53, -(2.0**53), 123456789.123456789, 1448349785.1234567, 333333333.3333333, 100, -7],
    "\u2028\u2029 \x00\x08\t\n\x0c\r\x1f \"\\/ \u00e9 \U0001f600 \x7f \ufeff",
    {"nested": [{"z": None, "y": True, "x": False}, [], {}], "time": 1448349785.25},
]


@pytest.fixture(scope="module")
def page(browser, console_url):
    with open_console(browser, console_url) as console:
        console.page.goto(console_url + "fake/hatay.json")  # any page of the origin will do
        yield console.page


def run(page, module: str, body: str, arg: Any) -> Any:
    """Evaluate ``body`` in the page, with ``m`` the imported module, ``base`` the address of
    the console's folder and ``arg``."""
    return page.evaluate(
        f"async ([base, arg]) => {{ const m = await import(base + {module!r}); {body} }}",
        [page.url.rsplit("/", 2)[0] + "/", arg])


def test_canonical_json_is_rfc8785(page):
    got = run(page, "statements.js", "return arg.map(m.canonicalize);", TRICKY)
    assert got == [rfc8785.dumps(v).decode() for v in TRICKY]


def test_canonicalize_refuses_what_json_cannot_say(page):
    errors = run(page, "statements.js", """
        return [NaN, Infinity, undefined, () => 1].map((v) => {
            try { m.canonicalize([v]); return null; } catch (e) { return e.name; }
        });""", None)
    assert errors == ["TypeError"] * 4


def test_statement_signed_in_the_page_verifies_in_python(page):
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    body = {"id": "0" * 32, "to_party": "TUR", "priority": "flash",
            "body": "Turning south \u2014 \U0001f6e9 \"now\"", "alert_id": "a1"}
    entry = run(page, "statements.js", """
        const { signerFromPem } = await import(base + "login.js");
        const signer = await signerFromPem(arg.pem);
        return m.signStatement(signer, {kind: "hotline.message", author: "RUS/rus-watch",
                                        time: 1448349785.125, body: arg.body, ref: 7});""",
        {"pem": pem, "body": body})
    signed = SignedStatement.from_json(entry)
    public = public_key_bytes(key)
    assert signed.statement.key_id == key_id(public)
    assert signed.statement.body == body and signed.statement.ref == 7
    signed.verify(public)  # raises VerificationError if the page signed other bytes


@pytest.mark.parametrize("track", [
    {"lat": 35.844, "lon": 36.362, "gs_mps": 120.0, "trk_deg": 260.1},
    {"lat": 36.05, "lon": 36.25, "gs_mps": 250.0, "trk_deg": 0.0},
    {"lat": 60.0, "lon": 10.0, "gs_mps": 250.0, "trk_deg": 45.0},
    {"lat": -33.9, "lon": 151.2, "gs_mps": 300.0, "trk_deg": 135.0},
])
def test_predicted_path_follows_the_geodesic(page, track):
    path = run(page, "map.js", "return m.predictedPath(arg);", track)
    assert len(path) == 11  # every 30 s over the 300 s look-ahead
    geod = Geod(ellps="WGS84")
    for k, (lon, lat) in enumerate(path):
        distance = track["gs_mps"] * 30 * k
        want_lon, want_lat, _ = geod.fwd(track["lon"], track["lat"], track["trk_deg"], distance)
        _, _, off = geod.inv(lon, lat, want_lon, want_lat)
        # A sphere for the ellipsoid: off by under 0.5 % of the distance (a pixel at the
        # console's zoom), never more.
        assert off <= 0.005 * distance + 1e-6, (k, off)
    assert math.isclose(path[0][0], track["lon"]) and math.isclose(path[0][1], track["lat"])


def test_a_strategic_alert_names_the_planned_operations(page):
    """The service's alert for overlapping operational intents has no aircraft and no point
    (Mechanism.put_intent); the list names the intents."""
    alert = {"id": "tr-cap~ru-sortie", "kind": "strategic", "state": "raised",
             "severity": "advisory", "parties": ["RUS", "TUR"],
             "intents": [{"id": "tr-cap", "owner": "TUR"}, {"id": "ru-sortie", "owner": "RUS"}],
             "volume_pairs": [[0, 0]], "t_to_go_s": 600.0, "point": None, "detail": {}}
    text = run(page, "panels.js", """
        const list = document.createElement("ul");
        const picture = {alerts: new Map([[arg.id, {...arg, received: 0}]]), selected: null,
                         me: {party: "TUR", official: "tur-watch"}, hotline: new Map(),
                         tracks: new Map()};
        m.renderAlerts(list, picture, {}, 0);
        return list.querySelector(".tracks").textContent;""", alert)
    assert text == "TUR intent tr-cap, RUS intent ru-sortie"


# --- facts.js: what an alert says, in the operator's words -----------------------------------

def parse_dm(text: str) -> float:
    """ "35°48.9′N" -> 35.815 (degrees), independently of the page's formatting."""
    m = re.fullmatch(r"(\d+)°(\d\d\.\d)′([NSEW])", text)
    assert m, text
    value = int(m[1]) + float(m[2]) / 60
    return -value if m[3] in "SW" else value


@pytest.mark.parametrize("lon, lat, want", [
    (36.1551, 35.8149, "35°48.9′N 036°09.3′E"),
    (-0.5, -0.5, "00°30.0′S 000°30.0′W"),
    (179.999999, 59.99999, "60°00.0′N 180°00.0′E"),  # rounding carries into the degree
])
def test_positions_in_degrees_and_minutes_hand_worked(page, lon, lat, want):
    assert run(page, "facts.js", "return m.position(arg[0], arg[1]);", [lon, lat]) == want


def test_positions_in_degrees_and_minutes_round_trip_to_a_twentieth_of_a_minute(page):
    rng = np.random.default_rng(5)
    points = np.column_stack([rng.uniform(-180, 180, 300), rng.uniform(-90, 90, 300)]).tolist()
    texts = run(page, "facts.js", "return arg.map(([x, y]) => m.position(x, y));", points)
    for (lon, lat), text in zip(points, texts, strict=True):
        la, lo = text.split(" ")
        assert abs(parse_dm(la) - lat) <= 0.05 / 60 + 1e-12
        assert abs(parse_dm(lo) - lon) <= 0.05 / 60 + 1e-12
        assert len(lo.split("°")[0]) == 3 and len(la.split("°")[0]) == 2


def test_flight_levels_and_utc(page):
    got = run(page, "facts.js", """return [m.flightLevel(5791), m.flightLevel(304.8),
        m.flightLevel(12496.8), m.utc(1448349845), m.utc(1448349845.6)];""", None)
    # 5,791 m = 18,999 ft; 12,496.8 m = 41,000 ft; 1448349845 = 2015-11-24T07:24:05Z
    # (python3 -c "import time; print(time.gmtime(1448349845))").
    assert got == ["FL190", "FL010", "FL410", "07:24:05Z", "07:24:06Z"]


def test_alert_times_count_from_its_last_announcement(page):
    alert = {"id": "a", "kind": "incursion", "state": "updated", "severity": "warning",
             "t_to_go_s": 90.0, "updated_at": 1000.0, "received": 1030.0,
             "detail": {"t_entry_s": 90.0, "t_exit_s": 107.0, "violation": False}}
    got = run(page, "facts.js", """return [m.eventTime(arg), m.exitTime(arg), m.toGo(arg, 1050),
        m.isHappening(arg, 1089), m.isHappening(arg, 1095), m.isHappening(arg, 1108),
        m.tag(arg, 1050), m.tag(arg, 1095)];""", alert)
    assert got == [1090.0, 1107.0, 40.0, False, True, False, "APW 40s", "APW INSIDE"]


@pytest.mark.parametrize("resolution, want", [
    ({"aircraft": "SU24-LEAD", "side": "left",
      "left": {"turn_deg": 5.1, "heading_deg": 255.0, "span_deg": 170.0},
      "right": {"turn_deg": 109.9, "heading_deg": 10.0, "span_deg": 70.0}},
     "SU24-LEAD: turn left heading 255 or more (5°); or turn right heading 010 or more (110°)"),
    ({"side": "right", "right": {"turn_deg": 30.0, "heading_deg": 120.0, "span_deg": 15.0},
      "left": {"turn_deg": None, "heading_deg": None, "span_deg": None}},
     "turn right heading 120 to 135 (30°)"),
    ({"side": "none", "right": {"turn_deg": None, "heading_deg": None, "span_deg": None},
      "left": {"turn_deg": None, "heading_deg": None, "span_deg": None}},
     "no heading within the turn allowed clears it"),
    ({"aircraft": "X", "side": "none", "exit": {"heading_deg": 90.0, "turn_deg": -110.0,
                                                 "t_exit_s": 30.0}},
     "X: leave now: turn left heading 090, out in 30 s"),
    (None, None),
])
def test_the_resolution_the_service_sends_in_words(page, resolution, want):
    assert run(page, "facts.js", "return m.resolutionText(arg);", resolution) == want


def test_default_party_colours_are_the_configurations():
    """palette.js and detente.service.config: one list, by the party's place."""
    from detente.service.config import PARTY_COLOURS

    text = (STATIC / "palette.js").read_text()
    listed = re.search(r"export const PARTY_COLOURS = \[([^\]]*)\]", text)[1]
    assert re.findall(r'"(#[0-9a-f]{6})"', listed) == list(PARTY_COLOURS)


@pytest.mark.parametrize("value, hemispheres, want", [
    (36.0, "NS", "36°N"), (36.5, "EW", "36°30′E"), (35 + 5 / 60, "NS", "35°05′N"),
    (-12.25, "EW", "12°15′W"),
])
def test_grid_values(page, value, hemispheres, want):
    assert run(page, "overlays.js", "return m.gridLabel(arg[0], arg[1]);",
               [value, hemispheres]) == want
