"""``detente replay`` in headless Chromium: the slider brings the Su-24s and the incursion
warning onto the Russian watch's console at the instant they came, the party selector shows the
coalition's view without them, and play moves time on.

The run replayed is a real service run (tests/replay_recording.py: the Su-24s report from 10 s
in, the warning comes at 20 s, RUS acknowledges the flash at 28 s). DETENTE_SCREENSHOTS=1
writes docs/screenshots/replay-rus.png.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from detente.ledger import Receipt, SignedStatement
from detente.service.replay import read_ledger_export
from tests.replay_recording import ACK_AT, RUS_FROM, START, recorded_once
from tests.web.conftest import wait_for_alert_on_map

from .conftest import detente, free_port, open_console, wait_for_health
from .test_demo import screenshot
from .test_live import CONFIG, colour_of

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return recorded_once(tmp_path_factory)


@pytest.fixture(scope="module")
def replay_url(run):
    port = free_port()
    args = ["replay", str(run.export), "--port", str(port), "--no-browser"]
    with detente(args, run.export.parent) as process:
        wait_for_health(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/console/"


def slide(page, t: float) -> None:
    page.locator("#replay input[name=t]").fill(str(t))


def test_the_slider_brings_the_su24_and_the_warning_to_the_russian_watch(browser, replay_url,
                                                                        run):
    with open_console(browser, replay_url) as console:
        page = console.page
        console.open(f"?source=replay&party=RUS&t={START}")
        page.wait_for_selector("body.logged-in.read-only")
        expect(page.locator("#me")).to_have_text("RUS / replay")
        expect(page.locator("#source")).to_contain_text("REPLAY")
        expect(page.locator("#source")).to_contain_text("not signed")
        expect(page.locator("#replay .at")).to_have_text("2015-11-24 07:10:00Z")
        page.wait_for_selector('#map .aircraft[data-track="TUR/F16-1"]')
        # Before the Su-24s first reported: neither they nor an alert.
        assert page.locator('#map .aircraft[data-track^="RUS/SU24"]').count() == 0
        assert page.locator("#alerts li").count() == 0

        slide(page, START + RUS_FROM + 12)  # the warning came at 20 s
        page.wait_for_selector('#map .aircraft[data-track="RUS/SU24-LEAD"]')
        alert = page.locator('#alerts li.alert[data-severity="warning"]', has_text="incursion")
        expect(alert).to_have_count(1)
        assert "RUS SU24-LEAD" in alert.inner_text()
        alert_id = alert.get_attribute("data-id")
        wait_for_alert_on_map(page, alert_id)
        # Nothing to acknowledge or send in a replay.
        assert not alert.locator(".ack").is_visible() and not page.locator("#compose").is_visible()
        flash = page.locator('#hotline li[data-priority="flash"]', has_text="TUR → RUS")
        expect(flash).to_have_attribute("data-state", "sent")
        screenshot(page, "replay-rus.png")

        slide(page, START + ACK_AT + 1)
        expect(flash).to_have_attribute("data-state", "acknowledged")
        assert "acknowledged by RUS/rus-watch" in flash.inner_text()

        # The message's receipt, from the verified export: it proves the signed message is in
        # the record under a head the log signed by then.
        flash.locator(".body").click()
        with page.expect_download() as download:
            page.locator("#record .receipt").click()
        got = json.loads(Path(download.value.path()).read_text())
        entry = SignedStatement.from_json(got["entry"])
        receipt = Receipt.from_json(got["receipt"])
        receipt.verify(read_ledger_export(run.export).log_key, leaf=entry.leaf())
        assert entry.statement.body["id"] == flash.get_attribute("data-id")
        assert receipt.head.time <= START + ACK_AT + 1

        # Back in time, the alert is gone again; the moments on the slider lead to it.
        slide(page, START + 5)
        expect(page.locator("#alerts li")).to_have_count(0)
        first = page.locator("#replay .moment.alert").first
        first.click()
        expect(page.locator("#alerts li.alert", has_text="incursion")).to_have_count(2)

        # The coalition was told nothing of it, and never saw a Russian aircraft.
        page.locator("#replay select[name=party]").select_option("COA")
        expect(page.locator("#me")).to_have_text("COA / replay")
        page.wait_for_selector('#map .aircraft[data-track="TUR/F16-FAR"]')
        slide(page, START + 30)
        expect(page.locator("#replay .at")).to_have_text("2015-11-24 07:10:30Z")
        page.wait_for_selector('#map .aircraft[data-track="COA/COA-1"]')
        assert page.locator('#map .aircraft[data-track^="RUS/"]').count() == 0
        assert page.locator("#alerts li").count() == 0

        # Play: time moves on by itself.
        page.locator("#replay select[name=speed]").select_option("5")
        page.locator("#replay button[name=play]").click()
        page.wait_for_function(f"window.detenteConsole.source.now() > {START + 32}")
        page.locator("#replay button[name=play]").click()  # pause
        expect(page.locator("#replay button[name=play]")).to_have_attribute("aria-label", "play")


def test_the_replay_opens_at_the_first_alert_in_the_live_colours_with_labelled_ticks(
        browser, replay_url, run):
    """No instant asked for: the replay opens where the party's first alert came. Colours are
    the configuration's, as on the live console (test_live.py checks the same there)."""
    told = [m["data"] for m in run.streams["RUS"] if m.get("type") == "alert"]
    first = min(a["raised_at"] for a in told)
    with open_console(browser, replay_url) as console:
        page = console.page
        console.open("?source=replay&party=RUS")
        page.wait_for_selector("body.logged-in.read-only")
        page.wait_for_selector("#alerts li.alert")
        at = page.evaluate("window.detenteConsole.source.t")
        assert abs(at - first) <= 1.0, (at, first)
        assert "RUS SU24-LEAD" in page.locator("#alerts").inner_text()
        # The same colours as live: the configuration's, by party.
        page.wait_for_selector('#map .aircraft[data-track="RUS/SU24-LEAD"]')
        assert colour_of(page, "RUS/SU24-LEAD") == CONFIG.parties["RUS"].colour
        assert colour_of(page, "TUR/F16-1") == CONFIG.parties["TUR"].colour
        # Ticks large enough to click, each labelled: the first alert (an advisory), the
        # warning, the messages. (The entry it predicts, 130 s on, is past the recording's end:
        # no tick for it.)
        ticks = page.locator("#replay .moment")
        expect(ticks.first).to_be_visible()
        for k in range(ticks.count()):
            box = ticks.nth(k).bounding_box()
            assert box["width"] >= 12 and box["height"] >= 14
            assert ticks.nth(k).inner_text().strip()
            assert ticks.nth(k).get_attribute("title")
        alerts = page.locator("#replay .moment.alert:not(.predicted)")
        assert alerts.first.inner_text() == "A" and "advisory" in alerts.first.get_attribute(
            "title")
        assert page.locator('#replay .moment.alert[data-what="warning"]').count() >= 1
        assert page.locator('#replay .moment.hotline[data-what="sent"]').count() >= 1
        # Click the warning's tick: the replay goes there.
        warning = page.locator('#replay .moment.alert[data-what="warning"]').first
        warning.click()
        page.wait_for_function(f"Math.abs(window.detenteConsole.source.t - "
                               f"{warning.get_attribute('data-t')}) < 0.01")
        expect(page.locator('#alerts li.alert[data-severity="warning"]').first).to_be_visible()
