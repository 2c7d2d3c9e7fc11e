"""The console in headless Chromium, on the FakeSource fixture (static/fake/hatay.json).

Oracles outside the page: Python's ``cryptography`` verifies the page's WebCrypto signature;
screen pixels (read from a PNG screenshot) show the colours the style promises; the fixture
file says which alert and message must appear.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .conftest import STATIC, open_console

expect = pytest.importorskip("playwright.sync_api").expect

FIXTURE = json.loads((STATIC / "fake/hatay.json").read_text())
SEA, LAND, CRITICAL = (0xCF, 0xDD, 0xE6), (0xF3, 0xF1, 0xEA), (0xE0, 0x23, 0x1C)


def pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> tuple[ed25519.Ed25519PrivateKey, Path]:
    private = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("keys") / "official.pem"
    path.write_bytes(pem(private))
    return private, path


@pytest.fixture(scope="module")
def russian(browser, console_url, key):
    """One console logged in as the Russian watch officer, shared by the tests that only look
    (a page costs ~4 s here, most of it MapLibre starting on a software GPU)."""
    with open_console(browser, console_url) as console:
        yield logged_in(console, key, "RUS", "rus-watch")


def logged_in(console, key, party: str = "RUS", official: str = "rus-watch"):
    console.open()
    console.login_started = time.time()
    console.login(party, official, key[1])
    console.page.wait_for_selector('#alerts li[data-id="A-1"][data-severity="critical"]')
    console.page.wait_for_selector('#hotline li[data-id="H-1"]')
    return console


def pixel(page, x: float, y: float) -> tuple[int, int, int]:
    """The colour on screen at page coordinates (x, y), read from a 1x1 PNG screenshot.

    With one pixel there are no neighbours, so every PNG row filter leaves the bytes as they
    are: the decompressed IDAT is the filter byte followed by R, G, B (and A).
    """
    png = page.screenshot(clip={"x": round(x), "y": round(y), "width": 1, "height": 1})
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = {}, 8
    while at < len(png):
        (length,), kind = struct.unpack(">I", png[at:at + 4]), png[at + 4:at + 8]
        chunks[kind] = chunks.get(kind, b"") + png[at + 8:at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(chunks[b"IDAT"])
    return tuple(raw[1:4])


def on_screen(page, lon: float, lat: float) -> tuple[float, float]:
    """Page coordinates of a lon/lat, via the map's projection and the map element's offset."""
    x, y, inside = page.evaluate(
        """([lon, lat]) => {
            const map = window.detenteConsole.map;
            const p = map.project([lon, lat]);
            const box = map.getContainer().getBoundingClientRect();
            const inside = p.x > 0 && p.y > 0 && p.x < box.width && p.y < box.height;
            return [box.x + p.x, box.y + p.y, inside];
        }""", [lon, lat])
    assert inside, f"{lon}, {lat} is not on the map as the page opens"
    return x, y


def near(colour: tuple[int, int, int], want: tuple[int, int, int], tol: int = 6) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(colour, want, strict=True))


def test_loads_offline_with_no_errors(russian):
    console = russian
    assert console.errors == []
    assert console.requests, "the page made no requests at all?"
    outside = [u for u in console.requests
               if not u.startswith((console.base, "blob:", "data:"))]
    assert outside == []


def look_at(page, lon: float, lat: float, zoom: float) -> None:
    """Move the map (the first view follows the traffic) and wait for it to draw."""
    page.evaluate("([lon, lat, zoom]) => window.detenteConsole.map.jumpTo("
                  "{center: [lon, lat], zoom})", [lon, lat, zoom])
    page.wait_for_function("window.detenteConsole.map.loaded()")
    page.wait_for_timeout(100)


def test_map_draws_sea_and_land(russian):
    page = russian.page
    assert page.locator("#map canvas").bounding_box()["width"] > 500
    look_at(page, 36.2, 35.9, 9.5)
    # Points > 5 km from any coast, border, airspace or aircraft (lon, lat).
    assert near(pixel(page, *on_screen(page, 35.85, 35.95)), SEA)
    assert near(pixel(page, *on_screen(page, 36.52, 35.71)), LAND)  # Syria, off the grid lines


def test_fake_alert_listed_and_drawn(russian):
    page = russian.page
    alert = [e["data"] for e in FIXTURE["events"] if e["type"] == "alert"][-1]
    item = page.locator('#alerts li[data-id="A-1"]')
    assert "incursion A-1" in item.inner_text()
    assert "RUS RUS-1" in item.inner_text()
    # Counts down to the entry: the fixture's "now" (t0) is the moment it was loaded, after
    # the login started, and the entry is t_entry_s after the alert's updated_at.
    to_go = int(item.locator(".ttg").inner_text().split()[1])
    elapsed = time.time() - russian.login_started
    entry = alert["updated_at"] + alert["detail"]["t_entry_s"] - FIXTURE["t0"]
    assert entry - elapsed - 1 <= to_go <= entry + 1
    # On the map: the rendered alert layer has it at its point, and the screen is red there.
    x, y = on_screen(page, *alert["point"])
    ids = page.evaluate(
        """([lon, lat]) => {
            const map = window.detenteConsole.map;
            return map.queryRenderedFeatures(map.project([lon, lat]), {layers: ["alerts"]})
                      .map((f) => f.properties.id);
        }""", alert["point"])
    assert ids == ["A-1"]
    page.wait_for_timeout(100)  # one frame for the canvas to reach the screen
    assert near(pixel(page, x, y), CRITICAL, tol=12)


def test_tracks_on_the_map_follow_track_and_track_gone(russian):
    tracks = [e["data"] for e in FIXTURE["events"] if e["type"] == "track"]
    gone = {(e["data"]["party"], e["data"]["id"]) for e in FIXTURE["events"]
            if e["type"] == "track_gone"}
    want = sorted(f"{t['party']}/{t['id']}" for t in tracks if (t["party"], t["id"]) not in gone)
    shown = russian.page.eval_on_selector_all(
        "#map .aircraft", "els => els.map((e) => e.dataset.track)")
    assert gone and sorted(shown) == want
    lead = russian.page.locator('#map .aircraft[data-track="RUS/RUS-1"]').inner_text()
    assert "FL190" in lead and "233kt" in lead  # 5,791 m = 18,999 ft; 120 m/s = 233.3 kt


def test_warn_about_an_alert_in_one_click(russian):
    page = russian.page
    page.locator('#alerts li[data-id="A-1"] .warn').click()
    warned = page.locator("#hotline li", has_text="WARNING from RUS rus-watch")
    warned.wait_for()
    assert "RUS/rus-watch → TUR" in warned.inner_text()
    assert "re APW RUS RUS-1 → Turkey (TUR)" in warned.inner_text()
    # Anything more goes through the form.
    compose = page.locator("#compose")
    compose.locator("[name=to_party]").fill("TUR")
    compose.locator("[name=priority]").select_option("flash")
    compose.locator("[name=body]").fill("Turning south now")
    compose.locator("button").click()
    sent = page.locator("#hotline li", has_text="Turning south now")
    sent.wait_for()
    assert "RUS/rus-watch → TUR" in sent.inner_text()
    assert not sent.locator(".ackform").is_visible()  # one's own message: nothing to acknowledge


def test_acknowledge_alert_and_hotline_message(console, key):
    page = logged_in(console, key, "RUS", "rus-watch").page
    alert = page.locator('#alerts li[data-id="A-1"]')
    alert.locator(".ack").click()
    page.wait_for_selector('#alerts li[data-id="A-1"] .state:text-is("acknowledged")')
    assert not alert.locator(".ack").is_visible()
    last = [e["data"] for e in FIXTURE["events"] if e["type"] == "alert"][-1]
    entry = last["updated_at"] + last["detail"]["t_entry_s"] - FIXTURE["t0"]
    elapsed = time.time() - console.login_started
    to_go = int(alert.locator(".ttg").inner_text().split()[1])
    assert entry - elapsed - 1 <= to_go <= entry  # still counting down

    message = page.locator('#hotline li[data-id="H-1"]')
    assert message.get_attribute("data-state") == "sent"
    message.locator("input[name=text]").fill("Understood, turning south")
    message.locator(".ackform button").click()
    page.wait_for_selector('#hotline li[data-id="H-1"][data-state="acknowledged"]')
    assert "acknowledged by RUS/rus-watch" in message.inner_text()
    assert "Understood, turning south" in message.inner_text()
    assert not message.locator(".ackform").is_visible()


def test_message_to_another_party_cannot_be_acknowledged(console, key):
    page = logged_in(console, key, "TUR", "tur-watch").page
    assert not page.locator('#hotline li[data-id="H-1"] .ackform').is_visible()


def test_login_signature_verifies_in_python(russian, key):
    private, _ = key
    login = russian.page.evaluate("window.detenteConsole.source.lastLogin")
    assert (login["party"], login["official"]) == ("RUS", "rus-watch")
    challenge = base64.b64decode(login["challenge"])
    signature = base64.b64decode(login["signature"])
    assert len(challenge) == 32 and len(signature) == 64
    private.public_key().verify(signature, challenge)  # raises if the page signed wrongly
    with pytest.raises(InvalidSignature):
        flipped = bytes([signature[0] ^ 1]) + signature[1:]
        private.public_key().verify(flipped, challenge)
    with pytest.raises(InvalidSignature):
        ed25519.Ed25519PrivateKey.generate().public_key().verify(signature, challenge)


@pytest.mark.parametrize("content, error", [
    (pem(ec.generate_private_key(ec.SECP256R1())), "not an Ed25519 private key"),
    (b"hello", "not a PKCS#8 PEM key file"),
])
def test_login_refuses_other_keys(console, tmp_path, content, error):
    path = tmp_path / "wrong.pem"
    path.write_bytes(content)
    console.open()
    console.login("RUS", "rus-watch", path)
    expect(console.page.locator("#login .status")).to_contain_text(error)  # waits for it
    assert console.page.evaluate("window.detenteConsole.source.lastLogin") is None


def test_an_unknown_source_is_named(console):
    console.open(query="?source=nope")
    expect(console.page.locator("#error")).to_contain_text('no data source "nope"')


def test_receipt_download(russian):
    page = russian.page
    page.locator('#alerts li[data-id="A-1"] .kind').click()
    with page.expect_download() as download:
        page.locator("#record .receipt").click()
    receipt = json.loads(Path(download.value.path()).read_text())
    assert download.value.suggested_filename == "receipt-alert-A-1.json"
    assert receipt["statement"]["id"] == "A-1"
    assert receipt["tree_head"]["size"] == 42


def test_screenshot(russian, tmp_path):
    """Writes the console's picture; into docs/screenshots/ with DETENTE_SCREENSHOTS=1."""
    page = russian.page
    page.locator('#alerts li[data-id="A-1"] .kind').click()
    folder = Path("docs/screenshots") if os.environ.get("DETENTE_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(200)
    page.screenshot(path=folder / "console-fake-source.png")
    assert (folder / "console-fake-source.png").stat().st_size > 10_000
