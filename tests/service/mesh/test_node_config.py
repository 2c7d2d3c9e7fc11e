"""A node's configuration: its party, its keys, its peers and the agreements, checked at start.

Each refusal is one message naming the key at fault. The protection check's oracle is
hand-worked geometry: a square border and shared zones placed at known distances from it, on
either side of the look-ahead's reach (300 s at 250 m/s: 75 km).
"""

from __future__ import annotations

import json
import math

import pytest

from detente.cli.main import main
from detente.errors import InputError
from detente.service.config import parse_config
from detente.service.mesh import parse_node
from detente.service.mesh.node_config import REACH_SPEED_MPS, load_node
from tests.mesh_nodes import ROOT, MeshRig, write_toml

PARTIES = ("COA", "RUS", "TUR")
AGREEMENTS = [
    {"parties": ["TUR", "RUS"]},
    {"parties": ["TUR", "COA"]},
    {"parties": ["RUS", "COA"]},
]
# TUR's border: a square 36.0-36.2 N, 36.0-36.25 E (about 22 km a side).
SQUARE = [[36.0, 36.0], [36.25, 36.0], [36.25, 36.2], [36.0, 36.2], [36.0, 36.0]]
M_PER_DEG_LAT = 110_950.0  # at 36 N (WGS84: 110,947 m; within 0.01 %)


@pytest.fixture
def rig(tmp_path):
    return MeshRig(tmp_path, PARTIES, AGREEMENTS)


def parsed(rig, doc):
    config = parse_config(doc, rig.tmp)
    return parse_node(doc, config, rig.tmp)


def refusal(rig, doc) -> str:
    with pytest.raises(InputError) as caught:
        parsed(rig, doc)
    text = str(caught.value)
    assert "\n" not in text
    return text


def with_airspace(rig, doc, zone_south_of_border_km: float | None, delay_s: float = 0.0):
    """TUR protects SQUARE; RUS shares with TUR a band 10 km tall whose north edge lies
    ``zone_south_of_border_km`` south of the border's south edge (None: everywhere)."""
    path = rig.tmp / "border.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{
        "type": "Feature", "geometry": {"type": "Polygon", "coordinates": [SQUARE]},
        "properties": {"owner": "TUR", "kind": "national_territory", "floor_m": None,
                       "ceiling_m": None, "name": "square"}}]}))
    doc["airspaces"] = [str(path)]
    share: dict = {"delay_s": delay_s}
    if zone_south_of_border_km is not None:
        top = 36.0 - zone_south_of_border_km * 1000 / M_PER_DEG_LAT
        bottom = top - 10_000 / M_PER_DEG_LAT
        share["zones"] = [{"type": "Polygon", "coordinates": [[
            [35.9, bottom], [36.35, bottom], [36.35, top], [35.9, top], [35.9, bottom]]]}]
    doc["agreements"][0]["shares"] = {"RUS": share}
    return doc


def test_a_node_names_its_party_keys_peers_and_links(rig):
    doc = rig.document("TUR")
    doc["agreements"][0]["link"] = {"silence_s": 12.0, "clock_tolerance_s": 0.5}
    node = parsed(rig, doc)
    assert node.party == "TUR"
    assert set(node.peers) == {"RUS", "COA"}
    rus = node.peers["RUS"]
    assert rus.url == rig.url("RUS")
    assert rus.public_bytes == rig.node_keys["RUS"].public_key().public_bytes_raw()
    assert (rus.silence_s, rus.clock_tolerance_s) == (12.0, 0.5)
    assert (node.peers["COA"].silence_s, node.peers["COA"].clock_tolerance_s) == (30.0, 2.0)
    assert node.key.public_key().public_bytes_raw() == \
        rig.node_keys["TUR"].public_key().public_bytes_raw()
    # One link per pair: the party first in order dials, the other listens.
    assert not node.dials("COA") and node.dials("ZZZ")


def test_without_a_node_table_it_is_a_hub(rig):
    doc = rig.document("TUR")
    del doc["node"]
    assert parsed(rig, doc) is None


def test_a_peer_without_a_key_is_refused_naming_it(rig):
    doc = rig.document("TUR")
    del doc["node"]["peers"][0]["public_key"]
    assert refusal(rig, doc) == "node.peers[0].public_key: missing"


def test_a_peer_with_a_key_that_is_not_one_is_refused(rig):
    doc = rig.document("TUR")
    doc["node"]["peers"][1]["public_key"] = "bm90IGEga2V5"
    assert refusal(rig, doc).startswith("node.peers[1].public_key: ")


def test_an_agreement_naming_an_unknown_party_is_refused_naming_it(rig):
    doc = rig.document("TUR")
    doc["agreements"][2]["parties"] = ["RUS", "SYR"]
    text = refusal(rig, doc)
    assert text.startswith("agreements[2].parties: 'SYR' is not a declared party")


def test_a_peer_of_an_unknown_party_or_without_an_agreement_is_refused(rig):
    doc = rig.document("TUR")
    doc["node"]["peers"][0]["party"] = "SYR"
    assert refusal(rig, doc).startswith("node.peers[0].party: 'SYR' is not a declared party")
    doc = rig.document("TUR")
    doc["agreements"] = doc["agreements"][1:]  # no more TUR-RUS
    peer = next(k for k, p in enumerate(doc["node"]["peers"]) if p["party"] == "RUS")
    assert refusal(rig, doc) == (f"node.peers[{peer}].party: no agreement between TUR and "
                                 "RUS: nothing to exchange")


def test_an_agreement_without_the_peer_s_node_is_refused(rig):
    doc = rig.document("TUR")
    doc["node"]["peers"] = [p for p in doc["node"]["peers"] if p["party"] != "COA"]
    assert refusal(rig, doc).startswith("agreements[1].parties: COA has no entry in "
                                        "node.peers")


def test_the_node_s_own_party_and_keys_must_be_the_configuration_s(rig):
    doc = rig.document("TUR")
    doc["node"]["party"] = "SYR"
    assert refusal(rig, doc).startswith("node.party: 'SYR' is not a declared party")
    doc = rig.document("TUR")
    doc["node"]["key"] = "nowhere.pem"
    assert refusal(rig, doc).startswith("node.key: ")
    doc = rig.document("TUR")
    doc["node"]["party_key"] = "RUS.pem"  # a real key, not TUR's
    assert refusal(rig, doc).startswith("node.party_key: not a key the configuration lists "
                                        "for TUR")
    doc = rig.document("TUR")
    doc["node"]["peers"][0]["url"] = "ftp://example.org"
    assert refusal(rig, doc).startswith("node.peers[0].url: expected http(s)://host:port")


def test_shared_zones_must_reach_within_the_look_ahead_of_a_protected_border(rig):
    reach_km = 300.0 * REACH_SPEED_MPS / 1000
    assert math.isclose(reach_km, 75.0)
    # 60 km south of the border: an aircraft there can reach it within the look-ahead.
    assert parsed(rig, with_airspace(rig, rig.document("TUR"), 60.0)) is not None
    assert parsed(rig, with_airspace(rig, rig.document("TUR"), None)) is not None
    # 90 km south: none of RUS's shared aircraft could be seen coming.
    text = refusal(rig, with_airspace(rig, rig.document("TUR"), 90.0))
    assert text.startswith("agreements[0].shares.RUS.zones: no zone RUS shares comes within "
                           "the incursion look-ahead (300 s, 75 km) of airspace TUR protects "
                           "(square)")
    doc = with_airspace(rig, rig.document("TUR"), None)
    doc["agreements"][0]["shares"]["RUS"]["zones"] = "none"
    assert refusal(rig, doc).startswith("agreements[0].shares.RUS.zones: no zone RUS shares")
    # The check is the node's: RUS's node is refused the same terms (the agreement is one).
    assert refusal(rig, with_airspace(rig, rig.document("RUS"), 90.0)).startswith(
        "agreements[0].shares.RUS.zones")


def test_a_delay_as_long_as_the_look_ahead_shares_too_little(rig):
    doc = with_airspace(rig, rig.document("TUR"), None, delay_s=300.0)
    assert refusal(rig, doc).startswith("agreements[0].shares.RUS.delay_s: 300 s is not "
                                        "shorter than the look-ahead (300 s)")
    assert parsed(rig, with_airspace(rig, rig.document("TUR"), None, delay_s=30.0))


def test_a_hub_is_not_held_to_the_node_s_protection_check(rig):
    doc = with_airspace(rig, rig.document("TUR"), 90.0)
    del doc["node"]
    assert parsed(rig, doc) is None  # a hub sees every aircraft it is sent


def test_detente_serve_refuses_it_in_one_line_before_it_starts(rig, capsys):
    doc = rig.document("TUR")
    del doc["node"]["peers"][0]["public_key"]
    path = rig.tmp / "TUR.toml"
    write_toml(path, doc)
    assert main(["serve", "--config", str(path), "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert err == f"detente serve: {path}: node.peers[0].public_key: missing\n"


def test_a_node_without_its_own_log_key_gets_one_of_its_party_s_name(rig):
    doc = rig.document("RUS")
    del doc["service"]["log_key"]
    path = rig.tmp / "RUS.toml"
    write_toml(path, doc)
    config, node = load_node(path)
    assert node is not None and node.party == "RUS"
    assert config.settings.log_key_file.name == "detente-log-RUS.pem"


@pytest.mark.parametrize("party", ["TUR", "RUS", "COA"])
def test_the_example_mesh_s_configurations_are_nodes_of_one_mesh(party):
    config, node = load_node(ROOT / "examples" / "mesh" / f"{party}.toml")
    assert config.settings.log_key_file.name == f"detente-log-{party}.pem"
    assert node is not None and node.party == party
    others = {"TUR", "RUS", "COA"} - {party}
    assert set(node.peers) == others
    for peer in others:  # each names the key the peer's own node signs with
        _, theirs = load_node(ROOT / "examples" / "mesh" / f"{peer}.toml")
        assert node.peers[peer].public_bytes == theirs.key.public_key().public_bytes_raw()
