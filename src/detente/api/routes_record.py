"""The record over HTTP: tree heads, receipts, proofs, cosignatures, parties' statements,
and the full export that `detente verify` checks offline."""

from __future__ import annotations

import base64
import io
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from detente.api.deps import Me, Mech
from detente.errors import ConflictingWriteError, InputError
from detente.ledger import Cosignature, SignedStatement
from detente.ledger.statements import KIND_KEY_REGISTER, KIND_KEY_ROTATE

__all__ = ["router"]

router = APIRouter(prefix="/v1/record", tags=["record"])


class StatementsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    statements: list[dict[str, Any]] = Field(
        min_length=1, max_length=100,
        description='entries as {"signature": base64, "statement": {...}}')


def _record(mech: Any) -> Any:
    if mech.record is None:
        raise ConflictingWriteError("this service keeps no record")
    return mech.record


def parse_entries(items: list[dict[str, Any]]) -> list[SignedStatement]:
    return [SignedStatement.from_json(v, f"statements[{k}]") for k, v in enumerate(items)]


@router.get("/head")
async def head(me: Me, mech: Mech, size: int | None = Query(None, ge=0)) -> dict[str, Any]:
    """The latest signed tree head (or the one of ``size``), who co-signed it, and whether it
    is settled (co-signed by every party)."""
    _record(mech)
    return mech.head_view(size)


@router.get("/receipts/{index}")
async def receipt(index: int, me: Me, mech: Mech,
                  size: int | None = Query(None, ge=1)) -> dict[str, Any]:
    """Entry ``index`` with its inclusion proof under the head of ``size`` (default: latest)."""
    ledger = _record(mech).ledger
    if not 0 <= index < ledger.size:
        raise InputError(f"index: no entry {index} (the log holds {ledger.size})")
    r = ledger.receipt(index, size)
    return {"receipt": r.to_json(), "entry": ledger.entry(index).to_json()}


@router.get("/consistency")
async def consistency(me: Me, mech: Mech, first: int = Query(ge=0),
                      second: int | None = Query(None, ge=0)) -> dict[str, Any]:
    ledger = _record(mech).ledger
    second = ledger.size if second is None else second
    if not first <= second <= ledger.size:
        raise InputError(f"need 0 <= first <= second <= {ledger.size}")
    proof = ledger.consistency_proof(first, second)
    return {"first": first, "second": second,
            "proof": [base64.b64encode(p).decode() for p in proof]}


@router.post("/cosignatures")
async def cosign(body: dict[str, Any], me: Me, mech: Mech) -> dict[str, Any]:
    """A party's cosignature of a tree head it checked (C2SP tlog-cosignature style)."""
    c = Cosignature.from_json(body)
    if c.party != me.party:
        raise ConflictingWriteError(f"cosignature of {c.party!r} sent by {me.party!r}")
    _record(mech).ledger.add_cosignature(c)
    return mech.head_view(c.size)


@router.post("/statements")
async def statements(body: StatementsIn, me: Me, mech: Mech) -> dict[str, Any]:
    """Register or rotate the caller's key in the log (``key.register``, ``key.rotate``)."""
    record = _record(mech)
    entries = parse_entries(body.statements)
    receipts = await record.append_party(me, entries, [KIND_KEY_REGISTER, KIND_KEY_ROTATE])
    return {"receipts": [r.to_json() for r in receipts]}


@router.get("/keys/{author:path}")
async def key_of(author: str, me: Me, mech: Mech) -> dict[str, Any]:
    """The current key of an author in the log, or null."""
    k = _record(mech).ledger.keys.current(author)
    return {"author": author, "key": None if k is None else {
        "key_id": k.key_id, "public_key": base64.b64encode(k.public_key).decode(),
        "since": k.since}}


@router.get("/export")
async def export(me: Me, mech: Mech) -> Response:
    """The whole record (entries, tree heads, cosignatures, log key) for offline checking."""
    buf = io.BytesIO()
    _record(mech).ledger.export(buf)
    return Response(buf.getvalue(), media_type="application/x-ndjson")
