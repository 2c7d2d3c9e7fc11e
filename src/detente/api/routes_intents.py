"""Operational intents over HTTP (ASTM F3548 semantics): create or change with the key of
every overlapped intent, read one's own."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from detente.api.deps import Me, Mech
from detente.errors import InputError
from detente.formats.intents_json import intent_from_json, intent_to_json
from detente.model.intent import IntentState
from detente.service.intents import volumes_shown

__all__ = ["router"]

router = APIRouter(prefix="/v1/intents", tags=["intents"])


class IntentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: dict[str, Any] = Field(description="as `detente intents check` reads it; owner is "
                                               "the caller's party; version for a change")
    key: list[str] = Field(default_factory=list, max_length=10_000,
                           description="versions of the overlapped intents you have read")


@router.put("")
async def put(body: IntentWrite, me: Me, mech: Mech) -> dict[str, Any]:
    """Create (no version) or change (the version it replaces) an intent; state Ended
    withdraws it. Refused with the intents missing from the key, or the priority rule."""
    intent = intent_from_json({"owner": me.party, **body.intent})
    result = await mech.put_intent(me.party, intent, body.key)
    policy = mech.strategic_policy
    return {
        "intent": intent_to_json(result.intent),
        "overlaps": [
            {"id": ov.other.id, "owner": ov.other.owner, "version": ov.other.version,
             "volume_pairs": [list(p) for p in ov.volume_pairs],
             **({"volumes": intent_to_json(ov.other)["volumes"]}
                if volumes_shown(ov.other.owner, me.party, policy) else {})}
            for ov in result.overlaps
        ],
    }


@router.get("/{intent_id}")
async def get(intent_id: str, me: Me, mech: Mech) -> dict[str, Any]:
    """One live intent: in full if it is the caller's or its owner shares volumes, else its
    id, owner, version and state only (enough to present its key). One a USS manages through
    the DSS interface shows its manager instead of its version (the USS gives that out)."""
    intent = mech.intents.get(intent_id, now=mech.clock.now())
    if intent is None:
        raise InputError(f"no live intent {intent_id!r}")
    view = {"id": intent.id, "owner": intent.owner, "version": intent.version,
            "state": IntentState(intent.state).value}
    if volumes_shown(intent.owner, me.party, mech.strategic_policy):
        view = intent_to_json(intent)
    managed = mech.intents.managed.get(intent_id)
    if managed is not None:
        view.pop("version", None)
        view["manager"] = managed.manager
    return view
