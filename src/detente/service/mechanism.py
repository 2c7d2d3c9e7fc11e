"""The running mechanism: its parts wired together, and their life cycle.

Each part is a module of its own: the live picture (``picture``), detection, a pure function
of a snapshot (``detection``), alert life cycles and their codec (``alerting``), need-to-know
(``sharing``), the per-party event streams and picture frames (``events``), the hotline
(``hotline``, the state machine, and ``hotline_flow``, its traffic), the record (``record``)
and the store (``store.recording``). The mechanism owns time (an injected Clock) and state:
it restores them at start, takes in batches of reports and looks at them at once, runs the
detection cycle, publishes what changed, anchors the recorded reports in the record, prunes,
and stops. Engines are called once per look and return values.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine

from detente.errors import ConflictingWriteError, InputError, NotFoundError
from detente.geo.projection import LocalProjection
from detente.ledger import Receipt, SignedStatement
from detente.ledger.audience import RECEIPTED_KINDS, expected_receipts
from detente.model.intent import OperationalIntent
from detente.model.reports import ReportBatch, TrackReport
from detente.service.advice import advise_all, tracks_of, wants_advice
from detente.service.alerting import (
    Alert,
    AlertBook,
    Finding,
    Transition,
    is_recorded,
    turns_urgent,
)
from detente.service.auth import Principal
from detente.service.clock import Clock
from detente.service.config import Config, recording_tolerance
from detente.service.detection import Terms, findings
from detente.service.disk import DiskWatch
from detente.service.events import Event, EventBus, Subscriber
from detente.service.hotline import Hotline, HotlineMessage
from detente.service.hotline_flow import HotlineFlow, message_event
from detente.service.intents import IntentBook, WriteResult
from detente.service.picture import Columns, Picture, extrapolate
from detente.service.record import SERVICE_AUTHOR, Record
from detente.service.sharing import SharingPolicy, StrategicPolicy
from detente.store import recording as rec
from detente.store.database import database_folder
from detente.store.report_digest import ANCHOR_KIND, Anchor, ReportChain
from detente.store.report_segments import ReportSegments, Segment

# message_event and Subscriber: imported from here by the API.
__all__ = ["CycleStats", "Mechanism", "Subscriber", "message_event"]

log = logging.getLogger("detente.service")

_PRUNE_EVERY_S = 600.0  # retention is in days: checking every ten minutes is plenty
_HOTLINE_MEMORY_S = 3_600.0
# At start, the reports recorded after the last anchor join the first anchor; of a database
# that holds none (recorded before anchors were), only this many of the latest.
_ANCHOR_BACKLOG_MAX = 1_000_000


@dataclass
class CycleStats:
    t: float = 0.0
    tracks: int = 0
    conflicts: int = 0
    transitions: int = 0
    detect_s: float = 0.0
    total_s: float = 0.0


class Mechanism:
    """Parameters: a Config, an SQLAlchemy Engine (tables created), a Clock, and the Record
    (the ledger's service side); without one nothing is recorded (engine-only tests)."""

    def __init__(self, config: Config, engine: Engine, clock: Clock,
                 record: Record | None = None) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.record = record
        self.projection = LocalProjection(*config.centre)
        self.terms = Terms.of(config, self.projection)
        self.airspaces = list(self.terms.airspaces)
        self.sharing = SharingPolicy(config, self.projection)
        self.picture = Picture(config.settings.stale_s, self.sharing.max_delay_s())
        self.alerts = AlertBook()
        self.hotline = Hotline(config)
        self.intents = IntentBook.load(engine, self.projection, now=clock.now())
        self.strategic_policy = StrategicPolicy(config)
        # The recorded reports' digest, said in the record every anchor_s (none without one).
        self.report_chain = ReportChain() if record is not None else None
        # The recording of reports: those the tolerance keeps, in compact segments.
        self.segments = ReportSegments(recording_tolerance(config.settings), self.report_chain,
                                       floor_row=rec.legacy_last_row(engine))
        self.recorder = rec.Recorder(engine, on_rollback=self.segments.rollback)
        self.events = EventBus(engine, self.recorder)
        # Free space on the database's disk: the oldest recording pruned, reports refused.
        self.disk = DiskWatch(config.settings, database_folder(engine), engine, self.recorder,
                              list(config.parties), self.publish)
        self.hotline_flow = HotlineFlow(self.hotline, record, self.events, clock,
                                        self.sharing, self.picture)
        self._head_published = -1
        self._telling: asyncio.Future[None] | None = None  # the latest entries' publication
        if record is not None:
            record.on_appended = self._tell_entries
        self.latest_settled = 0  # the largest tree head co-signed by every party (0: none)
        self.last_cycle = CycleStats()
        self._fresh: set[tuple[str, str]] = set()
        self._fresh_waiters: list[asyncio.Future[None]] = []
        self._looking: asyncio.Task[None] | None = None
        self._publishing: asyncio.Future[None] | None = None  # the latest alert publication
        # One of several instances of a node (``service.leadership``): None when alone.
        self.node: Any = None
        self._restore()

    # --- one of several instances (service.leadership) ---------------------------------------

    def following(self, node: Any) -> None:
        """Run as one instance of ``node``: a follower until ``lead`` is called. Every
        instance records the reports it takes in, in segments; they reach the anchors' digest
        through the node's follower (``take_followed``), in number order, whoever wrote them:
        this instance's own from memory (``on_segment``), the others' from the table."""
        self.node = node
        self.report_chain = None
        self.segments.chain = None
        self.segments.on_segment = node.own_segment

    @property
    def leading(self) -> bool:
        return self.node is None or self.node.leading

    def take_followed(self, segments: Sequence[Segment], others: Sequence[Segment]) -> None:
        """Segments of the recording, in number order, as the node's follower reads them:
        ``others`` (those another instance kept) go into the picture and teach this
        instance's thinner what each of their tracks last kept, and the leader looks at
        them; every segment goes into the anchors' digest at the leader.

        The picture of a track another instance takes in is made of its kept reports: within
        the recording's tolerance of what it reported (report_thinning), and every live track
        has one at least every max_gap_s, under stale_s."""
        looks: list[tuple[str, str]] = []
        for _first, party, ids, values, received in others:
            accepted = self.picture.accept_batch(
                party, ReportBatch(ids, values, trk_normal=True), float(received.max()))
            looks += [(party, i) for i in accepted.changed]
        if others:  # nobody waits for it: it only sets what later reports are judged against
            self.recorder.submit(self.segments.learn(
                [(party, ids, values) for _, party, ids, values, _ in others]),
                fenced=False).add_done_callback(_log_failure)
        if not self.leading:
            return
        if self.report_chain is not None:
            kept_with = self.segments.tolerance.body()
            for first, party, ids, values, received in segments:
                self.report_chain.add(first, party, ids, values, received, kept_with)
        if looks:  # nobody waits for these looks: the reports' writer was answered
            self._fresh.update(looks)
            if self._looking is None or self._looking.done():
                self._looking = asyncio.create_task(self._look_loop())

    def lead(self, report_row: int) -> None:
        """Become the leader (in a worker thread, the tables read up to now): reload from the
        database what the leader keeps in memory and a follower does not keep current: the
        log's tip, the open alerts, the hotline and its deadlines, the intents, the streams'
        numbering, the digest of the reports not yet anchored (up to ``report_row``, the
        follower's place; those after reach it through the follower), and what each live
        track last kept in the recording (the thinner learnt it while following; read again
        here, it cannot have missed what was written before this instance started)."""
        self._learn_recent()
        if self.record is not None:
            self.record.ledger._load()  # the tip of the log as the last leader left it
        self.refresh_alerts()
        hotline = Hotline(self.config)
        hotline.restore([HotlineMessage.from_dict(b) for b in rec.message_bodies(self.engine)])
        self.hotline = self.hotline_flow.hotline = hotline
        self.intents = IntentBook.load(self.engine, self.projection, now=self.clock.now())
        self.events.renumber()
        self._head_published = -1
        if self.record is not None:
            chain = ReportChain()
            after, kept_with = self._last_anchored()
            for first, party, ids, values, received in rec.report_runs_after(self.engine,
                                                                             after):
                if first <= report_row:
                    n = min(len(ids), report_row - first + 1)
                    chain.add(first, party, ids[:n], values[:n], received[:n],
                              None if first <= self.segments.floor_row else kept_with)
            self.report_chain = chain

    def follow_again(self) -> None:
        """No longer the leader: numbering and alerts as the database has them."""
        self.report_chain = None
        self.events.renumber()
        self.refresh_alerts()

    def refresh_alerts(self) -> None:
        book = AlertBook()
        book.restore(Alert.from_body(b) for b in rec.open_alert_bodies(self.engine))
        self.alerts = book

    def _last_anchored(self) -> tuple[int, dict[str, Any]]:
        """The last report number the record's anchors name, and the tolerance the segments
        after it were kept with."""
        assert self.record is not None
        last = self.record.ledger.last_of_kind(ANCHOR_KIND)
        anchor = None if last is None else Anchor.from_body(last[1].statement.body)
        after = 0 if anchor is None else anchor.last_row
        after = max(after, rec.last_report_row(self.engine) - _ANCHOR_BACKLOG_MAX)
        # What the last run kept, it kept with the tolerance its anchors said (this run's
        # for a first run, or after an anchor of track_reports, an earlier version's, which
        # kept every report and says no tolerance).
        kept_with = (self.segments.tolerance.body() if anchor is None or anchor.tolerance is None
                     else anchor.tolerance)
        return after, kept_with

    def _recent_kept(self) -> list[tuple[str, list[str], np.ndarray]]:
        """The reports the recording holds of the live picture's window (stale_s): per party,
        ids and (n, 7) values, oldest first."""
        since = self.clock.now() - self.config.settings.stale_s
        recent = rec.recent_reports(self.engine, since,
                                    since - self.config.settings.future_tolerance_s)
        return [(party, ids, values) for party, (ids, values) in recent.items()]

    def _learn_recent(self) -> None:
        """The thinner learns, from the recording, what each live track last kept (in a
        worker thread: the recorder's thread does it)."""
        self.recorder.submit(self.segments.learn(self._recent_kept()), fenced=False).result()

    # --- life cycle ---------------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild the live picture, the open alerts, the hotline and the unanchored reports'
        digest from the store after a restart."""
        now = self.clock.now()
        recent = self._recent_kept()
        for party, ids, values in recent:
            # Recorded as ingest normalised them.
            self.picture.accept(party, ReportBatch(ids, values, trk_normal=True), now)
        # Later reports are judged against what each track last kept, not kept afresh: the
        # recorder has no work yet, so the thinner is this thread's now.
        self.segments.learn_now(recent)
        self.segments.thinner.commit()
        self.alerts.restore(Alert.from_body(b) for b in rec.open_alert_bodies(self.engine))
        self.hotline.restore([HotlineMessage.from_dict(b)
                              for b in rec.message_bodies(self.engine)])
        if self.record is not None and self.report_chain is not None:
            after, kept_with = self._last_anchored()
            for first, party, ids, values, received in rec.report_runs_after(self.engine, after):
                self.report_chain.add(first, party, ids, values, received,
                                      None if first <= self.segments.floor_row else kept_with)

    async def anchor(self) -> int:
        """Say in the record which reports were recorded since the last anchor, with their
        digest (``detente replay`` checks the recording against it). Returns how many."""
        if self.record is None or self.report_chain is None:
            return 0
        # The recorder hashes a batch after releasing its caller and before its next commit:
        # an empty commit behind every batch accepted so far waits for their hashing.
        await asyncio.wrap_future(self.recorder.submit(lambda conn: None))
        anchors = self.report_chain.cut()
        if anchors:
            await self.record.say([(ANCHOR_KIND, a.body(), None) for a in anchors])
            self.report_chain.confirm(anchors)
        return sum(a.reports for a in anchors)

    def close(self) -> None:
        self.recorder.close()

    async def prune(self) -> None:
        """Retention: forget recorded reports, events and closed alerts older than the
        configured number of days."""
        now = self.clock.now()
        horizon = now - self.config.settings.retention_days * 86_400.0
        while True:
            work, deleted = rec.prune_before(horizon)
            await asyncio.wrap_future(self.recorder.submit(work))
            if deleted[0] < rec.PRUNE_CHUNK:
                break
        # Messages still in memory are those a deadline runs for, and the last hour's:
        # automatic warnings alone can be thousands an hour in a dense picture.
        self.hotline.prune(now - _HOTLINE_MEMORY_S)

    async def run(self, stop: asyncio.Event) -> None:
        """Run a detection cycle every ``cycle_s`` until ``stop`` is set (as a follower of a
        node, only the picture frames; the cycle once it leads).

        The first cycle anchors at once what the last run left unanchored (a hard stop leaves
        up to ``anchor_s`` of reports): a service stopped hard again and again before
        ``anchor_s`` of uptime would otherwise leave them unanchored for good. So does the
        first cycle of a new leader."""
        clock, period = self.clock, self.config.settings.cycle_s
        next_t = next_prune = next_disk = clock.monotonic()
        next_anchor = clock.now()
        checking: asyncio.Future[Any] | None = None
        led = True
        while not stop.is_set():
            try:
                if not self.leading:
                    led = False
                    await self.follower_cycle()
                    raise _Following
                if not led:
                    led = True
                    next_anchor, next_prune = clock.now(), clock.monotonic()
                await self.cycle()
                if clock.now() >= next_anchor:
                    next_anchor = clock.now() + self.config.settings.anchor_s
                    await self.anchor()
                if clock.monotonic() >= next_prune:
                    await self.prune()
                    next_prune = clock.monotonic() + _PRUNE_EVERY_S
                if clock.monotonic() >= next_disk and (checking is None or checking.done()):
                    # Its own task: pruning a large recording must not hold detection up.
                    next_disk = clock.monotonic() + self.config.settings.disk_check_s
                    checking = asyncio.ensure_future(self.disk.check(clock.now()))
                    checking.add_done_callback(_log_disk_failure)
            except _Following:
                pass
            except Exception:  # a failed cycle must not end detection for good
                log.exception("detection cycle failed")
            next_t += period
            delay = next_t - clock.monotonic()
            if delay < 0:  # fell behind: skip, do not burst
                next_t = clock.monotonic()
                delay = 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        if checking is not None:
            await asyncio.wait([checking])
        try:  # a clean stop keeps every held report and leaves none unanchored
            await asyncio.wrap_future(self.recorder.submit(self.segments.flush(None),
                                                           fenced=False))
            if self.node is not None:
                await self.node.follow()  # this instance's last segments reach the digest
            if not self.leading:
                return  # the next leader anchors them
            await self.anchor()
        except Exception:
            log.exception("anchoring the last recorded reports failed")

    async def follower_cycle(self) -> None:
        """What a follower does each cycle: picture frames to its clients, and the recording
        of the last report of each track of its own that left the picture."""
        now = self.clock.now()
        self.picture.expire(now)
        self._flush_stale(now)
        await self.events.push_pictures(self.picture, self.sharing, now)

    def _flush_stale(self, now: float) -> None:
        """The last report of each track that left the picture is recorded now, if it was not
        (a replay shows it where the live picture did until it left); nobody waits for it.
        Any instance of a node records reports: unfenced."""
        self.recorder.submit(self.segments.flush(now - self.config.settings.stale_s),
                             fenced=False).add_done_callback(_log_failure)

    # --- ingest ---------------------------------------------------------------------------------

    def check_batch(self, batch: ReportBatch, now: float) -> None:
        """Refuse a whole batch at its first bad report, naming index and field."""
        limit = self.config.settings.max_batch
        if len(batch) > limit:
            raise InputError(f"batch of {len(batch)} states is over the limit of {limit}")
        problem = batch.first_problem()
        if problem is not None:
            k, name, words = problem
            raise InputError(f"states[{k}].{name}: {words}")
        future = now + self.config.settings.future_tolerance_s
        ahead = batch.values[:, 0] > future
        if ahead.any():
            k = int(np.argmax(ahead))
            raise InputError(
                f"states[{k}].t: {batch.values[k, 0] - now:.0f} s in the future (limit "
                f"{self.config.settings.future_tolerance_s:g} s): check the sender's clock"
            )
        # The recording keeps times in integer milliseconds: a time before 1970 is a sender's
        # mistake, and one of -1e300 s would not fit.
        past = batch.values[:, 0] < 0.0
        if past.any():
            k = int(np.argmax(past))
            raise InputError(f"states[{k}].t: {batch.values[k, 0]:g} is before 1970 (seconds "
                             "since 1970-01-01 UTC expected)")

    async def ingest(self, party: str, reports: Sequence[TrackReport] | ReportBatch
                     ) -> dict[str, int]:
        """Accept a batch of ``party``'s own reports: all or nothing, durable before return.

        The batch is normalised once (one copy, tracks in [0, 360)) and that one object is
        recorded and goes into the picture. It is looked at for new conflicts before the call
        returns, together with any other batches that arrive meanwhile (one look for many
        batches under load).
        """
        if party not in self.config.parties:
            raise ConflictingWriteError(f"unknown party {party!r}")
        batch = reports if isinstance(reports, ReportBatch) else ReportBatch.from_reports(
            reports)
        now = self.clock.now()
        self.check_batch(batch, now)
        self.disk.refuse_new_reports()
        batch = batch.normalised()
        # Any instance of a node records the reports it takes in (unfenced); the leader's
        # follower adds the kept ones to its anchors' digest in number order.
        await asyncio.wrap_future(self.recorder.submit(
            self.segments.insert(party, batch.ids, batch.values, now), fenced=False))
        accepted = self.picture.accept_batch(party, batch, now)
        if accepted.changed and self.leading:
            # A changed prediction may reveal a new conflict: look at once rather than at the
            # next cycle, so an alert reaches its parties within a fraction of a second.
            await self._look_at([(party, i) for i in accepted.changed])
        return {"accepted": len(batch), "in_picture": accepted.entered}

    async def _look_at(self, keys: list[tuple[str, str]]) -> None:
        """Partial detection of fresh tracks, coalesced: while one look runs, the keys of
        every batch that arrives wait together for the next one."""
        self._fresh.update(keys)
        done = asyncio.get_running_loop().create_future()
        self._fresh_waiters.append(done)
        if self._looking is None or self._looking.done():
            self._looking = asyncio.create_task(self._look_loop())
        # Shielded: a client that hangs up must not cancel a look other batches wait on.
        await asyncio.shield(done)

    async def _look_loop(self) -> None:
        while self._fresh:
            fresh, waiters = self._fresh, self._fresh_waiters
            self._fresh, self._fresh_waiters = set(), []
            try:
                now = self.clock.now()
                transitions = self.alerts.observe(await self.findings(now, fresh), now)
            except Exception:  # the reports are durable: the next full cycle looks again
                log.exception("partial detection failed")
                _release(waiters)
                continue
            # The next look starts while this one's alerts are written: their order is fixed
            # already (sequence numbers are taken when publishing starts).
            published = asyncio.ensure_future(self.publish_transitions(transitions, now))
            published.add_done_callback(lambda f, w=waiters: _release(w, f))

    # --- detection ------------------------------------------------------------------------------

    async def findings(self, now: float, fresh: set[tuple[str, str]] | None = None
                       ) -> list[Finding]:
        """What the engines see in the picture at ``now``, between parties that agreed.

        ``fresh``: only conflicts involving these (party, id) tracks (a partial look). The
        picture's columns are taken here, on the event loop; extrapolating them to ``now``
        and detection run in a worker thread (numpy, GEOS, PROJ and the compiled kernels
        release the GIL), so the loop keeps serving while they run.
        """
        columns = self.picture.columns()
        subset = None if fresh is None else self.picture.positions(fresh)
        return await asyncio.to_thread(_findings_at, columns, now, self.terms, subset)

    async def cycle(self) -> list[Transition]:
        """One detection cycle: expire, detect, update alerts, record, push."""
        started = self.clock.monotonic()
        now = self.clock.now()
        self.picture.expire(now)
        self._flush_stale(now)
        t0 = self.clock.monotonic()
        found = await self.findings(now)
        detect_s = self.clock.monotonic() - t0
        transitions = self.alerts.cycle(found, now)
        marks = [self.clock.monotonic()]
        await self.publish_transitions(transitions, now)
        marks.append(self.clock.monotonic())
        await self.hotline_flow.escalate(now)
        marks.append(self.clock.monotonic())
        await self._publish_head(now)
        marks.append(self.clock.monotonic())
        await self.events.push_pictures(self.picture, self.sharing, now)
        marks.append(self.clock.monotonic())
        total_s = marks[-1] - started
        self.last_cycle = CycleStats(now, len(self.picture), len(found), len(transitions),
                                     detect_s, total_s)
        if total_s > self.config.settings.cycle_s:
            # A cycle longer than its period delays the next: say where the time went.
            a, b, c, d = (later - earlier for earlier, later in itertools.pairwise(marks))
            log.warning("detection cycle took %.3f s: detection %.3f s, %d alert changes "
                        "recorded and published %.3f s, escalation %.3f s, tree head %.3f s, "
                        "picture frames %.3f s", total_s, detect_s, len(transitions), a, b, c,
                        d)
        return transitions

    # --- alerts ---------------------------------------------------------------------------------

    async def acknowledge_alert(self, party: str, official: str | None, alert_id: str
                                ) -> dict[str, Any]:
        now = self.clock.now()
        alert = self.alerts.get(alert_id)
        if alert is None or party not in alert.parties:
            raise NotFoundError(f"alert_id: no open alert {alert_id!r} for party {party!r}")
        if party in alert.acknowledged_by:
            raise ConflictingWriteError(f"alert {alert_id} is already acknowledged by {party}")
        tr = self.alerts.acknowledge(alert_id, party, now)
        assert tr is not None
        await self.publish_transitions([tr], now, actor=official or party)
        view = self.sharing.alert_view(tr.alert, party, self.picture)
        return view or {}

    def open_alert_views(self, party: str) -> list[dict[str, Any]]:
        views = (self.sharing.alert_view(a, party, self.picture)
                 for a in self.alerts.open_alerts())
        return [v for v in views if v is not None]

    def publish_transitions(self, transitions: Sequence[Transition], now: float,
                            actor: str | None = None) -> Awaitable[None]:
        """Publish alert transitions (``_publish_transitions``), each call after the one
        before it, in the order the book made them: a resolution computed in a worker
        thread must not let an alert's clearing overtake its raising. The alerts' aircraft
        are read from the picture now, as the book saw them."""
        if not transitions:
            return asyncio.sleep(0)
        advise = [(tr.alert, tracks) for tr in transitions if wants_advice(tr)
                  for tracks in [tracks_of(tr.alert, self.picture)] if tracks is not None]
        for alert, _ in advise:
            # The resolution's place in the announcement's detail, made now and filled in
            # later: every copy of the alert made from the announcement meanwhile (an
            # acknowledgement, a quiet cycle) shares it.
            alert.detail["_resolution"] = {}
        task = asyncio.ensure_future(self._publish_after(self._publishing, advise,
                                                         transitions, now, actor))
        self._publishing = task
        # The caller may give up waiting (a client hanging up); the publication goes on.
        return asyncio.shield(task)

    async def _publish_after(self, previous: asyncio.Future[None] | None,
                             advise: list[tuple[Alert, Columns]],
                             transitions: Sequence[Transition],
                             now: float, actor: str | None) -> None:
        advised = (asyncio.ensure_future(asyncio.to_thread(advise_all, advise, now, self.terms))
                   if advise else None)
        if previous is not None:
            await asyncio.wait([previous])  # its failure is its caller's to report
        if advised is not None:
            try:
                for (alert, _), extra in zip(advise, await advised, strict=True):
                    alert.detail["_resolution"].update(extra)
            except Exception:  # better the alert without a resolution than no alert
                log.exception("suggesting resolutions failed")
        await self._publish_transitions(transitions, now, actor)

    async def _publish_transitions(self, transitions: Sequence[Transition], now: float,
                                   actor: str | None = None) -> None:
        """Store alerts as they now stand, record those the record must hold, tell each party
        as it may see them, then warn the parties of those just come within warning time,
        and overtake the messages about those cleared."""
        if not transitions:
            return
        events: list[Event] = []
        works = []
        statements = []
        for tr in transitions:
            a = tr.alert
            works.append(rec.upsert_alert(a.id, tr.change != "cleared", now, a.body()))
            recorded = is_recorded(tr)
            for party in a.parties:
                view = self.sharing.alert_view(a, party, self.picture)
                if view is None:
                    continue
                events.append((party, "alert", view))
                if recorded:
                    # Each party's own statement of what it was told, addressed to it alone
                    # (``to``): the record holds no more than the alert it was shown.
                    statements.append(("alert", {
                        "to": party, "transition": tr.change, "actor": actor, **view}, None))
        # Nobody hears of an alert before its statement is in the record; but the two writes
        # do not depend on each other: the log signs and checks while the recorder commits.
        await self.publish(events, now, extra_work=works, together_with=(
            self.record.say(statements) if self.record is not None and statements else None))
        await self.hotline_flow.warn([tr.alert for tr in transitions if turns_urgent(tr)],
                                     now)
        await self.hotline_flow.overtaken([tr.alert.id for tr in transitions
                                           if tr.change == "cleared"], now)

    # --- strategic --------------------------------------------------------------------------------

    async def put_intent(self, party: str, intent: OperationalIntent, key: Sequence[str]
                         ) -> WriteResult:
        """Create or change one of ``party``'s operational intents under the F3548 rules; the
        overlaps the rules allow are announced to both owners and recorded."""
        if intent.owner != party:
            raise ConflictingWriteError(
                f"intent owner {intent.owner!r} is not your party ({party})")
        now = self.clock.now()
        result = await asyncio.to_thread(self.intents.put, intent, key=list(key),
                                         policy=self.strategic_policy, now=now)
        if result.overlaps:
            events = []
            statements = []
            for ov in result.overlaps:
                other = ov.other
                start = min(intent.volumes[a].time_start_s for a, _ in ov.volume_pairs)
                view = {
                    "id": f"{intent.id}~{other.id}", "kind": "strategic", "state": "raised",
                    "severity": "advisory", "parties": sorted({party, other.owner}),
                    "intents": [{"id": intent.id, "owner": party},
                                {"id": other.id, "owner": other.owner}],
                    "volume_pairs": [list(p) for p in ov.volume_pairs],
                    "t_to_go_s": max(start - now, 0.0), "point": None, "detail": {},
                }
                events += [(party, "alert", view), (other.owner, "alert", view)]
                statements.append(("intent.overlap", {k: view[k] for k in (
                    "id", "parties", "intents", "volume_pairs")}, None))
            if self.record is not None:
                await self.record.say(statements)
            await self.publish(events, now)
        return result

    # --- streams, hotline and tree heads (the parts' own methods, for the API) ---------------

    async def publish(self, events: Sequence[Event], now: float,
                      extra_work: Sequence[rec.Work] = (),
                      together_with: Awaitable[Any] | None = None) -> None:
        await self.events.publish(events, now, extra_work, together_with)

    async def subscribe(self, party: str, official: str | None, since: int | None
                        ) -> tuple[Subscriber, list[dict[str, Any]]]:
        """Register a client; returns it and the durable events it missed after ``since``."""
        return await self.events.subscribe(party, official, since)

    def unsubscribe(self, sub: Subscriber) -> None:
        self.events.unsubscribe(sub)

    def current_seq(self, party: str) -> int:
        return self.events.current_seq(party)

    async def events_since(self, party: str, since: int, limit: int) -> list[dict[str, Any]]:
        """``party``'s durable events after seq ``since`` (at most ``limit``), oldest first."""
        got = await asyncio.to_thread(rec.events_since, self.engine, party, since, limit)
        return [{"seq": s, "type": t, "data": d} for s, t, d in got]

    async def send_message(self, caller: Principal, signed: SignedStatement
                           ) -> tuple[HotlineMessage, Receipt | None]:
        return await self.hotline_flow.send(caller, signed)

    async def acknowledge_message(self, caller: Principal, signed: SignedStatement
                                  ) -> tuple[HotlineMessage, Receipt]:
        return await self.hotline_flow.acknowledge(caller, signed)

    async def delivered(self, message_id: str, official: str) -> None:
        if not self.leading:  # the leader records it
            await self.node.forward_delivered(message_id, official)
            return
        await self.hotline_flow.delivered(message_id, official)

    def _tell_entries(self, receipts: list[Receipt]) -> None:
        """Hand each party, on its stream, the entries it is to answer with a signed
        ``delivery.receipt``: what it was told (an alert, an intent overlap, a hotline
        message), whole and salted, as the log holds it, with its index. Its client checks
        the entry's leaf hash, signs and posts the receipt (``/v1/record/statements``)."""
        events: list[Event] = []
        for r in receipts:
            e = r.entry
            if e is None or e.statement.kind not in RECEIPTED_KINDS:
                continue
            by_log = e.statement.author == SERVICE_AUTHOR
            data = {"index": r.index, "entry": e.to_json()}
            events += [(p, "entry", data)
                       for p in expected_receipts(e.statement, e.audience, by_log)
                       if p in self.config.parties]
        if events:
            self._telling = asyncio.ensure_future(self._tell_after(self._telling, events))

    async def _tell_after(self, previous: asyncio.Future[None] | None,
                          events: list[Event]) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # in the log's order
        try:
            await self.publish(events, self.clock.now())
        except Exception:  # the statements are in the record; a client can fetch them
            log.exception("handing %d entries to their parties failed", len(events))

    async def _publish_head(self, now: float) -> None:
        """Tell every party of a new signed tree head, so that its client checks and co-signs
        it."""
        if self.record is None:
            return
        size = self.record.ledger.tree_head().size
        if size == self._head_published:
            return
        self._head_published = size
        data = await asyncio.to_thread(self.head_view, size)  # reads the ledger's store
        await self.publish([(p, "tree_head", data) for p in self.config.parties], now)

    def head_view(self, size: int | None = None) -> dict[str, Any]:
        assert self.record is not None
        ledger = self.record.ledger
        head = ledger.tree_head() if size is None else ledger.head(size)
        cosigners = sorted({c.party for c in ledger.cosignatures(head.size)})
        settled = set(self.config.parties) <= set(cosigners)
        if settled and head.size > self.latest_settled:
            self.latest_settled = head.size
        return {"head": head.to_json(), "size": head.size, "cosigned_by": cosigners,
                "settled": settled, "latest_settled": self.latest_settled,
                "log_key": base64.b64encode(ledger.log_public_key).decode()}


class _Following(Exception):
    """A follower's cycle is done: no detection, anchoring or retention."""


def _findings_at(columns: Columns, now: float, terms: Terms, subset: np.ndarray | None
                 ) -> list[Finding]:
    return findings(extrapolate(columns, now)[0], terms, subset)


def _log_failure(done: Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("a recorder work nobody waits for failed (the last reports of tracks "
                  "that left, or what other instances kept)", exc_info=done.exception())


def _log_disk_failure(done: asyncio.Future[Any]) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("checking the disk's free space failed", exc_info=done.exception())


def _release(waiters: list[asyncio.Future[None]], done: asyncio.Future[None] | None = None
             ) -> None:
    if done is not None and not done.cancelled() and done.exception() is not None:
        log.error("publishing a partial look's alerts failed", exc_info=done.exception())
    for w in waiters:
        if not w.done():
            w.set_result(None)
