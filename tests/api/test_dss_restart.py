"""The DSS's state survives a restart (the store is its source of truth), in detente's region
and in a second, distant one; configuration errors name the key."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from detente.api.app import create_app
from detente.errors import InputError
from detente.service.config import parse_config
from tests.api.test_dss_live import vol4
from tests.live_server import serve

SC = "utm.strategic_coordination"


def _config(tmp, **dss):
    return parse_config({
        "region": {"name": "r", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.5, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": "A"}],
        "dss": {"public_keys": ["issuer.pem"], "audiences": ["127.0.0.1"],
                "managers": [{"id": "uss1", "party": "A"}], **dss},
    }, base=tmp)


@pytest.fixture
def issuer(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "issuer.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def _client(base, issuer, scope=SC):
    tok = jwt.encode({"sub": "uss1", "scope": scope, "aud": "127.0.0.1",
                      "exp": int(time.time()) + 600}, issuer, algorithm="RS256")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {tok}"})


def test_state_survives_a_restart_in_both_regions(tmp_path, issuer):
    cfg = _config(tmp_path, regions=[[37.2, -80.58]])  # Virginia: 9,600 km away
    db = f"sqlite:///{tmp_path / 'd.sqlite'}"
    t0 = time.time() + 600
    here, far, sub = (str(uuid.uuid4()) for _ in range(3))
    implicit = {"uss_base_url": "http://uss1.example/utm"}
    with serve(create_app(cfg, db)) as base, _client(base, issuer) as c:
        for ident, lat, lon in ((here, 36.0, 36.0), (far, 37.2, -80.58)):
            r = c.put(f"/dss/v1/operational_intent_references/{ident}", json={
                "extents": [vol4(lat, lon, t0=t0, t1=t0 + 1800)], "state": "Accepted",
                "uss_base_url": "http://uss1.example/utm", "new_subscription": implicit})
            assert r.status_code == 201, r.text
        r = c.put(f"/dss/v1/subscriptions/{sub}", json={
            "extents": vol4(36.0, 36.0, r=1000, t0=time.time(), t1=t0 + 3600),
            "uss_base_url": "http://uss1.example/utm", "notify_for_operational_intents": True})
        assert r.status_code == 200 and [o["id"] for o in r.json()[
            "operational_intent_references"]] == [here]
        # Between the two (mid-Atlantic, served by neither): refused, naming why.
        r = c.put(f"/dss/v1/operational_intent_references/{uuid.uuid4()}", json={
            "extents": [vol4(42.0, -30.0, t0=t0, t1=t0 + 1800)], "state": "Accepted",
            "uss_base_url": "http://uss1.example/utm"})
        assert r.status_code == 400 and "outside the area this DSS serves" in r.text
        before = {i: c.get(f"/dss/v1/operational_intent_references/{i}").json()
                  for i in (here, far)}
        sub_before = c.get(f"/dss/v1/subscriptions/{sub}").json()
    with serve(create_app(cfg, db)) as base, _client(base, issuer) as c:
        after = {i: c.get(f"/dss/v1/operational_intent_references/{i}").json()
                 for i in (here, far)}
        assert after == before
        assert c.get(f"/dss/v1/subscriptions/{sub}").json() == sub_before
        ref = after[far]["operational_intent_reference"]
        implicit_sub = c.get(f"/dss/v1/subscriptions/{ref['subscription_id']}").json()
        assert implicit_sub["subscription"]["dependent_operational_intents"] == [far]
        # Changed with the OVN from before the restart: version 2, the subscription told.
        r = c.put(f"/dss/v1/operational_intent_references/{here}/"
                  f"{after[here]['operational_intent_reference']['ovn']}", json={
                      "extents": [vol4(36.0, 36.0, t0=t0, t1=t0 + 2400)], "state": "Accepted",
                      "uss_base_url": "http://uss1.example/utm"})
        assert r.status_code == 200, r.text
        assert r.json()["operational_intent_reference"]["version"] == 2
        told = {s["subscription_id"]: s["notification_index"]
                for g in r.json()["subscribers"] for s in g["subscriptions"]}
        assert told[sub] == sub_before["subscription"]["notification_index"] + 1


def test_configuration_errors_name_the_key(tmp_path, issuer):
    with pytest.raises(InputError, match=r"dss.regions: .* must be more than 5000 km apart"):
        from detente.service.dss.state import _far_apart
        _far_apart([(36.0, 36.0), (40.0, 40.0)])
    with pytest.raises(InputError, match=r"dss.managers\[0\].party: 'Z' is not a declared"):
        parse_config({"region": {"centre": [36.0, 36.0]}, "parties": [{"id": "A"}],
                      "dss": {"public_keys": ["issuer.pem"], "audiences": ["x"],
                              "managers": [{"id": "uss1", "party": "Z"}]}}, base=tmp_path)
    with pytest.raises(InputError, match=r"dss.public_keys\[0\]: cannot read"):
        _config(tmp_path, public_keys=["missing.pem"])
    with pytest.raises(InputError, match=r"dss: unknown key 'audience'"):
        _config(tmp_path, audience=["x"])
    (tmp_path / "ed.pem").write_text(
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
        "-----END PUBLIC KEY-----\n")
    with pytest.raises(InputError, match=r"not an RSA key"):
        _config(tmp_path, public_keys=["ed.pem"])
