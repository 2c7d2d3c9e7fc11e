"""The console outlives its token: on a service whose tokens last three seconds, the page signs
in again before each runs out and hands the new token to its open stream, which lives on
(one WebSocket, frames all along, never a "closed" state); and when the service could not be
reached to renew, the stream closes with 4401 at the token's expiry and the page signs in and
resumes by itself once it can."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.data import bundled_path
from detente.service.config import load_config
from tests.live_server import serve

from .conftest import DEMO_KEYS, open_console

TTL_S = 6.0


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("renewal")
    config = load_config(bundled_path("demo/border.toml"))
    config = dataclasses.replace(config, settings=dataclasses.replace(
        config.settings, token_ttl_s=TTL_S, cycle_s=0.25, log_key_file=folder / "log.pem"))
    with serve(create_app(config, f"sqlite:///{folder / 'd.sqlite'}")) as base:
        stop = threading.Event()
        feeding = threading.Thread(target=feed, args=(base, stop), daemon=True)
        feeding.start()
        yield base
        stop.set()
        feeding.join()


def feed(base: str, stop: threading.Event) -> None:
    """RUS reports one aircraft twice a second (its client renews its own token too)."""
    with ServiceClient(base, "RUS", DEMO_KEYS / "RUS.pem") as rus:
        k = 0
        while not stop.is_set():
            k += 1
            rus.post_states([{"id": "SU24-1", "t": time.time(), "lat": 35.5 + k * 1e-4,
                              "lon": 36.5, "alt_m": 5791.0, "gs_mps": 120.0, "trk_deg": 0.0,
                              "vs_mps": 0.0}])
            stop.wait(0.5)


def watch(page) -> dict:
    """Count the page's WebSockets and token requests from now on."""
    seen = {"sockets": 0, "tokens": 0}
    page.on("websocket", lambda ws: seen.__setitem__("sockets", seen["sockets"] + 1))
    page.on("request", lambda r: r.url.endswith("/v1/auth/token") and seen.__setitem__(
        "tokens", seen["tokens"] + 1))
    return seen


def record_states(page) -> None:
    """The page's connection state every 100 ms, from now on (``window.states``)."""
    page.evaluate("""() => {
        window.states = [];
        setInterval(() => window.states.push(window.detenteConsole.picture.connection?.state),
                    100);
    }""")


def latest_report_time(page) -> float:
    return page.evaluate(
        "() => window.detenteConsole.picture.tracks.get('RUS/SU24-1')?.t ?? 0")


def test_the_console_renews_its_token_and_keeps_one_stream(browser, service):
    with open_console(browser, f"{service}/console/") as console:
        page = console.page
        seen = watch(page)
        console.open(query="")
        console.login("RUS", "rus-watch", DEMO_KEYS / "rus-watch.pem")
        page.wait_for_selector("body.logged-in")
        page.wait_for_function("window.detenteConsole.picture.tracks.has('RUS/SU24-1')")
        record_states(page)
        page.wait_for_timeout(3 * TTL_S * 1000)
        assert time.time() - latest_report_time(page) < 2.0  # frames still arriving
        assert seen["sockets"] == 1  # never reconnected
        assert seen["tokens"] >= 1 + 3  # the login, then a renewal before each expiry
        states = set(page.evaluate("window.states"))
        assert states == {"connected"}, states


def test_a_stream_whose_renewal_failed_is_resumed_after_its_token_expired(browser, service):
    with open_console(browser, f"{service}/console/",
                      allow=("/v1/auth/token", "ERR_FAILED")) as console:
        page = console.page
        console.open(query="")
        console.login("RUS", "rus-watch", DEMO_KEYS / "rus-watch.pem")
        page.wait_for_selector("body.logged-in")
        page.wait_for_function("window.detenteConsole.picture.tracks.has('RUS/SU24-1')")
        seen = watch(page)
        record_states(page)
        # The service out of reach for logins: the renewal fails, the token runs out.
        page.route("**/v1/auth/token", lambda route: route.abort())
        page.wait_for_function(
            "window.detenteConsole.picture.connection?.state === 'reconnecting'",
            timeout=int(2 * TTL_S * 1000))
        page.unroute("**/v1/auth/token")
        page.wait_for_function(
            "window.detenteConsole.picture.connection?.state === 'connected'",
            timeout=int(4 * TTL_S * 1000))
        time.sleep(1.0)
        assert time.time() - latest_report_time(page) < 2.0
        assert seen["sockets"] >= 1  # a new stream, resumed
        assert "closed" not in set(page.evaluate("window.states"))
