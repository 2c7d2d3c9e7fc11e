"""Sockets that outlive their token, on a real server with tokens of two seconds: a stream or
ingest socket renewed over itself lives on, one left unrenewed is closed with 4401 at its
token's expiry (a stream) or refuses the next batch and closes (ingest), and a renewal with
another party's or a bad token is refused."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from detente.api.app import create_app
from detente.service.config import parse_config
from tests.live_server import login, public_b64, serve

TTL_S = 2.0


@pytest.fixture(scope="module")
def keys():
    return {p: Ed25519PrivateKey.generate() for p in "AB"}


@pytest.fixture(scope="module")
def server(keys, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sessions")
    cfg = parse_config({
        "region": {"name": "sessions", "centre": [36.0, 36.0]},
        "service": {"cycle_s": 0.1, "token_ttl_s": TTL_S, "log_key": str(tmp / "log.pem")},
        "parties": [{"id": p, "public_keys": [public_b64(k)]} for p, k in keys.items()],
        "agreements": [{"parties": ["A", "B"]}],
    })
    with serve(create_app(cfg, f"sqlite:///{tmp / 'd.sqlite'}")) as base:
        yield base


def ws_url(base: str, path: str, token: str) -> str:
    return base.replace("http", "ws") + f"{path}?token={token}"


def state(k: int) -> dict:
    return {"id": "a1", "t": time.time(), "lat": 36.0 + k * 1e-3, "lon": 36.0,
            "alt_m": 6000.0, "gs_mps": 200.0, "trk_deg": 0.0, "vs_mps": 0.0}


async def frames_until_closed(ws, seconds: float) -> tuple[list[dict], float | None]:
    """Messages until the socket closes or ``seconds`` pass; and when it closed (monotonic)."""
    got: list[dict] = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        try:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
        except TimeoutError:
            return got, None
        except websockets.ConnectionClosed:
            return got, time.monotonic()
    return got, None


def test_a_stream_left_unrenewed_is_closed_with_4401_when_its_token_expires(server, keys):
    async def go():
        token = login(server, keys["A"], "A")
        opened = time.monotonic()
        async with websockets.connect(ws_url(server, "/v1/stream", token)) as ws:
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello"
            assert 0 < hello["data"]["session"]["expires_in_s"] <= TTL_S
            got, closed = await frames_until_closed(ws, TTL_S + 3)
            assert closed is not None, "still open a second after its token expired"
            assert TTL_S - 0.5 <= closed - opened <= TTL_S + 1.5
            assert ws.close_code == 4401 and "token expired" in ws.close_reason
            assert any(m["type"] == "picture" for m in got)  # it served until then
    asyncio.run(go())


def test_a_stream_renewed_over_the_socket_lives_on_past_its_first_token(server, keys):
    async def go():
        async with websockets.connect(ws_url(server, "/v1/stream",
                                             login(server, keys["A"], "A"))) as ws:
            first = json.loads(await ws.recv())["data"]["session"]["expires_at"]
            renewed = []
            frames_after = 0
            end = time.monotonic() + 3 * TTL_S
            next_renewal = time.monotonic() + TTL_S / 2
            while time.monotonic() < end:
                if time.monotonic() >= next_renewal:
                    fresh = await asyncio.to_thread(login, server, keys["A"], "A")
                    await ws.send(json.dumps({"type": "renew", "token": fresh}))
                    next_renewal = time.monotonic() + TTL_S / 2
                msg = json.loads(await asyncio.wait_for(ws.recv(), 2))
                if msg["type"] == "renewed":
                    renewed.append(msg["data"])
                elif msg["type"] == "picture" and time.time() > first + 0.5:
                    frames_after += 1
            assert len(renewed) >= 4
            assert renewed[-1]["expires_at"] > first + TTL_S
            assert frames_after > 10  # the stream went on well past the first token
    asyncio.run(go())


def test_a_renewal_must_be_the_same_partys_and_a_valid_token(server, keys):
    async def refused(token: str) -> tuple[int, str]:
        async with websockets.connect(ws_url(server, "/v1/stream",
                                             login(server, keys["A"], "A"))) as ws:
            await ws.recv()  # hello
            await ws.send(json.dumps({"type": "renew", "token": token}))
            _, closed = await frames_until_closed(ws, 1.5)
            assert closed is not None
            return ws.close_code, ws.close_reason

    code, reason = asyncio.run(refused(login(server, keys["B"], "B")))
    assert code == 4403 and "of B" in reason
    code, reason = asyncio.run(refused("not-a-token"))
    assert code == 4401 and "invalid or expired" in reason


def test_the_stream_answers_a_message_it_does_not_take_and_stays_open(server, keys):
    async def go():
        async with websockets.connect(ws_url(server, "/v1/stream",
                                             login(server, keys["A"], "A"))) as ws:
            await ws.recv()
            await ws.send('{"type": "subscribe"}')
            got, closed = await frames_until_closed(ws, 0.5)
            problems = [m for m in got if m["type"] == "problem"]
            assert closed is None and problems
            assert problems[0]["data"]["detail"].startswith("message: ")
    asyncio.run(go())


def test_an_ingest_socket_renewed_lives_on_and_one_expired_refuses_the_batch(server, keys):
    async def go():
        async with websockets.connect(ws_url(server, "/v1/ingest",
                                             login(server, keys["A"], "A"))) as ws:
            await ws.send(json.dumps({"states": [state(0)]}))
            assert json.loads(await ws.recv()) == {"accepted": 1, "in_picture": 1}
            await asyncio.sleep(TTL_S / 2)
            fresh = await asyncio.to_thread(login, server, keys["A"], "A")
            await ws.send(json.dumps({"type": "renew", "token": fresh}))
            renewed = json.loads(await ws.recv())
            assert renewed["type"] == "renewed" and renewed["data"]["expires_in_s"] > TTL_S / 2
            await asyncio.sleep(TTL_S / 2 + 0.3)  # past the first token's expiry
            await ws.send(json.dumps({"states": [state(1)]}))
            assert json.loads(await ws.recv())["accepted"] == 1
            await asyncio.sleep(TTL_S)  # past the second's
            await ws.send(json.dumps({"states": [state(2)]}))
            refused = json.loads(await ws.recv())
            assert refused["status"] == 401 and "not recorded" in refused["detail"]
            _, closed = await frames_until_closed(ws, 1.0)
            assert closed is not None and ws.close_code == 4401
    asyncio.run(go())
