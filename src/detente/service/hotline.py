"""The hotline: messages between officials, with deadlines, acknowledgements and escalation.

A message goes from an official (or, marked automatic, from the service on behalf of a party's
watch) to another party, or to one of its officials. It carries a priority (routine, urgent,
flash) and, for urgent and flash, an acknowledgement deadline from the agreement. Unanswered by
its deadline, it escalates on BOTH sides: to the addressee's next level (watch officer ->
command -> head of government) and to the sender's own command, with a fresh deadline, until
both sides are at their top level; there it is overdue and stays so until someone answers.

This module is the state machine only: it owns no clock (``now`` is passed in), no storage and
no transport. The mechanism stores messages, records each step as a statement and pushes them.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import asdict, dataclass, replace
from typing import Any

from detente.errors import ConflictingWriteError, InputError, NotFoundError
from detente.service.config import Config

__all__ = [
    "MAX_BODY_CHARS",
    "PRIORITIES",
    "Hotline",
    "HotlineMessage",
    "Step",
]

PRIORITIES = ("routine", "urgent", "flash")
MAX_BODY_CHARS = 4_000


@dataclass(frozen=True)
class HotlineMessage:
    """One message and where it stands.

    level / sender_level: the escalation level reached on the addressee's and on the sender's
    side. deadline (s, UTC epoch) is None for routine messages and once acknowledged.
    state: sent | escalated | overdue | acknowledged.
    """

    id: str
    from_party: str
    from_official: str | None
    to_party: str
    to_official: str | None
    priority: str
    body: str
    alert_id: str | None
    created_at: float
    deadline_s: float | None
    deadline: float | None
    level: int
    sender_level: int
    state: str
    automatic: bool = False
    ack_by: str | None = None
    ack_at: float | None = None
    reply: str | None = None
    record_index: int | None = None  # the ledger entry of the message, once recorded
    delivered_to: tuple[str, ...] = ()  # officials it has been pushed to

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HotlineMessage:
        return cls(**{**d, "delivered_to": tuple(d.get("delivered_to", ()))})


@dataclass(frozen=True)
class Step:
    """A change to a message: sent, escalated, overdue, acknowledged (what the record holds)."""

    message: HotlineMessage
    change: str
    at: float


class Hotline:
    """Messages by id. Not thread-safe: the mechanism calls it from its event loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._messages: dict[str, HotlineMessage] = {}
        # Messages with a deadline running: what escalation looks at each cycle, so that its
        # cost follows the open messages, not every message of the day.
        self._waiting: set[str] = set()

    def _put(self, m: HotlineMessage) -> HotlineMessage:
        self._messages[m.id] = m
        if m.deadline is None:
            self._waiting.discard(m.id)
        else:
            self._waiting.add(m.id)
        return m

    def restore(self, messages: list[HotlineMessage]) -> None:
        for m in messages:
            self._put(m)

    def prune(self, before: float) -> int:
        """Forget messages no deadline runs for any more (acknowledged, overdue, routine)
        that were sent before ``before`` (s, UTC epoch); the store and the record keep them.
        Returns how many were forgotten."""
        old = [k for k, m in self._messages.items()
               if m.deadline is None and m.created_at < before]
        for k in old:
            del self._messages[k]
        return len(old)

    def get(self, message_id: str) -> HotlineMessage | None:
        return self._messages.get(message_id)

    def messages_for(self, party: str) -> list[HotlineMessage]:
        """Every message a party sent or received, oldest first."""
        return sorted((m for m in self._messages.values()
                       if party in (m.from_party, m.to_party)), key=lambda m: m.created_at)

    def top_level(self, party: str) -> int:
        return max((o.level for o in self.config.parties[party].officials), default=1)

    def deadline_for(self, from_party: str, to_party: str, priority: str) -> float | None:
        if priority == "routine":
            return None
        ag = self.config.agreement(from_party, to_party)
        if ag is None:
            return 60.0 if priority == "flash" else 300.0
        return ag.flash_deadline_s if priority == "flash" else ag.urgent_deadline_s

    def send(
        self,
        *,
        from_party: str,
        from_official: str | None,
        to_party: str,
        to_official: str | None,
        priority: str,
        body: str,
        alert_id: str | None,
        now: float,
        message_id: str | None = None,
        automatic: bool = False,
    ) -> tuple[HotlineMessage, bool]:
        """Check and create a message; returns it and whether it is new.

        Sending again with the id of an existing, identical message returns that message
        (idempotent: a client that retries after a lost reply does not send twice); the same
        id with different content is refused.
        """
        if priority not in PRIORITIES:
            raise InputError(f"priority: {priority!r} is not one of {', '.join(PRIORITIES)}")
        if not isinstance(body, str) or not body.strip():
            raise InputError("body: empty message")
        if len(body) > MAX_BODY_CHARS:
            raise InputError(f"body: {len(body)} characters, over the limit of {MAX_BODY_CHARS}")
        if to_party not in self.config.parties:
            raise InputError(f"to_party: unknown party {to_party!r}")
        if to_party == from_party:
            raise InputError("to_party: a party does not send hotline messages to itself")
        level = 1
        if to_official is not None:
            o = self.config.official(to_official)
            if o is None or o.party != to_party:
                raise InputError(f"to_official: {to_official!r} is not an official of {to_party}")
            level = o.level
        sender_level = 1
        if from_official is not None:
            o = self.config.official(from_official)
            if o is None or o.party != from_party:
                raise InputError(f"{from_official!r} is not an official of {from_party}")
            sender_level = o.level
        elif not automatic:
            raise InputError("only an official (or the service, automatically) sends messages")
        if message_id is not None:
            # ASCII only: the id is also a path segment (/v1/hotline/messages/{id}/ack).
            if not (0 < len(message_id) <= 64 and message_id.isascii()
                    and message_id.replace("-", "").isalnum()):
                raise InputError("id: 1 to 64 ASCII letters, digits or dashes")
            old = self._messages.get(message_id)
            if old is not None:
                same = (old.from_party, old.from_official, old.to_party, old.to_official,
                        old.priority, old.body, old.alert_id) == (
                    from_party, from_official, to_party, to_official, priority, body, alert_id)
                if not same:
                    raise ConflictingWriteError(
                        f"id: message {message_id} exists with different content")
                return old, False
        deadline_s = self.deadline_for(from_party, to_party, priority)
        m = HotlineMessage(
            id=message_id or uuid.uuid4().hex, from_party=from_party,
            from_official=from_official, to_party=to_party, to_official=to_official,
            priority=priority, body=body, alert_id=alert_id, created_at=now,
            deadline_s=deadline_s, deadline=None if deadline_s is None else now + deadline_s,
            level=level, sender_level=sender_level, state="sent", automatic=automatic,
        )
        self._put(m)
        return m, True

    def set_record_index(self, message_id: str, index: int) -> HotlineMessage:
        return self._put(replace(self._messages[message_id], record_index=index))

    def forget(self, message_id: str) -> None:
        """Drop a message whose recording failed: it was never sent."""
        self._messages.pop(message_id, None)
        self._waiting.discard(message_id)

    def mark_delivered(self, message_id: str, official: str) -> HotlineMessage | None:
        """Note a first delivery to ``official``; None if it had been delivered already."""
        m = self._messages.get(message_id)
        if m is None or official in m.delivered_to:
            return None
        m = replace(m, delivered_to=(*m.delivered_to, official))
        return self._put(m)

    def addressed_to(self, m: HotlineMessage, official: str) -> bool:
        """Whether ``official`` is among the message's addressees now: the named official,
        or any official of the addressee party up to the level the message has reached."""
        o = self.config.official(official)
        if o is None or o.party != m.to_party:
            return False
        if m.to_official == official:
            return True
        if m.to_official is not None and m.state == "sent":
            return False
        return o.level <= m.level

    def acknowledge(self, message_id: str, party: str, official: str | None,
                    reply: str | None, now: float) -> HotlineMessage:
        m = self._messages.get(message_id)
        if m is None or party not in (m.from_party, m.to_party):
            raise NotFoundError(f"message_id: no hotline message {message_id!r} of {party}")
        if official is None:
            raise InputError("only an official acknowledges: log in as one")
        o = self.config.official(official)
        if o is None or o.party != party:
            raise InputError(f"{official!r} is not an official of {party}")
        if party == m.to_party and m.state == "acknowledged":
            raise ConflictingWriteError(
                f"message {message_id} was already acknowledged by {m.ack_by}")
        if party != m.to_party or not self.addressed_to(m, official):
            raise ConflictingWriteError(
                f"message {message_id} is not addressed to {official} ({party})")
        if reply is not None and len(reply) > MAX_BODY_CHARS:
            raise InputError(f"reply: over the limit of {MAX_BODY_CHARS} characters")
        m = replace(m, state="acknowledged", ack_by=official, ack_at=now, reply=reply,
                    deadline=None)
        self._put(m)
        return m

    def due(self, now: float) -> list[Step]:
        """Escalate every message whose deadline has passed; returns the steps taken."""
        steps = []
        for m in [self._messages[k] for k in self._waiting]:
            if m.deadline is None or m.deadline > now or m.state == "acknowledged":
                continue
            top_to, top_from = self.top_level(m.to_party), self.top_level(m.from_party)
            if m.level >= top_to and m.sender_level >= top_from:
                m = replace(m, state="overdue", deadline=None)
                steps.append(Step(m, "overdue", now))
            else:
                assert m.deadline_s is not None and math.isfinite(m.deadline_s)
                # The new deadline runs from the old one, so escalation keeps its rhythm even
                # when the cycle that notices it runs late.
                m = replace(m, state="escalated", level=min(m.level + 1, top_to),
                            sender_level=min(m.sender_level + 1, top_from),
                            deadline=m.deadline + m.deadline_s)
                steps.append(Step(m, "escalated", now))
            self._put(m)
        return steps
