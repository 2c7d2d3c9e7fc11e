"""Aircraft labels kept apart on the map, and a warning about an aircraft selected there, in
headless Chromium on the FakeSource fixture.

Oracles outside the page's own arithmetic: the labels' and glyphs' boxes as the browser laid them
out (getBoundingClientRect), and the hotline message that comes back from the source.
"""

from __future__ import annotations

import re

import pytest

from .test_console import key, logged_in  # noqa: F401 - the fixture and the login

expect = pytest.importorskip("playwright.sync_api").expect

CROWD = 40  # aircraft packed around one point, far more than their labels can fit


def boxes(page):
    """Every aircraft's glyph box, and its label's box and anchor, as laid out on screen."""
    return page.eval_on_selector_all("#map .aircraft", """els => els.map((e) => {
        const r = (el) => { const b = el.getBoundingClientRect();
                            return [b.left, b.top, b.right, b.bottom]; };
        return {key: e.dataset.track, anchor: e.dataset.anchor,
                glyph: r(e), label: r(e.querySelector(".label")),
                opacity: getComputedStyle(e.querySelector(".label")).opacity};
    })""")


def overlap(a, b, slack=0.5):
    return (a[0] + slack < b[2] and b[0] + slack < a[2]
            and a[1] + slack < b[3] and b[1] + slack < a[3])


def check_apart(page):
    items = boxes(page)
    shown = [i for i in items if i["anchor"] != "none"]
    for i in items:
        assert (i["opacity"] == "0") == (i["anchor"] == "none"), i
    for n, a in enumerate(shown):
        for b in shown[n + 1:]:
            assert not overlap(a["label"], b["label"]), (a["key"], b["key"])
        for g in items:
            assert not overlap(a["label"], g["glyph"]), (a["key"], "glyph of", g["key"])
    return items


def test_labels_never_overlap_and_the_ones_that_matter_are_placed_first(browser, console_url,
                                                                         key):  # noqa: F811
    from .conftest import open_console

    with open_console(browser, console_url) as console:
        page = logged_in(console, key).page
        page.evaluate("""(n) => {
            const c = window.detenteConsole;
            for (let k = 0; k < n; k++) {
                c.source.onEvent({seq: null, type: "track", data: {
                    party: "TUR", id: `CROWD-${k}`, t: Date.now() / 1000,
                    lat: 35.95 + 0.004 * Math.sin(k), lon: 36.25 + 0.006 * Math.cos(k * 1.7),
                    alt_m: 3000 + 100 * k, gs_mps: 150, trk_deg: 10 * k, vs_mps: 0,
                    precision_m: 0}});
            }
        }""", CROWD)
        page.wait_for_selector('#map .aircraft[data-track="TUR/CROWD-39"]')
        page.wait_for_timeout(100)
        items = check_apart(page)
        hidden = [i for i in items if i["anchor"] == "none"]
        assert len(hidden) > CROWD / 2  # the crowd does not fit: most of it goes unlabelled
        # The aircraft in the alert (RUS-1) keeps its label whatever the crowd.
        assert next(i for i in items if i["key"] == "RUS/RUS-1")["anchor"] != "none"
        # Closer in, there is room for more, still apart; the selected one comes first.
        crowd7 = page.locator('#map .aircraft[data-track="TUR/CROWD-7"]')
        crowd7.dispatch_event("click")  # a click on it: in the crowd, another may be on top
        page.evaluate("window.detenteConsole.map.jumpTo({center: [36.25, 35.95], zoom: 15})")
        page.wait_for_timeout(200)
        closer = check_apart(page)
        assert sum(i["anchor"] != "none" for i in closer) > CROWD - len(hidden)
        assert next(i for i in closer if i["key"] == "TUR/CROWD-7")["anchor"] != "none"
        expect(crowd7).to_have_class(re.compile(r"\bselected\b"))


def test_warn_about_an_aircraft_selected_on_the_map(browser, console_url, key):  # noqa: F811
    from .conftest import open_console

    with open_console(browser, console_url) as console:
        page = logged_in(console, key).page
        panel = page.locator("#aircraft-warning")
        assert not panel.is_visible()
        page.locator('#map .aircraft[data-track="RUS/RUS-1"]').click()
        expect(panel).to_contain_text("aircraft RUS RUS-1 (your own)")
        assert not panel.locator(".warn").is_visible()  # no one to warn about one's own
        assert page.locator("#record .receipt").is_disabled()  # an aircraft has no receipt
        page.evaluate("window.detenteConsole.map.jumpTo({center: [36.2, 35.95], zoom: 9})")
        page.locator('#map .aircraft[data-track="TUR/TUR-1"]').click()
        expect(panel).to_contain_text("aircraft TUR TUR-1")
        panel.locator(".warn").click()
        sent = page.locator("#hotline li", has_text="your aircraft TUR-1")
        sent.wait_for()
        text = sent.inner_text()
        assert "RUS/rus-watch → TUR" in text and "URGENT" in text.upper()
        assert "WARNING from RUS rus-watch: your aircraft TUR-1 at FL" in text
