"""Opening links: the dialing node's WebSocket to its peer's ``/v1/mesh/link``, kept open.

A link that fails (the peer's node down, the network cut, a frame refused) is dialled again
after a pause that doubles from ``RETRY_MIN_S`` up to ``RETRY_MAX_S`` and starts over once a
session has been up; each session resumes where the last left off (``link``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from detente.errors import DetenteError
from detente.service.mesh.link import Link, LinkClosed

__all__ = ["RETRY_MAX_S", "RETRY_MIN_S", "ClientTransport", "dial_forever", "link_url"]

log = logging.getLogger("detente.mesh")

RETRY_MIN_S = 0.25
RETRY_MAX_S = 4.0
MAX_FRAME_BYTES = 16 * 1024 * 1024  # a states frame of 10,000 tracks is about 1.3 MB


def link_url(base: str) -> str:
    """The peer's link endpoint from its configured http(s) URL."""
    return "ws" + base.removeprefix("http") + "/v1/mesh/link"


class ClientTransport:
    """A dialled connection as the link's ``Transport``."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self.ws.send(data)
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def receive(self) -> str | bytes:
        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            raise LinkClosed(str(exc)) from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)


async def dial_forever(link: Link, stop: asyncio.Event) -> None:
    url = link_url(link.peer.url)
    pause = RETRY_MIN_S
    while not stop.is_set():
        sessions = link.sessions
        try:
            async with connect(url, max_size=MAX_FRAME_BYTES, open_timeout=5.0,
                               ping_interval=None, compression=None) as ws:
                await link.dial(ClientTransport(ws))
        except (OSError, TimeoutError, LinkClosed, ConnectionClosed, InvalidHandshake,
                InvalidURI, DetenteError) as exc:
            log.info("link to %s: %s", link.peer.party, exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must not end the link for good
            log.exception("link to %s failed", link.peer.party)
        if link.sessions > sessions:
            pause = RETRY_MIN_S
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), pause)
        pause = min(pause * 2, RETRY_MAX_S)
