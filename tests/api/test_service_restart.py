"""A restart of the service loses no accepted state and no open alert; states can also be
streamed over the ingest WebSocket."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.geo import geodesic_destination
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve


def config(keys, tmp_path):
    return parse_config({
        "region": {"name": "test", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.1, "log_key": str(tmp_path / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [{"parties": ["A", "B"]}],
    })


def state(track_id, lat, lon, trk):
    return {"id": track_id, "t": time.time(), "lat": lat, "lon": lon, "alt_m": 7000.0,
            "gs_mps": 200.0, "trk_deg": trk, "vs_mps": 0.0}


def test_restart_keeps_picture_and_alerts(tmp_path):
    keys = {p: Ed25519PrivateKey.generate() for p in "AB"}
    url = f"sqlite:///{tmp_path / 'd.sqlite'}"
    lat, lon = geodesic_destination(36.0, 36.0, 90.0, 50_000.0)

    async def stream_states(base, token):
        ws_url = base.replace("http", "ws") + f"/v1/ingest?token={token}"
        async with websockets.connect(ws_url) as ws:
            await ws.send(json.dumps({"states": [state("b1", float(lat), float(lon), 270.0)]}))
            ok = json.loads(await ws.recv())
            await ws.send(json.dumps({"states": [{"id": "bad"}]}))
            bad = json.loads(await ws.recv())
            return ok, bad

    with serve(create_app(config(keys, tmp_path), url)) as base:
        ta, tb = login(base, keys["A"], "A"), login(base, keys["B"], "B")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ta}"}) as c:
            assert c.post("/v1/states", json={"states": [state("a1", 36.0, 36.0, 90.0)]}
                          ).status_code == 200
        ok, bad = asyncio.run(stream_states(base, tb))
        assert ok == {"accepted": 1, "in_picture": 1}
        assert bad["status"] == 422 and "states.0" in bad["detail"]
        time.sleep(0.5)
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ta}"}) as c:
            before = c.get("/v1/alerts").json()["alerts"]
        assert len(before) == 1

    with serve(create_app(config(keys, tmp_path), url)) as base:
        ta = login(base, keys["A"], "A")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ta}"}) as c:
            tracks = {(t["party"], t["id"]) for t in c.get("/v1/picture").json()["tracks"]}
            after = c.get("/v1/alerts").json()["alerts"]
    assert tracks == {("A", "a1"), ("B", "b1")}
    assert [a["id"] for a in after] == [before[0]["id"]]
