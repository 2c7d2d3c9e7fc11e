"""A real server for tests: uvicorn on a free loopback port, in a thread, stopped by a flag."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.service.keys import login_message


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(app, port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="websockets-sansio",
                           ws_per_message_deflate=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


def public_b64(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw,
                                        serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def login(base: str, key: Ed25519PrivateKey, party: str, official: str | None = None) -> str:
    with httpx.Client(base_url=base) as c:
        ch = c.post("/v1/auth/challenge", json={"party": party, "official": official}).json()
        sig = key.sign(login_message(base64.b64decode(ch["challenge"])))
        r = c.post("/v1/auth/token", json={"challenge": ch["challenge"],
                                           "signature": base64.b64encode(sig).decode()})
        r.raise_for_status()
        return r.json()["token"]
