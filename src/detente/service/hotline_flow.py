"""The hotline's traffic: statements in, the record, the store and both parties' streams out.

``hotline.Hotline`` is the state machine; this is what moves a message through it. An
official's message or acknowledgement is a statement signed by that official: its body holds
exactly the fields below, each text, and nothing else (a key the service does not know would
go into the record unread). A message is checked, recorded, stored and pushed to both
parties, in that order; sent again with the same id and the same fields it is the same
message (a client retrying after a lost reply), with other fields it is refused. Escalation
runs every cycle, and the service itself warns a party's officials, on behalf of the other
party's watch, when an alert comes within the warning time; when the alert clears before
anyone acknowledged, the warning (and any other message about the alert still awaiting an
acknowledgement) is overtaken by events: escalation stops, and the record says so.

    hotline.message    {id, to_party, priority, body, to_official?, alert_id?}
    hotline.ack        {message_id, reply?}          ref: the message's record entry
    hotline.overtaken  {message_id, alert_id, level} ref: the message's record entry (said
                                                     by the service)

An automatic warning is read by both parties (the sender's watch sees what was said on its
behalf), so its words tell the sending party nothing its agreement keeps from it: the
aircraft's id only where its picture shows that track under that id (``SharingPolicy.names``),
the point at the precision its agreement gives alerts, and the suggested turn as a heading
only where it sees the track exactly (``SharingPolicy.sees_exactly``), else in degrees.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from detente.errors import ConflictingWriteError, InputError
from detente.ledger import Receipt, SignedStatement
from detente.service.alerting import Alert
from detente.service.auth import Principal
from detente.service.clock import Clock
from detente.service.events import EventBus
from detente.service.hotline import Hotline, HotlineMessage, Step
from detente.service.picture import Picture
from detente.service.record import Record
from detente.service.sharing import SharingPolicy
from detente.store import recording as rec

__all__ = ["HotlineFlow", "message_event", "warning_text"]

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
    """Sends, acknowledgements, deliveries, escalation, automatic warnings and messages
    overtaken by events, through the ``record`` (none: no hotline), the ``bus`` and the store
    behind it. ``sharing`` and ``picture`` decide what a warning's words may tell its
    sender."""

    def __init__(self, hotline: Hotline, record: Record | None, bus: EventBus,
                 clock: Clock, sharing: SharingPolicy, picture: Picture) -> None:
        self.hotline = hotline
        self.record = record
        self.bus = bus
        self.clock = clock
        self.sharing = sharing
        self.picture = picture

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
        await self.publish(self._as_now(steps), now)

    async def overtaken(self, alert_ids: Sequence[str], now: float) -> None:
        """The alerts ``alert_ids`` have cleared: the messages about them that await an
        acknowledgement are overtaken by events. Each is said in the record (ref: the
        message's entry) and published to both parties."""
        steps = [st for a in alert_ids for st in self.hotline.overtake(a, now)]
        if not steps:
            return
        if self.record is not None:
            await self.record.say([
                ("hotline.overtaken", {"message_id": st.message.id,
                                       "alert_id": st.message.alert_id,
                                       "level": st.message.level}, st.message.record_index)
                for st in steps])
        await self.publish(self._as_now(steps), now)

    def _as_now(self, steps: Sequence[Step]) -> list[tuple[HotlineMessage, str]]:
        """Each step's message as the hotline holds it now, with the step's change: another
        step may have come meanwhile (an escalation overtaken while it was being recorded),
        and the store must keep the latest."""
        return [(self.hotline.get(st.message.id) or st.message, st.change) for st in steps]

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
                    # Its sender reads it too: not to a party that may not see the alert.
                    if from_party == to_party or self.sharing.alert_view(
                            alert, from_party, self.picture) is None:
                        continue
                    m, _ = self.hotline.send(
                        from_party=from_party, from_official=None, to_party=to_party,
                        to_official=None, priority="flash",
                        body=self._warning(alert, from_party, to_party, track_id, now),
                        alert_id=alert.id, now=now, automatic=True)
                    messages.append(m)
        if not messages:
            return
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


    def _warning(self, alert: Alert, from_party: str, to_party: str, track_id: str,
                 now: float) -> str:
        """The words of one automatic warning, told only what ``from_party`` may know."""
        point, precision_m = self.sharing.alert_point(alert, from_party)
        return warning_text(
            alert, from_party, track_id, now,
            named=self.sharing.names(from_party, to_party, track_id, self.picture),
            exact=self.sharing.sees_exactly(from_party, to_party, track_id, self.picture),
            point=point, precision_m=precision_m,
            resolution=(alert.detail.get("_resolution") or {}).get(to_party))


def warning_text(alert: Alert, from_party: str, track_id: str, now: float, *, named: bool,
                 exact: bool, point: tuple[float, float], precision_m: float,
                 resolution: dict[str, Any] | None) -> str:
    """The words of an automatic warning from ``from_party``'s watch about the addressee's
    aircraft ``track_id`` in ``alert``, sent at ``now`` (s, UTC epoch).

    ``named``: the sender may know the aircraft's id (else "your aircraft"). ``exact``: the
    sender sees its track exactly, so the suggested turn may be said as a heading (else in
    degrees). ``point`` (lon, lat) and ``precision_m``: where it happens, as the sender is
    told (0: exact). ``resolution``: the addressee's suggested turn (``advice``), or None.
    """
    head = (f"AUTOMATIC WARNING from detente on behalf of {from_party} watch: your aircraft"
            + (f" {track_id}" if named else ""))
    d = alert.detail
    at = alert.updated_at + alert.t_to_go_s
    when = f"at {_utc(at)} (in {max(at - now, 0.0):.0f} s)"
    if alert.kind == "incursion":
        where = f"{d['airspace']} airspace ({d['owner']})"
        if d.get("violation"):
            leave = _exit_words(resolution, exact)
            return (f"{head} is INSIDE {where}. Leave it at once"
                    + (f": {leave}" if leave else "") + ". Acknowledge.")
        turn = _turn_words(resolution, exact) or "Change your heading immediately."
        return (f"{head} will enter {where} {when} at {_position(point, precision_m)}. "
                f"{turn} Acknowledge.")
    turn = _turn_words(resolution, exact) or "Change course."
    return (f"{head} will lose separation with a {from_party} aircraft {when} (closest "
            f"{d.get('d_cpa_m', '?')} m, {d.get('dv_cpa_m', '?')} m vertically). {turn} "
            "Acknowledge.")


def _three(heading: float) -> str:
    return f"{round(heading) % 360:03d}"


def _turn_words(r: dict[str, Any] | None, exact: bool) -> str | None:
    """"Turn left heading 255 or more." (or "Turn left 5° or more." when the sender may not
    see the track): the smaller clear turn, by the console's own rule (facts.js,
    resolutionText): "or more" when turning 30° further stays clear, else up to where it
    stops being clear. None when there is no turn to suggest."""
    if not r or r.get("side") not in ("left", "right"):
        return None
    side = r["side"]
    s = r.get(side) or {}
    heading, turn, span = s.get("heading_deg"), s.get("turn_deg"), s.get("span_deg")
    if heading is None or turn is None:
        return None
    sign = 1 if side == "right" else -1
    if exact:
        more = (" or more" if span is None or span >= 30 else
                f" to {_three(heading + sign * span)}" if span > 0 else "")
        return f"Turn {side} heading {_three(heading)}{more}."
    more = (" or more" if span is None or span >= 30 else
            f" to {round(turn + span)}°" if span > 0 else "")
    return f"Turn {side} {round(turn)}°{more}."


def _exit_words(r: dict[str, Any] | None, exact: bool) -> str | None:
    """"turn right heading 180, out in 20 s" for an aircraft inside; None when none."""
    ex = (r or {}).get("exit")
    if not ex or ex.get("heading_deg") is None:
        return None
    turn = float(ex["turn_deg"])
    side = "right" if turn > 0 else "left"
    if turn == 0:
        how = f"hold heading {_three(ex['heading_deg'])}" if exact else "hold your heading"
    elif exact:
        how = f"turn {side} heading {_three(ex['heading_deg'])}"
    else:
        how = f"turn {side} {round(abs(turn))}°"
    return how + (f", out in {ex['t_exit_s']:.0f} s" if ex.get("t_exit_s") is not None else "")


def _dm(value: float, hemispheres: str, degree_digits: int, minute_decimals: int) -> str:
    """One coordinate in degrees and minutes (as the console's facts.js writes them)."""
    h = hemispheres[1] if value < 0 else hemispheres[0]
    scale = 60 * 10 ** minute_decimals
    units = round(abs(value) * scale)
    deg, rest = divmod(units, scale)
    minutes = rest / 10 ** minute_decimals
    width = 2 + (minute_decimals + 1 if minute_decimals else 0)
    return f"{deg:0{degree_digits}d}°{minutes:0{width}.{minute_decimals}f}′{h}"


def _position(point: tuple[float, float], precision_m: float) -> str:
    """"35°48.9′N 036°09.9′E", or on a grid: "35°49′N 036°10′E (5 km grid)"; tenths of a
    minute (185 m) only where the grid is finer than a minute of latitude (1,852 m)."""
    lon, lat = point
    decimals = 1 if precision_m < 1_852.0 else 0
    text = f"{_dm(lat, 'NS', 2, decimals)} {_dm(lon, 'EW', 3, decimals)}"
    return text if precision_m <= 0 else f"{text} ({precision_m / 1000:g} km grid)"


def _utc(t: float) -> str:
    """"07:24:05Z" (as the console writes times)."""
    return time.strftime("%H:%M:%SZ", time.gmtime(round(t)))


def _message_fields(m: HotlineMessage) -> dict[str, Any]:
    """What the service's own statement of an automatic message holds: the party it speaks
    for too, so that the record can tell who the message is between."""
    return {"id": m.id, "from_party": m.from_party, "to_party": m.to_party,
            "to_official": m.to_official, "priority": m.priority, "body": m.body,
            "alert_id": m.alert_id, "automatic": m.automatic}
