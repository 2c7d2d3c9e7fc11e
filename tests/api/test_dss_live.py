"""The ASTM F3548-21 DSS interface on a real server: tokens and scopes, the key rule, OVNs and
subscriptions seen by nobody but their manager, notification indices, implicit subscriptions,
constraints, availability, and the same intents through detente's own API.

Geometry worked by hand: circles of 300 m about (36.0 N, 36.0 E) and (36.0 N, 36.005 E) are
450 m apart (0.005 deg of longitude at 36 N is 0.005 x 111.32 km x cos 36 deg = 450 m), so
they overlap (450 < 600); about (36.0 N, 36.02 E) it is 1,800 m from the first, 1,350 m from
the second: no overlap.
"""

from __future__ import annotations

import json
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.cli.main import main
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

SC = "utm.strategic_coordination"
T0 = time.time() + 600


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def vol4(lat, lon, r=300.0, lo=0.0, hi=120.0, t0=T0, t1=T0 + 1800, polygon=None):
    alt = {"reference": "W84", "units": "M"}
    outline = ({"outline_polygon": {"vertices": polygon}} if polygon else
               {"outline_circle": {"center": {"lat": lat, "lng": lon},
                                   "radius": {"value": r, "units": "M"}}})
    return {"volume": {**outline, "altitude_lower": {"value": lo, **alt},
                       "altitude_upper": {"value": hi, **alt}},
            "time_start": {"value": iso(t0), "format": "RFC3339"},
            "time_end": {"value": iso(t1), "format": "RFC3339"}}


def oir(lon, key=(), state="Accepted", **extra):
    return {"extents": [vol4(36.0, lon)], "key": list(key), "state": state,
            "uss_base_url": "http://uss.example/utm", **extra}


def uid():
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def dss(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dss")
    issuer = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp / "issuer.pem").write_bytes(issuer.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    keys = {p: Ed25519PrivateKey.generate() for p in "ABC"}
    cfg = parse_config({
        "region": {"name": "dss", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.5, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        # A and B share everything with each other; C has no agreement with anybody.
        "agreements": [{"parties": ["A", "B"]}],
        "dss": {"public_keys": ["issuer.pem"], "audiences": ["127.0.0.1"],
                "managers": [{"id": "uss1", "party": "A"}, {"id": "uss2", "party": "B"},
                             {"id": "uss3", "party": "C"}]},
    }, base=tmp)
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        native = {p: login(base, k, p) for p, k in keys.items()}
        yield base, issuer, native


def token(issuer, sub, scope=SC, aud="127.0.0.1", ttl=3600.0, **claims):
    return jwt.encode({"sub": sub, "scope": scope, "aud": aud, "iss": "test",
                       "exp": int(time.time() + ttl), **claims}, issuer, algorithm="RS256")


class Uss:
    """A USS talking to the DSS with tokens from ``issuer``."""

    def __init__(self, base, issuer, sub):
        self.base, self.issuer, self.sub = base, issuer, sub

    def __call__(self, method, path, json=None, scope=SC):
        headers = {"Authorization": f"Bearer {token(self.issuer, self.sub, scope)}"}
        with httpx.Client(base_url=self.base) as c:
            return c.request(method, path, json=json, headers=headers)


def ussi(dss, sub):
    base, issuer, _ = dss
    return Uss(base, issuer, sub)


def test_tokens_and_scopes(dss):
    base, issuer, _ = dss
    path = "/dss/v1/operational_intent_references/query"
    body = {"area_of_interest": vol4(36.0, 36.0)}
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def post(headers):
        with httpx.Client(base_url=base) as c:
            return c.post(path, json=body, headers=headers)

    r = post({})
    assert r.status_code == 401 and r.headers["content-type"] == "application/json"
    assert r.headers["www-authenticate"] == "Bearer" and set(r.json()) == {"message"}
    for bad in (token(other, "uss1"),                      # signed by an unknown key
                token(issuer, "uss1", aud="dss.elsewhere"),  # for another service
                token(issuer, "uss1", ttl=-60),              # expired
                jwt.encode({"sub": "uss1", "scope": SC, "aud": "127.0.0.1",  # not RS256
                            "exp": int(time.time()) + 60}, "a shared secret, 32 bytes or more",
                           algorithm="HS256"),
                "not.a.token"):
        r = post({"Authorization": f"Bearer {bad}"})
        assert r.status_code == 401, (bad, r.text)
    r = post({"Authorization": f"Bearer {token(issuer, 'uss1', scope='')}"})
    assert r.status_code == 403 and "utm.strategic_coordination" in r.json()["message"]
    r = post({"Authorization": f"Bearer {token(issuer, 'uss1', 'utm.constraint_management')}"})
    assert r.status_code == 403
    r = post({"Authorization": f"Bearer {token(issuer, 'nobody')}"})
    assert r.status_code == 403 and "not a USS this DSS serves" in r.json()["message"]
    r = post({"Authorization": f"Bearer {token(issuer, 'uss1')}"})
    assert r.status_code == 200 and r.json() == {"operational_intent_references": []}
    # The same token with the conformance monitoring scope, the other alternative: allowed.
    r = post({"Authorization": f"Bearer {token(issuer, 'uss1', 'utm.conformance_monitoring_sa')}"})
    assert r.status_code == 200


def test_key_rule_and_ovns_seen_by_their_manager_only(dss):
    uss1, uss2 = ussi(dss, "uss1"), ussi(dss, "uss2")
    x, y, far = uid(), uid(), uid()
    r = uss1("PUT", f"/dss/v1/operational_intent_references/{x}", oir(36.0))
    assert r.status_code == 201, r.text
    ref = r.json()["operational_intent_reference"]
    assert ref["manager"] == "uss1" and ref["version"] == 1 and len(ref["ovn"]) >= 16
    assert ref["subscription_id"] == "00000000-0000-4000-8000-000000000000"
    ovn_x = ref["ovn"]
    # 1,800 m away: no overlap, no key needed.
    assert uss2("PUT", f"/dss/v1/operational_intent_references/{far}",
                oir(36.02)).status_code == 201
    # 450 m away: overlaps x. Without x's OVN, 409 naming x, its OVN hidden from uss2.
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{y}", oir(36.005))
    assert r.status_code == 409
    missing = r.json()["missing_operational_intents"]
    assert [m["id"] for m in missing] == [x] and "ovn" not in missing[0]
    assert ovn_x not in r.text
    # Reads: the OVN goes to its manager only.
    seen2 = uss2("GET", f"/dss/v1/operational_intent_references/{x}").json()
    assert "ovn" not in seen2["operational_intent_reference"] and ovn_x not in str(seen2)
    seen1 = uss1("GET", f"/dss/v1/operational_intent_references/{x}").json()
    assert seen1["operational_intent_reference"]["ovn"] == ovn_x
    q = uss2("POST", "/dss/v1/operational_intent_references/query",
             {"area_of_interest": vol4(36.0, 36.0, r=100)})
    assert [o["id"] for o in q.json()["operational_intent_references"]] == [x]
    assert ovn_x not in q.text
    # With the key: created. A stale OVN or another manager cannot change or delete.
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{y}", oir(36.005, key=[ovn_x]))
    assert r.status_code == 201, r.text
    ovn_y = r.json()["operational_intent_reference"]["ovn"]
    assert uss2("PUT", f"/dss/v1/operational_intent_references/{y}/{ovn_x}",
                oir(36.005, key=[ovn_x])).status_code == 409
    assert uss2("DELETE", f"/dss/v1/operational_intent_references/{x}/{ovn_x}"
                ).status_code == 403
    assert uss1("DELETE", f"/dss/v1/operational_intent_references/{x}/{ovn_y}"
                ).status_code == 409
    # The manager's own other intents are in the key too (F3548: every relevant entity).
    z = uid()
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{z}", oir(36.005, key=[ovn_x]))
    assert r.status_code == 409 and [m["id"] for m in r.json()["missing_operational_intents"]
                                     ] == [y]
    assert r.json()["missing_operational_intents"][0]["ovn"] == ovn_y  # uss2's own: shown
    # Deleted: gone, and the id may be used again.
    r = uss1("DELETE", f"/dss/v1/operational_intent_references/{x}/{ovn_x}")
    assert r.status_code == 200 and r.json()["operational_intent_reference"]["id"] == x
    assert uss1("GET", f"/dss/v1/operational_intent_references/{x}").status_code == 404
    r = uss1("PUT", f"/dss/v1/operational_intent_references/{x}", oir(36.0, key=[ovn_y]))
    assert r.status_code == 201 and r.json()["operational_intent_reference"]["version"] == 1
    for ident, uss in ((x, uss1), (y, uss2), (far, uss2)):
        ovn = uss("GET", f"/dss/v1/operational_intent_references/{ident}").json()[
            "operational_intent_reference"]["ovn"]
        assert uss("DELETE", f"/dss/v1/operational_intent_references/{ident}/{ovn}"
                   ).status_code == 200


def test_bad_requests_name_the_field(dss):
    uss1 = ussi(dss, "uss1")
    ident = uid()
    path = f"/dss/v1/operational_intent_references/{ident}"
    bad = oir(36.0)
    del bad["extents"][0]["time_end"]
    r = uss1("PUT", path, bad)
    assert r.status_code == 400 and "extents[0]: time_end required" in r.json()["message"]
    r = uss1("PUT", path, oir(36.0, state="Activated"))
    assert r.status_code == 400  # a new one is Accepted; Activated would need a subscription
    r = uss1("PUT", "/dss/v1/operational_intent_references/not-a-uuid", oir(36.0))
    assert r.status_code == 400 and "version-4 UUID" in r.json()["message"]
    with httpx.Client(base_url=dss[0]) as c:
        r = c.put(path, content=b"[" * 100_000, headers={
            "Authorization": f"Bearer {token(dss[1], 'uss1')}"})
    assert r.status_code == 400 and set(r.json()) == {"message"}
    r = uss1("PUT", path, oir(36.0, state="Nonconforming", new_subscription={
        "uss_base_url": "http://uss.example/utm"}))
    assert r.status_code == 403  # needs utm.conformance_monitoring_sa
    r = uss1("DELETE", path)
    assert r.status_code == 400 and "names the version" in r.json()["message"]


def test_subscriptions_are_their_managers_and_count_notifications(dss):
    uss1, uss2 = ussi(dss, "uss1"), ussi(dss, "uss2")
    sub = uid()
    now = time.time()
    area = vol4(36.0, 36.0, r=2000, t0=now, t1=now + 3 * 3600)
    body = {"extents": area, "uss_base_url": "http://uss1.example/utm",
            "notify_for_operational_intents": True}
    long = {**body, "extents": vol4(36.0, 36.0, r=2000, t0=now, t1=now + 25 * 3600)}
    assert uss1("PUT", f"/dss/v1/subscriptions/{sub}", long).status_code == 400
    past = {**body, "extents": vol4(36.0, 36.0, r=2000, t0=now - 600, t1=now + 3600)}
    assert uss1("PUT", f"/dss/v1/subscriptions/{sub}", past).status_code == 400
    assert uss1("PUT", f"/dss/v1/subscriptions/{sub}", {
        **body, "notify_for_operational_intents": False}).status_code == 400
    r = uss1("PUT", f"/dss/v1/subscriptions/{sub}", body)
    assert r.status_code == 200, r.text
    s = r.json()["subscription"]
    assert s["notification_index"] == 0 and s["implicit_subscription"] is False
    assert r.json()["operational_intent_references"] == []
    version = s["version"]
    # Nobody else sees it, reads it or changes it.
    assert uss2("GET", f"/dss/v1/subscriptions/{sub}").status_code == 403
    assert uss2("POST", "/dss/v1/subscriptions/query",
                {"area_of_interest": area}).json() == {"subscriptions": []}
    assert uss2("PUT", f"/dss/v1/subscriptions/{sub}/{version}", body).status_code == 403
    assert uss2("DELETE", f"/dss/v1/subscriptions/{sub}/{version}").status_code == 403
    mine = uss1("POST", "/dss/v1/subscriptions/query", {"area_of_interest": area}).json()
    assert [x["id"] for x in mine["subscriptions"]] == [sub]
    # uss2 writes in the area: it must tell uss1's subscription, whose index goes up.
    o = uid()
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", oir(36.0))
    assert r.json()["subscribers"] == [{"uss_base_url": "http://uss1.example/utm",
                                        "subscriptions": [{"subscription_id": sub,
                                                           "notification_index": 1}]}]
    ovn = r.json()["operational_intent_reference"]["ovn"]
    r = uss2("DELETE", f"/dss/v1/operational_intent_references/{o}/{ovn}")
    assert r.json()["subscribers"][0]["subscriptions"][0]["notification_index"] == 2
    # An update keeps the index, needs the version, and gets a new one.
    assert uss1("PUT", f"/dss/v1/subscriptions/{sub}/wrong", body).status_code == 409
    r = uss1("PUT", f"/dss/v1/subscriptions/{sub}/{version}", body)
    assert r.status_code == 200 and r.json()["subscription"]["notification_index"] == 2
    assert r.json()["subscription"]["version"] != version
    version = r.json()["subscription"]["version"]
    # A search area too large for the DSS: 413 (2 deg x 2 deg, about 40,000 km^2).
    big = vol4(0, 0, polygon=[{"lat": 35.0, "lng": 35.0}, {"lat": 37.0, "lng": 35.0},
                              {"lat": 37.0, "lng": 37.0}, {"lat": 35.0, "lng": 37.0}])
    assert uss1("POST", "/dss/v1/subscriptions/query",
                {"area_of_interest": big}).status_code == 413
    assert uss1("DELETE", f"/dss/v1/subscriptions/{sub}/{version}").status_code == 200
    assert uss1("GET", f"/dss/v1/subscriptions/{sub}").status_code == 404


def test_implicit_subscription_lives_and_dies_with_its_intent(dss):
    uss1 = ussi(dss, "uss1")
    o = uid()
    r = uss1("PUT", f"/dss/v1/operational_intent_references/{o}", oir(
        36.02, new_subscription={"uss_base_url": "http://uss1.example/utm"}))
    assert r.status_code == 201, r.text
    sub_id = r.json()["operational_intent_reference"]["subscription_id"]
    # Its own new subscription is among those to notify (F3548: the client's own are listed).
    assert r.json()["subscribers"][0]["subscriptions"] == [
        {"subscription_id": sub_id, "notification_index": 1}]
    s = uss1("GET", f"/dss/v1/subscriptions/{sub_id}").json()["subscription"]
    assert s["implicit_subscription"] is True and s["dependent_operational_intents"] == [o]
    assert uss1("DELETE", f"/dss/v1/subscriptions/{sub_id}/{s['version']}").status_code == 400
    ovn = r.json()["operational_intent_reference"]["ovn"]
    assert uss1("DELETE", f"/dss/v1/operational_intent_references/{o}/{ovn}"
                ).status_code == 200
    assert uss1("GET", f"/dss/v1/subscriptions/{sub_id}").status_code == 404


def test_constraints_and_their_ovns_in_keys(dss):
    uss1, uss2 = ussi(dss, "uss1"), ussi(dss, "uss2")
    cr = uid()
    r = uss1("PUT", f"/dss/v1/constraint_references/{cr}",
             {"extents": [vol4(36.0, 36.05)], "uss_base_url": "http://uss1.example/utm"},
             scope="utm.constraint_management")
    assert r.status_code == 201, r.text
    cr_ovn = r.json()["constraint_reference"]["ovn"]
    got = uss2("GET", f"/dss/v1/constraint_references/{cr}",
               scope="utm.constraint_processing").json()["constraint_reference"]
    assert got["manager"] == "uss1" and "ovn" not in got
    assert uss2("GET", f"/dss/v1/constraint_references/{cr}").status_code == 403  # scope
    # An intent whose subscription asks for constraints must show the constraint's OVN.
    o = uid()
    body = oir(36.05, new_subscription={"uss_base_url": "http://uss2.example/utm",
                                        "notify_for_constraints": True})
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", body,
             scope=f"{SC} utm.constraint_processing")
    assert r.status_code == 409 and [c["id"] for c in r.json()["missing_constraints"]] == [cr]
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", {**body, "key": [cr_ovn]},
             scope=f"{SC} utm.constraint_processing")
    assert r.status_code == 201, r.text
    ovn = r.json()["operational_intent_reference"]["ovn"]
    assert uss2("DELETE", f"/dss/v1/operational_intent_references/{o}/{ovn}").status_code \
        == 200
    assert uss1("DELETE", f"/dss/v1/constraint_references/{cr}/{cr_ovn}",
                scope="utm.constraint_management").status_code == 200


def test_a_uss_marked_down_may_not_plan(dss):
    uss1, arbiter = ussi(dss, "uss1"), ussi(dss, "uss3")
    aa = "utm.availability_arbitration"
    r = uss1("GET", "/dss/v1/uss_availability/uss1")
    assert r.json() == {"status": {"uss": "uss1", "availability": "Unknown"}, "version": ""}
    r = arbiter("PUT", "/dss/v1/uss_availability/uss1",
                {"old_version": "", "availability": "Down"}, scope=aa)
    assert r.status_code == 200
    version = r.json()["version"]
    assert arbiter("PUT", "/dss/v1/uss_availability/uss1",
                   {"old_version": "", "availability": "Normal"}, scope=aa).status_code == 409
    assert uss1("PUT", f"/dss/v1/operational_intent_references/{uid()}",
                oir(36.1)).status_code == 412
    r = arbiter("PUT", "/dss/v1/uss_availability/uss1",
                {"old_version": version, "availability": "Normal"}, scope=aa)
    assert r.status_code == 200
    r = uss1("POST", "/dss/v1/reports", {"exchange": {"problem": "uss9 timed out"}})
    assert r.status_code == 201 and r.json()["report_id"]


def test_one_intent_seen_through_both_apis(dss, tmp_path, capsys):
    base, _, native = dss
    uss2, uss3 = ussi(dss, "uss2"), ussi(dss, "uss3")

    def put(party, body, key=()):
        with httpx.Client(base_url=base) as c:
            return c.put("/v1/intents", json={"intent": body, "key": list(key)},
                         headers={"Authorization": f"Bearer {native[party]}"})

    def get(party, ident):
        with httpx.Client(base_url=base) as c:
            return c.get(f"/v1/intents/{ident}",
                         headers={"Authorization": f"Bearer {native[party]}"})

    def native_intent(ident, lon, priority):
        return {"id": ident, "state": "Accepted", "priority": priority, "volumes": [{
            "footprint": {"type": "Circle", "center": [lon, 36.3], "radius_m": 300},
            "altitude_lower_m": 0, "altitude_upper_m": 120,
            "time_start": iso(T0), "time_end": iso(T0 + 1800)}]}

    # A posts through detente's own API; the DSS shows it to USSs, without its OVN.
    a = put("A", native_intent("a-native", 36.0, 5))
    assert a.status_code == 200, a.text
    version = a.json()["intent"]["version"]
    area = {"area_of_interest": vol4(36.3, 36.0, r=100)}
    refs = uss2("POST", "/dss/v1/operational_intent_references/query", area).json()[
        "operational_intent_references"]
    assert [(r["id"], r["manager"]) for r in refs] == [("a-native", "detente:A")]
    assert "ovn" not in refs[0] and version not in str(refs)
    # A USS writing there must show its OVN, learnt from the details at uss_base_url.
    o = uid()
    body = {"extents": [vol4(36.3, 36.002)], "key": [], "state": "Accepted",
            "uss_base_url": "http://uss2.example/utm"}
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", body)
    assert r.status_code == 409 and r.json()["missing_operational_intents"][0]["id"] == \
        "a-native"
    details_url = refs[0]["uss_base_url"] + "/uss/v1/operational_intents/a-native"
    details = uss2("GET", details_url.removeprefix(base)).json()["operational_intent"]
    assert details["reference"]["ovn"] == version and details["details"]["priority"] == 5
    assert len(details["details"]["volumes"]) == 1  # A shares with B (uss2's party)
    hidden = uss3("GET", details_url.removeprefix(base)).json()["operational_intent"]
    assert hidden["details"] == {"volumes": [], "off_nominal_volumes": []}  # C: no agreement
    # The key is there now, but A's intent outranks the USS's (priority 0): refused.
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", {**body, "key": [version]})
    assert r.status_code == 409 and "priority 5 is higher than 0" in r.json()["message"]
    # Over an intent of A's of lower priority, the USS's goes through.
    low = put("A", native_intent("a-low", 36.1, -1))
    assert low.status_code == 200, low.text
    body_low = {**body, "extents": [vol4(36.3, 36.102)], "key": [low.json()["intent"]["version"]]}
    r = uss2("PUT", f"/dss/v1/operational_intent_references/{o}", body_low)
    assert r.status_code == 201, r.text
    # detente's own API shows the USS's intent: to A (B shares with A) with its volumes, to C
    # without; to nobody with its OVN (its manager gives that out).
    seen_a = get("A", o).json()
    assert seen_a["owner"] == "B" and seen_a["manager"] == "uss2" and "version" not in seen_a
    assert len(seen_a["volumes"]) == 1
    seen_c = get("C", o).json()
    assert set(seen_c) == {"id", "owner", "manager", "state"}
    # A's own write over it needs the key, and detente's API may not change a USS's intent.
    r = put("A", native_intent("a-over", 36.102, 9))
    assert r.status_code == 409 and f"{o!r} of B" in r.json()["detail"]
    r = put("B", {**native_intent(o, 36.102, 1)})
    assert r.status_code == 409
    # And `detente intents check` finds the overlap in what A's party reads of both.
    mine = get("A", "a-low").json()
    theirs = {k: v for k, v in seen_a.items() if k != "manager"}
    path = tmp_path / "seen.json"
    path.write_text(json.dumps([mine, theirs]))
    assert main(["intents", "check", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    pair = [f"a-low,A,{o},B,0:0"] if "a-low" < o else [f"{o},B,a-low,A,0:0"]
    assert out[1:] == pair
