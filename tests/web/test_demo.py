"""Issue 5's end-to-end test: `detente demo` at 20x, and its console in headless Chromium.

The test starts the demo as a newcomer would (``python -m detente demo``), reads the console's
address and the officials' key files from what it prints, logs in as the Russian watch officer,
waits for the incursion warning with its suggested turn, checks that the map draws it,
acknowledges the automatic flash message addressed to Russia, sees the wingman's unanswered one
overtaken by events once the wingman has left, then logs in as the Turkish watch officer in a
second browser context and sees the acknowledgement. DETENTE_SCREENSHOTS=1 writes
docs/screenshots/demo-*.png.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import detente, free_port, open_console, wait_for_health

expect = pytest.importorskip("playwright.sync_api").expect

# 20x by default; DETENTE_DEMO_SPEED=4 gives a screenshot run time to catch the warning.
SPEED = float(os.environ.get("DETENTE_DEMO_SPEED", "20"))
WARNING_TIMEOUT_MS = 150_000 * 20 / SPEED  # the first warning comes about a minute in, at 20x
REPLY = "Understood, turning south"


@dataclass
class Demo:
    console: str                                                  # the console's address
    keys: dict[tuple[str, str], Path] = field(default_factory=dict)  # (party, official) -> file
    output: list[str] = field(default_factory=list)               # everything it printed


def read_lines(stream, lines: queue.Queue[str | None]) -> None:
    """Drain the demo's output (a full pipe would stop it), line by line."""
    for line in stream:
        lines.put(line.rstrip("\n"))
    lines.put(None)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    if importlib.util.find_spec("detente.cli.demo") is None:
        pytest.skip("`detente demo` is not in this checkout yet (detente.cli.demo)")
    folder = tmp_path_factory.mktemp("demo")
    args = ["demo", "--speed", f"{SPEED:g}", "--port", str(free_port()), "--no-browser"]
    with detente(args, folder) as process:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=read_lines, args=(process.stdout, lines), daemon=True).start()
        found = Demo(console="")
        deadline = time.monotonic() + 60
        # The address, then a line per official's key; the first line after those ends it.
        while not (found.keys and not found.output[-1].startswith("key:")):
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                pytest.fail("the demo exited: " + "\n".join(found.output))
            found.output.append(line)
            if m := re.fullmatch(r"console: (http://127\.0\.0\.1:\d+/console/)", line):
                found.console = m[1]
            elif m := re.fullmatch(r"key: (\S+) (\S+) (.+\.pem)", line):
                found.keys[m[1], m[2]] = Path(m[3])
        assert found.console, "the demo printed no console address: " + "\n".join(found.output)
        wait_for_health(found.console.removesuffix("console/"), process)
        yield found


def log_in(console, demo: Demo, party: str, official: str) -> None:
    console.open(query="")
    console.login(party, official, demo.keys[party, official])
    console.page.wait_for_selector("body.logged-in")


def screenshot(page, name: str) -> None:
    if os.environ.get("DETENTE_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=folder / name)


def test_demo_warning_flash_and_acknowledgement(browser, demo):
    with open_console(browser, demo.console) as russian:
        page = russian.page
        log_in(russian, demo, "RUS", "rus-watch")

        # The incursion warning: listed, with a banner over the map, and the aircraft's own
        # label turned to the alert colour (its id from the service's alert, as the page
        # received it); and the service's automatic flash about it, on behalf of Turkey's
        # watch, answered the moment it is there, with the page's own form: at 20x the
        # aircraft is through in seconds, and a flash whose alert has cleared is overtaken by
        # events, no longer to be acknowledged.
        found = page.wait_for_function("""(reply) => {
            const c = window.detenteConsole;
            const picture = c.picture;
            for (const li of document.querySelectorAll(
                    '#alerts li.alert[data-kind="incursion"]:not(.cleared)')) {
                if (!["warning", "critical"].includes(li.dataset.severity)) continue;
                const a = picture.alerts.get(li.dataset.id);
                const banner = document.querySelector(
                    `#banner .banner-line[data-id="${li.dataset.id}"]`);
                const plane = document.querySelector(
                    `#map .aircraft[data-track="RUS/${a.tracks[0].id}"]`);
                const m = [...picture.hotline.values()].find(
                    (m) => m.alert_id === a.id && m.automatic && m.to_party === "RUS");
                const form = m && document.querySelector(
                    `#hotline li[data-id="${m.id}"] .ackform`);
                // The map draws it, where the service says it happens.
                const drawn = c.map.queryRenderedFeatures(c.map.project(a.point),
                    {layers: ["alerts"]}).some((f) => f.properties.id === a.id);
                if (banner && ["warning", "critical"].includes(plane?.dataset.alert) &&
                    drawn && form && !form.hidden) {
                    form.querySelector("input[name=text]").value = reply;
                    form.querySelector("button").click();
                    return {id: li.dataset.id, row: li.innerText, banner: banner.innerText,
                            message: m.id};
                }
            }
            return null;
        }""", arg=REPLY, timeout=WARNING_TIMEOUT_MS).json_value()
        alert_id, message_id = found["id"], found["message"]
        flash = page.locator(f'#hotline li[data-id="{message_id}"]')
        assert page.locator('#map .aircraft[data-track^="RUS/SU24"]').count() > 0
        screenshot(page, "demo-rus.png")
        # As the page showed the alert: the row names the aircraft, and the row and the banner
        # carry the service's suggested resolution, the smallest turn clear of Turkey
        # (test_advice holds it to the border).
        assert "RUS SU24" in found["row"]
        for text in (found["row"], found["banner"]):
            assert re.search(r"➜ SU24-\w+: turn left heading 2[45]\d", text), text
        assert "automatic" in flash.inner_text().lower()
        # The flash's words: the time in UTC, the point, and the turn as a heading (Turkey
        # sees the Russian tracks exactly in the demo's agreement).
        body = flash.locator(".body").inner_text()
        assert re.search(r"at \d\d:\d\d:\d\dZ \(in \d+ s\) at 35°\d\d\.\d′N 036°\d\d\.\d′E\. "
                         r"Turn left heading 2[45]\d( or more| to \d{3})?\. Acknowledge\.",
                         body), body
        expect(flash).to_have_attribute("data-state", "acknowledged")
        assert "acknowledged by RUS/rus-watch" in flash.inner_text()
        assert REPLY in flash.inner_text()

        # The wingman's flash, which nobody answers, is overtaken by events once the wingman
        # has left and its alert cleared: no acknowledgement is asked for any more.
        overtaken = page.locator('#hotline li[data-state="overtaken"]',
                                 has_text="TUR → RUS").first
        overtaken.wait_for(timeout=60_000)
        assert "Overtaken by events" in overtaken.inner_text()
        assert not overtaken.locator(".ackform").is_visible()

        # The other side of the hotline, in a browser of its own.
        with open_console(browser, demo.console) as turkish:
            log_in(turkish, demo, "TUR", "tur-watch")
            # Russia shares all its aircraft with Turkey: the Su-24s are on Turkey's map too,
            # and its alerts name them (the list drops a cleared alert after 10 minutes, which
            # at 20x is half a minute: read what the page was told).
            turkish.page.wait_for_selector('#map .aircraft[data-track^="RUS/SU24"]')
            tracks = turkish.page.wait_for_function(
                "(id) => window.detenteConsole.picture.alerts.get(id)?.tracks", arg=alert_id,
                timeout=15_000).json_value()
            assert [t["party"] for t in tracks] == ["RUS"] and tracks[0]["id"].startswith("SU24")
            seen = turkish.page.locator(f'#hotline li[data-id="{message_id}"]')
            expect(seen).to_have_attribute("data-state", "acknowledged", timeout=15_000)
            assert "acknowledged by RUS/rus-watch" in seen.inner_text()
            assert REPLY in seen.inner_text()
            assert not seen.locator(".ackform").is_visible()
            seen.locator(".body").click()
            seen.scroll_into_view_if_needed()
            expect(turkish.page.locator("#record .settled")).not_to_have_text("–")
            screenshot(turkish.page, "demo-tur.png")
