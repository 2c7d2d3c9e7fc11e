"""Sessions: tokens expire in wall-clock time, whatever the picture's clock, and a long-running
client signs in again by itself."""

from __future__ import annotations

import time

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.cli.client import ServiceClient
from detente.service.clock import ScaledClock
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve


def test_a_client_signs_in_again_when_its_token_expires(tmp_path):
    key = Ed25519PrivateKey.generate()
    cfg = parse_config({
        "region": {"name": "t", "centre": [36.0, 36.0]},
        "service": {"token_ttl_s": 1.0, "log_key": str(tmp_path / "log.pem")},
        "parties": [{"id": "A", "public_keys": [public_b64(key)]}],
    })
    # The picture's clock runs 1,000 times faster: a token must still last its wall-clock second.
    app = create_app(cfg, f"sqlite:///{tmp_path / 'd.sqlite'}", clock=ScaledClock(rate=1000.0))
    with serve(app) as base:
        token = login(base, key, "A")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
            assert c.get("/v1/alerts").status_code == 200
            time.sleep(1.2)
            assert c.get("/v1/alerts").status_code == 401  # expired in wall time
        with ServiceClient(base, "A", key) as client:
            first = client.token
            assert client.get("/v1/alerts") == {"alerts": []}
            time.sleep(1.2)
            assert client.get("/v1/alerts") == {"alerts": []}
            assert client.token != first
