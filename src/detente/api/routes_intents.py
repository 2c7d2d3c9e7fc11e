"""Operational intents over HTTP (ASTM F3548 semantics): create or change with the key of
every overlapped intent, read one's own."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from detente.api.deps import Me, Mech
from detente.api.json_body import StrictJsonRoute
from detente.api.openapi import problems
from detente.errors import NotFoundError
from detente.formats.intents_json import intent_from_json, intent_to_json
from detente.model.intent import IntentState
from detente.service.intents import volumes_shown

__all__ = ["router"]

router = APIRouter(prefix="/v1/intents", tags=["intents"], route_class=StrictJsonRoute)

IntentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$",
                               description="the intent's id")]


_POSITION = {"type": "array", "minItems": 2, "maxItems": 2, "description": "[lon, lat], deg",
             "prefixItems": [{"type": "number", "minimum": -180, "maximum": 180},
                             {"type": "number", "minimum": -90, "maximum": 90}]}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601 with a UTC offset"}
_FOOTPRINT = {"oneOf": [
    {"type": "object", "additionalProperties": False, "required": ["type", "coordinates"],
     "properties": {"type": {"const": "Polygon"},
                    "coordinates": {"type": "array", "minItems": 1, "maxItems": 1,
                                    "items": {"type": "array", "minItems": 4,
                                              "items": _POSITION}}}},
    {"type": "object", "additionalProperties": False, "required": ["type", "center", "radius_m"],
     "properties": {"type": {"const": "Circle"}, "center": _POSITION,
                    "radius_m": {"type": "number", "exclusiveMinimum": 0}}},
]}
_VOLUME = {"type": "object", "additionalProperties": False, "required": [
    "footprint", "altitude_lower_m", "altitude_upper_m", "time_start", "time_end"],
    "properties": {"footprint": _FOOTPRINT, "altitude_lower_m": {"type": "number"},
                   "altitude_upper_m": {"type": "number"}, "time_start": _TIME,
                   "time_end": _TIME}}
# What formats.intents_json reads; it checks what no schema says (a simple polygon, floor below
# ceiling, start before end) and answers 400 naming the volume.
INTENT_SCHEMA = {"type": "object", "additionalProperties": False,
                 "required": ["id", "state", "priority", "volumes"],
                 "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 64},
                                "owner": {"type": "string"},
                                "state": {"enum": [s.value for s in IntentState]},
                                "priority": {"type": "integer"},
                                "version": {"type": ["string", "null"]},
                                "volumes": {"type": "array", "minItems": 1, "items": _VOLUME}}}


class IntentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intent: dict[str, Any] = Field(description="as `detente intents check` reads it; owner is "
                                               "the caller's party; version for a change",
                                   json_schema_extra=INTENT_SCHEMA)
    key: list[str] = Field(default_factory=list, max_length=10_000,
                           description="versions of the overlapped intents you have read")


@router.put("", responses=problems(400, 409, 503))
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


@router.get("/{intent_id}", responses=problems(404))
async def get(intent_id: IntentId, me: Me, mech: Mech) -> dict[str, Any]:
    """One live intent: in full if it is the caller's or its owner shares volumes, else its
    id, owner, version and state only (enough to present its key). One a USS manages through
    the DSS interface shows its manager instead of its version (the USS gives that out)."""
    intent = mech.intents.get(intent_id, now=mech.clock.now())
    if intent is None:
        raise NotFoundError(f"intent_id: no live intent {intent_id!r}")
    view = {"id": intent.id, "owner": intent.owner, "version": intent.version,
            "state": IntentState(intent.state).value}
    if volumes_shown(intent.owner, me.party, mech.strategic_policy):
        view = intent_to_json(intent)
    managed = mech.intents.managed.get(intent_id)
    if managed is not None:
        view.pop("version", None)
        view["manager"] = managed.manager
    return view
