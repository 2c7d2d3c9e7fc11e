"""One party's node among others: what crosses its links, and what it makes of what comes in.

Out, on each peer's link:

- ``states``: its own party's reports as the agreement gives them to the peer's party,
  filtered at the source (``source.states_body``), held back for a delayed share;
- every event the mechanism publishes for the peer's party (``parts.NodeBus``): an alert as
  that party may see it, hotline traffic; durable, numbered, in the outbox;
- receipts of what came in, the party's key once, its log's tree heads and its cosignatures of
  the peer's heads (``witness``).

In (``take``), in order, after the link's own checks (signature, address, sequence):

- states are checked against the agreement (``source.check_states``), put on this node's clock
  (the link's measured offset) and taken into the picture as the peer's aircraft;
- an alert from the peer is matched with this node's own (the same aircraft, the same kind,
  overlapping windows): matched, this node's alert carries the peer's signed frame beside its
  own (``confirmed_by``), shown once; unmatched, the peer's alert is shown as the peer sent it;
- hotline traffic becomes this node's copy of the message (its deadlines on this node's clock);
- each durable frame is taken in in one transaction with what it changed and answered with a
  signed receipt; those the record keeps (urgent alerts, hotline traffic, receipts of them)
  go into this node's log whole (``mesh.frame``), so two nodes' exports show the exchange.

Refused frames are kept whole (``store.mesh``) and raised as a link incident to the party
(``incidents``); so are a link silent longer than its agreement allows (with a flash message
to the party's own officials, which climbs their ladder like any), clocks further apart than
its tolerance, and a peer's log showing two histories.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

from detente.errors import DetenteError
from detente.ledger import SignedStatement, key_statement
from detente.ledger.statements import KIND_KEY_REGISTER
from detente.model.reports import ReportBatch
from detente.service.alerting import Alert
from detente.service.events import Event
from detente.service.hotline import HotlineMessage
from detente.service.hotline_flow import message_event
from detente.service.mesh import witness
from detente.service.mesh.frames import Frame
from detente.service.mesh.incidents import REFUSED_QUIET_S, Incident, Incidents
from detente.service.mesh.link import Link, Transport, accept_link
from detente.service.mesh.node_config import NodeConfig
from detente.service.mesh.parts import FROM_PEER
from detente.service.mesh.source import OutOfAgreement, ZoneCheck, check_states, states_body
from detente.store import mesh as mstore
from detente.store import recording as rec

if TYPE_CHECKING:
    from detente.service.mesh.mechanism import MeshMechanism

__all__ = ["FRAME_KIND", "MeshNode"]

log = logging.getLogger("detente.mesh")

FRAME_KIND = "mesh.frame"  # a frame sent or taken in, whole, in this node's log
TICK_S = 0.25
_URGENT = ("warning", "critical")
_WINDOW_SLACK_S = 15.0
_OUTBOX_KEEP_S = 3_600.0
_MESSAGE_FIELDS = frozenset(f.name for f in fields(HotlineMessage))
_INF = float("inf")

Row = tuple[str, int, float, str, bytes]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class MeshNode:
    """The mesh side of a ``MeshMechanism``: its links and what goes over them."""

    def __init__(self, mech: MeshMechanism, cfg: NodeConfig) -> None:
        self.mech = mech
        self.cfg = cfg
        self.party = cfg.party
        engine = mech.engine
        sent, got = mstore.outbox_seqs(engine), mstore.inbox_seqs(engine)
        self.sent_state = mstore.sent_state(engine)
        self.links = {p: Link(self.party, cfg.key, peer, mech.clock, self, got.get(p, 0),
                              sent.get(p, 0)) for p, peer in cfg.peers.items()}
        self.incidents = Incidents(self.party)
        policy = mech.sharing
        self.zone_checks: dict[str, ZoneCheck] = {}
        for p in cfg.peers:
            share = policy.at_source(p, self.party)
            if share is not None:
                self.zone_checks[p] = ZoneCheck.of(share, mech.projection)
        self._delayed: dict[str, deque[tuple[float, dict[str, Any]]]] = {
            p: deque() for p in cfg.peers}
        self.peer_alerts: dict[tuple[str, str], dict[str, Any]] = {}
        self.confirmations: dict[str, dict[str, dict[str, Any]]] = {}
        # Of this node's alerts: its own latest signed frame of each (what it told the peer),
        # the digests of every frame of it sent (seq -> SHA-256), and the peers' receipts.
        self.signed: dict[str, dict[str, Any]] = {}
        self._sent_digests: dict[str, dict[int, str]] = {}
        self.receipts: dict[str, dict[str, dict[str, Any]]] = {}
        self.freshest: dict[str, float] = {}  # peer -> newest report time taken in (our clock)
        self._refused_at: dict[str, float] = {}
        self._own_head = 0  # the size of the last own head this node's party co-signed
        self._silence_messages: dict[str, str] = {}  # peer -> the flash message's id
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()

    # --- life cycle -----------------------------------------------------------------------------

    def is_peer(self, party: str) -> bool:
        return party in self.links

    async def start(self) -> None:
        await self._register_own_key()
        self._tasks.append(asyncio.create_task(self._tick_loop()))
        from detente.service.mesh.dial import dial_forever

        for p, link in self.links.items():
            if self.cfg.dials(p):
                self._tasks.append(asyncio.create_task(dial_forever(link, self._stop)))

    async def stop(self) -> None:
        self._stop.set()
        for link in self.links.values():
            await link.close("node stopping")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def accept(self, transport: Transport) -> None:
        """A connection a peer's node opened (the API's WebSocket)."""
        async def unknown(peer: str, detail: str) -> None:
            log.warning("link refused: %s", detail)

        try:
            await accept_link(transport, self.party, self.links, unknown)
        except DetenteError as exc:
            log.warning("link handshake failed: %s", exc)
            with contextlib.suppress(Exception):
                await transport.close(4401, str(exc)[:120])

    async def _register_own_key(self) -> None:
        """The party's key in its own log, so that its cosignatures of its node's heads count."""
        record = self.mech.record
        if record is None:
            return
        current = record.ledger.keys.current(self.party)
        if current is not None:
            return
        st = key_statement(self.cfg.party_key, self.cfg.party_key, author=self.party,
                           time=self.mech.clock.now())
        await asyncio.to_thread(record.ledger.append, st)

    # --- out --------------------------------------------------------------------------------------

    def share(self, party: str, batch: ReportBatch, now: float) -> None:
        """Own reports just taken in: to each peer as its agreement gives them (live frames;
        a delayed share waits here until it is due)."""
        if party != self.party:
            return
        for peer, link in self.links.items():
            share = self.mech.sharing.at_source(party, peer)
            if share is None or (share.zones is not None and share.zones.is_empty):
                continue
            if share.delay_s > 0:
                # Due when the newest report is as old as the delay (a feed may run ahead).
                due = max(now, float(batch.values[:, 0].max())) + share.delay_s
                self._delayed[peer].append((due, {"ids": batch.ids, "values": batch.values}))
                continue
            body = states_body(self.mech.sharing, party, batch.ids, batch.values, share)
            if body is not None:
                link.live("states", body)

    def _release_delayed(self, now: float) -> None:
        for peer, queue in self._delayed.items():
            link = self.links[peer]
            share = self.mech.sharing.at_source(self.party, peer)
            while queue and queue[0][0] <= now:
                _, held = queue.popleft()
                if share is None or not link.up:
                    continue  # a link down misses live states, delayed or not
                body = states_body(self.mech.sharing, self.party, held["ids"], held["values"],
                                   share)
                if body is not None:
                    link.live("states", body)

    def frames_for(self, events: Sequence[Event], now: float
                   ) -> tuple[list[Row], Any]:
        """Durable frames of events for peers' parties (``parts.NodeBus``)."""
        rows: list[Row] = []
        statements = []
        for party, kind, data in events:
            link = self.links[party]
            body = {"alert": data} if kind == "alert" else {"message": data}
            seq, wire = link.durable(kind, body, now)
            rows.append((party, seq, now, kind, wire))
            if kind == "alert":
                self.signed[data["id"]] = {"party": self.party, "seq": seq,
                                           "state": data["state"],
                                           "severity": data["severity"], "frame": _b64(wire)}
                self._sent_digests.setdefault(data["id"], {})[seq] = hashlib.sha256(
                    wire).hexdigest()
            if kind == "hotline" or data.get("severity") in _URGENT:
                statements.append(self._frame_statement("out", party, kind, seq, wire))
        record = self.mech.record
        return rows, (record.say(statements) if statements and record is not None else None)

    def _direct(self, items: Sequence[tuple[str, str, dict[str, Any]]], now: float
                ) -> list[Row]:
        """Durable frames the node says itself (receipts, key, heads, cosignatures)."""
        rows = []
        for peer, kind, body in items:
            seq, wire = self.links[peer].durable(kind, body, now)
            rows.append((peer, seq, now, kind, wire))
        return rows

    def stored(self, rows: Sequence[Row]) -> None:
        by_peer: dict[str, list[tuple[int, bytes]]] = {}
        for peer, seq, _, _, wire in rows:
            by_peer.setdefault(peer, []).append((seq, wire))
        for peer, frames in by_peer.items():
            self.links[peer].stored(frames)

    def _frame_statement(self, direction: str, peer: str, kind: str, seq: int, wire: bytes
                         ) -> tuple[str, dict[str, Any], None]:
        return (FRAME_KIND, {"parties": sorted({self.party, peer}), "direction": direction,
                             "peer": peer, "kind": kind, "seq": seq, "frame": _b64(wire)}, None)

    async def _send(self, items: Sequence[tuple[str, str, dict[str, Any]]],
                    work: Sequence[rec.Work] = ()) -> None:
        """Durable frames of the node's own, stored (with ``work``) then sent."""
        now = self.mech.clock.now()
        rows = self._direct(items, now)
        await asyncio.wrap_future(self.mech.recorder.submit(_together(
            [*work, mstore.insert_outbox(rows)])))
        self.stored(rows)

    async def durable_after(self, peer: str, seq: int) -> list[tuple[int, bytes]]:
        return await asyncio.to_thread(mstore.outbox_after, self.mech.engine, peer, seq)

    # --- in ---------------------------------------------------------------------------------------

    async def take(self, link: Link, frame: Frame) -> None:
        handler = {
            "states": self._take_states, "alert": self._take_alert,
            "hotline": self._take_hotline, "receipt": self._take_receipt,
            "key": self._take_key, "head": self._take_head, "cosig": self._take_cosig,
        }.get(frame.kind)
        if handler is None:  # a kind the link knows and the node does not: counts as taken
            await self._commit(link, frame)
            return
        await handler(link, frame)

    async def _commit(self, link: Link, frame: Frame, events: Sequence[Event] = (),
                      work: Sequence[rec.Work] = (),
                      replies: Sequence[tuple[str, dict[str, Any]]] = ()) -> None:
        """Take a durable frame in: what it changed, the link's sequence and the replies to
        it, in one transaction; then acknowledge it."""
        if not frame.durable:
            return
        assert frame.seq is not None
        now = self.mech.clock.now()
        rows = self._direct([(link.peer.party, k, b) for k, b in replies], now)
        all_work = [*work, mstore.set_inbox_seq(link.peer.party, frame.seq, now)]
        if rows:
            all_work.append(mstore.insert_outbox(rows))
        # The receipt of a frame the record keeps goes into the record too: the two nodes'
        # records then hold the same frames, each on its side.
        record = self.mech.record
        statements = [self._frame_statement("out", peer, kind, seq, wire)
                      for peer, seq, _, kind, wire in rows
                      if kind == "receipt" and _recorded(frame)]
        token = FROM_PEER.set(True)
        try:
            await self.mech.events.publish(list(events), now, extra_work=all_work,
                                           together_with=record.say(statements)
                                           if record is not None and statements else None)
        finally:
            FROM_PEER.reset(token)
        self.stored(rows)
        link.taken(frame.seq)

    async def _record_in(self, link: Link, frame: Frame) -> int | None:
        """The frame, whole, in this node's log; returns its entry's index."""
        record = self.mech.record
        if record is None or frame.seq is None:
            return None
        (receipt,) = await record.say([self._frame_statement(
            "in", link.peer.party, frame.kind, frame.seq, frame.wire)])
        return receipt.index

    def _receipt(self, frame: Frame, **extra: Any) -> tuple[str, dict[str, Any]]:
        return ("receipt", {"seq": frame.seq, "kind": frame.kind, "digest": frame.digest,
                            **extra})

    async def refuse(self, link: Link, wire: bytes, reason: str, detail: str) -> None:
        """Keep a refused frame and tell the party (one incident per peer while they come)."""
        peer = link.peer.party
        now = self.mech.clock.now()
        row = await asyncio.to_thread(mstore.insert_evidence, self.mech.engine, peer, now,
                                      reason, {"detail": detail}, wire)
        log.warning("refused a frame from %s (%s): %s; kept as evidence %d", peer, reason,
                    detail, row)
        self._refused_at[peer] = now
        old = self.incidents.find(peer, "refused")
        count = 1 + (old.detail.get("count", 0) if old is not None else 0)
        await self._incident(self.incidents.raise_(
            peer, "refused", "warning",
            f"{peer}'s node sent data this node refused ({reason}): {detail}", now,
            {"reason": reason, "count": count, "evidence": row}))

    async def _take_states(self, link: Link, frame: Frame) -> None:
        peer = link.peer.party
        share = self.mech.sharing.at_source(peer, self.party)
        try:
            batch = check_states(frame.body, peer, share,
                                 self.zone_checks.get(peer, ZoneCheck(None)),
                                 self.mech.sharing, frame.t, self.mech.config.settings.max_batch)
        except OutOfAgreement as exc:
            await self.refuse(link, frame.wire, "out-of-agreement", str(exc))
            return
        values = batch.values.copy()
        values[:, 0] -= link.offset_s  # the peer's clock to this node's
        newest = float(values[:, 0].max())
        self.freshest[peer] = max(self.freshest.get(peer, newest), newest)
        await self.mech.ingest_peer(peer, ReportBatch(batch.ids, values))

    async def _take_key(self, link: Link, frame: Frame) -> None:
        """The peer's party key, registered in this node's log (its cosignatures need it)."""
        peer = link.peer.party
        record = self.mech.record
        try:
            signed = SignedStatement.from_json(frame.body.get("statement"))
            st = signed.statement
            if st.author != peer or st.kind != KIND_KEY_REGISTER:
                raise OutOfAgreement(f"a {st.kind} by {st.author!r} on {peer}'s link")
            raw = base64.b64decode(str(st.body.get("public_key", "")))
            if record is not None:
                if raw not in record.configured_keys(peer):
                    raise OutOfAgreement(f"key {st.body.get('public_key')} is not one the "
                                         f"configuration lists for {peer}")
                current = record.ledger.keys.current(peer)
                if current is None:
                    await asyncio.to_thread(record.ledger.append, signed)
        except (OutOfAgreement, DetenteError, ValueError) as exc:
            await self.refuse(link, frame.wire, "out-of-agreement", f"key: {exc}")
        await self._commit(link, frame)

    # --- alerts -----------------------------------------------------------------------------------

    async def _take_alert(self, link: Link, frame: Frame) -> None:
        peer = link.peer.party
        view = frame.body.get("alert")
        problem = _alert_problem(view, peer, self.party)
        if problem is not None:
            await self.refuse(link, frame.wire, "out-of-agreement", f"alert: {problem}")
            await self._commit(link, frame)
            return
        assert isinstance(view, dict)
        view = _on_our_clock(view, link.offset_s)
        if view.get("severity") in _URGENT:
            await self._record_in(link, frame)
        conf = {"party": peer, "alert_id": view["id"], "state": view["state"],
                "severity": view["severity"], "frame": _b64(frame.wire)}
        events: list[Event] = []
        local = self._match(view, peer)
        if local is not None:
            mine = self.confirmations.setdefault(local.id, {})
            first = peer not in mine
            mine[peer] = conf
            if first:
                shown = self.mech.sharing.alert_view(local, self.party, self.mech.picture)
                if shown is not None:
                    events.append((self.party, "alert", shown))
        else:
            key = (peer, view["id"])
            shown = {**view, "source": peer, "confirmed_by": [conf]}
            if view["state"] == "cleared":
                self.peer_alerts.pop(key, None)
            else:
                self.peer_alerts[key] = shown
            events.append((self.party, "alert", shown))
        await self._commit(link, frame, events, replies=[self._receipt(
            frame, id=view["id"], severity=view["severity"])])

    def _match(self, view: dict[str, Any], peer: str) -> Alert | None:
        """This node's open alert of the same encounter: the same kind (and airspace), the
        same aircraft (an id the view hides matches any of its party's), overlapping
        windows."""
        theirs = sorted((t["party"], t.get("id")) for t in view["tracks"])
        window = _window(view)
        for a in self.mech.alerts.open_alerts():
            if a.kind != view["kind"] or peer not in a.parties:
                continue
            if a.kind == "incursion" and a.detail.get("airspace") != view["detail"].get(
                    "airspace"):
                continue
            ours = sorted(a.tracks)
            if len(ours) != len(theirs) or any(
                    p != q or (i is not None and i != j)
                    for (q, j), (p, i) in zip(ours, theirs, strict=True)):
                continue
            lo, hi = _window(a.as_dict())
            if lo - _WINDOW_SLACK_S <= window[1] and window[0] <= hi + _WINDOW_SLACK_S:
                return a
        return None

    def adopt(self, alert: Alert) -> list[Event]:
        """A local alert just raised: the peer alerts shown alone that are the same
        encounter become its confirmations, and leave the list (cleared, merged into it)."""
        out: list[Event] = []
        for key, shown in list(self.peer_alerts.items()):
            peer = key[0]
            if self._match(shown, peer) is not alert and not self._same(alert, shown, peer):
                continue
            del self.peer_alerts[key]
            self.confirmations.setdefault(alert.id, {})[peer] = shown["confirmed_by"][0]
            out.append((self.party, "alert", {**shown, "state": "cleared",
                                              "merged_into": alert.id}))
        return out

    def _same(self, alert: Alert, view: dict[str, Any], peer: str) -> bool:
        found = self._match(view, peer)
        return found is not None and found.id == alert.id

    def confirmed_by(self, alert_id: str) -> list[dict[str, Any]]:
        return list(self.confirmations.get(alert_id, {}).values())

    def view_extras(self, alert_id: str) -> dict[str, Any]:
        """What the node's own party is shown of one of its alerts beyond the hub's view:
        the peers' signed alerts of the same encounter (``confirmed_by``), the two nodes'
        signed frames of it side by side when both saw it (``signatures``: this node's to the
        peer, then the peer's), and the peers' signed receipts of this node's frames."""
        out: dict[str, Any] = {}
        confirmed = self.confirmed_by(alert_id)
        if confirmed:
            out["confirmed_by"] = confirmed
            own = self.signed.get(alert_id)
            out["signatures"] = [*([own] if own is not None else []), *confirmed]
        receipts = self.receipts.get(alert_id)
        if receipts:
            out["receipts"] = list(receipts.values())
        return out

    def forget_alert(self, alert_id: str) -> None:
        self.confirmations.pop(alert_id, None)
        self.signed.pop(alert_id, None)
        self._sent_digests.pop(alert_id, None)
        self.receipts.pop(alert_id, None)

    def extra_alert_views(self) -> list[dict[str, Any]]:
        """Open peer alerts shown alone, and open link incidents."""
        return [*self.peer_alerts.values(), *(i.as_dict() for i in self.incidents.open())]

    # --- hotline ----------------------------------------------------------------------------------

    async def _take_hotline(self, link: Link, frame: Frame) -> None:
        peer = link.peer.party
        data = frame.body.get("message")
        problem = _message_problem(data, peer, self.party)
        if problem is not None:
            await self.refuse(link, frame.wire, "out-of-agreement", f"hotline: {problem}")
            await self._commit(link, frame)
            return
        assert isinstance(data, dict)
        hotline = self.mech.hotline
        change = data["change"]
        offset = link.offset_s
        m = hotline.get(data["id"])
        if m is None:
            stored = await asyncio.to_thread(rec.message_body, self.mech.engine, data["id"])
            if stored is not None:
                m = HotlineMessage.from_dict(stored)
                hotline.restore([m])
        new: HotlineMessage | None = None
        if change == "sent":
            if m is None:
                index = await self._record_in(link, frame)
                fields_ = {k: v for k, v in data.items() if k in _MESSAGE_FIELDS}
                new = HotlineMessage.from_dict({
                    **fields_, "created_at": data["created_at"] - offset,
                    "deadline": None if data["deadline"] is None else data["deadline"] - offset,
                    "record_index": index, "delivered_to": ()})
        elif m is not None:
            await self._record_in(link, frame)
            # As it stands now: this node's own escalation may have run meanwhile.
            m = hotline.get(data["id"]) or m
            if change == "acknowledged" and m.state != "acknowledged":
                ack = data.get("ack") or {}
                new = replace(m, state="acknowledged", ack_by=ack.get("by"),
                              ack_at=None if ack.get("at") is None else ack["at"] - offset,
                              reply=ack.get("reply"), deadline=None)
            elif change in ("escalated", "overdue") and m.state not in ("acknowledged",
                                                                         "overdue"):
                # Each node runs the ladder on its copy by the same deadlines: the peer's step
                # is new here only if it climbed further (or reached the top) first.
                level = max(m.level, int(data["level"]))
                sender_level = max(m.sender_level, int(data["sender_level"]))
                if (change, level, sender_level) != (m.state, m.level, m.sender_level):
                    theirs = data.get("deadline")
                    new = replace(m, level=level, sender_level=sender_level, state=change,
                                  deadline=None if change == "overdue" or theirs is None else
                                  max(m.deadline or 0.0, theirs - offset))
            elif change == "overtaken" and m.state in ("sent", "escalated", "overdue"):
                # The alert it was about cleared on the sender's node (its alert, its id).
                at = data.get("overtaken_at")
                new = replace(m, state="overtaken", deadline=None,
                              overtaken_at=None if not isinstance(at, int | float) else
                              at - offset)
            elif change == "delivered":
                official = data.get("official")
                if isinstance(official, str) and official not in m.delivered_to:
                    new = replace(m, delivered_to=(*m.delivered_to, official))
        if new is None or new == m:
            # Nothing new (both nodes escalated at the same deadline): taken, not shown again.
            await self._commit(link, frame, replies=[self._receipt(frame, id=data["id"])])
            return
        hotline.restore([new])
        now = self.mech.clock.now()
        shown = message_event(new, change)
        if change == "delivered":
            shown["official"] = data.get("official")
        await self._commit(link, frame, [(self.party, "hotline", shown)],
                           [rec.upsert_message(new.id, now, new.as_dict())],
                           replies=[self._receipt(frame, id=data["id"])])

    async def _take_receipt(self, link: Link, frame: Frame) -> None:
        """The peer's node's word that it took in one of this node's frames. For an alert,
        kept with it (the digest must be that of a frame of it this node sent) and shown to
        the party with the alert."""
        body = frame.body
        peer = link.peer.party
        if body.get("kind") == "hotline" or body.get("severity") in _URGENT:
            await self._record_in(link, frame)
        events: list[Event] = []
        alert_id, seq = body.get("id"), body.get("seq")
        sent = self._sent_digests.get(alert_id) if isinstance(alert_id, str) else None
        if body.get("kind") == "alert" and sent is not None:
            if isinstance(seq, int) and sent.get(seq) == body.get("digest"):
                self.receipts.setdefault(alert_id, {})[peer] = {
                    "party": peer, "seq": seq, "digest": body["digest"],
                    "at": self.mech.clock.now(), "frame": _b64(frame.wire)}
                alert = self.mech.alerts.get(alert_id)
                shown = None if alert is None else self.mech.sharing.alert_view(
                    alert, self.party, self.mech.picture)
                if shown is not None:
                    events.append((self.party, "alert", shown))
            else:
                await self.refuse(link, frame.wire, "out-of-agreement",
                                  f"receipt: frame {seq} of alert {alert_id} is not one this "
                                  "node sent (digest)")
        await self._commit(link, frame, events)

    # --- the record across nodes ---------------------------------------------------------------

    async def _take_head(self, link: Link, frame: Frame) -> None:
        peer = link.peer.party
        pinned = await asyncio.to_thread(mstore.peer_log, self.mech.engine, peer)
        outcome = witness.take_head(self.party, self.cfg.party_key, peer, frame.body, pinned,
                                    self.mech.clock.now())
        if outcome.problem is not None:
            await self.refuse(link, frame.wire, "bad-head", outcome.problem)
        if outcome.split is not None:
            await self._split_view(link, frame, outcome.split)
        work = [outcome.store] if outcome.store is not None else []
        replies = [("cosig", outcome.cosignature)] if outcome.cosignature else []
        await self._commit(link, frame, work=work, replies=replies)

    async def _split_view(self, link: Link, frame: Frame, split: dict[str, Any]) -> None:
        peer = link.peer.party
        now = self.mech.clock.now()
        row = await asyncio.to_thread(mstore.insert_evidence, self.mech.engine, peer, now,
                                      "split-view", split, frame.wire)
        await self._incident(self.incidents.raise_(
            peer, "split-view", "critical",
            f"{peer}'s log showed two histories: a head of size {split['offered']['size']} "
            f"that does not extend the head of size {split['held']['size']} it signed before "
            f"({split['reason']}); both signed heads are kept", now,
            {"evidence": row, "held": split["held"], "offered": split["offered"]}))

    async def _take_cosig(self, link: Link, frame: Frame) -> None:
        record = self.mech.record
        if record is not None:
            problem = await asyncio.to_thread(witness.take_cosignature, record.ledger,
                                              link.peer.party, frame.body)
            if problem is not None:
                await self.refuse(link, frame.wire, "bad-cosignature", problem)
        await self._commit(link, frame)

    async def _heads(self) -> None:
        """Send peers this log's latest head; the party co-signs its own node's heads."""
        record = self.mech.record
        if record is None:
            return
        ledger = record.ledger
        head = ledger.tree_head()
        if head.size > self._own_head:
            from detente.ledger.heads import cosign

            cos = cosign(head, self.party, self.cfg.party_key, self.mech.clock.now())
            try:
                await asyncio.to_thread(ledger.add_cosignature, cos)
                self._own_head = head.size
            except DetenteError as exc:
                log.warning("co-signing this node's own head failed: %s", exc)
        for peer in self.links:
            key_sent, sent = self.sent_state.get(peer, (False, 0))
            items: list[tuple[str, str, dict[str, Any]]] = []
            if not key_sent:
                st = key_statement(self.cfg.party_key, self.cfg.party_key, author=self.party,
                                   time=self.mech.clock.now())
                items.append((peer, "key", {"statement": st.to_json()}))
            # A head goes to a peer once this log holds the peer's party key: the peer's
            # cosignature of it counts only for heads that include the key's registration.
            body = None if ledger.keys.current(peer) is None else await asyncio.to_thread(
                witness.head_body, ledger, sent)
            if body is not None:
                items.append((peer, "head", body))
            if not items:
                continue
            size = body["head"]["size"] if body is not None else sent
            await self._send(items, [mstore.set_sent(peer, True, size)])
            self.sent_state[peer] = (True, size)

    # --- incidents --------------------------------------------------------------------------------

    async def _incident(self, incident: Incident | None) -> None:
        """Publish an incident to the party and record it (as an alert addressed to it)."""
        if incident is None:
            return
        view = incident.as_dict()
        now = self.mech.clock.now()
        record = self.mech.record
        statement = None
        if record is not None and incident.state in ("raised", "cleared"):
            statement = record.say([("alert", {"transition": incident.state, "actor": None,
                                               **{k: v for k, v in view.items()
                                                  if k != "detail"},
                                               "detail": view["detail"]}, None)])
        await self.mech.events.publish([(self.party, "alert", view)], now,
                                       together_with=statement)

    async def acknowledge(self, incident_id: str, party: str) -> dict[str, Any] | None:
        inc = self.incidents.acknowledge(incident_id, party, self.mech.clock.now())
        if inc is None:
            return None
        await self._incident(inc)
        return inc.as_dict()

    async def _check_links(self, now: float) -> None:
        for peer, link in self.links.items():
            last = link.last_rx if link.last_rx is not None else link.started
            silent = now - last
            if silent > link.peer.silence_s:
                inc = self.incidents.raise_(
                    peer, "silent", "critical",
                    f"LINK SILENT: nothing from {peer}'s node for over "
                    f"{link.peer.silence_s:g} s (the agreement's limit)", now,
                    {"since": last})
                if inc is not None and inc.state == "raised":
                    await self._incident(inc)
                    await self._notify_officials(peer, inc)
            elif (open_ := self.incidents.find(peer, "silent")) is not None:
                await self._incident(self.incidents.clear(
                    peer, "silent", now, f"link to {peer}'s node restored after "
                    f"{now - open_.raised_at:.0f} s"))
                await self._restored(peer, open_.id, now)
            est = link.clock_estimate
            if est is not None and est.rtt_s != _INF and link.up:
                if abs(est.offset_s) > link.peer.clock_tolerance_s:
                    ahead = "ahead of" if est.offset_s > 0 else "behind"
                    await self._incident(self.incidents.raise_(
                        peer, "clock", "warning",
                        f"{peer}'s node's clock is {abs(est.offset_s):.0f} s {ahead} this "
                        f"node's (tolerance {link.peer.clock_tolerance_s:g} s); its data is "
                        "put on this node's clock by the measured offset", now,
                        {"offset_s": round(est.offset_s, 1)}))
                elif self.incidents.find(peer, "clock") is not None:
                    await self._incident(self.incidents.clear(peer, "clock", now))
            refused = self._refused_at.get(peer)
            if (refused is not None and now - refused > REFUSED_QUIET_S
                    and self.incidents.find(peer, "refused") is not None):
                await self._incident(self.incidents.clear(peer, "refused", now))

    async def _notify_officials(self, peer: str, inc: Incident) -> None:
        """A flash message from the node to its own party's officials: unanswered, it climbs
        their ladder as any flash message does."""
        flow = self.mech.hotline_flow
        record = self.mech.record
        if record is None:
            return
        ag = self.mech.config.agreement(self.party, peer)
        deadline_s = ag.flash_deadline_s if ag is not None else 60.0
        now = self.mech.clock.now()
        m = HotlineMessage(
            id=uuid.uuid4().hex, from_party=self.party, from_official=None,
            to_party=self.party, to_official=None, priority="flash",
            body=f"{inc.text}. Check the link and acknowledge.", alert_id=inc.id,
            created_at=now, deadline_s=deadline_s, deadline=now + deadline_s, level=1,
            sender_level=1, state="sent", automatic=True)
        self.mech.hotline.restore([m])
        (receipt,) = await record.say([("hotline.message", {
            "id": m.id, "to_party": m.to_party, "to_official": None, "priority": m.priority,
            "body": m.body, "alert_id": m.alert_id, "automatic": True,
            "on_behalf_of": f"{self.party} node"}, None)])
        m = self.mech.hotline.set_record_index(m.id, receipt.index)
        self._silence_messages[peer] = m.id
        await flow.publish([(m, "sent")], now)

    async def _restored(self, peer: str, incident_id: str, now: float) -> None:
        """The link is back: the officials' message about its silence, if still unanswered,
        is overtaken by events (its ladder stops), as a hub's warning is when its alert
        clears."""
        self._silence_messages.pop(peer, None)
        await self.mech.hotline_flow.overtaken([incident_id], now)

    # --- the console ------------------------------------------------------------------------------

    def links_view(self) -> list[dict[str, Any]]:
        """Each link's state for the party's console: up or down, since when, the age of the
        freshest data from the peer, the measured clock offset, what crossed it."""
        now = self.mech.clock.now()
        out = []
        for peer, link in self.links.items():
            est = link.clock_estimate
            fresh = self.freshest.get(peer)
            out.append({
                "peer": peer, "state": "up" if link.up else "down",
                "since": link.connected_at, "last_frame_age_s": None if link.last_rx is None
                else round(now - link.last_rx, 1),
                "freshest_data_age_s": None if fresh is None else round(now - fresh, 1),
                "silence_limit_s": link.peer.silence_s,
                "clock_offset_s": None if est is None else round(est.offset_s, 3),
                "rtt_ms": None if est is None or est.rtt_s == _INF else round(
                    est.rtt_s * 1000, 1),
                "sent_seq": link.next_seq - 1, "acked_seq": link.acked,
                "received_seq": link.received, "sessions": link.sessions,
                "bytes_out": link.bytes_out, "bytes_in": link.bytes_in,
                "incidents": [i.problem for i in self.incidents.open() if i.peer == peer],
            })
        return out

    async def _tick_loop(self) -> None:
        next_heads = 0.0
        next_prune = self.mech.clock.monotonic() + 60.0
        while not self._stop.is_set():
            try:
                now = self.mech.clock.now()
                self._release_delayed(now)
                await self._check_links(now)
                mono = self.mech.clock.monotonic()
                if mono >= next_heads:
                    next_heads = mono + 1.0
                    await self._heads()
                    self.mech.events.push_links(self.party, self.links_view())
                if mono >= next_prune:
                    next_prune = mono + 600.0
                    for peer, link in self.links.items():
                        await asyncio.wrap_future(self.mech.recorder.submit(
                            mstore.prune_outbox(peer, link.acked, now - _OUTBOX_KEEP_S)))
            except Exception:  # a failed tick must not end the node's watch for good
                log.exception("mesh tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), TICK_S)


def _recorded(frame: Frame) -> bool:
    """Whether a frame goes into the record whole (each side's): hotline traffic, urgent
    alerts, and receipts of either."""
    body = frame.body
    if frame.kind == "hotline":
        return True
    if frame.kind == "alert":
        alert = body.get("alert")
        return isinstance(alert, dict) and alert.get("severity") in _URGENT
    if frame.kind == "receipt":
        return body.get("kind") == "hotline" or body.get("severity") in _URGENT
    return False


def _together(works: Sequence[rec.Work]) -> rec.Work:
    def work(conn: Any) -> None:
        for w in works:
            w(conn)
    return work


def _window(view: dict[str, Any]) -> tuple[float, float]:
    """When an alert's encounter happens (s UTC): loss of separation or stay inside."""
    d = view.get("detail") or {}
    t0 = float(view.get("updated_at") or 0.0)
    if view.get("kind") == "incursion":
        a, b = d.get("t_entry_s"), d.get("t_exit_s")
    else:
        a, b = d.get("t_in_s"), d.get("t_out_s")
    a = float(view.get("t_to_go_s") or 0.0) if a is None else float(a)
    b = a + 300.0 if b is None else float(b)
    return t0 + a, t0 + b


def _on_our_clock(view: dict[str, Any], offset: float) -> dict[str, Any]:
    out = dict(view)
    for k in ("raised_at", "updated_at"):
        if isinstance(out.get(k), int | float):
            out[k] = out[k] - offset
    return out


def _alert_problem(view: Any, peer: str, me: str) -> str | None:
    if not isinstance(view, dict):
        return "not an object"
    if not isinstance(view.get("id"), str) or not isinstance(view.get("kind"), str):
        return "id, kind: missing"
    parties = view.get("parties")
    if not isinstance(parties, list) or set(parties) != {peer, me}:
        return f"parties {parties!r}: an alert between {peer} and {me} only"
    tracks = view.get("tracks")
    if not isinstance(tracks, list) or not all(
            isinstance(t, dict) and t.get("party") in (peer, me) for t in tracks):
        return "tracks: aircraft of the two parties"
    if view.get("state") not in ("raised", "updated", "acknowledged", "cleared"):
        return f"state {view.get('state')!r}"
    if not isinstance(view.get("detail"), dict):
        return "detail: missing"
    for k in ("raised_at", "updated_at", "t_to_go_s"):
        if not isinstance(view.get(k), int | float) or isinstance(view.get(k), bool):
            return f"{k}: not a number"
    return None


def _message_problem(data: Any, peer: str, me: str) -> str | None:
    if not isinstance(data, dict):
        return "not an object"
    if not isinstance(data.get("id"), str) or data.get("change") not in (
            "sent", "acknowledged", "escalated", "overdue", "overtaken", "delivered"):
        return "id, change: missing"
    if {data.get("from_party"), data.get("to_party")} != {peer, me}:
        return (f"a message from {data.get('from_party')!r} to {data.get('to_party')!r} on "
                f"the link between {peer} and {me}")
    if data["change"] == "sent" and data.get("from_party") != peer:
        return "a message is sent by its sender's node"
    missing = [k for k in _MESSAGE_FIELDS if k not in data]
    if missing:
        return f"fields missing: {', '.join(sorted(missing))}"
    for k in ("created_at", "level", "sender_level"):
        if not isinstance(data.get(k), int | float) or isinstance(data.get(k), bool):
            return f"{k}: not a number"
    return None


