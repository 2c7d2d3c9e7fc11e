"""The mechanism as one party's node: the hub's ``Mechanism`` with its parts for a node and its
links (``node.MeshNode``).

What changes from a hub, and nothing else:

- detection judges only the agreements the node's party is in: its own aircraft against its
  own and the peers' it can see, and peers' aircraft against the airspace its party protects
  (never two peers' aircraft against each other: that is their nodes' business);
- its own reports go to each peer as the agreement gives them, as soon as they are checked;
  a peer's come in through ``ingest_peer``, recorded and looked at like a party's batch;
- events for peers' parties leave as frames (``parts.NodeBus``); automatic warnings speak
  for the node's party only (``parts.NodeHotlineFlow``); peers' aircraft are shown as they
  came (``parts.NodeSharing``);
- a peer's alert that matches the node's own is shown once, with both nodes' signed frames;
  link incidents and unmatched peer alerts join the open alerts.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from detente.errors import NotFoundError
from detente.model.reports import ReportBatch, TrackReport
from detente.service.alerting import Transition
from detente.service.clock import Clock
from detente.service.config import Config
from detente.service.mechanism import Mechanism
from detente.service.mesh.node import MeshNode
from detente.service.mesh.node_config import NodeConfig
from detente.service.mesh.parts import NodeBus, NodeHotlineFlow, NodeSharing
from detente.service.record import Record

__all__ = ["MeshMechanism"]


class MeshMechanism(Mechanism):
    def __init__(self, config: Config, engine: Engine, clock: Clock, record: Record | None,
                 node: NodeConfig) -> None:
        super().__init__(config, engine, clock, record)
        self.node_config = node
        self._peer_looks: set[asyncio.Future[None]] = set()
        self.party = node.party
        self.terms = dataclasses.replace(self.terms, agreements=tuple(
            ag for ag in self.terms.agreements if node.party in ag.parties))
        self.sharing = NodeSharing(config, self.projection, node.party)
        self.mesh = MeshNode(self, node)
        self.sharing.node = self.mesh
        self.events = NodeBus(engine, self.recorder, self.mesh)
        flow = NodeHotlineFlow(self.hotline, record, self.events, clock, self.sharing,
                               self.picture)
        flow.party, flow.peers = node.party, frozenset(node.peers)
        self.hotline_flow = flow

    async def run(self, stop: asyncio.Event) -> None:
        await self.mesh.start()
        try:
            await super().run(stop)
        finally:
            await self.mesh.stop()

    async def ingest(self, party: str, reports: Sequence[TrackReport] | ReportBatch
                     ) -> dict[str, int]:
        batch = reports if isinstance(reports, ReportBatch) else ReportBatch.from_reports(
            reports)
        now = self.clock.now()
        self.check_batch(batch, now)
        # Out to the peers at once (live data): the look at the batch is this node's own.
        self.mesh.share(party, batch.normalised(), now)
        return await super().ingest(party, batch)

    async def ingest_peer(self, peer: str, batch: ReportBatch) -> int:
        """A peer's aircraft as its node sent them (checked, on this node's clock): recorded
        under the peer's party, into the picture, and looked at at once. The look is not
        waited for: the link goes on taking frames meanwhile, and the looks of batches that
        come during one are made together (``Mechanism._look_at``)."""
        now = self.clock.now()
        batch = batch.normalised()
        await asyncio.wrap_future(self.recorder.submit(
            self.segments.insert(peer, batch.ids, batch.values, now)))
        accepted = self.picture.accept_batch(peer, batch, now)
        if accepted.changed:
            look = asyncio.ensure_future(self._look_at([(peer, i) for i in accepted.changed]))
            self._peer_looks.add(look)
            look.add_done_callback(self._peer_looks.discard)
        return accepted.entered

    async def publish_transitions(self, transitions: Sequence[Transition], now: float,
                                  actor: str | None = None) -> None:
        merged = []
        for tr in transitions:
            if tr.change == "raised":
                merged += self.mesh.adopt(tr.alert)
        await super().publish_transitions(transitions, now, actor)
        if merged:
            await self.publish(merged, now)
        for tr in transitions:
            if tr.change == "cleared":
                self.mesh.forget_alert(tr.alert.id)

    def open_alert_views(self, party: str) -> list[dict[str, Any]]:
        views = super().open_alert_views(party)
        if party == self.party:
            views += self.mesh.extra_alert_views()
        return views

    async def acknowledge_alert(self, party: str, official: str | None, alert_id: str
                                ) -> dict[str, Any]:
        if self.mesh.incidents.get(alert_id) is not None:
            view = await self.mesh.acknowledge(alert_id, party)
            if view is None:
                raise NotFoundError(f"alert_id: no open alert {alert_id!r} for party "
                                    f"{party!r}")
            return view
        return await super().acknowledge_alert(party, official, alert_id)
