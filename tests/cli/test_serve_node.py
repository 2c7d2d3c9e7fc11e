"""`detente serve` runs one party's node, or a hub, from the same code: two nodes as processes
of their own, each with its own configuration, database and keys, link up over loopback; each
lets only its own party log in; the link endpoints are a node's alone."""

from __future__ import annotations

import httpx
import pytest
import websockets.sync.client

from detente.cli.client import ServiceClient
from detente.errors import VerificationError
from tests.mesh_nodes import MeshRig

AGREEMENTS = [{"parties": ["RUS", "TUR"]}]


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    rig = MeshRig(tmp_path_factory.mktemp("serve-node"), ("RUS", "TUR"), AGREEMENTS)
    try:
        rig.start_process("TUR")
        rig.start_process("RUS")
        rig.wait_links_up()
        yield rig
    finally:
        rig.stop_all()


def test_two_node_processes_link_up_and_say_so_to_their_own_party(rig):
    for party, peer in (("TUR", "RUS"), ("RUS", "TUR")):
        (link,) = rig.links(party).values()
        assert link["peer"] == peer and link["state"] == "up"
        assert link["sessions"] >= 1
    # Each process wrote its own log key, of its party's name, beside its configuration.
    assert (rig.tmp / "log-TUR.pem").exists() and (rig.tmp / "log-RUS.pem").exists()


def test_a_node_lets_only_its_own_party_log_in(rig):
    with rig.client("TUR") as tur:
        assert tur.get("/v1/mesh/links")["party"] == "TUR"
    # RUS's own key, at TUR's node: TUR's node knows RUS's keys (the agreement's record
    # needs them) but serves nobody but TUR.
    with pytest.raises(VerificationError) as refused:
        ServiceClient(rig.url("TUR"), "RUS", rig.keys["RUS"])
    assert str(refused.value).startswith(f"cannot log in to {rig.url('TUR')} as RUS")
    assert httpx.get(f"{rig.url('TUR')}/v1/mesh/links").status_code == 401


def test_a_link_endpoint_turns_away_who_is_not_a_peer(rig):
    url = rig.url("TUR").replace("http", "ws") + "/v1/mesh/link"
    with websockets.sync.client.connect(url) as ws:
        ws.send('{"from": "COA", "to": "TUR", "challenge": "AAAA"}')
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd.code == 4403
