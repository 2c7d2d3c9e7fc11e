"""Ingest in the surveillance formats parties already have: OpenSky state vectors (the REST
``/states/all`` document, or the records of OpenSky's history files) and SBS-1 BaseStation
lines. Units are converted here, at the edge; the records a real feed always carries that
cannot be used (on the ground, nulls) are skipped and counted in the reply."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from detente.api.deps import Me, Mech
from detente.api.json_body import StrictJsonRoute, decode_json
from detente.api.openapi import problems
from detente.errors import InputError
from detente.formats.opensky import read_opensky_records, read_opensky_states
from detente.formats.rejects import Reject
from detente.formats.sbs1 import Sbs1Assembler

__all__ = ["router"]

router = APIRouter(prefix="/v1/states", tags=["ingest"], route_class=StrictJsonRoute)

_NUMBER_OR_NULL = {"type": ["number", "null"]}
# A /states/all row: the values read, by position (REST_FIELDS); the rest may be anything.
_ROW = {"type": "array", "minItems": 17, "prefixItems": [
    {"type": "string", "description": "icao24"}, {}, {},
    {**_NUMBER_OR_NULL, "description": "time_position, s"},
    {**_NUMBER_OR_NULL, "description": "last_contact, s"},
    {**_NUMBER_OR_NULL, "description": "longitude, deg"},
    {**_NUMBER_OR_NULL, "description": "latitude, deg"},
    {**_NUMBER_OR_NULL, "description": "baro_altitude, m"},
    {"type": "boolean", "description": "on_ground"},
    {**_NUMBER_OR_NULL, "description": "velocity, m/s"},
    {**_NUMBER_OR_NULL, "description": "true_track, deg"},
    {**_NUMBER_OR_NULL, "description": "vertical_rate, m/s"},
]}
_RECORD_NUMBERS = ("timestamp", "latitude", "longitude", "altitude", "groundspeed", "track",
                   "vertical_rate")
OPENSKY_BODY = {"oneOf": [
    {"type": "object", "title": "OpenSky /states/all", "required": ["states"],
     "properties": {"time": {"type": "integer"},
                    "states": {"oneOf": [{"type": "array", "items": _ROW}, {"type": "null"}]}}},
    {"type": "array", "title": "OpenSky records (ft, kt, ft/min, ms)", "items": {
        "type": "object", "required": ["icao24", *_RECORD_NUMBERS],
        "properties": {"icao24": {"type": "string"}, "onground": {"type": "boolean"},
                       **{k: _NUMBER_OR_NULL for k in _RECORD_NUMBERS}}}},
]}


def _integer(value: Any) -> bool:
    """An integer as JSON Schema has it: 3 and 3.0 are, true is not."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _skipped(counts: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for r, n in counts.items():
        assert isinstance(r, Reject)
        name = r.reason if r.field is None else f"{r.reason}:{r.field}"
        out[name] = out.get(name, 0) + n
    return out


@router.post("/opensky", responses=problems(400, 503), openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {"schema": OPENSKY_BODY}}}})
async def opensky(request: Request, me: Me, mech: Mech) -> dict[str, Any]:
    """An OpenSky REST ``/states/all`` document (SI units), or a JSON list of OpenSky history
    records (ft, kt, ft/min). Aircraft ids are the ICAO addresses, in lower case. Unusable
    rows (on the ground, nulls, out of range) are skipped and counted by reason."""
    doc = decode_json(await request.body())
    if isinstance(doc, dict) and "time" in doc and not _integer(doc["time"]):
        raise InputError(f"time: expected an integer (s), got {type(doc['time']).__name__}")
    decoded = read_opensky_states(doc) if isinstance(doc, dict) else read_opensky_records(doc)
    result = await mech.ingest(me.party, decoded.reports) if decoded.reports else {
        "accepted": 0, "in_picture": 0}
    return {**result, "skipped": _skipped(decoded.rejected)}


@router.post("/sbs1", responses=problems(400, 503), openapi_extra={"requestBody": {
    "required": False, "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def sbs1(request: Request, me: Me, mech: Mech) -> dict[str, Any]:
    """SBS-1 BaseStation lines (port 30003 text), in the body as text. Positions and
    velocities arrive in separate messages: the service joins them per party, so a party can
    post its feed in chunks as it comes."""
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"body: not UTF-8 text ({exc.reason})") from None
    assemblers: dict[str, Sbs1Assembler] = request.app.state.sbs1
    asm = assemblers.setdefault(me.party, Sbs1Assembler(now=mech.clock.now))
    before = asm.rejected.copy()
    reports, problems = asm.feed_lines(text.splitlines())
    result = await mech.ingest(me.party, reports) if reports else {
        "accepted": 0, "in_picture": 0}
    return {**result, "skipped": _skipped(asm.rejected - before),
            "line_problems": [{"line": p.line, "field": p.field, "problem": p.problem}
                              for p in problems[:100]],
            "line_problem_count": len(problems)}
