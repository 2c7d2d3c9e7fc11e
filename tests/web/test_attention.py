"""The alert tone and its switch, in headless Chromium on the FakeSource fixture.

Oracle outside the page's own bookkeeping: every oscillator the page starts is recorded by a
script installed before the page loads (Web Audio's OscillatorNode.start, wrapped), so a tone
counts only if the browser was asked to play it. The switch's memory is the browser's own
storage, across a reload.
"""

from __future__ import annotations

import time

import pytest

from .conftest import open_console
from .test_console import key, logged_in  # noqa: F401 - the fixture and the login

expect = pytest.importorskip("playwright.sync_api").expect

RECORD_TONES = """
window.__tones = [];
const start = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones.push(this.frequency.value);
  return start.apply(this, args);
};
"""
WARNING_HZ, CRITICAL_HZ = 880, 1320


def tones(page) -> list[float]:
    return page.evaluate("window.__tones")


def new_warning(page, ident: str) -> None:
    """A warning the service might send: an aircraft of the fixture 100 s from an entry."""
    page.evaluate("""(id) => {
        const c = window.detenteConsole, now = c.source.now();
        c.source.onEvent({seq: null, type: "alert", data: {
            id, kind: "incursion", state: "raised", severity: "warning",
            parties: ["RUS", "TUR"], tracks: [{party: "RUS", id: "RUS-2"}], t_to_go_s: 100,
            point: [36.14, 35.82], raised_at: now, updated_at: now, acknowledged_by: [],
            detail: {airspace: "Turkey", owner: "TUR", t_entry_s: 100, t_exit_s: 115,
                     inside_m: 1800, violation: false}}});
    }""", ident)
    page.wait_for_selector(f'#banner .banner-line[data-id="{ident}"]')


def quiet_for(page, seconds: float) -> list[float]:
    before = len(tones(page))
    time.sleep(seconds)
    return tones(page)[before:]


def test_the_tone_sounds_for_warnings_and_the_switch_mutes_it_and_is_remembered(
        browser, console_url, key):  # noqa: F811
    with open_console(browser, console_url) as console:
        page = console.page
        page.add_init_script(RECORD_TONES)
        logged_in(console, key)  # the login's click is the gesture that lets the page sound
        expect(page.locator("#sound")).to_have_attribute("aria-checked", "true")
        # The fixture's alert is critical: three high beeps.
        page.wait_for_function("window.__tones.length >= 3")
        assert tones(page)[:3] == [CRITICAL_HZ] * 3
        # A new warning: two lower ones.
        heard = len(tones(page))
        new_warning(page, "W-1")
        page.wait_for_function(f"window.__tones.length >= {heard + 2}")
        assert tones(page)[heard:heard + 2] == [WARNING_HZ] * 2

        # Muted: nothing, not even the critical alert's repeats (every 8 s until acknowledged).
        page.locator("#sound").click()
        expect(page.locator("#sound")).to_have_attribute("aria-checked", "false")
        expect(page.locator("#sound")).to_have_text("Sound off")
        new_warning(page, "W-2")
        assert quiet_for(page, 9) == []

        # Remembered: after a reload, still muted, and the alerts that come again stay silent.
        page.reload()
        page.wait_for_function("window.detenteConsole?.map?.loaded()")
        expect(page.locator("#sound")).to_have_attribute("aria-checked", "false")
        logged_in(console, key)
        page.wait_for_selector('#banner .banner-line[data-id="A-1"]')
        assert quiet_for(page, 1.5) == []
        # On again: the next warning sounds.
        page.locator("#sound").click()
        expect(page.locator("#sound")).to_have_attribute("aria-checked", "true")
        heard = len(tones(page))
        new_warning(page, "W-3")
        page.wait_for_function(f"window.__tones.length >= {heard + 2}")
        assert WARNING_HZ in tones(page)[heard:]
