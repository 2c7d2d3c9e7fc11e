"""The DSS interface's own tables: what F3548 adds to an intent, subscriptions, constraint
references, USS availability, reports.

An operational intent reference is a row of ``operational_intents`` (``store.intents``) plus a
row of ``dss_operational_intents``; the two are written in one transaction (the intents table
takes these statements as ``also``). Rows whose entity ended are deleted (an F3548 id may be
used again once its entity is gone); the intent row stays, Ended, for the record.

Statements are compiled once (``store.compiled``); every database error is a ``StoreError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Engine,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from detente.store.compiled import Compiled, read_compiled, write_compiled
from detente.store.database import Base
from detente.store.intent_codecs import decode_volumes, encode_volumes

__all__ = ["DssTables"]

Step = tuple[Compiled, Mapping[str, object]]


class DssOirRow(Base):
    """What F3548 adds to an operational intent managed through the DSS."""

    __tablename__ = "dss_operational_intents"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    manager: Mapped[str] = mapped_column(String)
    uss_base_url: Mapped[str] = mapped_column(String)
    subscription_id: Mapped[str | None] = mapped_column(String, nullable=True)
    version: Mapped[int] = mapped_column(Integer)


class DssSubscriptionRow(Base):
    __tablename__ = "dss_subscriptions"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    manager: Mapped[str] = mapped_column(String)
    version: Mapped[str] = mapped_column(String)
    notification_index: Mapped[int] = mapped_column(Integer)
    uss_base_url: Mapped[str] = mapped_column(String)
    notify_oi: Mapped[int] = mapped_column(Integer)
    notify_c: Mapped[int] = mapped_column(Integer)
    implicit: Mapped[int] = mapped_column(Integer)
    time_start: Mapped[float] = mapped_column(Float)  # s, UTC epoch
    time_end: Mapped[float] = mapped_column(Float, index=True)
    volumes: Mapped[str] = mapped_column(Text)  # JSON, intent_codecs.encode_volumes


class DssConstraintRow(Base):
    __tablename__ = "dss_constraints"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    manager: Mapped[str] = mapped_column(String)
    version: Mapped[int] = mapped_column(Integer)
    ovn: Mapped[str] = mapped_column(String)
    uss_base_url: Mapped[str] = mapped_column(String)
    time_end: Mapped[float] = mapped_column(Float, index=True)
    volumes: Mapped[str] = mapped_column(Text)


class DssAvailabilityRow(Base):
    __tablename__ = "dss_uss_availability"

    uss: Mapped[str] = mapped_column(String, primary_key=True)
    availability: Mapped[str] = mapped_column(String)
    version: Mapped[str] = mapped_column(String)


class DssReportRow(Base):
    __tablename__ = "dss_reports"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    reporter: Mapped[str] = mapped_column(String)
    t: Mapped[float] = mapped_column(Float)  # s, UTC epoch, when received
    body: Mapped[str] = mapped_column(Text)  # the report as received (JSON)


_SUB = ("id", "manager", "version", "notification_index", "uss_base_url", "notify_oi",
        "notify_c", "implicit", "time_start", "time_end", "volumes")
_CR = ("id", "manager", "version", "ovn", "uss_base_url", "time_end", "volumes")
_OIR = ("id", "manager", "uss_base_url", "subscription_id", "version")


class DssTables:
    """The statements of the DSS's tables, compiled once for ``engine``. The ``*_step``
    methods return statements to commit (``commit``, or with an intent's write)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        oir, sub = DssOirRow.__table__, DssSubscriptionRow.__table__
        cr, av, rep = DssConstraintRow.__table__, DssAvailabilityRow.__table__, \
            DssReportRow.__table__
        by_id = {t: t.c.id == bindparam("where_id") for t in (oir, sub, cr)}
        self._oir_insert = Compiled(insert(oir), engine, _OIR)
        self._oir_delete = Compiled(delete(oir).where(by_id[oir]), engine)
        self._oir_all = Compiled(select(*[oir.c[k] for k in _OIR]), engine)
        self._sub_insert = Compiled(insert(sub), engine, _SUB)
        self._sub_delete = Compiled(delete(sub).where(by_id[sub]), engine)
        self._sub_index = Compiled(update(sub).where(by_id[sub]), engine,
                                   ("notification_index",))
        self._sub_live = Compiled(select(*[sub.c[k] for k in _SUB]).where(
            sub.c.time_end >= bindparam("now")), engine)
        self._cr_insert = Compiled(insert(cr), engine, _CR)
        self._cr_delete = Compiled(delete(cr).where(by_id[cr]), engine)
        self._cr_live = Compiled(select(*[cr.c[k] for k in _CR]).where(
            cr.c.time_end >= bindparam("now")), engine)
        self._av_delete = Compiled(delete(av).where(av.c.uss == bindparam("where_uss")), engine)
        self._av_insert = Compiled(insert(av), engine, ("uss", "availability", "version"))
        self._av_all = Compiled(select(av.c.uss, av.c.availability, av.c.version), engine)
        self._report = Compiled(insert(rep), engine, ("id", "reporter", "t", "body"))

    # --- reads at start --------------------------------------------------------------------

    def _read(self, statement: Compiled, values: Mapping[str, object]) -> list[Any]:
        return read_compiled(self.engine, statement, values, what="the DSS's records")

    def oir_metas(self) -> list[tuple[str, str, str, str | None, int]]:
        """(id, manager, uss_base_url, subscription_id, version) of every row."""
        return [tuple(r) for r in self._read(self._oir_all, {})]  # type: ignore[misc]

    def live_subscriptions(self, now: float) -> list[dict[str, Any]]:
        out = []
        for r in self._read(self._sub_live, {"now": now}):
            row = dict(zip(_SUB, r, strict=True))
            row["volumes"] = decode_volumes(row["volumes"])
            out.append(row)
        return out

    def live_constraints(self, now: float) -> list[dict[str, Any]]:
        out = []
        for r in self._read(self._cr_live, {"now": now}):
            row = dict(zip(_CR, r, strict=True))
            row["volumes"] = decode_volumes(row["volumes"])
            out.append(row)
        return out

    def availabilities(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self._read(self._av_all, {})]  # type: ignore[misc]

    # --- writes ----------------------------------------------------------------------------

    def commit(self, steps: Sequence[Step], what: str) -> None:
        write_compiled(self.engine, steps, what=what, duplicate=f"{what}: id already used")

    def oir_steps(self, intent_id: str, meta: Mapping[str, object] | None) -> list[Step]:
        """Replace the meta row of ``intent_id`` by ``meta`` (manager, uss_base_url,
        subscription_id, version), or delete it (None)."""
        steps: list[Step] = [(self._oir_delete, {"where_id": intent_id})]
        if meta is not None:
            steps.append((self._oir_insert, {"id": intent_id, **meta}))
        return steps

    def subscription_steps(self, sub_id: str, row: Mapping[str, object] | None) -> list[Step]:
        """Replace the subscription ``sub_id`` by ``row`` (the Subscription's fields), or
        delete it (None)."""
        steps: list[Step] = [(self._sub_delete, {"where_id": sub_id})]
        if row is not None:
            steps.append((self._sub_insert, {
                "id": row["id"], "manager": row["manager"], "version": row["version"],
                "notification_index": row["notification_index"],
                "uss_base_url": row["uss_base_url"],
                "notify_oi": int(bool(row["notify_for_operational_intents"])),
                "notify_c": int(bool(row["notify_for_constraints"])),
                "implicit": int(bool(row["implicit"])), "time_start": row["time_start"],
                "time_end": row["time_end"], "volumes": encode_volumes(row["volumes"]),  # type: ignore[arg-type]
            }))
        return steps

    def notification_step(self, sub_id: str, index: int) -> Step:
        return (self._sub_index, {"where_id": sub_id, "notification_index": index})

    def constraint_steps(self, cr_id: str, row: Mapping[str, object] | None) -> list[Step]:
        steps: list[Step] = [(self._cr_delete, {"where_id": cr_id})]
        if row is not None:
            volumes = row["volumes"]
            steps.append((self._cr_insert, {
                "id": row["id"], "manager": row["manager"], "version": row["version"],
                "ovn": row["ovn"], "uss_base_url": row["uss_base_url"],
                "time_end": max(v.time_end_s for v in volumes),  # type: ignore[attr-defined]
                "volumes": encode_volumes(volumes),  # type: ignore[arg-type]
            }))
        return steps

    def availability_steps(self, uss: str, availability: str, version: str) -> list[Step]:
        return [(self._av_delete, {"where_uss": uss}),
                (self._av_insert, {"uss": uss, "availability": availability,
                                   "version": version})]

    def report_step(self, report_id: str, reporter: str, t: float, body: Any) -> Step:
        return (self._report, {"id": report_id, "reporter": reporter, "t": t,
                               "body": json.dumps(body, separators=(",", ":"))})
