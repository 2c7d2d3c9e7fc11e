"""The hotline over HTTP. Messages and acknowledgements are statements signed by the official
who makes them (see `detente hotline`); the service checks, records, delivers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from detente.api.deps import Me, Mech
from detente.errors import InputError
from detente.ledger import SignedStatement
from detente.service.mechanism import message_event

__all__ = ["router"]

router = APIRouter(prefix="/v1/hotline", tags=["hotline"])


class SignedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str
    statement: dict[str, Any]


@router.post("/messages", status_code=201)
async def send(entry: SignedIn, me: Me, mech: Mech) -> dict[str, Any]:
    """Send a message: a ``hotline.message`` statement signed by the calling official, body
    {id, to_party, to_official?, priority: routine|urgent|flash, body, alert_id?}; the id
    (1-64 letters, digits, dashes) makes a retry idempotent."""
    signed = SignedStatement.from_json(entry.model_dump())
    m, receipt = await mech.send_message(me, signed)
    return {"message": message_event(m, m.state),
            "receipt": None if receipt is None else receipt.to_json()}


@router.get("/messages")
async def messages(me: Me, mech: Mech) -> dict[str, Any]:
    """The messages the caller's party sent or received that a deadline still runs for, and
    all of the last hour, oldest first. Older ones are in the record (``detente export``)."""
    return {"messages": [message_event(m, m.state)
                         for m in mech.hotline.messages_for(me.party)]}


@router.post("/messages/{message_id}/ack")
async def acknowledge(message_id: str, entry: SignedIn, me: Me, mech: Mech) -> dict[str, Any]:
    """Acknowledge: a ``hotline.ack`` statement, body {message_id, reply?}, whose ref is the
    message's record entry, signed by an addressee official."""
    signed = SignedStatement.from_json(entry.model_dump())
    if signed.statement.body.get("message_id") != message_id:
        raise InputError("statement body message_id differs from the URL's")
    m, receipt = await mech.acknowledge_message(me, signed)
    return {"message": message_event(m, m.state), "receipt": receipt.to_json()}
