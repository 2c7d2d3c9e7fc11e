"""The console on the real service (LiveSource), in headless Chromium, in about half a minute.

The test starts ``detente serve`` (the built-in demo configuration, Turkey's territory as
protected airspace) and plays the parties' own clients: RUS reports a Su-24 about 100 s of
flight from the Yayladagi salient, TUR two F-16s. The service warns at once, and sends RUS an
automatic flash message. Oracles outside the page: the service's record, exported and audited by
``detente.ledger`` (every signature the page made is checked there), and receipts verified
with the log's key.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyproj import Geod

from detente.cli.client import ServiceClient
from detente.ledger import Receipt, SignedStatement, audit_export
from detente.scenario.yayladagi_2015 import DESIGNED_ENTRY_S, ROWS
from tests.web.conftest import wait_for_alert_on_map

from .conftest import DEMO_KEYS, detente, free_port, open_console, wait_for_health

expect = pytest.importorskip("playwright.sync_api").expect

GEOD = Geod(ellps="WGS84")
TO_ENTRY_S = 100.0  # inside the warning time (120 s): the service warns on the first cycle


@dataclass
class Live:
    url: str  # the service's origin, ending in "/"

    def client(self, party: str, official: str | None = None) -> ServiceClient:
        key = DEMO_KEYS / f"{official or party}.pem"
        return ServiceClient(self.url.rstrip("/"), party, key, official=official)


def fly(stop: threading.Event, url: str) -> None:
    """The parties' clients: each reports its own aircraft every second, moved on a straight
    line from the scenario's first state, the Su-24s started TO_ENTRY_S before their entry."""
    start = time.time()
    head_start = {"RUS": DESIGNED_ENTRY_S - TO_ENTRY_S, "TUR": 0.0}
    clients = {p: ServiceClient(url, p, DEMO_KEYS / f"{p}.pem") for p in ("RUS", "TUR")}
    try:
        while not stop.is_set():
            now = time.time()
            for party, client in clients.items():
                states = []
                for ident, owner, lat, lon, alt_m, gs, trk, vs in ROWS:
                    if owner != party:
                        continue
                    flown = gs * (now - start + head_start[party])
                    lon2, lat2, back = GEOD.fwd(lon, lat, trk, flown)
                    states.append({"id": ident, "t": now, "lat": lat2, "lon": lon2,
                                   "alt_m": alt_m, "gs_mps": gs, "trk_deg": (back + 180) % 360,
                                   "vs_mps": vs})
                client.post_states(states)
            stop.wait(1.0)
    finally:
        for client in clients.values():
            client.http.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("live")
    port = free_port()
    args = ["serve", "--port", str(port), "--db", f"sqlite:///{folder / 'detente.db'}"]
    with detente(args, folder) as process:
        url = f"http://127.0.0.1:{port}/"
        wait_for_health(url, process)
        stop = threading.Event()
        flying = threading.Thread(target=fly, args=(stop, url.rstrip("/")), daemon=True)
        flying.start()
        yield Live(url)
        stop.set()
        flying.join()


def console_at(live: Live):
    return f"{live.url}console/"


def log_in(console, party: str, official: str) -> None:
    console.open(query="")
    console.login(party, official, DEMO_KEYS / f"{official}.pem")
    console.page.wait_for_selector("body.logged-in")


def record(live: Live) -> list[SignedStatement]:
    """The whole record, audited by detente.ledger (signatures, roots, key registrations)."""
    with live.client("TUR", "tur-watch") as tur:
        export = tur.http.get("/v1/record/export").content
    audit_export(export.splitlines(keepends=True))  # raises on any bad signature or root
    entries = [json.loads(line) for line in export.splitlines()]
    return [SignedStatement.from_json(e["leaf"]) for e in entries if "leaf" in e]


def test_russian_watch_sees_the_warning_and_acknowledges_the_flash(browser, live):
    with open_console(browser, console_at(live)) as console:
        page = console.page
        log_in(console, "RUS", "rus-watch")
        alert = page.locator("#alerts li.alert", has_text="incursion").first
        alert.wait_for(timeout=20_000)
        assert alert.get_attribute("data-severity") in ("warning", "critical")
        assert "RUS SU24-LEAD" in alert.inner_text()
        # Own aircraft and the Turkish ones TUR shares with RUS, labelled, with paths.
        page.wait_for_selector('#map .aircraft[data-track="TUR/F16-1"]')
        assert "FL190" in page.locator('#map .aircraft[data-track="RUS/SU24-LEAD"]').inner_text()
        # The alert is on the map: the rendered alert layer has it at its point.
        alert_id = alert.get_attribute("data-id")
        wait_for_alert_on_map(page, alert_id)
        # Acknowledged by the service (no statement of the official's: the service records it).
        listed = page.locator(f'#alerts li[data-id="{alert_id}"]')
        listed.locator(".ack").click()
        expect(listed.locator(".state")).to_have_text("acknowledged")

        flash = page.locator('#hotline li[data-priority="flash"]').first
        flash.wait_for(timeout=20_000)
        assert "automatic" in flash.inner_text().lower() and "TUR → RUS" in flash.inner_text()
        assert "due in" in flash.locator(".ttg").inner_text()
        flash.locator("input[name=text]").fill("Understood, turning south")
        flash.locator(".ackform button").click()
        expect(flash).to_have_attribute("data-state", "acknowledged")
        assert "acknowledged by RUS/rus-watch" in flash.inner_text()
        message_id = flash.get_attribute("data-id")

        # The receipt of the message proves it is in the log, under a head signed by the log.
        flash.locator(".body").click()
        with page.expect_download() as download:
            page.locator("#record .receipt").click()
        got = json.loads(Path(download.value.path()).read_text())
        with live.client("TUR", "tur-watch") as tur:
            log_key = base64.b64decode(tur.get("/v1/record/head")["log_key"])
        entry = SignedStatement.from_json(got["entry"])
        Receipt.from_json(got["receipt"]).verify(log_key, leaf=entry.leaf())
        assert entry.statement.body["id"] == message_id

    # What the page signed is in the record under rus-watch's key, and checks there.
    said = [s.statement for s in record(live) if s.statement.author == "RUS/rus-watch"]
    assert [s.kind for s in said] == ["key.register", "hotline.ack"]
    assert said[1].body == {"message_id": message_id, "reply": "Understood, turning south"}
    assert said[1].ref == got["receipt"]["index"]  # the message's entry


def test_turkish_watch_sees_the_acknowledgement_and_warns(browser, live):
    with open_console(browser, console_at(live)) as console:
        page = console.page
        log_in(console, "TUR", "tur-watch")
        acked = page.locator('#hotline li[data-state="acknowledged"]').first
        acked.wait_for(timeout=20_000)
        assert "acknowledged by RUS/rus-watch" in acked.inner_text()
        assert "Understood, turning south" in acked.inner_text()
        assert not acked.locator(".ackform").is_visible()
        expect(page.locator("#record .size")).not_to_have_text("–")

        # A warning from the page about the alert, in one click: signed here, recorded,
        # delivered.
        alert = page.locator("#alerts li.alert", has_text="incursion").first
        alert.locator(".warn").click()
        sent = page.locator("#hotline li", has_text="WARNING from TUR tur-watch")
        sent.wait_for()
        assert "TUR/tur-watch → RUS" in sent.inner_text()

    said = [s.statement for s in record(live) if s.statement.author == "TUR/tur-watch"]
    assert [s.kind for s in said] == ["key.register", "hotline.message"]
    assert said[1].body["body"].startswith("WARNING from TUR tur-watch: incursion alert")
    assert said[1].body["to_party"] == "RUS" and said[1].body["alert_id"]


def test_coalition_sees_only_what_it_is_given_and_resumes_after_a_drop(browser, live):
    with open_console(browser, console_at(live)) as console:
        page = console.page
        log_in(console, "COA", "coa-watch")
        # TUR shares all its aircraft with COA (coarsened to 5 km), RUS none of them.
        page.wait_for_selector('#map .aircraft[data-track="TUR/F16-1"]')
        page.wait_for_function("window.detenteConsole.source.lastSeq > 0")  # a tree head
        assert page.locator('#map .aircraft[data-track^="RUS/"]').count() == 0

        # The stream drops: the source comes back asking for what came after the last event.
        with page.expect_websocket() as reopened:
            seq = page.evaluate("""() => {
                const source = window.detenteConsole.source;
                source.socket.close();
                return source.lastSeq;
            }""")
        assert reopened.value.url.endswith(f"&since={seq}")
        expect(page.locator("#source")).to_have_text("connected")
        position = "window.detenteConsole.picture.tracks.get('TUR/F16-1').t"
        page.wait_for_function(f"(t) => {position} > t", arg=page.evaluate(position))  # moving


def test_a_key_that_is_not_the_officials_is_refused(browser, live):
    # The browser logs the 401 as an error.
    with open_console(browser, console_at(live), allow=("/v1/auth/token",)) as console:
        console.open(query="")
        console.login("RUS", "rus-watch", DEMO_KEYS / "tur-watch.pem")
        expect(console.page.locator("#login .status")).to_contain_text("POST /v1/auth/token: 401")
        assert not console.page.evaluate("document.body.classList.contains('logged-in')")
