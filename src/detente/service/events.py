"""Per-party event streams: durable events with sequence numbers, and picture frames.

Every party has a stream of durable events (alerts, hotline traffic, tree heads) with its own
sequence numbers, written to the store before anyone sees them, so that a client that
reconnects with the last sequence number it saw misses nothing and sees nothing twice. An
event is encoded once per party, into the text the store keeps and every client of the party
is sent. Picture frames (the tracks a party may see) are ephemeral: they are re-sent every
cycle, encoded once per party, never stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from detente.service.frames import encode_picture_frame
from detente.service.picture import Picture, View
from detente.service.sharing import SharingPolicy
from detente.store import recording as rec

__all__ = ["EventBus", "Subscriber"]

# (party, type, data): one durable event for one party; the type is a plain word ("alert").
Event = tuple[str, str, dict[str, Any]]


@dataclass(eq=False)
class Subscriber:
    """One connected client of a party. Durable events never drop: a client too slow to take
    them is disconnected (``overflowed``) and resumes from its last sequence number.

    The queue holds messages ``{"seq", "type", "data"}``; those with ``"text"`` (durable events
    published live, and picture frames) are sent as that text."""

    party: str
    official: str | None
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(2048))
    overflowed: bool = False

    def offer(self, message: dict[str, Any], durable: bool) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            if durable:
                self.overflowed = True
                # Wake the writer so it notices and closes the connection.
                with contextlib.suppress(asyncio.QueueEmpty):
                    self.queue.get_nowait()
                self.queue.put_nowait({"type": "overflow"})


class EventBus:
    """Sequence numbers per party (continued from the store), subscribers, publication.
    Not thread-safe: the mechanism calls it from its event loop."""

    def __init__(self, engine: Engine, recorder: rec.Recorder) -> None:
        self.engine = engine
        self.recorder = recorder
        self._seq: dict[str, int] = rec.last_seqs(engine)
        # The last seq pushed to each party's clients: a durable event reaches them once,
        # whether this instance published it or read it from the table (``deliver``).
        self._pushed: dict[str, int] = dict(self._seq)
        self._subs: dict[str, set[Subscriber]] = {}

    async def publish(self, events: Sequence[Event], now: float,
                      extra_work: Sequence[rec.Work] = (),
                      together_with: Awaitable[Any] | None = None) -> None:
        """Durable events: sequence-numbered per party, stored (with ``extra_work``, in one
        commit), then pushed. The push waits for ``together_with`` too (another durable
        write, running meanwhile)."""
        rows = []
        messages = []
        encoded: dict[int, str] = {}  # one data object told to several parties: one text
        for party, kind, data in events:
            assert kind.isidentifier(), kind  # goes into the text as it is
            seq = self._seq.get(party, 0) + 1
            self._seq[party] = seq
            body = encoded.get(id(data))
            if body is None:
                body = encoded[id(data)] = json.dumps(data, separators=(",", ":"))
            rows.append({"party": party, "seq": seq, "t": now, "type": kind, "body": body})
            text = f'{{"seq":{seq},"type":"{kind}","data":{body}}}'
            messages.append((party, {"seq": seq, "type": kind, "data": data, "text": text}))

        def work(conn: Any) -> None:
            for w in extra_work:
                w(conn)
            rec.insert_events(rows)(conn)

        stored = asyncio.wrap_future(self.recorder.submit(work))
        if together_with is None:
            await stored
        else:
            await asyncio.gather(stored, together_with)
        for party, msg in messages:
            self._push(party, msg)

    def _push(self, party: str, msg: dict[str, Any]) -> None:
        if msg["seq"] <= self._pushed.get(party, 0):
            return
        self._pushed[party] = msg["seq"]
        for sub in self._subs.get(party, ()):
            sub.offer(msg, durable=True)

    def deliver(self, party: str, seq: int, kind: str, body: str) -> None:
        """A durable event another instance of the node stored (read from the table in
        order): pushed to this instance's clients of ``party`` unless they have it, and
        numbering goes on after it."""
        self._seq[party] = max(self._seq.get(party, 0), seq)
        self._push(party, {"seq": seq, "type": kind, "data": json.loads(body),
                           "text": f'{{"seq":{seq},"type":"{kind}","data":{body}}}'})

    def renumber(self) -> None:
        """Take up numbering from the store (an instance that has just become the leader, or
        stopped being it): the store, not this instance's memory, holds the last seq."""
        # What was pushed stays: only committed events are pushed, so it is no further than
        # the store; the events after it reach the clients through ``deliver``.
        self._seq = rec.last_seqs(self.engine)

    async def subscribe(self, party: str, official: str | None, since: int | None
                        ) -> tuple[Subscriber, list[dict[str, Any]]]:
        """Register a client; returns it and the durable events it missed after ``since``
        (read in a worker thread; an event both there and in the queue has one seq)."""
        sub = Subscriber(party, official)
        self._subs.setdefault(party, set()).add(sub)
        if since is None:
            return sub, []
        missed = await asyncio.to_thread(rec.events_since, self.engine, party, since)
        return sub, [{"seq": s, "type": t, "data": d} for s, t, d in missed]

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.get(sub.party, set()).discard(sub)

    def current_seq(self, party: str) -> int:
        return self._seq.get(party, 0)

    def parties_listening(self) -> list[str]:
        return [p for p, subs in self._subs.items() if subs]

    async def push_pictures(self, picture: Picture, sharing: SharingPolicy, now: float
                            ) -> None:
        """A picture frame to every connected client: what its party may see now."""
        parties = self.parties_listening()
        if not parties:
            return
        # The picture's view is taken here, between ingests; sharing and encoding (tens of ms
        # at 10,000 tracks, per party) run in a worker thread, off the loop's way.
        texts = await asyncio.to_thread(_encode_frames, parties, picture.view(), sharing, now)
        for party, text in zip(parties, texts, strict=True):
            frame = {"seq": None, "type": "picture", "text": text}
            for sub in self._subs.get(party, ()):
                sub.offer(frame, durable=False)


def _encode_frames(parties: list[str], view: View, sharing: SharingPolicy, now: float
                   ) -> list[str]:
    # Encoded once per party, not once per connected client.
    return [encode_picture_frame(sharing.visible(p, view, now), now).decode() for p in parties]
