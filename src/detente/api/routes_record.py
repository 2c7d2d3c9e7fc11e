"""The record over HTTP: tree heads (also as C2SP checkpoints), receipts, proofs,
cosignatures, parties' statements (keys, delivery receipts), and each party's copy of the
record that `detente verify` checks offline.

Need-to-know: a party is given in full only the entries addressed to it
(``detente.ledger.audience``), and of the others their index and leaf hash, which is all its
copy needs to verify the same roots; tree heads and cosignatures are everyone's. The full
export (every entry whole) is the operator's, who logs in with the log's key.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool

from detente.api.deps import Me, Mech, MeOrOperator
from detente.api.json_body import StrictJsonRoute
from detente.api.openapi import problems
from detente.api.schemas import MAX_INT, CosignatureIn, StatementsIn
from detente.errors import ConflictingWriteError, InputError, NotFoundError
from detente.ledger import SIG_ED25519, Cosignature, SignedStatement, vkey
from detente.ledger.audience import KIND_DELIVERY_RECEIPT
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE
from detente.service.record import SERVICE_AUTHOR

__all__ = ["router"]

router = APIRouter(prefix="/v1/record", tags=["record"], route_class=StrictJsonRoute)

NDJSON = "application/x-ndjson"
NOTE = "text/plain; charset=utf-8"
# An author signs in the record: the service, a party, or party/official (no slash inside,
# no space or control character).
_NAME = r"[^/\x00-\x20\x7f-\x9f]{1,64}"
AUTHOR = rf"^{_NAME}(/{_NAME})?$"
Author = Annotated[str, Path(pattern=AUTHOR, description="a party, or party/official")]
Index = Annotated[int, Path(ge=0, le=MAX_INT, description="an entry's index")]
Size = Query(None, ge=0, le=MAX_INT, description="a tree's size (number of entries)")


class NdjsonResponse(Response):
    media_type = NDJSON


def _record(mech: Any) -> Any:
    if mech.record is None:
        raise ConflictingWriteError("this service keeps no record")
    return mech.record


def _head_exists(ledger: Any, size: int) -> None:
    try:
        ledger.head(size)
    except InputError:  # the ledger's word for a size it never signed
        raise NotFoundError(f"size: no tree head of size {size}") from None


def parse_entries(items: list[dict[str, Any]]) -> list[SignedStatement]:
    return [SignedStatement.from_json(v, f"statements[{k}]") for k, v in enumerate(items)]


@router.get("/head", responses=problems(404, 409, 503))
async def head(me: MeOrOperator, mech: Mech, size: int | None = Size) -> dict[str, Any]:
    """The latest signed tree head (or the one of ``size``), who co-signed it, whether it is
    settled (co-signed by every party), and the log's C2SP verifier key (``vkey``) with which
    an off-the-shelf witness checks its checkpoints."""
    record = _record(mech)
    if size is not None:
        _head_exists(record.ledger, size)
    ledger = record.ledger
    return {**mech.head_view(size),
            "vkey": vkey(ledger.origin, SIG_ED25519, ledger.log_public_key)}


@router.get("/checkpoint", response_class=Response, responses={
    200: {"description": "a C2SP checkpoint in signed-note form, with every cosignature",
          "content": {"text/plain": {"schema": {"type": "string"}}}},
    **problems(404, 409, 503)})
async def checkpoint(me: MeOrOperator, mech: Mech, size: int | None = Size) -> Response:
    """The latest tree head (or the one of ``size``) as a C2SP checkpoint
    (c2sp.org/tlog-checkpoint), signed by the log and co-signed (c2sp.org/tlog-cosignature)
    by the parties that did: what a C2SP client or witness reads."""
    ledger = _record(mech).ledger
    if size is not None:
        _head_exists(ledger, size)
    return Response(ledger.checkpoint(size), media_type=NOTE)


@router.get("/receipts/{index}", responses=problems(404, 409, 503))
async def receipt(index: Index, me: MeOrOperator, mech: Mech,
                  size: int | None = Size) -> dict[str, Any]:
    """The inclusion proof of entry ``index`` under the head of ``size`` (default: latest),
    and the entry itself if it is addressed to the caller's party (else ``entry`` is null:
    the proof and leaf hash reveal nothing of it)."""
    ledger = _record(mech).ledger
    if index >= ledger.size:
        raise NotFoundError(f"index: no entry {index} (the log holds {ledger.size})")
    if size is not None:
        _head_exists(ledger, size)
        if index >= size:
            raise NotFoundError(f"index: entry {index} is not in the tree of size {size}")
    r = ledger.receipt(index, size)
    entry = ledger.entry(index) if me.operator else ledger.entry_for(index, me.party)
    return {"receipt": r.without_entry().to_json(),
            "entry": None if entry is None else entry.to_json()}


@router.get("/consistency", responses=problems(404, 409, 503))
async def consistency(me: MeOrOperator, mech: Mech, first: int = Query(ge=1, le=MAX_INT),
                      second: int | None = Query(None, ge=1, le=MAX_INT)
                      ) -> dict[str, Any]:
    """The consistency proof from the tree of ``first`` entries to that of ``second`` (default:
    the latest), as RFC 9162 defines it."""
    ledger = _record(mech).ledger
    size = ledger.size
    second = size if second is None else second
    for name, value in (("first", first), ("second", second)):
        if value > size:
            raise NotFoundError(f"{name}: no tree of size {value} (the log holds {size})")
    if first > second:
        raise NotFoundError(f"first: no proof from a tree of {first} to a smaller one "
                            f"({second})")
    proof = ledger.consistency_proof(first, second)
    return {"first": first, "second": second,
            "proof": [base64.b64encode(p).decode() for p in proof]}


@router.post("/cosignatures", responses=problems(400, 403, 404, 409, 503))
async def cosign(body: CosignatureIn, me: Me, mech: Mech) -> dict[str, Any]:
    """A party's cosignature of a tree head it checked (C2SP cosignature/v1)."""
    c = Cosignature.from_json(body.model_dump())
    if c.party != me.party:
        raise ConflictingWriteError(f"cosignature: by {c.party!r}, sent by {me.party!r}")
    ledger = _record(mech).ledger
    _head_exists(ledger, body.size)
    ledger.add_cosignature(c)
    return mech.head_view(body.size)


@router.post("/statements", responses=problems(400, 403, 409, 503))
async def statements(body: StatementsIn, request: Request, me: Me, mech: Mech
                     ) -> dict[str, Any]:
    """Register or rotate the caller's key in the log (``key.register``, ``key.rotate``), or
    say that an entry addressed to the caller's party was delivered (``delivery.receipt``,
    naming the entry in ``ref`` and its leaf hash: the log refuses a hash that is not the
    entry's)."""
    record = _record(mech)
    # As the caller sent them: the signatures are over these bytes, not over the models'.
    entries = parse_entries((await request.json())["statements"])
    receipts = await record.append_party(
        me, entries, [KIND_KEY_REGISTER, KIND_KEY_ROTATE, KIND_DELIVERY_RECEIPT])
    return {"receipts": [r.to_json() for r in receipts]}


@router.get("/keys/{author:path}", responses=problems(404, 409, 503))
async def key_of(author: Author, me: Me, mech: Mech) -> dict[str, Any]:
    """The current key of an author in the log, or null if it has registered none. 404 for
    an author the configuration does not know."""
    if not _known_author(mech.config, author):
        raise NotFoundError(f"author: {author!r} is neither this service, a party nor one of "
                            "its officials")
    k = _record(mech).ledger.keys.current(author)
    return {"author": author, "key": None if k is None else {
        "key_id": k.key_id, "public_key": base64.b64encode(k.public_key).decode(),
        "since": k.since}}


@router.get("/export", response_class=NdjsonResponse, responses={
    200: {"description": "the record, one RFC 8785 JSON object a line",
          "content": {NDJSON: {"schema": {"type": "string"}}}},
    **problems(409, 503)})
async def export(me: MeOrOperator, mech: Mech) -> Response:
    """The caller's party's copy of the record for offline checking (``detente verify``):
    the entries addressed to it whole, every other entry as its index and leaf hash only,
    and every tree head, cosignature and consistency proof. The operator's token gets the
    full export. Streamed from one snapshot of the database, page by page, off the event
    loop: memory does not grow with the log, and the service goes on meanwhile."""
    chunks = _record(mech).ledger.export_chunks(None if me.operator else me.party)
    return StreamingResponse(iterate_in_threadpool(chunks), media_type=NDJSON)


def _known_author(config: Any, author: str) -> bool:
    if author == SERVICE_AUTHOR:
        return True
    party, _, official = author.partition("/")
    if party not in config.parties:
        return False
    if not official:
        return True
    o = config.official(official)
    return o is not None and o.party == party
