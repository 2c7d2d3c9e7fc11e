"""The ASTM F3548-21 DSS interface under /dss/v1/, on detente's intents.

Bodies are utm.yaml's; errors are F3548's ``{"message": ...}`` with the standard's status
codes (not detente's RFC 9457 problems: this edge speaks the standard, and the mapping stays
in this file). Authentication is the standard's (``auth``), not detente's login. The
endpoints are left out of detente's OpenAPI document: their reference is ASTM's utm.yaml.

Also here, as the USS-side of detente's own parties' intents (F3548 has a USS give an
intent's details and OVN, not the DSS): ``GET /dss/detente/uss/v1/operational_intents/{id}``,
the ``uss_base_url`` of their references. It gives the OVN to any USS the DSS serves (as
detente's own API gives an intent's version to any party: the key proves it was read), the
volumes and priority only where the owner's agreements share them with the USS's party.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from detente.api.dss import wire
from detente.api.dss.auth import Caller, NotAuthenticatedError, TokenVerifier
from detente.errors import ConflictingWriteError, DetenteError, InputError, StoreError
from detente.model.intent import NOMINAL_STATES
from detente.service.dss import arbitration, constraints, oirs, subscriptions
from detente.service.dss.model import (
    AreaTooLargeError,
    MissingOvnsError,
    NotFoundError,
    PermissionDeniedError,
    UssDownError,
)
from detente.service.dss.state import DssState
from detente.service.intents import volumes_shown

__all__ = ["router"]

log = logging.getLogger("detente.api.dss")

SC = "utm.strategic_coordination"
CMSA = "utm.conformance_monitoring_sa"
CM = "utm.constraint_management"
CP = "utm.constraint_processing"
AA = "utm.availability_arbitration"

# utm.yaml's security alternatives, per endpoint.
_OIR_READ = ((SC,), (CMSA,))
_OIR_WRITE = ((SC,), (SC, CP), (CMSA,))
_CR_READ = ((CM,), (CP,))
_CR_WRITE = ((CM,),)
_SUB = ((CP,), (SC,))
_REPORT = ((CM,), (CP,), (SC,), (CMSA,), (AA,))
_AV_READ = ((AA,), (SC,), (CMSA,))
_AV_WRITE = ((AA,),)
_ANY = ((SC,), (CMSA,), (CM,), (CP,), (AA,))


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The DSS's state beside the mechanism (made first, in the app's own lifespan)."""
    mech = app.state.mechanism
    settings = mech.config.dss
    app.state.dss = app.state.dss_tokens = None
    if settings is not None:
        app.state.dss = await asyncio.to_thread(
            DssState, settings, mech.intents, mech.strategic_policy, now=mech.clock.now())
        app.state.dss_tokens = TokenVerifier(settings)
    yield


router = APIRouter(include_in_schema=False, lifespan=_lifespan)


def _message(status: int, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"message": message, **extra}, status_code=status, headers=headers)


def _error(exc: Exception, *, not_found: int, too_large: int, request: Request,
           viewer: str | None) -> JSONResponse:
    """F3548's answer to ``exc``."""
    if isinstance(exc, NotAuthenticatedError):
        return _message(401, str(exc))
    if isinstance(exc, PermissionDeniedError):
        return _message(403, str(exc))
    if isinstance(exc, NotFoundError):
        return _message(not_found, str(exc))
    if isinstance(exc, MissingOvnsError):
        state: DssState = request.app.state.dss
        url = _native_url(request)
        return _message(409, str(exc), missing_operational_intents=[
            wire.oir_json(r, viewer or "", _availability(state), url) for r in exc.missing
        ], missing_constraints=[wire.constraint_json(c, viewer or "", _availability(state))
                                for c in exc.constraints])
    if isinstance(exc, ConflictingWriteError):
        return _message(409, str(exc))
    if isinstance(exc, UssDownError):
        return _message(412, str(exc))
    if isinstance(exc, AreaTooLargeError):
        return _message(too_large, str(exc))
    if isinstance(exc, StoreError):
        log.error("DSS request failed in the store: %s", exc)
        return _message(503, "the store is unavailable; try again")
    if isinstance(exc, DetenteError):
        return _message(400, str(exc))
    log.exception("unexpected error on %s", request.url.path)
    return _message(500, "the service failed on this request; it has been logged")


def _availability(state: DssState) -> Callable[[str], str]:
    return lambda uss: state.availability_of(uss).availability


def _native_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/dss/detente"


async def _run(request: Request, alternatives: Sequence[Collection[str]],
               work: Callable[[DssState, Caller, Any, float], Any], *, body: bool = False,
               status: int = 200, not_found: int = 404, too_large: int = 400) -> JSONResponse:
    """Authenticate, read the body, do ``work`` in a thread (it commits to disk), answer."""
    state: DssState | None = request.app.state.dss
    if state is None:
        return _message(404, "this service has no DSS interface configured ([dss])")
    caller: Caller | None = None
    try:
        caller = request.app.state.dss_tokens.check(request.headers.get("authorization"),
                                                    alternatives)
        payload = None
        if body:
            try:
                payload = json.loads(await request.body())
            except (ValueError, RecursionError) as exc:
                raise InputError(f"body: not a JSON document ({exc})") from None
        now = request.app.state.mechanism.clock.now()
        result = await asyncio.to_thread(work, state, caller, payload, now)
        return JSONResponse(result, status_code=status)
    except Exception as exc:  # every error answers F3548's way: the mapping is _error's
        return _error(exc, not_found=not_found, too_large=too_large, request=request,
                      viewer=None if caller is None else caller.manager)


# --- operational intent references -------------------------------------------------------


@router.post("/dss/v1/operational_intent_references/query")
async def query_oirs(request: Request) -> JSONResponse:
    url = _native_url(request)

    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        refs = oirs.query(state, wire.query_volume(body), now)
        return {"operational_intent_references": [
            wire.oir_json(r, c.manager, _availability(state), url) for r in refs]}

    return await _run(request, _OIR_READ, work, body=True, too_large=413)


@router.get("/dss/v1/operational_intent_references/{entityid}")
async def get_oir(entityid: str, request: Request) -> JSONResponse:
    url = _native_url(request)

    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        ref = oirs.get(state, wire.entity_id(entityid), now)
        return {"operational_intent_reference": wire.oir_json(ref, c.manager,
                                                              _availability(state), url)}

    return await _run(request, _OIR_READ, work)


def _put_oir(entityid: str, ovn: str | None, url: str) -> Callable[..., Any]:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        change = oirs.put(state, c.manager, c.party, c.scopes, wire.entity_id(entityid), ovn,
                          wire.oir_write(body), now)
        return wire.change_json(change, c.manager, _availability(state), url)

    return work


@router.put("/dss/v1/operational_intent_references/{entityid}")
async def create_oir(entityid: str, request: Request) -> JSONResponse:
    return await _run(request, _OIR_WRITE, _put_oir(entityid, None, _native_url(request)),
                      body=True, status=201, not_found=400)


@router.put("/dss/v1/operational_intent_references/{entityid}/{ovn}")
async def update_oir(entityid: str, ovn: str, request: Request) -> JSONResponse:
    return await _run(request, _OIR_WRITE, _put_oir(entityid, ovn, _native_url(request)),
                      body=True, not_found=400)


@router.delete("/dss/v1/operational_intent_references/{entityid}/{ovn}")
async def delete_oir(entityid: str, ovn: str, request: Request) -> JSONResponse:
    url = _native_url(request)

    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        change = oirs.delete(state, c.manager, wire.entity_id(entityid), ovn, now)
        return wire.change_json(change, c.manager, _availability(state), url)

    return await _run(request, _OIR_READ, work)


@router.delete("/dss/v1/operational_intent_references/{entityid}")
@router.delete("/dss/v1/constraint_references/{entityid}")
@router.delete("/dss/v1/subscriptions/{entityid}")
async def delete_without_version(entityid: str, request: Request) -> JSONResponse:
    """A deletion names the version it deletes: without one, 400 (not 405)."""

    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        raise InputError("a deletion names the version (OVN) it deletes: "
                         f"{request.url.path}/{{version}}")

    return await _run(request, _ANY, work)


# --- constraint references ----------------------------------------------------------------


@router.post("/dss/v1/constraint_references/query")
async def query_constraints(request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        found = constraints.query(state, wire.query_volume(body), now)
        return {"constraint_references": [
            wire.constraint_json(cr, c.manager, _availability(state)) for cr in found]}

    return await _run(request, _CR_READ, work, body=True, too_large=413)


@router.get("/dss/v1/constraint_references/{entityid}")
async def get_constraint(entityid: str, request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        cr = constraints.get(state, wire.entity_id(entityid), now)
        return {"constraint_reference": wire.constraint_json(cr, c.manager,
                                                             _availability(state))}

    return await _run(request, _CR_READ, work)


def _put_constraint(entityid: str, ovn: str | None) -> Callable[..., Any]:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        volumes, url = wire.constraint_write(body)
        change = constraints.put(state, c.manager, wire.entity_id(entityid), ovn, volumes, url,
                                 now)
        return wire.constraint_change_json(change, c.manager, _availability(state))

    return work


@router.put("/dss/v1/constraint_references/{entityid}")
async def create_constraint(entityid: str, request: Request) -> JSONResponse:
    return await _run(request, _CR_WRITE, _put_constraint(entityid, None), body=True,
                      status=201, not_found=400)


@router.put("/dss/v1/constraint_references/{entityid}/{ovn}")
async def update_constraint(entityid: str, ovn: str, request: Request) -> JSONResponse:
    return await _run(request, _CR_WRITE, _put_constraint(entityid, ovn), body=True,
                      not_found=400)


@router.delete("/dss/v1/constraint_references/{entityid}/{ovn}")
async def delete_constraint(entityid: str, ovn: str, request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        change = constraints.delete(state, c.manager, wire.entity_id(entityid), ovn, now)
        return wire.constraint_change_json(change, c.manager, _availability(state))

    return await _run(request, _CR_WRITE, work)


# --- subscriptions ------------------------------------------------------------------------


@router.post("/dss/v1/subscriptions/query")
async def query_subscriptions(request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        found = subscriptions.query(state, c.manager, wire.query_volume(body), now)
        return {"subscriptions": [wire.subscription_json(s, d) for s, d in found]}

    return await _run(request, _SUB, work, body=True, too_large=413)


@router.get("/dss/v1/subscriptions/{subscriptionid}")
async def get_subscription(subscriptionid: str, request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        sub, dependents = subscriptions.get(
            state, c.manager, wire.entity_id(subscriptionid, "subscriptionid"), now)
        return {"subscription": wire.subscription_json(sub, dependents)}

    return await _run(request, _SUB, work)


def _put_subscription(subscriptionid: str, version: str | None, url: str
                      ) -> Callable[..., Any]:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        change = subscriptions.put(state, c.manager, c.scopes,
                                   wire.entity_id(subscriptionid, "subscriptionid"), version,
                                   wire.sub_write(body), now)
        return wire.sub_change_json(change, c.manager, _availability(state), url)

    return work


@router.put("/dss/v1/subscriptions/{subscriptionid}")
async def create_subscription(subscriptionid: str, request: Request) -> JSONResponse:
    return await _run(request, _SUB, _put_subscription(subscriptionid, None,
                                                       _native_url(request)),
                      body=True, not_found=400)


@router.put("/dss/v1/subscriptions/{subscriptionid}/{version}")
async def update_subscription(subscriptionid: str, version: str, request: Request
                              ) -> JSONResponse:
    return await _run(request, _SUB, _put_subscription(subscriptionid, version,
                                                       _native_url(request)),
                      body=True, not_found=400)


@router.delete("/dss/v1/subscriptions/{subscriptionid}/{version}")
async def delete_subscription(subscriptionid: str, version: str, request: Request
                              ) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        sub_id = wire.entity_id(subscriptionid, "subscriptionid")
        dependents = subscriptions.get(state, c.manager, sub_id, now)[1]
        sub = subscriptions.delete(state, c.manager, sub_id, version, now)
        return {"subscription": wire.subscription_json(sub, dependents)}

    return await _run(request, _SUB, work)


# --- availability and reports -------------------------------------------------------------


def _availability_json(av: Any) -> dict[str, Any]:
    return {"status": {"uss": av.uss, "availability": av.availability}, "version": av.version}


@router.get("/dss/v1/uss_availability/{uss_id}")
async def get_availability(uss_id: str, request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        return _availability_json(arbitration.get_availability(state, uss_id))

    return await _run(request, _AV_READ, work)


@router.put("/dss/v1/uss_availability/{uss_id}")
async def set_availability(uss_id: str, request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        if not isinstance(body, dict):
            raise InputError("body: expected an object")
        old = body.get("old_version", "")
        if not isinstance(old, str):
            raise InputError("old_version: expected a string")
        av = arbitration.set_availability(state, uss_id, old, body.get("availability"))
        return _availability_json(av)

    return await _run(request, _AV_WRITE, work, body=True)


@router.post("/dss/v1/reports")
async def make_report(request: Request) -> JSONResponse:
    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("exchange"), dict):
            raise InputError("exchange: required (an ExchangeRecord object)")
        report_id = arbitration.report(state, c.manager, body, now)
        return {**body, "report_id": report_id}

    return await _run(request, _REPORT, work, body=True, status=201)


# --- the USS side of detente's own intents ------------------------------------------------


@router.get("/dss/detente/uss/v1/operational_intents/{entityid}")
async def native_details(entityid: str, request: Request) -> JSONResponse:
    url = _native_url(request)

    def work(state: DssState, c: Caller, body: Any, now: float) -> Any:
        ref = oirs.get(state, entityid, now)
        if ref.meta is not None:
            raise NotFoundError(f"{entityid} is managed by {ref.meta.manager}: ask it")
        it = ref.intent
        reference = wire.oir_json(ref, c.manager, _availability(state), url)
        reference["ovn"] = it.version
        shown = volumes_shown(it.owner, c.party, state.policy)
        nominal = it.state in NOMINAL_STATES
        volumes = [wire.volume_json(v) for v in it.volumes] if shown else []
        details: dict[str, Any] = {"volumes": volumes if nominal else [],
                                   "off_nominal_volumes": [] if nominal else volumes}
        if shown:  # as detente's own API: the priority goes with the volumes
            details["priority"] = it.priority
        return {"operational_intent": {"reference": reference, "details": details}}

    return await _run(request, ((SC,),), work)
