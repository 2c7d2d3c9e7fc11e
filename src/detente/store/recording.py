"""Durable recording of the live mechanism: accepted reports, alerts, per-party event streams.

Append-only where the record must be (reports, events); alerts are one row per alert, rewritten
as it changes, since the record of its transitions is the event stream and the ledger. Writes
go through ``Recorder``: one thread, one connection, group commit, so that many concurrent
ingests share one fsync while each caller still learns that *its* rows are durable.

Track reports are recorded in compact segments (``report_segments``, written by its
``ReportSegments``); ``track_reports``, a row per report, is where earlier versions recorded
them: the readers here give both, in number order, older rows first.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

import numpy as np
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    true,
)
from sqlalchemy.exc import SQLAlchemyError

from detente.model.reports import REPORT_COLUMNS
from detente.store.database import (
    CHANNEL,
    Base,
    BigId,
    append_lock,
    insert_rows,
    notify,
    reading,
    store_error,
    write_transaction,
)
from detente.store.report_digest import ReportChain
from detente.store.report_segments import (
    first_segment_received,
    last_segment_row,
    prune_segments_before,
    segments_after,
    segments_between,
    segments_table,
)

log = logging.getLogger("detente.store")

__all__ = ["CHANNEL", "Recorder", "alerts_table", "events_table", "hotline_table",
           "prune_reports_before",
           "reports_table"]

reports_table = Table(
    "track_reports", Base.metadata,
    Column("rowid", BigId, primary_key=True, autoincrement=True),
    Column("party", String(64), nullable=False),
    Column("track_id", String(64), nullable=False),
    Column("t", Float, nullable=False),
    Column("received", Float, nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("alt_m", Float, nullable=False),
    Column("gs_mps", Float, nullable=False),
    Column("trk_deg", Float, nullable=False),
    Column("vs_mps", Float, nullable=False),
    Index("ix_track_reports_received", "received"),
)

alerts_table = Table(
    "alerts", Base.metadata,
    Column("id", String(32), primary_key=True),
    Column("open", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("body", Text, nullable=False),  # JSON of the Alert, service-private fields included
    Index("ix_alerts_open_updated_at", "open", "updated_at"),  # for retention
)

hotline_table = Table(
    "hotline_messages", Base.metadata,
    Column("id", String(64), primary_key=True),
    Column("updated_at", Float, nullable=False),
    Column("body", Text, nullable=False),  # JSON of the HotlineMessage
    Index("ix_hotline_messages_updated_at", "updated_at"),  # for retention
)

events_table = Table(
    "events", Base.metadata,
    Column("rowid", BigId, primary_key=True, autoincrement=True),
    Column("party", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("t", Float, nullable=False),
    Column("type", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_events_party_seq", "party", "seq", unique=True),
    # For retention: without it, each pass scanned every event (0.16 s per 2 million, a week
    # of busy traffic in seconds) inside a write transaction that every writer waits for.
    Index("ix_events_t", "t"),
)

# The largest rowid of the recorded reports: a new row takes the next one (SQLite).
_LATEST_REPORT_ROW = select(func.max(reports_table.c.rowid))

# Gets a Connection inside the open transaction; may return what to do once it is committed.
Work = Callable[[Any], "Callable[[], None] | None"]


class Recorder:
    """A single writer thread with group commit.

    ``submit(work)`` queues a function that writes through the connection it is given; the
    returned Future resolves once the transaction holding it is committed (durable: SQLite
    runs with synchronous=FULL), or fails with a StoreError. Work items queued while a commit
    is in flight share the next one. A work item may return a function: it is called in this
    thread once the transaction is committed (and its callers told), in commit order, before
    the next transaction, and never if it is not committed.
    """

    def __init__(self, engine: Engine, max_group: int = 256,
                 on_rollback: Callable[[], None] | None = None) -> None:
        self.engine = engine
        self.max_group = max_group
        # Called in this thread when a transaction fails, before its items are tried again
        # one by one: state a work item changed in memory must follow the database.
        self.on_rollback = on_rollback
        self._q: queue.Queue[tuple[Work, Future[None], bool] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="detente-recorder", daemon=True)
        self._thread.start()

    def submit(self, work: Work, fenced: bool = True) -> Future[None]:
        """``fenced``: the work may be done only by the node's leader (see
        ``database.write_transaction``); track reports are not."""
        fut: Future[None] = Future()
        self._q.put((work, fut, fenced))
        return fut

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            group = [item]
            stop = False
            while len(group) < self.max_group:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
            self._commit(group)
            if stop:
                return

    def _commit(self, group: Sequence[tuple[Work, Future[None], bool]]) -> None:
        committed = []
        try:
            with write_transaction(self.engine, any(f for _, _, f in group)) as conn:
                for work, _, _ in group:
                    then = work(conn)
                    if then is not None:
                        committed.append(then)
        except SQLAlchemyError as exc:
            self._rolled_back()
            # One bad item must not sink the others: retry them one by one.
            if len(group) > 1:
                for item in group:
                    self._commit([item])
                return
            with contextlib.suppress(InvalidStateError):
                group[0][1].set_exception(store_error("write failed", exc))
            return
        except Exception as exc:  # a bug in a work item: report it to its caller
            self._rolled_back()
            if len(group) > 1:
                for item in group:
                    self._commit([item])
                return
            with contextlib.suppress(InvalidStateError):
                group[0][1].set_exception(exc)
            return
        for _, fut, _ in group:
            # A caller that gave up (its task cancelled at a stop) cancelled its future: the
            # writes stand, and this thread must not die telling it.
            with contextlib.suppress(InvalidStateError):
                fut.set_result(None)
        # After the callers are released: what runs here (hashing) is nobody's wait.
        for then in committed:
            try:
                then()
            except Exception:  # the writes are durable; this thread must live on
                log.exception("after a recorder commit")


    def _rolled_back(self) -> None:
        if self.on_rollback is not None:
            try:
                self.on_rollback()
            except Exception:
                log.exception("after a failed recorder transaction")


_REPORT_FIELDS = ("party", "track_id", "received", "t", "lat", "lon", "alt_m", "gs_mps",
                  "trk_deg", "vs_mps")


def insert_reports(party: str, ids: Sequence[str], values: np.ndarray, received: float,
                   chain: ReportChain | None = None) -> Work:
    """Reports of one party as rows of ``track_reports``, as versions before the segments
    recorded them (the tests make such databases with it; bench/recording.py compares):
    ``values`` is (n, 7) in REPORT_COLUMNS order. With a ``chain``, the rows go into its digest
    once they are committed.

    Tuples straight to the driver (``insert_rows``): at 10,000 reports a second, building a
    parameter dict per row through SQLAlchemy's compiler cost twice the insert itself.
    """
    assert values.shape[1:] == (len(REPORT_COLUMNS),)

    def work(conn: Any) -> Callable[[], None] | None:
        if not len(ids):
            return None
        append_lock(conn, reports_table.name)
        insert_rows(conn, reports_table.name, _REPORT_FIELDS,
                    [(party, i, received, *v) for i, v in zip(ids, values.tolist(), strict=True)])
        if chain is None:
            return None
        # One writer at a time (append_lock): the rows took the rowids up to the largest, in
        # order.
        last = int(conn.execute(_LATEST_REPORT_ROW).scalar_one())
        return lambda: chain.add(last - len(ids) + 1, party, ids, values, received)
    return work


def upsert_alert(alert_id: str, open_: bool, updated_at: float, body: dict[str, Any]) -> Work:
    def work(conn: Any) -> None:
        conn.execute(delete(alerts_table).where(alerts_table.c.id == alert_id))
        conn.execute(insert(alerts_table).values(
            id=alert_id, open=int(open_), updated_at=updated_at, body=json.dumps(body)))
    return work


def insert_events(rows: list[dict[str, Any]]) -> Work:
    def work(conn: Any) -> None:
        if rows:
            append_lock(conn, events_table.name)  # other instances follow events by rowid
            conn.execute(insert(events_table), rows)
            notify(conn, "events")
    return work


PRUNE_CHUNK = 20_000  # rows per transaction: writers wait at most one chunk's delete


def prune_before(t: float, chunk: int = PRUNE_CHUNK) -> tuple[Work, list[int]]:
    """Retention: one chunk of the reports and events older than ``t`` (s), of the closed
    alerts and of the hotline messages last changed before it (a message whose deadline ran
    changed when it did; the record keeps every message for good). Submit the work again
    while ``deleted[0]`` (set by the work) equals ``chunk``: a day of reports at 10,000 a
    second deleted in one transaction would keep every other writer out for minutes."""
    deleted = [0]

    def work(conn: Any) -> None:
        n = 0
        # The latest report stays: SQLite numbers a new row max(rowid) + 1, and a rowid the
        # record's anchors name must never be given to another report.
        latest = _LATEST_REPORT_ROW.scalar_subquery()
        for table, older in ((reports_table, (reports_table.c.received < t)
                              & (reports_table.c.rowid < latest)),
                             (events_table, events_table.c.t < t),
                             (alerts_table, (alerts_table.c.open == 0)
                              & (alerts_table.c.updated_at < t)),
                             (hotline_table, hotline_table.c.updated_at < t)):
            key = next(iter(table.primary_key.columns))
            n = max(n, conn.execute(delete(table).where(
                key.in_(select(key).where(older).limit(chunk)))).rowcount)
        n = max(n, prune_segments_before(t, chunk)(conn))
        deleted[0] = n

    return work, deleted


def prune_reports_before(t: float, chunk: int = PRUNE_CHUNK) -> tuple[Work, list[int]]:
    """A disk running low: one chunk of the recorded reports received before ``t`` (s), as
    ``prune_before`` deletes them (whole segments, the latest report kept), and nothing else:
    events, alerts and hotline messages are the parties' streams and stay for their
    retention. Submit again while ``deleted[0]`` equals ``chunk``."""
    deleted = [0]

    def work(conn: Any) -> None:
        latest = _LATEST_REPORT_ROW.scalar_subquery()
        key = reports_table.c.rowid
        n = conn.execute(delete(reports_table).where(key.in_(
            select(key).where((reports_table.c.received < t) & (key < latest)).limit(chunk)
        ))).rowcount
        deleted[0] = max(int(n or 0), prune_segments_before(t, chunk)(conn))

    return work, deleted


def last_seqs(engine: Engine) -> dict[str, int]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(events_table.c.party, func.max(events_table.c.seq)).group_by(
                events_table.c.party)
        ).all()
    return {p: int(s) for p, s in rows}


def events_since(engine: Engine, party: str, seq: int, limit: int = 10_000
                 ) -> list[tuple[int, str, dict[str, Any]]]:
    with reading(engine) as conn:
        rows = conn.execute(
            select(events_table.c.seq, events_table.c.type, events_table.c.body)
            .where((events_table.c.party == party) & (events_table.c.seq > seq))
            .order_by(events_table.c.seq).limit(limit)
        ).all()
    return [(int(s), t, json.loads(b)) for s, t, b in rows]


def recent_reports(engine: Engine, since: float, received_since: float
                   ) -> dict[str, tuple[list[str], np.ndarray]]:
    """Reports of time ``t >= since`` (s), per party: ids and an (n, 7) array in
    REPORT_COLUMNS order, oldest first. ``received_since``: a bound on when such reports can
    have been received (``since`` less the future tolerance), so that the indexes on when
    they were received serve the query instead of a scan of every recorded report."""
    r = reports_table.c
    query = (select(r.party, r.track_id, *(getattr(r, c) for c in REPORT_COLUMNS))
             .where(r.received >= received_since, r.t >= since).order_by(r.t))
    ids: dict[str, list[str]] = {}
    values: dict[str, list[np.ndarray]] = {}
    with reading(engine) as conn:
        legacy: dict[str, list[tuple[Any, ...]]] = {}
        for row in conn.execute(query):
            legacy.setdefault(row[0], []).append(tuple(row[1:]))
    for party, got in legacy.items():
        ids[party] = [g[0] for g in got]
        values[party] = [np.array([g[1:] for g in got], dtype=np.float64)]
    for _, party, seg_ids, seg_values, received in segments_between(engine, received_since,
                                                                     None):
        mask = (received >= received_since) & (seg_values[:, 0] >= since)
        ids.setdefault(party, []).extend(i for i, m in zip(seg_ids, mask.tolist(),
                                                           strict=True) if m)
        values.setdefault(party, []).append(seg_values[mask])
    out = {}
    for party, got in ids.items():
        v = np.concatenate(values[party]) if values[party] else np.empty((0, 7))
        order = np.argsort(v[:, 0], kind="stable")
        out[party] = ([got[k] for k in order.tolist()], v[order])
    return out


def legacy_last_row(engine: Engine) -> int:
    """The largest rowid of ``track_reports`` (0: none), where earlier versions recorded."""
    with reading(engine) as conn:
        return int(conn.execute(_LATEST_REPORT_ROW).scalar() or 0)


def last_report_row(engine: Engine) -> int:
    """The largest number of a recorded report (0: none)."""
    return max(legacy_last_row(engine), last_segment_row(engine))


def first_received(source: Engine | Connection) -> float | None:
    """When the earliest report the database still holds was received (None: none)."""
    with reading(source) as conn:
        value = conn.execute(select(func.min(reports_table.c.received))).scalar()
        segment = first_segment_received(conn)
    found = [float(v) for v in (value, segment) if v is not None]
    return min(found) if found else None


def oldest_received(engine: Engine) -> float | None:
    """About when the oldest report held was received, read from the indexes alone (a
    segment's last time, not its first: ``first_received`` reads every segment): where to
    start pruning oldest first."""
    with reading(engine) as conn:
        found = [conn.execute(select(func.min(reports_table.c.received))).scalar(),
                 conn.execute(select(func.min(segments_table.c.received_to))).scalar()]
    found = [float(v) for v in found if v is not None]
    return min(found) if found else None


def report_runs_after(engine: Engine, row: int
                      ) -> Iterator[tuple[int, str, list[str], np.ndarray, np.ndarray]]:
    """The reports recorded after number ``row``, in order, as runs of one party's
    consecutive reports: (first number, party, ids, (n, 7) values, (n,) received)."""
    run: list[dict[str, Any]] = []
    for r in itertools.chain(_legacy_rows(engine, None, None, after_row=row), [None]):
        if run and (r is None or r["party"] != run[0]["party"]
                    or r["rowid"] != run[-1]["rowid"] + 1):
            yield (int(run[0]["rowid"]), run[0]["party"], [x["track_id"] for x in run],
                   np.array([[x[c] for c in REPORT_COLUMNS] for x in run], dtype=np.float64),
                   np.array([x["received"] for x in run], dtype=np.float64))
            run = []
        if r is not None:
            run.append(r)
    for first, party, ids, values, received in segments_after(engine, row):
        skip = max(row + 1 - first, 0)  # a segment the number cuts: its reports after it
        yield first + skip, party, ids[skip:], values[skip:], received[skip:]


# --- following the tables (other instances of a node; the recording: report_segments) ----------


def event_rows_after(engine: Engine, row: int, limit: int = 10_000
                     ) -> list[tuple[int, str, int, str, str]]:
    """Events stored after rowid ``row``: (rowid, party, seq, type, body as stored)."""
    e = events_table.c
    with reading(engine) as conn:
        rows = conn.execute(select(e.rowid, e.party, e.seq, e.type, e.body)
                            .where(e.rowid > row).order_by(e.rowid).limit(limit)).all()
    return [(int(a), p, int(s), t, b) for a, p, s, t, b in rows]


def last_event_row(engine: Engine) -> int:
    with reading(engine) as conn:
        return int(conn.execute(select(func.max(events_table.c.rowid))).scalar() or 0)


def open_alert_bodies(engine: Engine) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = conn.execute(select(alerts_table.c.body).where(alerts_table.c.open == 1)).all()
    return [json.loads(b) for (b,) in rows]


def upsert_message(message_id: str, updated_at: float, body: dict[str, Any]) -> Work:
    def work(conn: Any) -> None:
        conn.execute(delete(hotline_table).where(hotline_table.c.id == message_id))
        conn.execute(insert(hotline_table).values(id=message_id, updated_at=updated_at,
                                                  body=json.dumps(body)))
    return work


def message_body(engine: Engine, message_id: str) -> dict[str, Any] | None:
    """The stored message ``message_id`` (None: none, or pruned by retention)."""
    with engine.connect() as conn:
        body = conn.execute(select(hotline_table.c.body)
                            .where(hotline_table.c.id == message_id)).scalar()
    return None if body is None else json.loads(body)


def message_bodies(engine: Engine) -> list[dict[str, Any]]:
    with reading(engine) as conn:
        rows = conn.execute(select(hotline_table.c.body)).all()
    return [json.loads(b) for (b,) in rows]


# --- reading the recording back (``detente export --with-recording``) ------------------------


def reports_received_between(source: Engine | Connection, t0: float | None, t1: float | None,
                             chunk: int = 20_000, after_row: int = 0
                             ) -> Iterator[dict[str, Any]]:
    """Every recorded report received in [t0, t1] (either None: unbounded), numbered after
    ``after_row``, in the order the service recorded them (one batch's reports together),
    streamed (from one snapshot if ``source`` is a ``read_snapshot``). Each is a dict:
    rowid (its number), party, track_id, received and the REPORT_COLUMNS."""
    yield from _legacy_rows(source, t0, t1, chunk, after_row)
    for first, party, ids, values, received in segments_between(source, t0, t1, after_row):
        rows = values.tolist()
        for k, (track_id, at) in enumerate(zip(ids, received.tolist(), strict=True)):
            number = first + k
            if number <= after_row or (t0 is not None and at < t0) or (
                    t1 is not None and at > t1):
                continue
            yield {"rowid": number, "party": party, "track_id": track_id, "received": at,
                   **dict(zip(REPORT_COLUMNS, rows[k], strict=True))}


def _legacy_rows(source: Engine | Connection, t0: float | None, t1: float | None,
                 chunk: int = 20_000, after_row: int = 0) -> Iterator[dict[str, Any]]:
    """The reports of ``track_reports`` (written by earlier versions), as
    ``reports_received_between`` gives them."""
    cond = _between(reports_table.c.received, t0, t1)
    last = after_row
    while True:
        with reading(source) as conn:
            rows = conn.execute(
                select(reports_table).where(cond & (reports_table.c.rowid > last))
                .order_by(reports_table.c.rowid).limit(chunk)
            ).mappings().all()
        if not rows:
            return
        for r in rows:
            yield dict(r)
        last = int(rows[-1]["rowid"])


def events_until(source: Engine | Connection, t1: float | None
                 ) -> Iterator[tuple[str, int, float, str, Any]]:
    """Every party's durable events published at or before ``t1`` (None: all), as (party, seq,
    t, type, data), party by party in sequence order."""
    cond = _between(events_table.c.t, None, t1)
    with reading(source) as conn:
        rows = conn.execute(
            select(events_table.c.party, events_table.c.seq, events_table.c.t,
                   events_table.c.type, events_table.c.body)
            .where(cond).order_by(events_table.c.party, events_table.c.seq)
        ).all()
    for party, seq, t, kind, body in rows:
        yield party, int(seq), float(t), kind, json.loads(body)


def _between(column: Any, t0: float | None, t1: float | None) -> Any:
    cond = true()
    if t0 is not None:
        cond = cond & (column >= t0)
    if t1 is not None:
        cond = cond & (column <= t1)
    return cond
