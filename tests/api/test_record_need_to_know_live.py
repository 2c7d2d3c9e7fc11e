"""Need-to-know in the record, end to end: each party's copy of the record over HTTP holds in
full only what it was told, verifies on its own, and lets nobody recover an aircraft it may
not see; the operator (logged in with the log's key) alone gets the full export.

Three parties: A and B have an agreement (A shares its aircraft rounded to 5 km, B shares
everything); C has an agreement with B only. a1 and b1 fly head-on 20 km apart (a loss of
separation in under a minute: a warning, so recorded). The oracles are the positions the test
posted, the audience rules of the issue (an alert: the parties in it, each its own view), and
the RFC 9162 proofs checked by ``detente verify``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time

import httpx
import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.cli.client import ServiceClient, Witness
from detente.cli.main import main
from detente.geo import geodesic_destination, geodesic_distance
from detente.ledger import TreeHead, write_private_key
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

A1 = (35.8123, 35.8077)
B1 = tuple(float(x) for x in geodesic_destination(*A1, 90.0, 20_000.0))


@pytest.fixture(scope="module")
def keys():
    return {p: Ed25519PrivateKey.generate() for p in "ABC"}


@pytest.fixture(scope="module")
def live(keys, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("record")
    log_key = Ed25519PrivateKey.generate()
    write_private_key(tmp / "log.pem", log_key)
    cfg = parse_config({
        "region": {"name": "need to know", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.1, "stale_s": 120, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [
            {"parties": ["A", "B"], "shares": {"A": {"zones": "all", "precision_m": 5000},
                                                "B": {"zones": "all"}}},
            {"parties": ["B", "C"], "shares": {"B": {"zones": "all"}, "C": {"zones": "all"}}},
        ],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'detente.sqlite'}")) as base:
        tokens = {p: login(base, k, p) for p, k in keys.items()}
        now = time.time()
        for party, track, (lat, lon), trk in (("A", "a1", A1, 90.0), ("B", "b1", B1, 270.0),
                                              ("C", "c1", (36.5, 36.5), 0.0)):
            r = httpx.post(f"{base}/v1/states", headers=_auth(tokens[party]), json={"states": [
                {"id": track, "t": now, "lat": lat, "lon": lon, "alt_m": 6000.0,
                 "gs_mps": 200.0, "trk_deg": trk, "vs_mps": 0.0}]})
            assert r.status_code == 200, r.text
        # The alert's statements are in the record once its parties were told.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            alerts = httpx.get(f"{base}/v1/alerts", headers=_auth(tokens["A"])).json()["alerts"]
            if alerts and alerts[0]["severity"] in ("warning", "critical"):
                break
            time.sleep(0.1)
        else:
            raise AssertionError("no warning between a1 and b1")
        time.sleep(0.5)
        yield {"base": base, "tokens": tokens, "log_key": log_key, "tmp": tmp}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _export_bytes(live, token: str) -> bytes:
    r = httpx.get(f"{live['base']}/v1/record/export", headers=_auth(token))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    return r.content


def _export(live, token: str) -> list[dict]:
    return [json.loads(line) for line in _export_bytes(live, token).splitlines()]


def _whole(rows: list[dict]) -> list[dict]:
    return [r["leaf"] for r in rows if "leaf" in r]


def _positions(value, out: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Every (lat, lon) a JSON value holds: objects with lat/lon, and [lat, lon] pairs."""
    if isinstance(value, dict):
        if isinstance(value.get("lat"), float) and isinstance(value.get("lon"), float):
            out.append((value["lat"], value["lon"]))
        for v in value.values():
            _positions(v, out)
    elif isinstance(value, list):
        if len(value) in (2, 3) and all(isinstance(v, float) for v in value[:2]):
            out.append((value[0], value[1]))
        for v in value:
            _positions(v, out)
    return out


def _operator(live) -> ServiceClient:
    return ServiceClient(live["base"], "detente", live["log_key"])


def test_each_party_holds_whole_only_what_it_was_told(live):
    copies = {p: _export(live, live["tokens"][p]) for p in "ABC"}
    with _operator(live) as op:
        full = _export(live, op.token)
    everything = _whole(full)
    alerts = [e for e in everything if e["statement"]["kind"] == "alert"]
    # One statement per party told, addressed to it alone: A's and B's views.
    assert sorted(e["statement"]["body"]["to"] for e in alerts if
                  e["statement"]["body"]["transition"] == "raised") == ["A", "B"]
    assert all(e["audience"] == [e["statement"]["body"]["to"]] for e in alerts)
    for party, rows in copies.items():
        # The same tree: as many lines and the same heads as the operator's.
        assert len(rows) == len(full)
        assert [r for r in rows if "checkpoint" in r] == [r for r in full if "checkpoint" in r]
        for leaf in _whole(rows):
            assert leaf["audience"] == ["*"] or party in leaf["audience"], (party, leaf)
        told = {json.dumps(e, sort_keys=True) for e in everything
                if e["audience"] == ["*"] or party in e["audience"]}
        assert {json.dumps(e, sort_keys=True) for e in _whole(rows)} == told
    # C was told nothing of a1 and b1: its copy holds keys whole, and hashes.
    assert {e["statement"]["kind"] for e in _whole(copies["C"])} <= {"key.register"}


def test_no_copy_gives_away_an_aircraft_its_party_may_not_see_exactly(live):
    """B sees a1 rounded to 5 km: no position in B's copy is a1's, nor recovers it as twice an
    alert point less B's own aircraft (the leak the issue found)."""
    rows = _export(live, live["tokens"]["B"])
    found = []
    for leaf in _whole(rows):
        _positions(leaf["statement"]["body"], found)
    assert found, "B's copy holds its alert whole"
    for lat, lon in found:
        assert geodesic_distance(*A1, lat, lon) > 1.0
        mirrored = (2 * lat - B1[0], 2 * lon - B1[1])
        assert geodesic_distance(*A1, *mirrored) > 1.0
    # And the rounded position B was told is within 5 km's rounding of the truth.
    shown = [t for leaf in _whole(rows) if leaf["statement"]["kind"] == "alert"
             for t in leaf["statement"]["body"]["tracks"] if t["party"] == "A"]
    assert shown and all(t["precision_m"] == 5000 for t in shown)
    assert all(geodesic_distance(*A1, t["lat"], t["lon"]) < 5000 * math.sqrt(2) for t in shown)


def test_a_party_copy_verifies_on_its_own(live, tmp_path, capsys):
    out = tmp_path / "c.jsonl"
    out.write_bytes(_export_bytes(live, live["tokens"]["C"]))
    assert main(["verify", str(out), "--allow-unsettled"]) == 0
    assert "OK" in capsys.readouterr().out


def test_receipts_give_the_entry_only_to_its_parties(live):
    with _operator(live) as op:
        full = _export(live, op.token)
    index = next(r["index"] for r in full if "leaf" in r
                 and r["leaf"]["statement"]["kind"] == "alert"
                 and r["leaf"]["statement"]["body"]["to"] == "A")
    for party, whole in (("A", True), ("B", False), ("C", False)):
        got = httpx.get(f"{live['base']}/v1/record/receipts/{index}",
                        headers=_auth(live["tokens"][party])).json()
        assert (got["entry"] is not None) is whole, party
        assert got["receipt"]["index"] == index and "entry" not in got["receipt"]


def test_health_says_alive_and_nothing_else(live):
    assert httpx.get(f"{live['base']}/health").json() == {"status": "ok"}
    got = httpx.get(f"{live['base']}/v1/status", headers=_auth(live["tokens"]["C"])).json()
    assert got == {"party": "C", "own_tracks": 1}
    assert httpx.get(f"{live['base']}/v1/status").status_code == 401
    with _operator(live) as op:
        assert op.get("/v1/status")["tracks"] == 3


def test_the_operators_token_speaks_for_no_party(live):
    with _operator(live) as op:
        r = httpx.post(f"{live['base']}/v1/states", headers=_auth(op.token), json={
            "states": [{"id": "x", "t": time.time(), "lat": 36.0, "lon": 36.0, "alt_m": 0.0,
                        "gs_mps": 0.0, "trk_deg": 0.0, "vs_mps": 0.0}]})
        assert r.status_code == 403
        assert httpx.get(f"{live['base']}/v1/alerts", headers=_auth(op.token)).status_code == 403

        async def stream(path: str) -> int:
            url = live["base"].replace("http", "ws") + f"{path}?token={op.token}"
            try:
                async with websockets.connect(url) as ws:
                    await asyncio.wait_for(ws.recv(), 5)
            except websockets.InvalidStatus as exc:  # refused before the socket opened
                return exc.response.status_code
            return 0

        assert asyncio.run(stream("/v1/stream")) == 403
        assert asyncio.run(stream("/v1/ingest")) == 403


def test_checkpoint_is_the_head_in_signed_note_form(live):
    r = httpx.get(f"{live['base']}/v1/record/checkpoint", headers=_auth(live["tokens"]["C"]))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    head, _ = TreeHead.from_note(r.text)
    view = httpx.get(f"{live['base']}/v1/record/head", headers=_auth(live["tokens"]["C"])).json()
    assert r.text.splitlines()[0] == "detente/need-to-know"
    assert head.size >= TreeHead.from_json(view["head"]).size
    head.verify(live["log_key"].public_key().public_bytes_raw())
    # The vkey an off-the-shelf witness is configured with: <name>+<hex key id>+<base64>.
    name, key_id, _key = view["vkey"].split("+", 2)
    assert name == "detente/need-to-know" and len(key_id) == 8


def test_what_a_party_was_told_it_receipts_under_its_own_key(live, keys, tmp_path, capsys):
    with ServiceClient(live["base"], "B", keys["B"]) as b:
        w = Witness(b, None)
        assert w.receipt_told() >= 1  # the raised warning, at least
        assert w.receipt_told() == 0  # nothing told twice
    with _operator(live) as op:
        raw = _export_bytes(live, op.token)
    rows = [json.loads(line) for line in raw.splitlines()]
    receipts = [e for e in _whole(rows) if e["statement"]["kind"] == "delivery.receipt"]
    assert receipts and all(e["statement"]["author"] == "B" for e in receipts)
    out = tmp_path / "full.jsonl"
    out.write_bytes(raw)
    assert main(["verify", str(out), "--allow-unsettled"]) == 0
    verdict = capsys.readouterr().out
    assert f"{len(receipts)} delivery receipts match their entries" in verdict
    assert "no delivery receipt from B" not in verdict


def test_events_polled_are_the_callers_partys_alone(live):
    """``GET /v1/events`` gives what the party's stream gives: C, told nothing of a1 and b1,
    has no alert and no entry; B has the entries addressed to it, and only those."""
    def events(party):
        got = httpx.get(f"{live['base']}/v1/events", params={"since": 0},
                        headers=_auth(live["tokens"][party])).json()
        return got["events"]

    assert {e["type"] for e in events("C")} <= {"tree_head"}
    told_b = [e["data"] for e in events("B") if e["type"] == "entry"]
    assert told_b and all("B" in d["entry"]["audience"] for d in told_b)
    assert httpx.get(f"{live['base']}/v1/events").status_code == 401
