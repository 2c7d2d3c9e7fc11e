"""Who is party to each kind of statement: the audience the log writes into its entry.

Need-to-know in the record: a party's copy holds in full only the entries addressed to it
(``detente.ledger.entries``). The log works out each entry's audience from the statement by the
rules below, and ``detente verify`` works it out again for every entry it holds in full, so an
entry addressed to a party that is not party to it, or hidden from one that is, is found by
anyone holding the operator's export (and a party's copy holds no entry not addressed to it).

=====================  ===========================================================================
kind                   audience
=====================  ===========================================================================
``key.register``,      everyone (``["*"]``): every copy must replay the keys to check signatures
``key.rotate``         and cosignatures
``alert``              ``body.to`` when the statement is one party's view of an alert; otherwise
                       every party in ``body.parties`` (so the body must then hold only what each
                       of them may see)
``intent.overlap``     the parties in ``body.parties`` (the two intents' owners)
``hotline.message``    the sender's party and ``body.to_party``. The sender is the author's party;
                       for a message the service says on a party's behalf (an automatic
                       warning), ``body.from_party``
``hotline.ack``,       as the entry it answers (``ref``): the message's sender and addressee
``hotline.delivery``,
``hotline.escalated``,
``hotline.overdue``,
``hotline.overtaken``
``delivery.receipt``   as the entry it receipts (``ref``); the author must be in that audience
``recording.anchor``   ``[body.party]`` for an anchor of one party's reports; otherwise nobody
                       (``[]``): an anchor of every party's reports tells their count, from which
                       a party learns how much the others report; it is in the operator's export
=====================  ===========================================================================

Tree heads and cosignatures are in every copy. A kind with no rule is refused: a new kind of
statement needs a decision here first. A rule whose field is absent names fewer parties (an
``alert`` without ``parties`` is addressed to nobody); a field that is present but malformed is
refused.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from detente.errors import InputError
from detente.ledger.entries import EVERYONE, check_party, visible_to
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE, Statement

__all__ = [
    "KIND_DELIVERY_RECEIPT",
    "RECEIPTED_KINDS",
    "RefAudience",
    "audience_for",
    "expected_receipts",
    "party_of",
    "sender_of",
]

KIND_DELIVERY_RECEIPT = "delivery.receipt"
# What a party is told, and so answers with a signed delivery receipt.
RECEIPTED_KINDS = frozenset({"alert", "hotline.message", "intent.overlap"})
_ANSWERS = frozenset({"hotline.ack", "hotline.delivery", "hotline.escalated",
                      "hotline.overdue", "hotline.overtaken", KIND_DELIVERY_RECEIPT})

RefAudience = Callable[[int], tuple[str, ...] | None]
"""The audience of an earlier entry, by index; None when the caller does not hold it."""


def party_of(author: str) -> str:
    """The party an author speaks for: ``TUR`` for ``TUR`` and for ``TUR/tur-watch``."""
    return author.partition("/")[0]


def sender_of(statement: Statement, by_log: bool) -> str | None:
    """The party a statement is from: its author's, or for the log's own hotline messages the
    party it speaks for (``body.from_party``, if named)."""
    if by_log:
        value = statement.body.get("from_party") if statement.kind == "hotline.message" else None
        return None if value is None else check_party(value, "body.from_party")
    return party_of(statement.author)


def _parties(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InputError(f"body.{name} must be a list of party ids")
    return _checked(tuple(value), f"body.{name}")


def _one(body: dict[str, Any], name: str) -> tuple[str, ...]:
    value = body.get(name)
    return () if value is None else _checked((value,), f"body.{name}")


def _checked(names: tuple[Any, ...], what: str) -> tuple[str, ...]:
    """``names`` as a sorted audience, each checked: InputError names a bad one."""
    try:
        return _sorted_parties(names, what)
    except TypeError:  # something unhashable in the list: not a party id
        raise InputError(f"{what}: a party id is text, got {list(names)!r}") from None


@functools.lru_cache(maxsize=4096)
def _sorted_parties(names: tuple[Any, ...], what: str) -> tuple[str, ...]:
    # Cached: a log says the same few audiences again and again.
    for k, name in enumerate(names):
        check_party(name, f"{what}[{k}]" if len(names) > 1 else what)
    return tuple(sorted(set(names)))


def audience_for(statement: Statement, *, by_log: bool, ref_audience: RefAudience
                 ) -> tuple[str, ...]:
    """The audience of ``statement`` by the rules of this module; InputError if it has none.

    ``by_log``: whether its author speaks with the log's own key (the service).
    ``ref_audience`` gives the audience of the entry ``statement.ref`` names, or None when
    the caller does not hold that entry in full (then a rule that needs it fails).
    """
    kind, body = statement.kind, statement.body
    if kind in (KIND_KEY_REGISTER, KIND_KEY_ROTATE):
        return (EVERYONE,)
    if kind == "alert":
        names = _one(body, "to") or _parties(body, "parties")
    elif kind == "intent.overlap":
        names = _parties(body, "parties")
    elif kind == "hotline.message":
        if not by_log and "from_party" in body and body["from_party"] != party_of(
                statement.author):
            raise InputError(f"body.from_party: {statement.author!r} writes for its own "
                             f"party, not {body['from_party']!r}")
        sender = sender_of(statement, by_log)
        names = _one(body, "to_party") + (() if sender is None else (sender,))
    elif kind == "recording.anchor":
        names = _one(body, "party")
    elif kind in _ANSWERS:
        if statement.ref is None:
            raise InputError(f"a {kind} statement names the entry it answers in ref")
        answered = ref_audience(statement.ref)
        if answered is None:
            raise InputError(f"{kind} answers entry {statement.ref}, which is not held in full "
                             "here: its audience is unknown")
        if not by_log and not visible_to(answered, party_of(statement.author)):
            raise InputError(f"{statement.author!r} answers entry {statement.ref}, which is "
                             f"not addressed to {party_of(statement.author)!r}")
        return answered
    else:
        raise InputError(f"no audience rule for statement kind {kind!r}: detente.ledger."
                         "audience says who is party to each kind")
    return _checked(names, "audience")


def expected_receipts(statement: Statement, audience: tuple[str, ...], by_log: bool
                      ) -> tuple[str, ...]:
    """The parties that should answer this entry with a delivery receipt: for what a party is
    told (``RECEIPTED_KINDS``), its audience but the sender's party."""
    if statement.kind not in RECEIPTED_KINDS or audience == (EVERYONE,):
        return ()
    sender = sender_of(statement, by_log)
    return tuple(p for p in audience if p != sender)
