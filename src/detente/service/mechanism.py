"""The running mechanism: picture, detection cycle, alerts, sharing, per-party event streams.

It owns time (an injected Clock) and state; engines are called once per cycle and return
values. Every party has a stream of durable events (alerts, hotline traffic, tree heads) with
its own sequence numbers, written to the store before anyone sees them, so a client that
reconnects with the last sequence number it saw misses nothing and sees nothing twice. Picture
frames (the tracks a party may see) are ephemeral: they are re-sent every cycle.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Engine

from detente.engines import incursion
from detente.engines.incursion import AirspaceIndex
from detente.engines.tactical import detect_xy, pair_conflicts
from detente.errors import ConflictingWriteError, InputError, NotFoundError
from detente.geo.projection import LocalProjection
from detente.geo.stereographic import StereographicProjection
from detente.ledger import Receipt, SignedStatement
from detente.model.intent import OperationalIntent
from detente.model.reports import ReportBatch, TrackReport
from detente.service.alerting import Alert, AlertBook, Finding, Transition, severity_for
from detente.service.auth import Principal
from detente.service.clock import Clock
from detente.service.config import Agreement, Config
from detente.service.frames import encode_picture_frame
from detente.service.hotline import Hotline, HotlineMessage
from detente.service.intents import IntentBook, WriteResult
from detente.service.picture import Picture, extrapolate
from detente.service.record import Record
from detente.service.sharing import SharingPolicy, StrategicPolicy
from detente.store import recording as rec
from detente.store.report_digest import ANCHOR_KIND, Anchor, ReportChain

__all__ = ["CycleStats", "Mechanism", "Subscriber"]

log = logging.getLogger("detente.service")

_PRUNE_EVERY_S = 600.0  # retention is in days: checking every ten minutes is plenty
_HOTLINE_MEMORY_S = 3_600.0
# At start, the reports recorded after the last anchor join the first anchor; of a database
# that holds none (recorded before anchors were), only this many of the latest.
_ANCHOR_BACKLOG_MAX = 1_000_000

# A partial look at up to this many fresh tracks first narrows the picture to the aircraft near
# them (one pass over the picture per fresh track); more look at the whole picture.
_NEAR_MAX_FRESH = 64
# Lower bounds of the length of a degree on WGS84: of latitude (at the equator), of longitude
# at the equator (times cos(latitude) elsewhere; the ellipsoid only lengthens it).
_M_PER_DEG_LAT_MIN = 110_574.0
_M_PER_DEG_LON_EQUATOR = 111_319.0



@dataclass
class CycleStats:
    t: float = 0.0
    tracks: int = 0
    conflicts: int = 0
    transitions: int = 0
    detect_s: float = 0.0
    total_s: float = 0.0


@dataclass(eq=False)
class Subscriber:
    """One connected client of a party. Durable events never drop: a client too slow to take
    them is disconnected (``overflowed``) and resumes from its last sequence number."""

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
        self.sharing = SharingPolicy(config, self.projection)
        self.picture = Picture(config.settings.stale_s, self.sharing.max_delay_s())
        self.alerts = AlertBook()
        self.hotline = Hotline(config)
        self.intents = IntentBook.load(engine, self.projection, now=clock.now())
        self.airspaces = config.load_airspaces()
        self.airspace_index = AirspaceIndex.build(
            self.airspaces, StereographicProjection(*config.centre))
        self.strategic_policy = StrategicPolicy(config)
        self.recorder = rec.Recorder(engine)
        # The recorded reports' digest, said in the record every anchor_s (none without one).
        self.report_chain = ReportChain() if record is not None else None
        self._head_published = -1
        self.latest_settled = 0  # the largest tree head co-signed by every party (0: none)
        self._seq: dict[str, int] = rec.last_seqs(engine)
        self._subs: dict[str, set[Subscriber]] = {}
        self.last_cycle = CycleStats()
        self._fresh: set[tuple[str, str]] = set()
        self._fresh_waiters: list[asyncio.Future[None]] = []
        self._looking: asyncio.Task[None] | None = None
        self._restore()

    # --- life cycle ---------------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild the live picture and the open alerts from the store after a restart."""
        now = self.clock.now()
        since = now - self.config.settings.stale_s
        recent = rec.recent_reports(self.engine, since,
                                    since - self.config.settings.future_tolerance_s)
        for party, (ids, values) in recent.items():
            self.picture.accept(party, ReportBatch(ids, values), now)
        self.alerts.restore(_alert_from_body(b) for b in rec.open_alert_bodies(self.engine))
        self.hotline.restore([HotlineMessage.from_dict(b)
                              for b in rec.message_bodies(self.engine)])
        if self.record is not None and self.report_chain is not None:
            last = self.record.ledger.last_of_kind(ANCHOR_KIND)
            after = 0 if last is None else Anchor.from_body(last[1].statement.body).last_row
            after = max(after, rec.last_report_row(self.engine) - _ANCHOR_BACKLOG_MAX)
            for first, party, ids, values, received in rec.report_runs_after(self.engine, after):
                self.report_chain.add(first, party, ids, values, received)

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
        """Run a detection cycle every ``cycle_s`` until ``stop`` is set."""
        period = self.config.settings.cycle_s
        next_t = time.monotonic()
        next_prune = 0.0
        next_anchor = self.clock.now() + self.config.settings.anchor_s
        while not stop.is_set():
            try:
                await self.cycle()
                if self.clock.now() >= next_anchor:
                    next_anchor = self.clock.now() + self.config.settings.anchor_s
                    await self.anchor()
                if time.monotonic() >= next_prune:
                    await self.prune()
                    next_prune = time.monotonic() + _PRUNE_EVERY_S
            except Exception:  # a failed cycle must not end detection for good
                log.exception("detection cycle failed")
            next_t += period
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind: skip, do not burst
                next_t = time.monotonic()
                delay = 0
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        try:  # a clean stop leaves no recorded report unanchored
            await self.anchor()
        except Exception:
            log.exception("anchoring the last recorded reports failed")

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

    async def ingest(self, party: str, reports: Sequence[TrackReport] | ReportBatch
                     ) -> dict[str, int]:
        """Accept a batch of ``party``'s own reports: all or nothing, durable before return.

        The batch is looked at for new conflicts before the call returns, together with any
        other batches that arrive meanwhile (one look for many batches under load).
        """
        if party not in self.config.parties:
            raise ConflictingWriteError(f"unknown party {party!r}")
        batch = reports if isinstance(reports, ReportBatch) else ReportBatch.from_reports(
            reports)
        now = self.clock.now()
        self.check_batch(batch, now)
        values = batch.values.copy()
        values[:, 5] %= 360.0
        await asyncio.wrap_future(self.recorder.submit(
            rec.insert_reports(party, batch.ids, values, now, self.report_chain)))
        accepted = self.picture.accept_batch(party, batch, now)
        if accepted.changed:
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
            published = asyncio.ensure_future(self._publish_transitions(transitions, now))
            published.add_done_callback(lambda f, w=waiters: _release(w, f))


    # --- detection ------------------------------------------------------------------------------

    async def findings(self, now: float, fresh: set[tuple[str, str]] | None = None
                       ) -> list[Finding]:
        """What the engines see in the picture at ``now``, between parties that agreed.

        ``fresh``: only conflicts involving these (party, id) tracks (a partial look). The
        picture's columns are taken here, on the event loop; extrapolating them to ``now``
        and the numeric work run in a worker thread (numpy, GEOS, PROJ and the compiled
        kernels release the GIL), so the loop keeps serving while they run.
        """
        columns = self.picture.columns()
        subset = None if fresh is None else self.picture.positions(fresh)
        return await asyncio.to_thread(self._detect_at, columns, now, subset)

    def _detect_at(self, columns: Any, now: float, subset: np.ndarray | None
                   ) -> list[Finding]:
        return self._detect(extrapolate(columns, now)[0], subset)

    def _detect(self, states: Any, subset: np.ndarray | None) -> list[Finding]:
        if len(states) == 0 or not self.config.agreements:
            return []
        if subset is not None:
            if subset.size == 0:
                return []
            states, subset = self._near(states, subset)
        found = self._incursion_findings(states if subset is None else states.take(subset))
        if len(states) < 2:
            return found
        return found + self._tactical(states, subset)

    def _near(self, states: Any, subset: np.ndarray) -> tuple[Any, np.ndarray]:
        """The states that could conflict with those at ``subset`` within any agreement's
        look-ahead, and where ``subset`` is among them: a partial look at a few fresh tracks
        then costs little however large the picture is.

        Conservative: two aircraft can come within h_min of each other in T seconds only if
        they are now within h_min + (v1 + v2) T, and a box in degrees 10 % larger than that
        distance holds every such aircraft. Many fresh tracks (a whole fleet's batch), or
        boxes near a pole or across the antimeridian, keep the whole picture.
        """
        if subset.size > _NEAR_MAX_FRESH:
            return states, subset
        ags = self.config.agreements
        reach = (max(a.h_min_m for a in ags) + (float(states.gs_mps.max())
                 + states.gs_mps[subset]) * max(a.lookahead_s for a in ags)) * 1.1
        lat0, lon0 = states.lat[subset], states.lon[subset]
        dlat = reach / _M_PER_DEG_LAT_MIN
        top = np.abs(lat0) + dlat
        if (top >= 89.0).any():
            return states, subset
        dlon = reach / (_M_PER_DEG_LON_EQUATOR * np.cos(np.radians(top)))
        if ((np.abs(lon0) + dlon) >= 180.0).any():
            return states, subset
        near = np.zeros(len(states), dtype=bool)
        for la, lo, a, b in zip(lat0.tolist(), lon0.tolist(), dlat.tolist(), dlon.tolist(),
                                strict=True):
            near |= (np.abs(states.lat - la) <= a) & (np.abs(states.lon - lo) <= b)
        keep = np.flatnonzero(near)
        return states.take(keep), np.searchsorted(keep, subset)

    def _incursion_findings(self, states: Any) -> list[Finding]:
        """Aircraft about to enter (or inside) airspace another party protects, between
        parties that agreed."""
        if not self.airspaces or len(states) == 0:
            return []
        lookahead = max(a.lookahead_s for a in self.config.agreements)
        report = incursion.detect(states, self.airspace_index, lookahead_s=lookahead)
        inc = report.incursions
        out = []
        seen: set[tuple] = set()
        for k in range(len(inc)):
            i, m = int(inc.i[k]), int(inc.airspace[k])
            party, owner = str(states.party[i]), self.airspaces[m].owner
            ag = self.config.agreement(party, owner)
            key = ("incursion", party, str(states.id[i]), self.airspaces[m].name)
            if ag is None or key in seen or float(inc.t_entry[k]) > ag.lookahead_s:
                continue  # one alert per aircraft and airspace: its first stay inside
            seen.add(key)
            t_entry = float(inc.t_entry[k])
            violation = bool(inc.violation[k])
            point = (float(inc.entry_lon[k]), float(inc.entry_lat[k]))
            t_exit = float(inc.t_exit[k])
            out.append(Finding(
                kind="incursion", key=key, parties=tuple(sorted({party, owner})),
                tracks=((party, str(states.id[i])),), t_to_go_s=0.0 if violation else t_entry,
                severity="critical" if violation else severity_for(
                    t_entry, ag.warning_s, ag.critical_s),
                point=point,
                detail={
                    "airspace": self.airspaces[m].name, "owner": owner,
                    "kind": str(self.airspaces[m].kind), "violation": violation,
                    "t_entry_s": round(t_entry, 1),
                    "t_exit_s": None if not np.isfinite(t_exit) else round(t_exit, 1),
                    "inside_m": round(float(inc.inside_m[k])),
                    "_points": {party: point},
                },
            ))
        return out

    def _tactical(self, states: Any, subset: np.ndarray | None) -> list[Finding]:
        parties = states.party.astype(str)
        names, group = np.unique(parties, return_inverse=True)
        x, y, vx, vy = self.projection.motion(states.lat, states.lon, states.gs_mps,
                                              states.trk_deg)
        ags = self.config.agreements
        # One pass with the widest minima of any agreement, then each pair re-tested with its
        # own agreement's minima: conflicts only shrink as minima and look-ahead shrink.
        wide = detect_xy(
            x, y, states.alt_m, vx, vy, states.vs_mps, group,
            horizontal_m=max(a.h_min_m for a in ags), vertical_m=max(a.v_min_m for a in ags),
            lookahead_s=max(a.lookahead_s for a in ags), aeqd_metric=True, subset=subset,
        )
        by_agreement: dict[int, list[int]] = {}
        index = {frozenset(a.parties): k for k, a in enumerate(ags)}
        for row, (i, j) in enumerate(zip(wide.i, wide.j, strict=True)):
            k = index.get(frozenset((names[group[i]], names[group[j]])))
            if k is not None:
                by_agreement.setdefault(k, []).append(row)
        out: list[Finding] = []
        for k, rows in by_agreement.items():
            ag = ags[k]
            c = pair_conflicts(
                wide.i[rows], wide.j[rows], x, y, states.alt_m, vx, vy, states.vs_mps,
                horizontal_m=ag.h_min_m, vertical_m=ag.v_min_m, lookahead_s=ag.lookahead_s,
                aeqd_metric=True,
            )
            out.extend(self._tactical_findings(c, ag, states, parties, x, y, vx, vy))
        return out

    def _tactical_findings(self, c: Any, ag: Agreement, states: Any, parties: np.ndarray,
                           x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray
                           ) -> list[Finding]:
        if len(c) == 0:
            return []
        t = c.t_cpa
        # Both aircraft at closest approach, back to lat/lon in one call for all pairs.
        lat, lon = self.projection.inverse(
            np.r_[x[c.i] + vx[c.i] * t, x[c.j] + vx[c.j] * t],
            np.r_[y[c.i] + vy[c.i] * t, y[c.j] + vy[c.j] * t],
        )
        n = len(c)
        lat_i, lat_j, lon_i, lon_j = lat[:n], lat[n:], lon[:n], lon[n:]
        ids = states.id
        out = []
        for k, (i, j) in enumerate(zip(c.i.tolist(), c.j.tolist(), strict=True)):
            a, b = (parties[i], str(ids[i])), (parties[j], str(ids[j]))
            t_in = float(c.t_in[k])
            tracks = tuple(sorted((a, b)))
            out.append(Finding(
                kind="tactical",
                key=("tactical", *tracks),
                parties=tuple(sorted({a[0], b[0]})),
                tracks=tracks,
                t_to_go_s=t_in,
                severity=severity_for(t_in, ag.warning_s, ag.critical_s),
                point=(float((lon_i[k] + lon_j[k]) / 2), float((lat_i[k] + lat_j[k]) / 2)),
                detail={
                    "t_in_s": round(t_in, 1), "t_out_s": round(float(c.t_out[k]), 1),
                    "t_cpa_s": round(float(t[k]), 1), "d_cpa_m": round(float(c.d_cpa_m[k])),
                    "dv_cpa_m": round(float(c.dv_cpa_m[k])),
                    "_points": {a[0]: (float(lon_i[k]), float(lat_i[k])),
                                b[0]: (float(lon_j[k]), float(lat_j[k]))},
                },
            ))
        return out

    async def cycle(self) -> list[Transition]:
        """One detection cycle: expire, detect, update alerts, record, push."""
        started = time.perf_counter()
        now = self.clock.now()
        self.picture.expire(now)
        t0 = time.perf_counter()
        found = await self.findings(now)
        detect_s = time.perf_counter() - t0
        transitions = self.alerts.cycle(found, now)
        marks = [time.perf_counter()]
        await self._publish_transitions(transitions, now)
        marks.append(time.perf_counter())
        await self._escalate(now)
        marks.append(time.perf_counter())
        await self._publish_head(now)
        marks.append(time.perf_counter())
        await self._push_pictures(now)
        marks.append(time.perf_counter())
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
        await self._publish_transitions([tr], now, actor=official or party)
        view = self.sharing.alert_view(tr.alert, party, self.picture)
        return view or {}

    # --- events ---------------------------------------------------------------------------------

    async def _publish_transitions(self, transitions: Sequence[Transition], now: float,
                                   actor: str | None = None) -> None:
        if not transitions:
            return
        events: list[tuple[str, str, dict[str, Any]]] = []
        works = []
        statements = []
        for tr in transitions:
            a = tr.alert
            works.append(rec.upsert_alert(a.id, tr.change != "cleared", now, _alert_body(a)))
            for party in a.parties:
                view = self.sharing.alert_view(a, party, self.picture)
                if view is not None:
                    events.append((party, "alert", view))
            if _reaches_warning(tr):
                statements.append(("alert", {
                    "transition": tr.change, "actor": actor,
                    **{k: v for k, v in a.as_dict().items() if k != "detail"},
                    "detail": {k: v for k, v in a.detail.items() if not k.startswith("_")},
                }, None))
        # Nobody hears of an alert before its statement is in the record; but the two writes
        # do not depend on each other: the log signs and checks while the recorder commits.
        await self.publish(events, now, extra_work=works, together_with=(
            self.record.say(statements) if self.record is not None and statements else None))
        await self._automatic_warnings([tr.alert for tr in transitions if _turns_urgent(tr)],
                                       now)

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

    # --- hotline --------------------------------------------------------------------------------

    async def _automatic_warnings(self, alerts: Sequence[Alert], now: float) -> None:
        """A flash message on behalf of each other party's watch to each party whose aircraft
        is in an alert that has just come within the warning time. All of a cycle's warnings
        go into the record in one append (one fsync), then out."""
        if self.record is None or not alerts:
            return
        messages: list[HotlineMessage] = []
        for alert in alerts:
            for to_party, track_id in alert.tracks:
                for from_party in alert.parties:
                    if from_party == to_party:
                        continue
                    m, _ = self.hotline.send(
                        from_party=from_party, from_official=None, to_party=to_party,
                        to_official=None, priority="flash",
                        body=_warning_text(alert, from_party, track_id), alert_id=alert.id,
                        now=now, automatic=True)
                    messages.append(m)
        receipts = await self.record.say([
            ("hotline.message", {**_message_fields(m), "on_behalf_of": f"{m.from_party} watch"},
             None) for m in messages])
        await self._publish_messages(
            [(self.hotline.set_record_index(m.id, r.index), "sent")
             for m, r in zip(messages, receipts, strict=True)], now)

    async def _publish_messages(self, changed: Sequence[tuple[HotlineMessage, str]],
                                now: float) -> None:
        """Store messages as they now stand and tell both parties of each what changed, in
        one commit."""
        events = []
        for m, change in changed:
            data = message_event(m, change)
            events += [(p, "hotline", data) for p in (m.from_party, m.to_party)]
        await self.publish(events, now, extra_work=[
            rec.upsert_message(m.id, now, m.as_dict()) for m, _ in changed])

    async def send_message(self, caller: Principal, signed: SignedStatement
                           ) -> tuple[HotlineMessage, Receipt | None]:
        """An official's signed ``hotline.message``: checked, recorded, then delivered."""
        if self.record is None:
            raise ConflictingWriteError("this service keeps no record: no hotline")
        self.record.check_party_statement(caller, signed, ["hotline.message"])
        body = signed.statement.body
        now = self.clock.now()
        m, new = self.hotline.send(
            from_party=caller.party, from_official=caller.official,
            to_party=_text(body, "to_party"), to_official=_text(body, "to_official", None),
            priority=_text(body, "priority"), body=_text(body, "body"),
            alert_id=_text(body, "alert_id", None), now=now,
            message_id=_text(body, "id"),
        )
        if not new:
            return m, None
        try:
            (receipt,) = await self.record.append_party(caller, [signed], ["hotline.message"])
        except BaseException:
            self.hotline.forget(m.id)
            raise
        m = self.hotline.set_record_index(m.id, receipt.index)
        await self._publish_messages([(m, "sent")], now)
        return m, receipt

    async def acknowledge_message(self, caller: Principal, signed: SignedStatement
                                  ) -> tuple[HotlineMessage, Receipt]:
        """An addressee official's signed ``hotline.ack``, whose ref is the message's entry."""
        if self.record is None:
            raise ConflictingWriteError("this service keeps no record: no hotline")
        self.record.check_party_statement(caller, signed, ["hotline.ack"])
        body = signed.statement.body
        message_id = _text(body, "message_id")
        before = self.hotline.get(message_id)
        if before is not None and signed.statement.ref != before.record_index:
            raise InputError(f"ref: an acknowledgement refers to the message's record entry "
                             f"({before.record_index}), got {signed.statement.ref}")
        now = self.clock.now()
        m = self.hotline.acknowledge(message_id, caller.party, caller.official,
                                     _text(body, "reply", None), now)
        try:
            (receipt,) = await self.record.append_party(caller, [signed], ["hotline.ack"])
        except BaseException:
            assert before is not None
            self.hotline.restore([before])
            raise
        await self._publish_messages([(m, "acknowledged")], now)
        return m, receipt

    async def delivered(self, message_id: str, official: str) -> None:
        """Record the first push of a message to an official of its addressee party."""
        m = self.hotline.get(message_id)
        if m is None or self.record is None or not self.hotline.addressed_to(m, official):
            return
        m = self.hotline.mark_delivered(message_id, official)
        if m is None:
            return
        now = self.clock.now()
        await self.record.say([("hotline.delivery", {
            "message_id": m.id, "to_party": m.to_party, "official": official,
            "level": m.level}, m.record_index)])
        await asyncio.wrap_future(self.recorder.submit(
            rec.upsert_message(m.id, now, m.as_dict())))

    async def _escalate(self, now: float) -> None:
        steps = self.hotline.due(now)
        if not steps or self.record is None:
            return
        await self.record.say([
            (f"hotline.{st.change}", {"message_id": st.message.id, "level": st.message.level,
                                      "sender_level": st.message.sender_level,
                                      "deadline": st.message.deadline}, st.message.record_index)
            for st in steps
        ])
        await self._publish_messages([(st.message, st.change) for st in steps], now)

    async def _publish_head(self, now: float) -> None:
        """Tell every party of a new signed tree head, so that its client checks and co-signs
        it."""
        if self.record is None:
            return
        head = self.record.ledger.tree_head()
        if head.size == self._head_published:
            return
        self._head_published = head.size
        data = self.head_view()
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

    async def publish(self, events: Sequence[tuple[str, str, dict[str, Any]]], now: float,
                      extra_work: Sequence[rec.Work] = (),
                      together_with: Awaitable[Any] | None = None) -> None:
        """Durable events: sequence-numbered per party, stored, then pushed. The push waits
        for ``together_with`` too (another durable write, running meanwhile)."""
        rows = []
        messages = []
        for party, kind, data in events:
            seq = self._seq.get(party, 0) + 1
            self._seq[party] = seq
            rows.append({"party": party, "seq": seq, "t": now, "type": kind,
                         "body": json.dumps(data)})
            messages.append((party, {"seq": seq, "type": kind, "data": data}))

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
            for sub in self._subs.get(party, ()):
                sub.offer(msg, durable=True)

    async def _push_pictures(self, now: float) -> None:
        parties = [p for p, subs in self._subs.items() if subs]
        if not parties:
            return
        # The columns are taken here, between ingests; sharing and encoding (tens of ms at
        # 10,000 tracks, per party) run in a worker thread, off the loop's way.
        columns = self.picture.columns()
        texts = await asyncio.to_thread(self._encode_frames, parties, columns, now)
        for party, text in zip(parties, texts, strict=True):
            frame = {"seq": None, "type": "picture", "text": text}
            for sub in self._subs.get(party, ()):
                sub.offer(frame, durable=False)

    def _encode_frames(self, parties: list[str], columns: Any, now: float) -> list[str]:
        # Encoded once per party, not once per connected client.
        return [encode_picture_frame(self.sharing.visible(p, self.picture, now, columns),
                                     now).decode() for p in parties]

    def subscribe(self, party: str, official: str | None, since: int | None
                  ) -> tuple[Subscriber, list[dict[str, Any]]]:
        """Register a client; returns it and the durable events it missed after ``since``."""
        sub = Subscriber(party, official)
        self._subs.setdefault(party, set()).add(sub)
        backlog = []
        if since is not None:
            backlog = [{"seq": s, "type": t, "data": d}
                       for s, t, d in rec.events_since(self.engine, party, since)]
        return sub, backlog

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subs.get(sub.party, set()).discard(sub)

    def current_seq(self, party: str) -> int:
        return self._seq.get(party, 0)

    def open_alert_views(self, party: str) -> list[dict[str, Any]]:
        views = (self.sharing.alert_view(a, party, self.picture)
                 for a in self.alerts.open_alerts())
        return [v for v in views if v is not None]


def _release(waiters: list[asyncio.Future[None]], done: asyncio.Future[None] | None = None
             ) -> None:
    if done is not None and not done.cancelled() and done.exception() is not None:
        log.error("publishing a partial look's alerts failed", exc_info=done.exception())
    for w in waiters:
        if not w.done():
            w.set_result(None)


def _warning_text(alert: Alert, from_party: str, track_id: str) -> str:
    """The words of an automatic warning, from ``from_party``'s watch about ``track_id``."""
    head = f"AUTOMATIC WARNING from detente on behalf of {from_party} watch: your aircraft"
    d = alert.detail
    if alert.kind == "incursion":
        lon, lat = alert.point
        if d.get("violation"):
            return (f"{head} {track_id} is INSIDE {d['airspace']} airspace ({d['owner']}). "
                    "Leave it at once and acknowledge.")
        return (f"{head} {track_id} will enter {d['airspace']} airspace ({d['owner']}) in "
                f"{alert.t_to_go_s:.0f} s at {lat:.4f} N {lon:.4f} E. Change your heading "
                "immediately and acknowledge.")
    return (f"{head} {track_id} will lose separation with a {from_party} aircraft in "
            f"{alert.t_to_go_s:.0f} s (closest {d.get('d_cpa_m', '?')} m, "
            f"{d.get('dv_cpa_m', '?')} m vertically). Acknowledge and change course.")


def _turns_urgent(tr: Transition) -> bool:
    """An alert that has just come within the warning time (raised there, or escalated)."""
    urgent = ("warning", "critical")
    return (tr.change in ("raised", "updated") and tr.alert.severity in urgent
            and tr.previous_severity not in urgent)


def _text(body: dict[str, Any], key: str, default: Any = ...) -> Any:
    value = body.get(key, default)
    if value is ...:
        raise InputError(f"statement body: missing {key!r}")
    if value is not None and not isinstance(value, str):
        raise InputError(f"statement body: {key!r} must be text, got {type(value).__name__}")
    return value


def _message_fields(m: HotlineMessage) -> dict[str, Any]:
    return {"id": m.id, "to_party": m.to_party, "to_official": m.to_official,
            "priority": m.priority, "body": m.body, "alert_id": m.alert_id,
            "automatic": m.automatic}


def message_event(m: HotlineMessage, change: str) -> dict[str, Any]:
    """A message as the stream and the API show it: its fields, what changed, its ack."""
    d = m.as_dict()
    d["change"] = change
    d["ack"] = (None if m.ack_by is None else
                {"by": m.ack_by, "at": m.ack_at, "reply": m.reply})
    return d


def _reaches_warning(tr: Transition) -> bool:
    """Transitions the record must hold: an alert raised at, escalating to, or acknowledged at
    warning or critical, and the clearing of one that had been recorded."""
    if tr.change == "cleared":
        return tr.previous_severity in ("warning", "critical")
    return tr.alert.severity in ("warning", "critical") and (
        tr.change in ("raised", "acknowledged") or tr.previous_severity != tr.alert.severity
    )


def _alert_body(a: Alert) -> dict[str, Any]:
    body = asdict(a)
    body["key"] = list(a.key)
    return body


def _alert_from_body(b: dict[str, Any]) -> Alert:
    return Alert(
        id=b["id"], kind=b["kind"],
        key=tuple(tuple(k) if isinstance(k, list) else k for k in b["key"]),
        parties=tuple(b["parties"]), tracks=tuple(tuple(t) for t in b["tracks"]),
        state=b["state"], severity=b["severity"], t_to_go_s=b["t_to_go_s"],
        point=tuple(b["point"]), detail=b["detail"], raised_at=b["raised_at"],
        updated_at=b["updated_at"], acknowledged_by=tuple(b["acknowledged_by"]),
        quiet_cycles=b["quiet_cycles"],
    )
