"""Ingest of real feed formats through the service: OpenSky and SBS-1 over HTTP."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

# Samples of the published files (tests/data/samples/README.md).
DATA = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feeds")
    key = Ed25519PrivateKey.generate()
    cfg = parse_config({
        "region": {"name": "feeds", "centre": [48.8, 2.4]},
        "service": {"log_key": str(tmp / "log.pem")},
        "parties": [{"id": "A", "public_keys": [public_b64(key)]}],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base, login(base, key, "A")


def test_opensky_rest_document(server):
    base, token = server
    now = time.time()
    row = ["3c6444", "DLH9LF  ", "Germany", now - 1, now, 2.40, 48.80, 10972.8, False, 231.4,
           87.2, -0.33, None, 11201.4, "1000", False, 0]
    doc = {"time": int(now), "states": [
        row,
        ["4ca7b5", "RYR1", "Ireland", now, now, 2.5, 48.9, None, False, 200.0, 90.0, 0.0,
         None, None, None, False, 0],  # no barometric altitude
        ["39c902", "AFR1", "France", now, now, 2.5, 48.9, 0.0, True, 5.0, 90.0, 0.0, None,
         None, None, False, 0],  # on the ground
    ]}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        r = c.post("/v1/states/opensky", json=doc)
        assert r.status_code == 200, r.text
        assert r.json() == {"accepted": 1, "in_picture": 1,
                            "skipped": {"null:baro_altitude": 1, "on ground": 1}}
        tracks = {t["id"]: t for t in c.get("/v1/picture").json()["tracks"]}
        assert tracks["3c6444"]["alt_m"] == 10972.8 and tracks["3c6444"]["party"] == "A"
        short = {"time": 0, "states": [row[:10]]}
        r = c.post("/v1/states/opensky", json=short)
        assert r.status_code == 400 and "states[0]" in r.json()["detail"]


def test_real_files(server):
    base, token = server
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                      timeout=60) as c:
        # OpenSky history records (ft, kt): four aircraft of the Paris file. They are from
        # 2021, so they are recorded but too old for the live picture.
        records = json.load(gzip.open(DATA / "opensky_paris_2021-10-07_4_aircraft.json.gz"))
        airborne = [x for x in records if not x.get("onground")]
        r = c.post("/v1/states/opensky", json=records)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["in_picture"] == 0
        assert body["accepted"] + sum(body["skipped"].values()) == len(records)
        assert body["skipped"].get("on ground", 0) == len(records) - len(airborne)
        # SBS-1 in two chunks: the service joins positions to velocities across them.
        lines = (DATA / "sbs1_losangeles_sample.txt").read_text().splitlines()
        half = len(lines) // 2
        got = 0
        for chunk in (lines[:half], lines[half:]):
            r = c.post("/v1/states/sbs1", content="\n".join(chunk).encode(),
                       headers={"content-type": "text/plain"})
            assert r.status_code == 200, r.text
            got += r.json()["accepted"]
        assert got == 70  # every position with a known velocity, as the reader's own test


def test_airspaces_as_geojson(tmp_path):
    from detente.data import bundled_path
    from detente.service.config import load_config

    key = Ed25519PrivateKey.generate()
    cfg = load_config(bundled_path("demo/border.toml"))
    import dataclasses

    cfg = dataclasses.replace(
        cfg, parties={**cfg.parties, "TUR": dataclasses.replace(
            cfg.parties["TUR"], public_keys=(key.public_key(),))},
        settings=dataclasses.replace(cfg.settings, log_key_file=tmp_path / "log.pem"))
    with serve(create_app(cfg, f"sqlite:///{tmp_path / 'd.sqlite'}")) as base:
        token = login(base, key, "TUR")
        fc = httpx.get(f"{base}/v1/airspaces", headers={"Authorization": f"Bearer {token}"},
                       timeout=30).json()
    (f,) = fc["features"]
    assert f["properties"]["owner"] == "TUR" and f["properties"]["ceiling_m"] is None
    assert f["geometry"]["type"] == "MultiPolygon"
