"""A node's links over HTTP: the WebSocket its peers' nodes dial, and its links' state.

Mounted only on a node (a configuration with ``[node]``). The link endpoint needs no bearer
token: the handshake authenticates the peer's node by its key (``service.mesh.link``), and a
party that is not a peer is turned away. ``GET /v1/mesh/links`` shows the node's own party
the state of each of its links, ``GET /v1/mesh/evidence`` what its node refused from its peers,
whole: nobody else logs in to a node.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

from fastapi import APIRouter, WebSocket

from detente.api.deps import Me, Mech
from detente.api.json_body import StrictJsonRoute
from detente.service.mesh import LinkClosed
from detente.store import mesh as mstore

__all__ = ["router"]

router = APIRouter(prefix="/v1/mesh", tags=["mesh"], route_class=StrictJsonRoute)


class ServerTransport:
    """The accepting end of a link as the link's ``Transport``."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws

    async def send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except (RuntimeError, OSError) as exc:
            raise LinkClosed(str(exc)) from None

    async def send_bytes(self, data: bytes) -> None:
        try:
            await self.ws.send_bytes(data)
        except (RuntimeError, OSError) as exc:
            raise LinkClosed(str(exc)) from None

    async def receive(self) -> str | bytes:
        try:
            message = await self.ws.receive()
        except RuntimeError as exc:
            raise LinkClosed(str(exc)) from None
        if message["type"] == "websocket.disconnect":
            raise LinkClosed(f"closed ({message.get('code')})")
        data = message.get("bytes")
        return data if data is not None else message.get("text") or ""

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)


@router.websocket("/link")
async def link(ws: WebSocket) -> None:
    """A peer's node: handshake (both nodes sign the other's challenge), then signed frames
    both ways until either end closes."""
    await ws.accept()
    with contextlib.suppress(LinkClosed):
        await ws.app.state.mechanism.mesh.accept(ServerTransport(ws))


@router.get("/links")
async def links(me: Me, mech: Mech) -> dict[str, Any]:
    """Each of this node's links: up or down, the age of the freshest data from the peer, the
    measured clock offset, sequence numbers and bytes both ways, open incidents."""
    return {"party": mech.mesh.party, "links": mech.mesh.links_view()}


@router.get("/evidence")
async def evidence(me: Me, mech: Mech) -> dict[str, Any]:
    """What this node refused from its peers (forged, replayed, out of order, out of
    agreement frames; a peer's two contradicting tree heads), oldest first: each with the peer,
    when (this node's clock, s), why, and the frame as it came (base64: its signature, then
    the signed bytes), for anyone to check with the peer's node key."""
    rows = await asyncio.to_thread(mstore.evidence, mech.engine)
    return {"party": mech.mesh.party, "evidence": [
        {**{k: v for k, v in r.items() if k != "wire"},
         "frame": base64.b64encode(r["wire"]).decode()} for r in rows]}
