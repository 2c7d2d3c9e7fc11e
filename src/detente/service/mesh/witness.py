"""The record across nodes: each node sends its peers its signed tree heads, each peer checks
every head against the last it accepted (consistency proof) and co-signs it with its party's
key, as ``detente witness`` does for a client of a hub; the node keeps the cosignatures with
its heads, so that its export carries its peers' word that they saw the same history.

A head that contradicts one accepted before (a peer showing two histories) is not co-signed:
``take_head`` returns the two signed heads, which the node keeps as evidence and alerts its
party with. The peer's log key is pinned the first time it is seen (the link that carries it
is authenticated by the peer's node key); a head under another key is refused.

Pure with respect to I/O: it reads the ledger it is given and returns what to store (Work) and
what to send; the node commits them with the frame.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from detente.errors import DetenteError, InputError, VerificationError
from detente.ledger import Cosignature, Ledger, LogClient, SplitViewError, TreeHead
from detente.ledger.keys import Ed25519PrivateKey, b64decode_strict
from detente.store.mesh import set_peer_log
from detente.store.recording import Work

__all__ = ["HeadOutcome", "head_body", "take_cosignature", "take_head"]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def head_body(ledger: Ledger, from_size: int) -> dict[str, Any] | None:
    """This log's latest head for a peer that last got the head of ``from_size``, with the
    consistency proof from it; None when there is nothing newer."""
    head = ledger.tree_head()
    if head.size <= from_size:
        return None
    proof = ledger.consistency_proof(from_size, head.size) if from_size > 0 else []
    return {"head": head.to_json(), "from_size": from_size, "proof": [_b64(p) for p in proof],
            "log_key": _b64(ledger.log_public_key), "origin": ledger.origin}


@dataclass(frozen=True)
class HeadOutcome:
    """What a peer's head frame gives: a cosignature to send back and the witness state to
    store, or evidence of two histories, or a refusal (``problem``), or nothing to do."""

    cosignature: dict[str, Any] | None = None
    store: Work | None = None
    split: dict[str, Any] | None = None
    problem: str | None = None


def take_head(party: str, key: Ed25519PrivateKey, peer: str, body: dict[str, Any],
              pinned: tuple[bytes, str, dict[str, Any] | None] | None, now: float
              ) -> HeadOutcome:
    """Check a peer's head against the last one accepted from it (``pinned``: its log key,
    origin and that head, or None the first time) and co-sign it as ``party``."""
    try:
        head = TreeHead.from_json(body.get("head"))
        log_key = b64decode_strict(str(body.get("log_key")), "log_key")
        origin = body.get("origin")
        proof = [b64decode_strict(str(p), "proof") for p in body.get("proof", [])]
        from_size = body.get("from_size")
        if not isinstance(origin, str) or not isinstance(from_size, int):
            raise InputError("origin, from_size: missing")
    except DetenteError as exc:
        return HeadOutcome(problem=f"head frame: {exc}")
    last: TreeHead | None = None
    if pinned is not None:
        pinned_key, pinned_origin, last_json = pinned
        if (log_key, origin) != (pinned_key, pinned_origin):
            return HeadOutcome(problem=f"{peer}'s log key or origin changed ({origin}); "
                                       f"pinned {pinned_origin}")
        last = None if last_json is None else TreeHead.from_json(last_json)
    if last is not None and 0 < last.size < head.size and last.size != from_size:
        # The proof is from another size than the one held: ask for nothing, co-sign later.
        return HeadOutcome()
    client = LogClient(party, key, log_key, origin, last_head=last, clock=lambda: now)
    try:
        cosignature = client.observe(head, proof)
    except SplitViewError as exc:
        ev = exc.evidence
        return HeadOutcome(split={"held": ev.held.to_json(), "offered": ev.offered.to_json(),
                                  "proof": [_b64(p) for p in ev.proof], "reason": ev.reason})
    except VerificationError as exc:
        return HeadOutcome(problem=f"head of size {head.size}: {exc}")
    accepted = client.last_head
    return HeadOutcome(
        cosignature={"cosignature": cosignature.to_json()},
        store=set_peer_log(peer, log_key, origin,
                           None if accepted is None else accepted.to_json()))


def take_cosignature(ledger: Ledger, peer: str, body: dict[str, Any]) -> str | None:
    """Keep a peer's cosignature of one of this log's heads; the problem, if refused."""
    try:
        cosignature = Cosignature.from_json(body.get("cosignature"))
        if cosignature.party != peer:
            return f"a cosignature by {cosignature.party!r} on {peer}'s link"
        ledger.add_cosignature(cosignature)
    except DetenteError as exc:
        return f"cosignature: {exc}"
    return None
