"""Operational intents through the service: prove-awareness, need-to-know in refusals, and
overlap alerts to both owners."""

from __future__ import annotations

import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

T0 = time.time() + 3600


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def intent(intent_id, lon, lat, priority=5, version=None, band=(1000, 3000)):
    body = {"id": intent_id, "state": "Accepted", "priority": priority, "volumes": [{
        "footprint": {"type": "Circle", "center": [lon, lat], "radius_m": 3000},
        "altitude_lower_m": band[0], "altitude_upper_m": band[1],
        "time_start": iso(T0), "time_end": iso(T0 + 3600)}]}
    if version:
        body["version"] = version
    return body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("int")
    keys = {p: Ed25519PrivateKey.generate() for p in "ABC"}
    cfg = parse_config({
        "region": {"name": "int", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.2, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [{"parties": ["A", "B"], "shares": {"A": {"zones": "none"}}},
                       {"parties": ["A", "C"], "equal_priority_allowed": True}],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base, {p: login(base, k, p) for p, k in keys.items()}


def put(base, token, body, key=()):
    with httpx.Client(base_url=base) as c:
        return c.put("/v1/intents", json={"intent": body, "key": list(key)},
                     headers={"Authorization": f"Bearer {token}"})


def test_prove_awareness_and_priority(server):
    base, tok = server
    a = put(base, tok["A"], intent("a-1", 36.0, 36.0, band=(1000, 5000)))
    assert a.status_code == 200, a.text
    version_a = a.json()["intent"]["version"]
    # B overlaps A's intent without presenting its version: refused, naming id and owner but
    # not A's volumes (A shares nothing with B).
    r = put(base, tok["B"], intent("b-1", 36.01, 36.0, priority=9))
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert "'a-1' of A" in r.json()["detail"] and "volumes" not in r.text
    # B reads the intent's key (id, owner, version, no volumes) and writes again: allowed,
    # higher priority; both owners hear of the overlap.
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tok['B']}"}) as c:
        seen = c.get("/v1/intents/a-1").json()
    assert seen == {"id": "a-1", "owner": "A", "version": version_a, "state": "Accepted"}
    ok = put(base, tok["B"], intent("b-1", 36.01, 36.0, priority=9), key=[version_a])
    assert ok.status_code == 200, ok.text
    assert ok.json()["overlaps"][0]["id"] == "a-1" and "volumes" not in ok.json()["overlaps"][0]
    # Equal priority: refused between A and B (their agreement says so), allowed A-C.
    r = put(base, tok["B"], intent("b-2", 36.0, 36.01, priority=5), key=[version_a])
    assert r.status_code == 409 and "priority" in r.json()["detail"]
    # (C flies above B's band: it overlaps A's intent only.)
    r = put(base, tok["C"], intent("c-1", 36.0, 36.01, priority=5, band=(4000, 5000)),
            key=[version_a])
    assert r.status_code == 200, r.text
    # C's view: A shares tracks (and so volumes) with C by default.
    assert "volumes" in r.json()["overlaps"][0]
    # Someone else's intent cannot be written.
    r = put(base, tok["C"], {**intent("a-1", 36.0, 36.0), "owner": "A"})
    assert r.status_code == 409 and "not your party" in r.json()["detail"]
    bad = put(base, tok["A"], {**intent("a-2", 36.0, 36.0), "volumes": []})
    assert bad.status_code == 400
