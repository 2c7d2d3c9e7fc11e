"""The hotline's traffic: statements in, the record, the store and both parties' streams out.

``hotline.Hotline`` is the state machine; this is what moves a message through it. An
official's message or acknowledgement is a statement signed by that official: its body holds
exactly the fields below, each text, and nothing else (a key the service does not know would
go into the record unread). A message is checked, recorded, stored and pushed to both
parties, in that order; sent again with the same id and the same fields it is the same
message (a client retrying after a lost reply), with other fields it is refused. Escalation
runs every cycle, and the service itself warns a party's officials, on behalf of the other
party's watch, when an alert comes within the warning time.

    hotline.message  {id, to_party, priority, body, to_official?, alert_id?}
    hotline.ack      {message_id, reply?}          ref: the message's record entry
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from detente.errors import ConflictingWriteError, InputError
from detente.ledger import Receipt, SignedStatement
from detente.service.alerting import Alert
from detente.service.auth import Principal
from detente.service.clock import Clock
from detente.service.events import EventBus
from detente.service.hotline import Hotline, HotlineMessage
from detente.service.record import Record
from detente.store import recording as rec

__all__ = ["HotlineFlow", "message_event"]

# Each kind's fields, and whether a statement must have it (the optional ones may be null).
MESSAGE_FIELDS = {"id": True, "to_party": True, "priority": True, "body": True,
                  "to_official": False, "alert_id": False}
ACK_FIELDS = {"message_id": True, "reply": False}


def message_event(m: HotlineMessage, change: str) -> dict[str, Any]:
    """A message as the stream and the API show it: its fields, what changed, its ack."""
    d = m.as_dict()
    d["change"] = change
    d["ack"] = (None if m.ack_by is None else
                {"by": m.ack_by, "at": m.ack_at, "reply": m.reply})
    return d


def statement_fields(body: Any, fields: dict[str, bool], kind: str) -> dict[str, str | None]:
    """The fields of a statement body of ``kind``: exactly those of ``fields``, each text
    (an optional one missing or null is None)."""
    if not isinstance(body, dict):
        raise InputError(f"statement body: a {kind} body is an object")
    unknown = sorted(set(body) - set(fields))
    if unknown:
        raise InputError(f"statement body: {kind} has no field {unknown[0]!r} (its fields: "
                         f"{', '.join(fields)})")
    out = {}
    for key, required in fields.items():
        value = body.get(key)
        if value is None and required:
            raise InputError(f"statement body: missing {key!r}")
        if value is not None and not isinstance(value, str):
            raise InputError(f"statement body: {key!r} must be text, got "
                             f"{type(value).__name__}")
        out[key] = value
    return out


class HotlineFlow:
    """Sends, acknowledgements, deliveries, escalation and automatic warnings, through the
    ``record`` (none: no hotline), the ``bus`` and the store behind it."""

    def __init__(self, hotline: Hotline, record: Record | None, bus: EventBus,
                 clock: Clock) -> None:
        self.hotline = hotline
        self.record = record
        self.bus = bus
        self.clock = clock

    def _record(self) -> Record:
        if self.record is None:
            raise ConflictingWriteError("this service keeps no record: no hotline")
        return self.record

    async def send(self, caller: Principal, signed: SignedStatement
                   ) -> tuple[HotlineMessage, Receipt | None]:
        """An official's signed ``hotline.message``: checked, recorded, then delivered.
        Returns the message, and its receipt (None when it had been sent already)."""
        record = self._record()
        record.check_party_statement(caller, signed, ["hotline.message"])
        f = statement_fields(signed.statement.body, MESSAGE_FIELDS, "hotline.message")
        message_id = f["id"]
        assert message_id is not None
        if self.hotline.get(message_id) is None:
            # Sent long ago (forgotten by the hotline, not by the store)? Then the same.
            stored = await asyncio.to_thread(rec.message_body, self.bus.engine, message_id)
            if stored is not None:
                self.hotline.restore([HotlineMessage.from_dict(stored)])
        now = self.clock.now()
        m, new = self.hotline.send(
            from_party=caller.party, from_official=caller.official,
            to_party=f["to_party"], to_official=f["to_official"],  # type: ignore[arg-type]
            priority=f["priority"], body=f["body"],  # type: ignore[arg-type]
            alert_id=f["alert_id"], now=now, message_id=message_id,
        )
        if not new:
            return m, None
        try:
            (receipt,) = await record.append_party(caller, [signed], ["hotline.message"])
        except BaseException:
            self.hotline.forget(m.id)
            raise
        m = self.hotline.set_record_index(m.id, receipt.index)
        await self.publish([(m, "sent")], now)
        return m, receipt

    async def acknowledge(self, caller: Principal, signed: SignedStatement
                          ) -> tuple[HotlineMessage, Receipt]:
        """An addressee official's signed ``hotline.ack``, whose ref is the message's entry."""
        record = self._record()
        record.check_party_statement(caller, signed, ["hotline.ack"])
        f = statement_fields(signed.statement.body, ACK_FIELDS, "hotline.ack")
        message_id = f["message_id"]
        assert message_id is not None
        before = self.hotline.get(message_id)
        if before is not None and signed.statement.ref != before.record_index:
            raise InputError(f"ref: an acknowledgement refers to the message's record entry "
                             f"({before.record_index}), got {signed.statement.ref}")
        now = self.clock.now()
        m = self.hotline.acknowledge(message_id, caller.party, caller.official, f["reply"],
                                     now)
        try:
            (receipt,) = await record.append_party(caller, [signed], ["hotline.ack"])
        except BaseException:
            assert before is not None
            self.hotline.restore([before])
            raise
        await self.publish([(m, "acknowledged")], now)
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
        await asyncio.wrap_future(self.bus.recorder.submit(
            rec.upsert_message(m.id, now, m.as_dict())))

    async def escalate(self, now: float) -> None:
        """Escalate (or mark overdue) every message whose deadline has passed."""
        steps = self.hotline.due(now)
        if not steps or self.record is None:
            return
        await self.record.say([
            (f"hotline.{st.change}", {"message_id": st.message.id, "level": st.message.level,
                                      "sender_level": st.message.sender_level,
                                      "deadline": st.message.deadline}, st.message.record_index)
            for st in steps
        ])
        await self.publish([(st.message, st.change) for st in steps], now)

    async def warn(self, alerts: Sequence[Alert], now: float) -> None:
        """A flash message on behalf of each other party's watch to each party whose aircraft
        is in an alert that has just come within the warning time. All of them go into the
        record in one append (one fsync), then out."""
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
        await self.publish([(self.hotline.set_record_index(m.id, r.index), "sent")
                            for m, r in zip(messages, receipts, strict=True)], now)

    async def publish(self, changed: Sequence[tuple[HotlineMessage, str]], now: float) -> None:
        """Store messages as they now stand and tell both parties of each what changed, in
        one commit."""
        events = []
        for m, change in changed:
            data = message_event(m, change)
            events += [(p, "hotline", data) for p in (m.from_party, m.to_party)]
        await self.bus.publish(events, now, extra_work=[
            rec.upsert_message(m.id, now, m.as_dict()) for m, _ in changed])


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


def _message_fields(m: HotlineMessage) -> dict[str, Any]:
    """What the service's own statement of an automatic message holds."""
    return {"id": m.id, "to_party": m.to_party, "to_official": m.to_official,
            "priority": m.priority, "body": m.body, "alert_id": m.alert_id,
            "automatic": m.automatic}
