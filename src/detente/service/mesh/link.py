"""One link between this node and a peer's: the handshake, and the frames in both directions.

The link knows the protocol (``frames``) and nothing of what frames mean: it hands each frame
that passes its checks to its ``Handler`` (the node), in order, and asks the handler to keep as
evidence what fails them:

- a frame whose signature does not verify with the peer's node key (forged), that is not
  addressed from the peer to this node, or that cannot be read (malformed);
- a durable frame whose sequence number is not the one after the last taken in: at or below
  it (replayed), above it (out of order: one is missing before it);
- a live frame of another session (replayed) or out of its session's order.

After any of these the connection is closed: the peer's node reconnects and resumes from the
last durable frame this node took in, so a frame dropped, reordered or forged on the way is
sent again, and nothing is taken twice. Content that breaks the agreement is the handler's to
judge (``Handler.take``).

Both sides send a ping every ``PING_S``, answered at once: with the time each end read at
sending and at receiving, the pair gives the offset between the two clocks and the round trip
(as NTP does); the link keeps the estimate of the sample with the shortest round trip among
the last ``CLOCK_SAMPLES``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from detente.errors import VerificationError
from detente.ledger.keys import Ed25519PrivateKey, ed25519_verifies
from detente.service.clock import Clock
from detente.service.mesh.frames import (
    Frame,
    FrameError,
    decode_frame,
    encode_frame,
    hello_message,
    session_id,
)
from detente.service.mesh.node_config import Peer

__all__ = ["PING_S", "Handler", "Link", "LinkClosed", "Transport", "accept_link"]

log = logging.getLogger("detente.mesh")

PING_S = 1.0
CLOCK_SAMPLES = 8
HANDSHAKE_S = 10.0
# Live frames waiting to go out, at most: a link slower than the states it carries drops the
# oldest states (the next batch replaces them), never a durable frame.
LIVE_BACKLOG = 64
_CACHE = 4_096  # durable frames kept in memory for re-sending; older ones are read back


class LinkClosed(Exception):
    """The connection ended (either side, or the network)."""


class Transport(Protocol):
    """A WebSocket, either end: the API's (accepting) or the dialer's."""

    async def send_text(self, text: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def receive(self) -> str | bytes:
        """The next message; LinkClosed when the connection ends."""
        ...
    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class Handler(Protocol):
    """What the node does with a link's frames."""

    async def take(self, link: Link, frame: Frame) -> None:
        """A frame in order. A durable one must be taken in durably before this returns
        (``Link.taken`` is then called by the link); content out of agreement is refused
        here, and the frame counts as taken."""
        ...

    async def refuse(self, link: Link, wire: bytes, reason: str, detail: str) -> None:
        """Keep a refused frame as evidence and alert the node's party."""
        ...

    def durable_after(self, peer: str, seq: int) -> Awaitable[list[tuple[int, bytes]]]:
        """The durable frames for ``peer`` after ``seq`` (from the store)."""
        ...


@dataclass
class ClockEstimate:
    offset_s: float  # the peer's clock minus this node's (s)
    rtt_s: float


class Link:
    """This node's end of the link to ``peer``.

    ``received``: the last durable sequence number taken in from the peer (from the store);
    ``next_seq``: the next one to give a frame for the peer.
    """

    def __init__(self, me: str, key: Ed25519PrivateKey, peer: Peer, clock: Clock,
                 handler: Handler, received: int, last_seq: int) -> None:
        self.me = me
        self.key = key
        self.peer = peer
        self.clock = clock
        self.handler = handler
        self.received = received
        self.next_seq = last_seq + 1
        self.acked = 0  # the peer's word: durable frames up to here are in
        self.transport: Transport | None = None
        self.sid: str | None = None
        self.sessions = 0
        self._n_out = 0
        self._n_in = 0
        self._sent_upto = 0
        self._cache: dict[int, bytes] = {}
        self._live: deque[tuple[str, dict[str, Any]]] = deque()
        self._kick = asyncio.Event()
        self._samples: deque[ClockEstimate] = deque(maxlen=CLOCK_SAMPLES)
        self.clock_estimate: ClockEstimate | None = None
        self.started = clock.now()  # silence counts from here until the first frame
        self.last_rx: float | None = None  # this node's clock, when the last frame came
        self.connected_at: float | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.frames_in = 0
        self.frames_out = 0

    # --- what the node asks of the link ------------------------------------------------------

    @property
    def up(self) -> bool:
        return self.transport is not None

    @property
    def offset_s(self) -> float:
        """The peer's clock minus this node's (s): 0 until measured."""
        return 0.0 if self.clock_estimate is None else self.clock_estimate.offset_s

    def durable(self, kind: str, body: dict[str, Any], now: float) -> tuple[int, bytes]:
        """Number and sign a durable frame for the peer; the caller stores it (in the same
        transaction as whatever it tells) and then calls ``stored``."""
        seq = self.next_seq
        self.next_seq += 1
        wire = encode_frame(self.key, self.me, self.peer.party, kind, body, now, seq=seq)
        return seq, wire

    def stored(self, frames: list[tuple[int, bytes]]) -> None:
        """Durable frames are in the outbox: send them."""
        for seq, wire in frames:
            if len(self._cache) >= _CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[seq] = wire
        self._kick.set()

    def live(self, kind: str, body: dict[str, Any]) -> bool:
        """Queue a live frame for the current session; False (dropped) when the link is down.

        States not sent yet are merged with the new ones (each track's latest state, on the
        same terms): a link slower than its states carries every track's latest, and never
        loses a track that reported once (a frame of one probe behind a frame of thousands).
        Beyond ``LIVE_BACKLOG`` other live frames push the oldest out."""
        if self.transport is None:
            return False
        if kind == "states":
            for k, (queued_kind, queued) in enumerate(self._live):
                if queued_kind == "states" and _same_terms(queued, body):
                    self._live[k] = (kind, _merged(queued, body))
                    self._kick.set()
                    return True
        if len(self._live) >= LIVE_BACKLOG:
            self._live.popleft()
        self._live.append((kind, body))
        self._kick.set()
        return True

    def taken(self, seq: int) -> None:
        """A durable frame is in for good: acknowledge it."""
        self.received = seq
        self.live("ack", {"seq": seq})

    async def close(self, reason: str = "closed") -> None:
        transport = self.transport
        if transport is not None:
            with contextlib.suppress(Exception):
                await transport.close(1000, reason[:120])

    # --- handshake ----------------------------------------------------------------------------

    async def dial(self, transport: Transport) -> None:
        """Authenticate to the peer's node over a connection this node opened, then run the
        session until it ends."""
        c1 = secrets.token_bytes(32)
        await transport.send_text(json.dumps({"from": self.me, "to": self.peer.party,
                                              "challenge": _b64(c1)}))
        reply = await _json(transport)
        if reply.get("from") != self.peer.party or reply.get("to") != self.me:
            raise VerificationError(f"handshake: answered by {reply.get('from')!r}, not "
                                    f"{self.peer.party}")
        c2 = _unb64(reply.get("challenge"), "challenge")
        signature = _unb64(reply.get("signature"), "signature")
        if not ed25519_verifies(self.peer.public_bytes, signature,
                                hello_message("accept", self.me, self.peer.party, c1, c2)):
            raise VerificationError(f"handshake: {self.peer.party}'s node did not sign with "
                                    "its key")
        await transport.send_text(json.dumps({
            "have": self.received, "time": self.clock.now(),
            "signature": _b64(self.key.sign(hello_message("dial", self.me, self.peer.party,
                                                          c1, c2)))}))
        # Where the peer stands comes once this node has proved its key: nobody else learns it.
        welcome = await _json(transport)
        await self._session(transport, session_id(c1, c2), _have(welcome),
                            welcome.get("time"))

    async def listen(self, transport: Transport, c1: bytes) -> None:
        """The rest of the handshake on a connection the peer opened with challenge ``c1``,
        then the session."""
        c2 = secrets.token_bytes(32)
        await transport.send_text(json.dumps({
            "from": self.me, "to": self.peer.party, "challenge": _b64(c2),
            "signature": _b64(self.key.sign(hello_message("accept", self.peer.party, self.me,
                                                          c1, c2)))}))
        reply = await _json(transport)
        signature = _unb64(reply.get("signature"), "signature")
        if not ed25519_verifies(self.peer.public_bytes, signature,
                                hello_message("dial", self.peer.party, self.me, c1, c2)):
            raise VerificationError(f"handshake: not signed with {self.peer.party}'s node key")
        have = _have(reply)
        await transport.send_text(json.dumps({"have": self.received,
                                              "time": self.clock.now()}))
        await self._session(transport, session_id(c1, c2), have, reply.get("time"))

    # --- the session --------------------------------------------------------------------------

    async def _session(self, transport: Transport, sid: str, peer_have: int,
                       peer_time: Any) -> None:
        old = self.transport
        if old is not None:  # a newer session replaces an older one (the peer reconnected)
            with contextlib.suppress(Exception):
                await old.close(1000, "replaced by a new session")
        self.transport, self.sid = transport, sid
        self.sessions += 1
        self._n_out = self._n_in = 0
        self._live.clear()
        self._sent_upto = max(peer_have, 0)
        self.acked = max(self.acked, peer_have)
        now = self.clock.now()
        self.connected_at = self.last_rx = now
        if isinstance(peer_time, int | float) and self.clock_estimate is None:
            # A first guess (one-way latency included) until the pings measure it.
            self.clock_estimate = ClockEstimate(float(peer_time) - now, float("inf"))
        sender = asyncio.create_task(self._send_loop(transport))
        pinger = asyncio.create_task(self._ping_loop())
        try:
            await self._receive_loop(transport)
        finally:
            sender.cancel()
            pinger.cancel()
            for task in (sender, pinger):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.transport is transport:
                self.transport = self.sid = None
            with contextlib.suppress(Exception):
                await transport.close()

    async def _send_loop(self, transport: Transport) -> None:
        while True:
            self._kick.clear()
            stuck = False  # the next durable frame is not in the outbox (yet): wait for a kick
            while not stuck and self._sent_upto < self.next_seq - 1:
                wire = self._cache.get(self._sent_upto + 1)
                if wire is not None:
                    batch = [(self._sent_upto + 1, wire)]
                else:
                    batch = await self.handler.durable_after(self.peer.party, self._sent_upto)
                    stuck = not batch  # not committed yet: stored() kicks again
                for seq, data in batch:
                    if seq != self._sent_upto + 1:
                        # Frames are numbered and stored in one order (the recorder's); a gap
                        # is a number whose frame was never stored: the peer would refuse
                        # everything after it, so say so rather than send.
                        log.error("link to %s: durable frame %d missing from the outbox",
                                  self.peer.party, self._sent_upto + 1)
                        stuck = True
                        break
                    await self._send(transport, data)
                    self._sent_upto = seq
            while self._live:
                kind, body = self._live.popleft()
                self._n_out += 1
                await self._send(transport, encode_frame(
                    self.key, self.me, self.peer.party, kind, body, self.clock.now(),
                    sid=self.sid, n=self._n_out))
            if stuck or self._sent_upto >= self.next_seq - 1:
                await self._kick.wait()

    async def _send(self, transport: Transport, data: bytes) -> None:
        await transport.send_bytes(data)
        self.bytes_out += len(data)
        self.frames_out += 1

    async def _ping_loop(self) -> None:
        while True:
            self.live("ping", {"t1": self.clock.now()})
            await asyncio.sleep(PING_S)

    async def _receive_loop(self, transport: Transport) -> None:
        while True:
            message = await transport.receive()
            if isinstance(message, str):
                await self._refuse(message.encode(), "malformed", "a text message after the "
                                   "handshake")
                return
            self.bytes_in += len(message)
            self.frames_in += 1
            try:
                frame = decode_frame(message, self.peer.public_bytes, self.peer.party, self.me)
            except FrameError as exc:
                await self._refuse(message, exc.reason, str(exc))
                return
            if frame.durable:
                assert frame.seq is not None
                if frame.seq <= self.received:
                    await self._refuse(message, "replayed", f"durable frame {frame.seq} again "
                                       f"(taken in up to {self.received})")
                    return
                if frame.seq > self.received + 1:
                    await self._refuse(message, "out-of-order", f"durable frame {frame.seq} "
                                       f"after {self.received}")
                    return
            else:
                if frame.sid != self.sid:
                    await self._refuse(message, "replayed", "a live frame of another session")
                    return
                assert frame.n is not None
                if frame.n != self._n_in + 1:
                    reason = "replayed" if frame.n <= self._n_in else "out-of-order"
                    await self._refuse(message, reason, f"live frame {frame.n} after "
                                       f"{self._n_in}")
                    return
                self._n_in = frame.n
            self.last_rx = self.clock.now()
            if frame.kind == "ping":
                self.live("pong", {"t1": frame.body.get("t1"), "t2": self.last_rx})
            elif frame.kind == "pong":
                self._clock_sample(frame)
            elif frame.kind == "ack":
                seq = frame.body.get("seq")
                if isinstance(seq, int) and not isinstance(seq, bool):
                    self.acked = max(self.acked, min(seq, self.next_seq - 1))
            else:
                await self.handler.take(self, frame)

    async def _refuse(self, wire: bytes, reason: str, detail: str) -> None:
        try:
            await self.handler.refuse(self, wire, reason, detail)
        except Exception:  # keeping the evidence failed: say so, and still close
            log.exception("keeping a refused frame from %s failed", self.peer.party)

    def _clock_sample(self, frame: Frame) -> None:
        t1, t2 = frame.body.get("t1"), frame.body.get("t2")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (t1, t2)):
            return
        t3, t4 = frame.t, self.last_rx
        assert t4 is not None
        rtt = (t4 - t1) - (t3 - t2)
        self._samples.append(ClockEstimate(((t2 - t1) + (t3 - t4)) / 2.0, max(rtt, 0.0)))
        self.clock_estimate = min(self._samples, key=lambda s: s.rtt_s)


def _same_terms(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a.get("party"), a.get("precision_m")) == (b.get("party"), b.get("precision_m"))


def _merged(older: dict[str, Any], newer: dict[str, Any]) -> dict[str, Any]:
    """Two states bodies as one: every track of both, the newer's state where both have it."""
    rows = dict(zip(older["ids"], older["v"], strict=True))
    rows.update(zip(newer["ids"], newer["v"], strict=True))
    return {**newer, "ids": list(rows), "v": list(rows.values())}


async def accept_link(transport: Transport, me: str, links: dict[str, Link],
                      on_refused: Callable[[str, str], Awaitable[None]] | None = None) -> None:
    """Serve a connection a peer's node opened: read its hello, find its link, answer."""
    first = await _json(transport)
    peer, to = first.get("from"), first.get("to")
    link = links.get(peer) if isinstance(peer, str) else None
    if link is None or to != me:
        await transport.close(4403, "not a peer of this node")
        if on_refused is not None:
            await on_refused(str(peer), f"a hello from {peer!r} to {to!r}")
        return
    await link.listen(transport, _unb64(first.get("challenge"), "challenge"))


async def _json(transport: Transport) -> dict[str, Any]:
    try:
        message = await asyncio.wait_for(transport.receive(), HANDSHAKE_S)
    except TimeoutError:
        raise VerificationError("handshake: no answer in time") from None
    if not isinstance(message, str):
        raise VerificationError("handshake: expected a text message")
    try:
        value = json.loads(message)
    except ValueError:
        raise VerificationError("handshake: not JSON") from None
    if not isinstance(value, dict):
        raise VerificationError("handshake: not a JSON object")
    return value


def _have(reply: dict[str, Any]) -> int:
    have = reply.get("have")
    if not isinstance(have, int) or isinstance(have, bool) or have < 0:
        raise VerificationError(f"handshake: have {have!r} is not a sequence number")
    return have


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"handshake: {what} missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"handshake: {what} is not base64") from None
