"""The hub's parts as one party's node needs them.

- ``NodeBus``: the per-party event bus. The mechanism tells each party what it may see by
  publishing events for it; on a node, events for its own party go to its streams as in a hub,
  and events for a peer's party (an alert as that party may see it, hotline traffic) become
  durable frames to that peer's node, stored in the same transaction. Nothing is kept for a
  party the node does not serve. Changes that came from a peer (``FROM_PEER``) are not sent
  back to it.
- ``NodeSharing``: a peer's aircraft arrive already as their agreement gives them (filtered,
  rounded and delayed at the source): the node's own clients see them as they came, with the
  precision they came at; they are not delayed a second time.
- ``NodeHotlineFlow``: a node warns on behalf of its own party's watch only, and tells the
  sender's node when a message reached one of its officials.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import Engine

from detente.service.alerting import Alert
from detente.service.config import Share
from detente.service.events import Event, EventBus
from detente.service.hotline_flow import HotlineFlow, message_event
from detente.service.sharing import SharingPolicy
from detente.store import recording as rec
from detente.store.mesh import insert_outbox

__all__ = ["FORWARDED", "FROM_PEER", "NodeBus", "NodeHotlineFlow", "NodeSharing", "Outgoing"]

# Event types that cross a link (tree heads have their own frames; pictures, states frames).
FORWARDED = frozenset({"alert", "hotline"})
# Set while a node applies what a peer sent: its own publications of it go to its party only.
FROM_PEER: contextvars.ContextVar[bool] = contextvars.ContextVar("from_peer", default=False)


class Outgoing(Protocol):
    party: str

    def is_peer(self, party: str) -> bool: ...

    def frames_for(self, events: Sequence[Event], now: float
                   ) -> tuple[list[tuple[str, int, float, str, bytes]],
                              Awaitable[Any] | None]:
        """Durable frames for events addressed to peers: outbox rows, and the record's
        writing of those the record keeps (or None)."""
        ...

    def stored(self, rows: list[tuple[str, int, float, str, bytes]]) -> None: ...


class NodeBus(EventBus):
    def __init__(self, engine: Engine, recorder: rec.Recorder, node: Outgoing) -> None:
        super().__init__(engine, recorder)
        self.node = node

    async def publish(self, events: Sequence[Event], now: float,
                      extra_work: Sequence[rec.Work] = (),
                      together_with: Awaitable[Any] | None = None) -> None:
        me = self.node.party
        local: list[Event] = []
        out: list[Event] = []
        seen: set[tuple[str, int]] = set()
        forward = not FROM_PEER.get()
        for party, kind, data in events:
            if party == me:
                # A notice the node gives its own party (from and to it) comes once.
                if (kind, id(data)) not in seen:
                    seen.add((kind, id(data)))
                    local.append((party, kind, data))
            elif forward and kind in FORWARDED and self.node.is_peer(party):
                out.append((party, kind, data))
        rows, recorded = self.node.frames_for(out, now) if out else ([], None)
        work = list(extra_work)
        if rows:
            work.append(insert_outbox(rows))
        both = together_with
        if recorded is not None:
            both = recorded if together_with is None else _gather(together_with, recorded)
        await super().publish(local, now, work, both)
        if rows:
            self.node.stored(rows)

    def push_links(self, party: str, links: list[dict[str, Any]]) -> None:
        """The links' state to the party's connected clients (ephemeral, like a picture)."""
        subs = self._subs.get(party)
        if not subs:
            return
        text = json.dumps({"seq": None, "type": "links", "data": {"links": links}},
                          separators=(",", ":"))
        for sub in subs:
            sub.offer({"seq": None, "type": "links", "text": text}, durable=False)


async def _gather(a: Awaitable[Any], b: Awaitable[Any]) -> None:
    await asyncio.gather(a, b)


class NodeSharing(SharingPolicy):
    """``SharingPolicy`` with a peer's aircraft shown as they came: the shares of peers'
    parties keep their precision (their positions are on that grid already) and lose their
    zones and delay (applied at the source)."""

    def __init__(self, config: Any, projection: Any, party: str) -> None:
        super().__init__(config, projection)
        self.party = party
        self.node: Any = None  # the MeshNode, for the peers' word on this node's alerts

    def alert_view(self, alert: Alert, viewer: str, picture: Any) -> dict[str, Any] | None:
        """The hub's view; for the node's own party, with the peers' signed word on it
        (``MeshNode.view_extras``)."""
        view = super().alert_view(alert, viewer, picture)
        if view is not None and viewer == self.party and self.node is not None:
            view.update(self.node.view_extras(alert.id))
        return view

    def share(self, owner: str, viewer: str) -> Share | None:
        s = super().share(owner, viewer)
        if s is None or owner == self.party:
            return s
        if s.zones is not None and s.zones.is_empty:
            return s
        return replace(s, zones=None, delay_s=0.0)

    def at_source(self, owner: str, viewer: str) -> Share | None:
        """What ``owner`` shares with ``viewer`` by their agreement, as it applies at the
        owner's node."""
        return super().share(owner, viewer)


class NodeHotlineFlow(HotlineFlow):
    """``HotlineFlow`` on a node: speaks for its own party only."""

    party: str = ""
    peers: frozenset[str] = frozenset()

    async def warn(self, alerts: Sequence[Alert], now: float) -> None:
        # An automatic warning goes from each party of the alert but the aircraft's own: on a
        # node, only from this node's party (the peer's node warns for its own).
        mine = [replace(a, parties=tuple(p for p in a.parties if p == self.party))
                for a in alerts]
        await super().warn(mine, now)

    async def delivered(self, message_id: str, official: str) -> None:
        before = self.hotline.get(message_id)
        await super().delivered(message_id, official)
        after = self.hotline.get(message_id)
        if (before is None or after is None or after.from_party not in self.peers
                or official in before.delivered_to or official not in after.delivered_to):
            return
        # The sender's node hears of it: what its party's officials see of their message.
        data = message_event(after, "delivered")
        data["official"] = official
        await self.bus.publish([(after.from_party, "hotline", data)], self.clock.now())
