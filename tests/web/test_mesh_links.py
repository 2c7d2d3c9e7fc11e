"""A mesh node's console shows each of its links: the peer, up or down, and the age of the last
frame and of the freshest data from it (headless Chromium on TUR's node, RUS's node beside it).
On a hub the links list stays hidden (tests/web/test_live.py logs in to one and sees no error).
"""

from __future__ import annotations

import time

import pytest

from tests.mesh_nodes import MeshRig

from .conftest import open_console

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("console-links"), ("RUS", "TUR"),
                  [{"parties": ["RUS", "TUR"], "link": {"silence_s": 3.0}}])
    try:
        rig.start_all()
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()


def test_the_console_shows_each_link_up_then_down(browser, rig):
    with rig.client("RUS") as rus:
        rus.post_states([{"id": "R-1", "t": time.time(), "lat": 36.0, "lon": 36.0,
                          "alt_m": 6000.0, "gs_mps": 200.0, "trk_deg": 0.0, "vs_mps": 0.0}])
    with open_console(browser, f"{rig.url('TUR')}/console/") as console:
        console.open(query="")
        console.login("TUR", "tur-watch", rig.tmp / "tur-watch.pem")
        console.page.wait_for_selector("body.logged-in")
        line = console.page.locator('#links li[data-peer="RUS"]')
        expect(line).to_contain_text("RUS up · last frame")
        expect(line).to_contain_text(" s ago · freshest data ")
        assert "none yet" not in line.inner_text()  # R-1 came from RUS's node
        rig.stop("RUS")
        expect(line).to_contain_text("RUS DOWN", timeout=15_000)
        expect(line).to_contain_text("silent", timeout=15_000)  # 3 s of silence: an incident
        expect(line).to_have_class("down")
