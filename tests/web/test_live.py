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
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyproj import Geod

from detente.cli.client import ServiceClient
from detente.data import bundled_path
from detente.ledger import Receipt, SignedStatement, audit_export
from detente.scenario.yayladagi_2015 import DESIGNED_ENTRY_S, ROWS
from detente.service.config import load_config
from tests.web.conftest import wait_for_alert_on_map

from .conftest import DEMO_KEYS, detente, free_port, open_console, wait_for_health

expect = pytest.importorskip("playwright.sync_api").expect

GEOD = Geod(ellps="WGS84")
CONFIG = load_config(bundled_path("demo/border.toml"))  # what `detente serve` runs by default
SEVERITY_RGB = {"warning": "rgb(240, 127, 26)", "critical": "rgb(224, 35, 28)"}  # f07f1a, e0231c
TO_ENTRY_S = 100.0  # inside the warning time (120 s): the service warns on the first cycle


@dataclass
class Live:
    url: str  # the service's origin, ending in "/"

    def client(self, party: str, official: str | None = None) -> ServiceClient:
        key = DEMO_KEYS / f"{official or party}.pem"
        return ServiceClient(self.url.rstrip("/"), party, key, official=official)


# The coalition's own aircraft, far from the border (over Syria and Iraq, as the demo's
# background): out of the view the console opens on before it knows the traffic.
COALITION = (("COA-1", "COA", 34.4, 39.6, 10_000.0, 220.0, 120.0, 0.0),
             ("COA-2", "COA", 34.9, 40.6, 11_000.0, 230.0, 300.0, 0.0))


def fly(stop: threading.Event, url: str) -> None:
    """The parties' clients: each reports its own aircraft every second, moved on a straight
    line from the scenario's first state, the Su-24s started TO_ENTRY_S before their entry."""
    start = time.time()
    head_start = {"RUS": DESIGNED_ENTRY_S - TO_ENTRY_S, "TUR": 0.0, "COA": 0.0}
    clients = {p: ServiceClient(url, p, DEMO_KEYS / f"{p}.pem") for p in ("RUS", "TUR", "COA")}
    try:
        while not stop.is_set():
            now = time.time()
            for party, client in clients.items():
                states = []
                for ident, owner, lat, lon, alt_m, gs, trk, vs in ROWS + COALITION:
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


def utc(epoch: float) -> str:
    return time.strftime("%H:%M:%SZ", time.gmtime(round(epoch)))


def colour_of(page, key: str) -> str:
    """The aircraft's colour on screen, as #rrggbb."""
    rgb = page.eval_on_selector(f'#map .aircraft[data-track="{key}"]',
                                "e => getComputedStyle(e).color")
    r, g, b = (int(v) for v in re.findall(r"\d+", rgb)[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def console_at(live: Live):
    return f"{live.url}console/"


def log_in(console, party: str, official: str) -> None:
    console.open(query="")
    console.login(party, official, DEMO_KEYS / f"{official}.pem")
    console.page.wait_for_selector("body.logged-in")


def record(live: Live, party: str = "TUR", official: str = "tur-watch"
           ) -> list[SignedStatement]:
    """``party``'s copy of the record (the entries addressed to it, whole), audited by
    detente.ledger (signatures, roots, key registrations, delivery receipts)."""
    with live.client(party, official) as client:
        export = client.http.get("/v1/record/export").content
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
        # A warning cannot be missed: a banner over the map, the aircraft's own label in the
        # alert's colour with the field and the time to go, the count in the title and icon.
        listed = page.locator(f'#alerts li[data-id="{alert_id}"]')
        severity = listed.get_attribute("data-severity")
        banner = page.locator(f'#banner .banner-line[data-id="{alert_id}"]')
        expect(banner).to_be_visible()
        assert "RUS SU24-LEAD → Turkey (TUR)" in banner.inner_text()
        lead = page.locator('#map .aircraft[data-track="RUS/SU24-LEAD"]')
        expect(lead).to_have_attribute("data-alert", re.compile("warning|critical"))
        label_colour = lead.locator(".label").evaluate("e => getComputedStyle(e).backgroundColor")
        assert label_colour in (SEVERITY_RGB["warning"], SEVERITY_RGB["critical"])
        assert re.fullmatch(r"APW (\d+s|INSIDE)", lead.locator(".alert-tag").inner_text())
        assert re.match(r"\(\d+\) (WARNING|CRITICAL) · detente console", page.title())
        assert page.locator("link[rel=icon]").get_attribute("href").startswith("data:image/png")
        assert severity in ("warning", "critical")
        # A click on the alert centres the map on the aircraft and highlights it, and brings
        # the message about it into view.
        page.evaluate("window.detenteConsole.map.jumpTo({center: [38.5, 37.5], zoom: 8})")
        listed.locator(".where").click()
        page.wait_for_function("""() => {
            const c = window.detenteConsole;
            const t = c.picture.tracks.get("RUS/SU24-LEAD");
            const p = c.map.project([t.lon, t.lat]), m = c.map.project(c.map.getCenter());
            return !c.map.isMoving() && Math.hypot(p.x - m.x, p.y - m.y) < 40;
        }""")
        expect(lead).to_have_class(re.compile(r"\bselected\b"))
        expect(page.locator('#hotline li.linked[data-priority="flash"]').first).to_be_visible()
        # The entry time in UTC, as the service predicts it (its alert: updated_at + t_entry_s).
        with live.client("RUS", "rus-watch") as rus:
            told = next(a for a in rus.get("/v1/alerts")["alerts"] if a["id"] == alert_id)
        entry = told["updated_at"] + told["detail"]["t_entry_s"]
        shown = listed.locator(".utc").inner_text()
        assert shown in {utc(entry + d) for d in (-1, 0, 1)}, (shown, utc(entry))
        assert listed.locator(".event").inner_text() == "entry"
        # Party colours are the configuration's (the same in replay: test_replay.py).
        assert colour_of(page, "RUS/SU24-LEAD") == CONFIG.parties["RUS"].colour
        assert colour_of(page, "TUR/F16-1") == CONFIG.parties["TUR"].colour
        # Acknowledged by the service (no statement of the official's: the service records it),
        # pending until the service says so (the request held back here to see it).
        held = []
        page.route("**/v1/alerts/*/ack", lambda route: held.append(route))
        listed.locator(".ack").click()
        expect(listed.locator(".ack")).to_be_disabled()
        expect(listed.locator(".ack")).to_have_text("Acknowledging alert…")
        page.wait_for_function("window.detenteConsole.picture.pending.size === 1")
        assert held, "the acknowledgement never left the page"
        held[0].continue_()
        page.unroute("**/v1/alerts/*/ack")
        expect(listed.locator(".state")).to_have_text("acknowledged")
        assert not listed.locator(".ack").is_visible()
        # The acknowledged alert is a new statement in the record addressed to RUS: the page,
        # told of it, answers with a delivery receipt signed by the official's key.
        page.wait_for_function("(window.detenteConsole.source.receipted ?? 0) >= 1",
                               timeout=20_000)

        flash = page.locator('#hotline li[data-priority="flash"]').first
        flash.wait_for(timeout=20_000)
        assert "automatic" in flash.inner_text().lower() and "TUR → RUS" in flash.inner_text()
        assert re.fullmatch(r"\(in \d+ s\)", flash.locator(".ttg").inner_text())
        with live.client("RUS", "rus-watch") as rus:
            message = next(m for m in rus.messages() if m["id"] == flash.get_attribute("data-id"))
        assert flash.locator(".due").inner_text() == f"· reply due {utc(message['deadline'])}"
        assert flash.locator(".sent").inner_text() == f"sent {utc(message['created_at'])}"
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
    said = [s.statement for s in record(live, "RUS", "rus-watch")
            if s.statement.author == "RUS/rus-watch"]
    receipts = [s for s in said if s.kind == "delivery.receipt"]
    said = [s for s in said if s.kind != "delivery.receipt"]
    # Each receipt names an entry addressed to RUS by its leaf hash; the log checked the hash
    # against that entry before it took the receipt, and record() audits the export.
    assert receipts and all(s.ref is not None for s in receipts)
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

    said = [s.statement for s in record(live) if s.statement.author == "TUR/tur-watch"
            and s.statement.kind != "delivery.receipt"]
    assert [s.kind for s in said] == ["key.register", "hotline.message"]
    assert said[1].body["body"].startswith("WARNING from TUR tur-watch: incursion alert")
    assert said[1].body["to_party"] == "RUS" and said[1].body["alert_id"]


def test_coalition_sees_only_what_it_is_given_and_resumes_after_a_drop(browser, live):
    with open_console(browser, console_at(live)) as console:
        page = console.page
        log_in(console, "COA", "coa-watch")
        # Its first view holds its own traffic, far from where the page opened.
        page.wait_for_selector('#map .aircraft[data-track="COA/COA-2"]')
        page.wait_for_function("!window.detenteConsole.map.isMoving()")
        outside = page.evaluate("""() => {
            const c = window.detenteConsole, b = c.map.getBounds();
            return [...c.picture.tracks.values()].filter((t) => t.party === "COA")
              .filter((t) => !b.contains([t.lon, t.lat])).map((t) => t.id);
        }""")
        assert outside == []
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
