"""What the operator console needs to draw a party's view that the stream does not carry.

Need to know: a party is told of itself and of the parties it has an agreement with (their
names and colours), and of nothing else; a party it has no agreement with shares nothing with
it, and is not named to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from detente.api.deps import Me, Mech
from detente.api.json_body import StrictJsonRoute

__all__ = ["router"]

router = APIRouter(prefix="/v1/console", tags=["console"], route_class=StrictJsonRoute)


@router.get("")
async def console(me: Me, mech: Mech) -> dict[str, Any]:
    """The caller's party and the parties it has agreements with, in the configuration's
    order, each with its fixed colour (the same on every console), and the region."""
    config = mech.config
    parties = [
        {"id": p.id, "name": p.name, "colour": p.colour, "own": p.id == me.party}
        for p in config.parties.values()
        if p.id == me.party or config.agreement(me.party, p.id) is not None
    ]
    return {"party": me.party, "official": me.official, "parties": parties,
            "region": {"name": config.region_name, "centre": list(config.centre)}}
