"""Browser test harness: the console's static files on loopback, and headless Chromium.

Chromium is the distribution's (/usr/bin/chromium, installed by .ci/install-browser), driven by
the Python ``playwright`` package; Playwright's own browser download does not work here.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STATIC = Path(str(files("detente.web") / "static"))
LOOPBACK = ("http://127.0.0.1:", "ws://127.0.0.1:", "blob:", "data:")
DEMO_KEYS = Path(str(files("detente.data") / "demo" / "keys"))


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def console_url() -> Iterator[str]:
    """Base URL of the console's static files, served from 127.0.0.1 on a free port."""
    handler = functools.partial(QuietHandler, directory=str(STATIC))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()
    server.server_close()


# One browser per test module, not per session: sync Playwright keeps an event loop running
# in the main thread while it is open, and a later test's asyncio.run() would find it there.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run .ci/install-browser (Debian package chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        # Playwright gives each launch a fresh, temporary user-data-dir.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A console page with what the tests watch: console errors and every request made."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"{m.text} ({m.location.get('url')})"))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.requests.append(r.url))

    def open(self, query: str = "?source=fake") -> None:
        self.page.goto(self.base + "index.html" + query)
        self.page.wait_for_function("window.detenteConsole?.map?.loaded()")

    def login(self, party: str, official: str, key_file: Path) -> None:
        form = self.page.locator("#login")
        form.locator("[name=party]").fill(party)
        form.locator("[name=official]").fill(official)
        form.locator("[name=key]").set_input_files(str(key_file))
        form.locator("button").click()


@contextlib.contextmanager
def open_console(browser: Any, base: str, allow: tuple[str, ...] = ()) -> Iterator[Page]:
    """A fresh browser context on the console; fails if the page logged an error (other than
    one naming an address in ``allow``)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    # Nothing may leave loopback: such requests are recorded (by Page) and refused here.
    context.route(lambda url: not url.startswith(LOOPBACK), lambda route: route.abort())
    page = Page(context.new_page(), base)
    yield page
    context.close()
    errors = [e for e in page.errors if not any(a in e for a in allow)]
    assert errors == [], "the page logged errors"
    outside = [u for u in page.requests if not u.startswith(LOOPBACK)]
    assert outside == [], "the page asked for something beyond loopback"


@pytest.fixture
def console(browser: Any, console_url: str) -> Iterator[Page]:
    with open_console(browser, console_url) as page:
        yield page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def detente(args: list[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """``python -m detente ARGS`` in ``cwd``, stdout piped, stopped with SIGINT (Ctrl-C)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "detente", *args], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        yield process
    finally:
        process.send_signal(2)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for_health(url: str, process: subprocess.Popen[str], timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited ({process.returncode}): "
                               f"{process.stdout.read() if process.stdout else ''}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "health", timeout=5).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the service at {url} did not answer within {timeout} s")


def wait_for_alert_on_map(page: Any, alert_id: str) -> None:
    """Until the map's rendered alert layer has the alert at its point."""
    page.wait_for_function(
        """(id) => {
            const c = window.detenteConsole;
            const a = c.picture.alerts.get(id);
            return c.map.queryRenderedFeatures(c.map.project(a.point), {layers: ["alerts"]})
                        .some((f) => f.properties.id === id);
        }""", arg=alert_id)
