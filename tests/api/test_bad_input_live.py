"""Bad input at the API's edge, on a real server: every one is a 4xx problem document naming
the field, never a 500, a dropped connection or a stored half.

Also the one error mapping: 401 (with WWW-Authenticate) only when the caller is not
authenticated; a statement whose signature does not verify is a 403; the /v1/ingest
WebSocket answers the statuses HTTP answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sqlite3

import httpx
import pytest
import websockets

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.ledger.keys import generate_private_key
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

PROBLEM = "application/problem+json"


def config(tmp, keys):
    return parse_config({
        "region": {"name": "edge", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.2, "log_key": str(tmp / "log.pem")},
        "parties": [{
            "id": p, "public_keys": [public_b64(keys[p])],
            "officials": [{"id": f"{p}-1", "name": f"{p} watch", "level": 1,
                           "public_key": public_b64(keys[f"{p}-1"])}],
        } for p in "ABC"],
        "agreements": [{"parties": ["A", "B"]}],
    })


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("edge")
    keys = {name: generate_private_key() for name in ("A", "B", "C", "A-1", "B-1", "C-1")}
    with serve(create_app(config(tmp, keys), f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base, keys, {"A": login(base, keys["A"], "A"),
                           "A-1": login(base, keys["A-1"], "A", official="A-1")}


@pytest.fixture()
def http(setup):
    base, _, tokens = setup
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tokens['A-1']}"},
                      timeout=30) as c:
        yield c


def problem(r, status, field):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["detail"].startswith(f"{field}:"), body
    return body


def deep(levels):
    return b"[" * levels + b"]" * levels


def test_invalid_utf8_inside_a_json_string_names_the_body(http):
    body = b'{"states": [{"id": "\xff\xfe", "t": 0, "lat": 0, "lon": 0, "alt_m": 0, ' \
           b'"gs_mps": 0, "trk_deg": 0}]}'
    for path in ("/v1/states", "/v1/states/opensky", "/v1/record/statements"):
        got = problem(http.post(path, content=body,
                                headers={"content-type": "application/json"}), 422, "body")
        assert "not UTF-8" in got["detail"] and "at byte 20" in got["detail"]


@pytest.mark.parametrize("levels", [33, 1_000, 100_000])
def test_deep_json_on_every_json_body(setup, http, levels):
    """Every operation the document gives a JSON body, its path ids well formed."""
    doc = http.get("/openapi.json").json()
    ops = [(method, path) for path, item in doc["paths"].items()
           for method, op in item.items()
           if "application/json" in op.get("requestBody", {}).get("content", {})]
    assert len(ops) >= 9
    for method, path in ops:
        url = path.replace("{alert_id}", "0" * 32).replace("{message_id}", "m-1")
        for body in (deep(levels), b'{"states": ' + deep(levels) + b"}"):
            r = http.request(method.upper(), url, content=body,
                             headers={"content-type": "application/json"})
            if path == "/v1/states":
                # Decoded straight into its typed shape: refused at the first level that is
                # not an object where one is due, never descended into.
                assert r.status_code == 422 and r.json()["detail"].startswith(
                    ("body: Expected `object`", "states.0: Expected `object`")), r.text
                continue
            got = problem(r, 422, "body")
            assert "nested more than 32 levels deep" in got["detail"], (path, got)
    # The server is still there, and the connection was not dropped.
    assert http.get("/health").status_code == 200


def test_a_body_over_the_limit_names_the_body(http):
    got = problem(http.post("/v1/states/opensky", content=b" " * (5 * 1024 * 1024 + 1),
                            headers={"content-type": "application/json"}), 413, "body")
    assert got["instance"] == "/v1/states/opensky"


def test_json_nested_32_deep_is_still_json(http):
    """The limit is the documented one: 32 levels pass the decoder (then the shape is wrong)."""
    r = http.post("/v1/states/opensky", content=b'{"states": ' + deep(31) + b"}",
                  headers={"content-type": "application/json"})
    assert r.status_code == 400 and "states[0]" in r.json()["detail"], r.text


def test_malformed_json_names_the_body_not_a_byte_offset(http):
    for text, where in ((b'{"challenge": x}', "(byte 14)"), (b'{"challenge": ', "truncated")):
        got = problem(http.post("/v1/auth/token", content=text,
                                headers={"content-type": "application/json"}), 422, "body")
        assert got["errors"] == [{"field": "body", "problem": got["detail"][len("body: "):]}]
        assert got["detail"].startswith("body: not JSON") and where in got["detail"]


@pytest.mark.parametrize(("path", "status", "field"), [
    ("/v1/record/keys/..%2F..%2Fetc%2Fpasswd", 422, "path.author"),
    ("/v1/record/keys/" + "x" * 5000, 422, "path.author"),
    ("/v1/record/keys/ZZ", 404, "author"),
    ("/v1/record/keys/A/B-1", 404, "author"),  # B-1 is B's official, not A's
    ("/v1/record/receipts/999999", 404, "index"),
    ("/v1/record/receipts/-1", 422, "path.index"),
    ("/v1/record/receipts/abc", 422, "path.index"),
    ("/v1/record/receipts/0?size=99999", 404, "size"),
    ("/v1/record/receipts/0?size=" + "9" * 30, 422, "query.size"),
    ("/v1/record/head?size=99999", 404, "size"),
    ("/v1/record/consistency?first=99999", 404, "first"),
    ("/v1/record/consistency?first=0", 422, "query.first"),
    ("/v1/intents/nope", 404, "intent_id"),
    ("/v1/intents/" + "x" * 5000, 422, "path.intent_id"),
])
def test_ids_in_paths(http, path, status, field):
    problem(http.get(path), status, field)


def test_known_authors_answer(http):
    assert http.get("/v1/record/keys/A").json()["author"] == "A"
    assert http.get("/v1/record/keys/A/A-1").json()["author"] == "A/A-1"
    assert http.get("/v1/record/keys/detente").json()["key"] is not None


@pytest.mark.parametrize(("url", "status", "field"), [
    ("/v1/alerts/" + "0" * 32 + "/ack", 404, "alert_id"),
    ("/v1/alerts/../ack", 404, None),  # normalised away by the client: no such route
    ("/v1/alerts/xyz/ack", 422, "path.alert_id"),
])
def test_alert_ids(http, url, status, field):
    r = http.post(url)
    assert r.status_code == status, r.text
    if field:
        problem(r, status, field)


def test_message_ids(setup, http):
    base, keys, _ = setup
    with ServiceClient(base, "A", keys["A-1"], official="A-1") as a1:
        ack = a1.sign("hotline.ack", {"message_id": "m-1"}, ref=0)
    problem(http.post("/v1/hotline/messages/m-1/ack", json=ack), 404, "message_id")
    problem(http.post("/v1/hotline/messages/bad%20id/ack", json=ack), 422, "path.message_id")
    # Another party's message is not told apart from none: B's message to A, acknowledged
    # by C's official, is as unknown as m-1.
    with ServiceClient(base, "B", keys["B-1"], official="B-1") as b1:
        b1.ensure_registered()
        b1.send_message("A", "routine", "hello", message_id="b-to-a")
    assert "b-to-a" in {m["id"] for m in http.get("/v1/hotline/messages").json()["messages"]}
    with ServiceClient(base, "C", keys["C-1"], official="C-1") as c1:
        c1.ensure_registered()
        entry = c1.sign("hotline.ack", {"message_id": "b-to-a"}, ref=1)
        r = c1.http.post("/v1/hotline/messages/b-to-a/ack", json=entry)
    problem(r, 404, "message_id")


def test_405_lists_every_method_of_the_path(http):
    r = http.delete("/v1/hotline/messages")
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM
    assert r.headers["allow"] == "GET, POST"
    assert http.request("TRACE", "/health").headers["allow"] == "GET"


def test_only_authentication_is_401(setup, http):
    base, keys, _ = setup
    with httpx.Client(base_url=base) as c:
        r = c.get("/v1/alerts", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert c.get("/v1/alerts").status_code == 401
    # An official, logged in, sends a message whose signature does not verify: refused
    # (403), not asked to log in again, and nothing is stored.
    with ServiceClient(base, "A", keys["A-1"], official="A-1") as a1:
        a1.ensure_registered()
        before = http.get("/v1/hotline/messages").json()["messages"]
        entry = a1.sign("hotline.message", {"id": "forged-sig", "to_party": "B",
                                            "priority": "flash", "body": "x"})
    sig = bytearray(base64.b64decode(entry["signature"]))
    sig[0] ^= 1
    entry["signature"] = base64.b64encode(bytes(sig)).decode()
    r = http.post("/v1/hotline/messages", json=entry)
    assert r.status_code == 403, r.text
    assert "www-authenticate" not in r.headers and r.headers["content-type"] == PROBLEM
    assert r.json()["type"] == "/problems/does-not-verify"
    assert http.get("/v1/hotline/messages").json()["messages"] == before


def test_a_challenge_for_nobody_logs_nobody_in(setup):
    base, keys, _ = setup
    with httpx.Client(base_url=base) as c:
        r = c.post("/v1/auth/challenge", json={"party": "ZZ"})
        assert r.status_code == 200  # as for a real party: nothing tells who exists
        challenge = base64.b64decode(r.json()["challenge"])
        signature = keys["A"].sign(b"detente login v1\0" + challenge)
        r = c.post("/v1/auth/token", json={"challenge": r.json()["challenge"],
                                           "signature": base64.b64encode(signature).decode()})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert r.json()["detail"].startswith("challenge:")


def test_challenges_per_party_are_capped_across_addresses(setup):
    """32 outstanding challenges for one party from four loopback addresses (8 each); the
    33rd, from a fifth, waits (429 with Retry-After); a retrying address only drops its own."""
    base, keys, _ = setup
    got = []
    for k in range(2, 7):
        transport = httpx.HTTPTransport(local_address=f"127.0.0.{k}")
        with httpx.Client(base_url=base, transport=transport) as c:
            got += [c.post("/v1/auth/challenge", json={"party": "B", "official": "B-1"})
                    for _ in range(8)]
    assert [r.status_code for r in got[:32]] == [200] * 32
    refused = got[32]
    assert refused.status_code == 429 and refused.headers["content-type"] == PROBLEM
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["detail"].startswith("party/official:")
    # The first of them still logs in: nothing of another address dropped it.
    first = got[0].json()["challenge"]
    signature = keys["B-1"].sign(b"detente login v1\0" + base64.b64decode(first))
    with httpx.Client(base_url=base, transport=httpx.HTTPTransport(
            local_address="127.0.0.2")) as c:
        r = c.post("/v1/auth/token", json={"challenge": first,
                                           "signature": base64.b64encode(signature).decode()})
    assert r.status_code == 200, r.text


async def _ingest(base, token, messages):
    url = base.replace("http", "ws") + f"/v1/ingest?token={token}"
    out = []
    async with websockets.connect(url) as ws:
        for m in messages:
            await ws.send(m)
            out.append(json.loads(await ws.recv()))
    return out


def test_the_ingest_websocket_answers_as_http_does(setup):
    base, _, tokens = setup
    state = {"id": "w1", "t": 0, "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 0, "trk_deg": 0}
    answers = asyncio.run(_ingest(base, tokens["A"], [
        b"\xff{",
        json.dumps({"states": [{**state, "party": "B"}]}),
        json.dumps({"states": [{**state, "lat": 91}]}),
        json.dumps({"states": [{**state, "t": 1e12}]}),
        json.dumps({"states": [state, {**state, "t": -1e300}]}),  # would not fit a recording
    ]))
    assert [a["status"] for a in answers] == [422, 403, 422, 400, 422]
    assert answers[0]["detail"].startswith("body: not JSON")
    assert answers[2]["detail"].startswith("states.0.lat:")
    assert answers[3]["detail"].startswith("states[0].t:")
    assert answers[4]["detail"].startswith("states.1.t:")
    assert all(a["instance"] == "/v1/ingest" for a in answers)


def test_a_failed_store_is_503_on_http_and_websocket(tmp_path):
    keys = {name: generate_private_key() for name in ("A", "B", "C", "A-1", "B-1", "C-1")}
    db = tmp_path / "d.sqlite"
    with serve(create_app(config(tmp_path, keys), f"sqlite:///{db}")) as base:
        token = login(base, keys["A"], "A")
        with sqlite3.connect(db) as raw:  # the store breaks under the running service
            raw.execute("DROP TABLE report_segments")
        state = {"id": "s1", "t": 0, "lat": 0, "lon": 0, "alt_m": 0, "gs_mps": 0,
                 "trk_deg": 0}
        with httpx.Client(base_url=base) as c:
            r = c.post("/v1/states", json={"states": [state]},
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 503 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["type"] == "/problems/store-unavailable"
        assert "report_segments" not in r.text and "SQL" not in r.text  # logged, not shown
        (answer,) = asyncio.run(_ingest(base, token, [json.dumps({"states": [state]})]))
        assert answer["status"] == 503
