"""Several instances of one node on one PostgreSQL: exactly one leads.

Every instance serves the API and the streams; the leader alone runs the detection cycle,
escalates the hotline, appends to the record and writes alerts and events. Leadership is a
lease in the database (``store.leases``), renewed by a thread of its own every ``ttl_s / 4``
and taken by another instance once it has expired (``ttl_s`` after the leader's last renewal:
2 s by default). Each of the leader's write transactions first passes the fence (the lease
still at its epoch, under a share lock the next holder's takeover waits for), so a leader that
was paused past its lease, and wakes up believing it still leads, writes nothing: its writes
are refused with a retryable error, and on its next look at the lease it becomes a follower.

What an instance does, by role:

- both: take in track reports (thinned, recorded in segments, into the picture), serve the
  picture, the alerts and the streams; follow what the other instance writes (``follow``):
  the recording's segments by number (its kept reports into the picture and into what this
  instance's thinner judges later reports against; at the leader, into the looks and, with
  this instance's own segments in number order, the anchors' digest), events to the clients
  of the streams, in order, by sequence number: a client that resumes on the other instance
  with its last seq misses nothing and gets nothing twice. PostgreSQL's LISTEN/NOTIFY wakes the
  follower at each commit (``store.database.CHANNEL``), and it looks every ``poll_s`` anyway.
- the leader: the cycle, anchors, retention, and every write of the mechanism.
- a follower: everything else the API offers (hotline, acknowledgements, the record, intents,
  the DSS) is passed to the leader (``api.forwarding``); with no leader, a 503 with
  Retry-After, never a write half done.

Becoming the leader: read the tables to their end, reload what the leader keeps in memory
(the ledger's tip, open alerts, hotline deadlines, intents, stream numbering, the reports not
yet anchored, what each live track last kept) from the database, then run cycles. The old
leader's connections are closed at takeover (``leases.end_sessions``), so whatever it had open
is gone.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from detente.errors import UnavailableError
from detente.store import leases
from detente.store import recording as rec
from detente.store.database import CHANNEL, set_fence
from detente.store.report_segments import Segment, segments_following

__all__ = ["LeaseKeeper", "Node", "NodeSettings", "instance_name", "node_secret"]

log = logging.getLogger("detente.leadership")


_READ_SEGMENTS = 1_000  # segments of the recording read at a time


def instance_name() -> str:
    """This instance's name: host, process and a random part (unique per start)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def node_secret(log_key_raw: bytes, purpose: bytes) -> bytes:
    """A secret the instances of a node share without another file: derived from the log's
    private key, which every instance holds (it signs the tree heads)."""
    return hmac.new(log_key_raw, b"detente node secret v1\0" + purpose, hashlib.sha256).digest()


@dataclass(frozen=True)
class NodeSettings:
    """``ttl_s``: the lease; a leader gone silent is replaced within about that, plus the time
    to reload. ``poll_s``: how often the tables are read without a notice."""

    node: str
    instance: str
    address: str
    ttl_s: float = 2.0
    poll_s: float = 0.25
    retry_after_s: float = 2.0

    @property
    def application_name(self) -> str:
        return app_name(self.instance)


def app_name(instance: str) -> str:
    # PostgreSQL keeps 63 bytes of an application_name.
    return f"detente {instance}"[:63]


class LeaseKeeper:
    """The lease, kept by a thread (the event loop may be busy for a second; the lease must not
    lapse for it). ``on_change(epoch)`` is called in the thread when this instance becomes the
    leader (its epoch) or stops being it (None)."""

    def __init__(self, engine: Engine, settings: NodeSettings,
                 on_change: Callable[[int | None], None]) -> None:
        self.engine = engine
        self.settings = settings
        self.on_change = on_change
        self.epoch: int | None = None
        self.leader: leases.Lease | None = None
        self.took_over_at: float | None = None  # monotonic, when the lease was last taken
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="detente-lease", daemon=True)
        set_fence(engine, self._refuse)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop, and give the lease up at once if held (a clean stop)."""
        self._stop.set()
        self._thread.join(10)
        if self.epoch is not None:
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                leases.release(conn, self.settings.node, self.settings.instance, self.epoch)
        self.epoch = None
        set_fence(self.engine, self._refuse)

    def _refuse(self, conn: Any) -> None:
        raise UnavailableError("this instance is not the node's leader: the write was not "
                               "made; retry at the leader", self.settings.retry_after_s)

    def _fence(self, epoch: int) -> Callable[[Any], None]:
        s = self.settings

        def fence(conn: Any) -> None:
            leases.fence(conn, s.node, epoch, idle_timeout_s=s.ttl_s / 2,
                         retry_after_s=s.retry_after_s)
        return fence

    def _run(self) -> None:
        s = self.settings
        step = min(s.ttl_s / 4, 0.5)
        renewed = time.monotonic()
        while not self._stop.wait(step):
            try:
                with self.engine.connect() as conn:
                    if self.epoch is not None:
                        if leases.renew(conn, s.node, s.instance, self.epoch, s.ttl_s):
                            renewed = time.monotonic()
                            continue
                        self._lost("another instance took the lease")
                        continue
                    self.leader = leases.current(conn, s.node)
                    if self.leader is not None and self.leader.live:
                        continue
                    old = self.leader
                    epoch = leases.acquire(conn, s.node, s.instance, s.address, s.ttl_s)
                    if epoch is None:
                        continue
                    if old is not None and old.holder != s.instance:
                        ended = leases.end_sessions(conn, app_name(old.holder))
                        log.warning("took the lease of node %s from %s (epoch %d), closed its "
                                    "%d connections", s.node, old.holder, epoch, ended)
                    self.leader = leases.current(conn, s.node)
                self.epoch = epoch
                self.took_over_at = time.monotonic()
                renewed = time.monotonic()
                set_fence(self.engine, self._fence(epoch))
                self.on_change(epoch)
            except Exception as exc:  # the database is away: keep trying
                log.warning("lease of node %s: %s", s.node, exc)
                if self.epoch is not None and time.monotonic() - renewed > s.ttl_s:
                    self._lost("could not renew the lease in time")

    def _lost(self, why: str) -> None:
        log.warning("no longer the leader of node %s: %s", self.settings.node, why)
        self.epoch = None
        set_fence(self.engine, self._refuse)
        self.on_change(None)


@dataclass
class _Following:
    """Where this instance is in the tables it follows."""

    report_row: int = 0  # the last report number followed
    event_row: int = 0
    # Segments written here, once committed, in number order. Not read back: they join the
    # others' in number order.
    own: collections.deque[Segment] = field(default_factory=collections.deque)


class Node:
    """One instance of a node: the lease, following the tables, and the change of role.

    ``mechanism`` is built by the caller (its picture, alerts and hotline restored from the
    database as at any start); it starts as a follower."""

    def __init__(self, mechanism: Any, engine: Engine, settings: NodeSettings) -> None:
        self.m = mechanism
        self.engine = engine
        self.settings = settings
        self.leading = False
        self.secret: str | None = None  # the node's shared secret, for calls to the leader
        self.became_leader_at: float | None = None  # time.time() when the last reload ended
        self._at = _Following(report_row=rec.last_report_row(engine),
                              event_row=rec.last_event_row(engine))
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._role: asyncio.Queue[int | None] = asyncio.Queue()
        self._listener: threading.Thread | None = None
        self._stopping = threading.Event()
        self._following = asyncio.Lock()  # one look at the tables at a time
        self.keeper = LeaseKeeper(engine, settings, self._lease_changed)
        mechanism.following(self)

    # --- the lease's thread tells the loop -------------------------------------------------

    def _lease_changed(self, epoch: int | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._role.put_nowait, epoch)

    def leader_address(self) -> str | None:
        """Where the leader serves the API (None: no live leader known)."""
        lease = self.keeper.leader
        if self.leading:
            return self.settings.address
        return lease.address if lease is not None and lease.live else None

    async def forward_delivered(self, message_id: str, official: str) -> None:
        """A hotline message reached an official's screen through this follower: the leader
        records the delivery. Best effort: with no leader now, the delivery goes unrecorded
        (the record then says the message was sent, not when it was first seen)."""
        import httpx
        address = self.leader_address()
        if address is None or self.secret is None:
            log.warning("delivery of %s to %s not recorded: no leader", message_id, official)
            return
        try:
            async with httpx.AsyncClient(timeout=10.0) as client:
                r = await client.post(f"{address}/v1/node/delivered",
                                      json={"message_id": message_id, "official": official},
                                      headers={"x-detente-node": self.secret})
                r.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("delivery of %s to %s not recorded: %s", message_id, official, exc)

    # --- life cycle -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._start_listener()
        self.keeper.start()
        follower = asyncio.create_task(self._follow_loop(stop))
        roles = asyncio.create_task(self._role_loop(stop))
        try:
            await self.m.run(stop)
        finally:
            self._stopping.set()
            follower.cancel()
            roles.cancel()
            for t in (follower, roles):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            await asyncio.to_thread(self.keeper.stop)

    async def _role_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            epoch = await self._role.get()
            if epoch is not None and not self.leading:
                started = time.monotonic()
                await self._become_leader()
                log.warning("leading node %s at epoch %d (reloaded in %.2f s)",
                            self.settings.node, epoch, time.monotonic() - started)
            elif epoch is None and self.leading:
                self.leading = False
                await asyncio.to_thread(self.m.follow_again)

    async def _become_leader(self) -> None:
        # Everything the previous leader committed first, then what the leader keeps in memory.
        # No other look at the tables meanwhile: the digest lead() rebuilds ends at the place
        # it is given, and a segment followed before the instance leads is in no digest.
        async with self._following:
            await self._follow()
            await asyncio.to_thread(self.m.lead, self._at.report_row)
            self.leading = True
        self.became_leader_at = time.time()

    # --- following the tables ---------------------------------------------------------------

    def own_segment(self, segment: Segment) -> None:
        """A segment this instance wrote (the recorder's thread tells, once committed, in
        commit order, which is number order)."""
        self._at.own.append(segment)

    async def _follow_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_s)
            self._wake.clear()
            try:
                await self.follow()
            except Exception:
                log.exception("following the node's tables failed")
                await asyncio.sleep(self.settings.poll_s)

    async def follow(self) -> None:
        """Read what was committed since the last look: the recording's segments, then
        events."""
        async with self._following:
            await self._follow()

    async def _follow(self) -> None:
        at = self._at
        while True:
            # This instance's own segments that come next, from memory.
            mine = []
            while at.own and at.own[0][0] <= at.report_row + 1:
                segment = at.own.popleft()
                if segment[0] == at.report_row + 1:
                    mine.append(segment)
                    at.report_row = segment[0] + len(segment[2]) - 1
                # else: read from the table before its writer said so; had already
                # (its first number at most the last read).
            if mine:
                self.m.take_followed(mine, [])
            # Then the others' segments, up to this instance's next one.
            before = at.own[0][0] if at.own else None
            last, others = await asyncio.to_thread(segments_following, self.engine,
                                                   at.report_row, before, _READ_SEGMENTS)
            if others:
                at.report_row = last
                self.m.take_followed(others, others)
            if before is not None and len(others) < _READ_SEGMENTS:
                # Every segment before this instance's next one is read (those committed
                # before it: numbers follow the commits).
                at.report_row = before - 1
            elif not others and not mine:
                break
        changed_alerts = False
        while True:
            rows = await asyncio.to_thread(rec.event_rows_after, self.engine, at.event_row)
            if not rows:
                break
            for rowid, party, seq, kind, body in rows:
                self.m.events.deliver(party, seq, kind, body)
                changed_alerts = changed_alerts or kind == "alert"
                at.event_row = rowid
        if changed_alerts and not self.leading:
            await asyncio.to_thread(self.m.refresh_alerts)

    def _start_listener(self) -> None:
        """A thread on a connection of its own that LISTENs and wakes the follower."""
        url = self.engine.url.set(drivername="postgresql")
        dsn = url.render_as_string(hide_password=False)

        def listen() -> None:
            import psycopg
            while not self._stopping.is_set():
                try:
                    with psycopg.connect(dsn, autocommit=True,
                                         application_name=self.settings.application_name) as c:
                        c.execute(f"LISTEN {CHANNEL}")
                        while not self._stopping.is_set():
                            # Returns after a second without a notice: look at the flag.
                            for _ in c.notifies(timeout=1.0):
                                if self._loop is not None:
                                    self._loop.call_soon_threadsafe(self._wake.set)
                except Exception as exc:
                    if self._stopping.is_set():
                        return
                    log.warning("listening for the node's notices: %s", exc)
                    time.sleep(0.5)

        self._listener = threading.Thread(target=listen, name="detente-listen", daemon=True)
        self._listener.start()
