"""GET /v1/console: each party is told of itself and of the parties it has agreements with,
with their fixed colours, and of no one else."""

from __future__ import annotations

import time

import httpx
import pytest

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.ledger.keys import generate_private_key
from detente.service.clock import ManualClock
from detente.service.config import PARTY_COLOURS, parse_config
from tests.live_server import public_b64, serve


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A, B, C and D; agreements A-B and B-C only; C sets its own colour."""
    tmp = tmp_path_factory.mktemp("console")
    keys = {p: generate_private_key() for p in "ABCD"}
    cfg = parse_config({
        "region": {"name": "console", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.05, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "name": f"Party {p}", "public_keys": [public_b64(keys[p])],
                     **({"colour": "#123456"} if p == "C" else {})} for p in "ABCD"],
        "agreements": [{"parties": ["A", "B"]}, {"parties": ["B", "C"]}],
    })
    clock = ManualClock(time.time())
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}", clock=clock)) as base:
        yield base, keys


def told(setup, party: str) -> dict:
    base, keys = setup
    with ServiceClient(base, party, keys[party]) as client:
        return client.get("/v1/console")


def test_each_party_is_told_of_itself_and_of_its_agreements_only(setup):
    seen = {p: [(q["id"], q["colour"], q["own"]) for q in told(setup, p)["parties"]]
            for p in "ABCD"}
    a, b, _, d = PARTY_COLOURS[:4]
    assert seen == {
        "A": [("A", a, True), ("B", b, False)],
        "B": [("A", a, False), ("B", b, True), ("C", "#123456", False)],
        "C": [("B", b, False), ("C", "#123456", True)],
        "D": [("D", d, True)],  # no agreement: told of no one, and its colour is its place's
    }
    assert told(setup, "A")["parties"][1]["name"] == "Party B"


def test_nobody_unauthenticated(setup):
    base, _ = setup
    assert httpx.get(f"{base}/v1/console").status_code == 401
