"""The hotline's deadlines and ladders across a link, as in a hub: a flash message from TUR's
watch to RUS, unanswered, climbs both ladders at its deadline (3 s here) and is overdue at
the next, both parties' nodes agreeing on each step, each step shown once to each party; its
delivery to RUS's watch reaches TUR's node; an answer from RUS's command ends it on both.

The oracle is the ladder worked by hand: two levels each side (watch, command), flash_s = 3:
escalated (level 2, sender level 2) at 3 s, overdue at 6 s.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest

from tests.live_server import collect
from tests.mesh_nodes import MeshRig

FLASH_S = 3.0
AGREEMENTS = [{"parties": ["TUR", "RUS"], "hotline": {"flash_s": FLASH_S}},
              {"parties": ["TUR", "COA"]}, {"parties": ["RUS", "COA"]}]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("ladder"), ("COA", "RUS", "TUR"), AGREEMENTS)
    try:
        rig.start_all()
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()


def message(rig, party, official, mid):
    with rig.client(party, official) as c:
        found = [m for m in c.messages() if m["id"] == mid]
    return found[0] if found else None


def events(rig, party, official, mid) -> Counter:
    with rig.client(party, official) as c:
        token = c.token
    got = asyncio.run(collect(rig.url(party), token, 1.0, since=0))
    return Counter(e["data"]["change"] for e in got
                   if e["type"] == "hotline" and e["data"]["id"] == mid)


def test_an_unanswered_flash_climbs_both_ladders_in_step_on_both_nodes(rig):
    mid = uuid.uuid4().hex
    with rig.client("TUR", "tur-watch") as tur:
        tur.send_message("RUS", "flash", "Your aircraft is 10 km from our border.",
                         message_id=mid)
    sent = time.time()
    seen: dict[tuple[str, str], float] = {}
    while time.time() - sent < 2 * FLASH_S + 6 and len(seen) < 4:
        for party, official in (("TUR", "tur-watch"), ("RUS", "rus-watch")):
            m = message(rig, party, official, mid)
            if m is not None and m["state"] in ("escalated", "overdue"):
                seen.setdefault((party, m["state"]), time.time() - sent)
        time.sleep(0.1)
    for party in ("TUR", "RUS"):
        assert FLASH_S - 0.2 <= seen[(party, "escalated")] <= FLASH_S + 1.5, seen
        assert 2 * FLASH_S - 0.2 <= seen[(party, "overdue")] <= 2 * FLASH_S + 1.5, seen
    for party, official in (("TUR", "tur-watch"), ("RUS", "rus-watch")):
        m = message(rig, party, official, mid)
        assert (m["state"], m["level"], m["sender_level"]) == ("overdue", 2, 2)
        # Each step once on each party's stream, whichever node took it first.
        got = events(rig, party, official, mid)
        del got["delivered"]  # the next test's
        assert got == Counter({"sent": 1, "escalated": 1, "overdue": 1}), party
    # RUS's command, on the second rung now, is among the addressees on RUS's node.
    assert message(rig, "RUS", "rus-command", mid) is not None


def test_its_delivery_to_the_watch_reaches_the_sender_s_node(rig):
    (mid,) = [m["id"] for m in _all(rig, "TUR", "tur-watch")]
    # RUS's watch read its stream in the test before: that was the delivery.
    rig.wait(lambda: "rus-watch" in (message(rig, "TUR", "tur-watch", mid) or {}).get(
        "delivered_to", []))
    assert events(rig, "TUR", "tur-watch", mid)["delivered"] == 1


def test_an_answer_from_the_command_ends_it_on_both(rig):
    (mid,) = [m["id"] for m in _all(rig, "TUR", "tur-watch")]
    with rig.client("RUS", "rus-command") as rus:
        rus.acknowledge(mid, "Turning away.")
    m = rig.wait(lambda: (m := message(rig, "TUR", "tur-watch", mid)) and m["state"] ==
                 "acknowledged" and m)
    assert (m["ack_by"], m["reply"]) == ("rus-command", "Turning away.")


def _all(rig, party, official):
    with rig.client(party, official) as c:
        return c.messages()
