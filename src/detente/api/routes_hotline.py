"""The hotline over HTTP. Messages and acknowledgements are statements signed by the official
who makes them (see `detente hotline`); the service checks, records, delivers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from detente.api.deps import Me, Mech
from detente.api.json_body import StrictJsonRoute
from detente.api.openapi import problems
from detente.api.schemas import MESSAGE_ID, SignedAck, SignedMessage
from detente.errors import InputError, NotFoundError
from detente.ledger import SignedStatement
from detente.service.mechanism import message_event

__all__ = ["router"]

router = APIRouter(prefix="/v1/hotline", tags=["hotline"], route_class=StrictJsonRoute)

MessageId = Annotated[str, Path(pattern=MESSAGE_ID, description="the message's id")]


async def _signed(request: Request) -> SignedStatement:
    # As the caller sent it: the signature is over these bytes, not over the model's.
    return SignedStatement.from_json(await request.json())


@router.post("/messages", status_code=201, responses=problems(400, 403, 409, 503))
async def send(entry: SignedMessage, request: Request, me: Me, mech: Mech) -> dict[str, Any]:
    """Send a message: a ``hotline.message`` statement signed by the calling official; the id
    makes a retry idempotent (the same content answers the first message again)."""
    m, receipt = await mech.send_message(me, await _signed(request))
    return {"message": message_event(m, m.state),
            "receipt": None if receipt is None else receipt.to_json()}


@router.get("/messages")
async def messages(me: Me, mech: Mech) -> dict[str, Any]:
    """The messages the caller's party sent or received that a deadline still runs for, and
    all of the last hour, oldest first. Older ones are in the record (``detente export``)."""
    return {"messages": [message_event(m, m.state)
                         for m in mech.hotline.messages_for(me.party)]}


@router.post("/messages/{message_id}/ack", responses=problems(400, 403, 404, 409, 503))
async def acknowledge(message_id: MessageId, entry: SignedAck, request: Request, me: Me,
                      mech: Mech) -> dict[str, Any]:
    """Acknowledge: a ``hotline.ack`` statement whose ref is the message's record entry,
    signed by an addressee official. 404 for a message the caller's party neither sent nor
    received."""
    known = mech.hotline.get(message_id)
    if known is None or me.party not in (known.from_party, known.to_party):
        raise NotFoundError(f"message_id: no hotline message {message_id!r} of {me.party}")
    if entry.statement.body.message_id != message_id:
        raise InputError("statement.body.message_id: differs from the URL's message id")
    m, receipt = await mech.acknowledge_message(me, await _signed(request))
    return {"message": message_event(m, m.state), "receipt": receipt.to_json()}
