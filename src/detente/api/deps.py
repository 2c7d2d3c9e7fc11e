"""Dependencies shared by the routers: the mechanism and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from detente.errors import AuthenticationError
from detente.service.auth import Principal
from detente.service.mechanism import Mechanism

__all__ = ["Me", "MeOrOperator", "Mech", "mechanism_of", "principal", "principal_or_operator"]

_bearer = HTTPBearer(auto_error=False)


def mechanism_of(request: Request) -> Mechanism:
    return request.app.state.mechanism


def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None:
        raise AuthenticationError("missing bearer token: log in at /v1/auth/token")
    return request.app.state.auth.check(creds.credentials)


def principal_or_operator(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, who may be the operator (logged in with the log's key): for what the
    operator may read too (the full record, the service's figures)."""
    if creds is None:
        raise AuthenticationError("missing bearer token: log in at /v1/auth/token")
    return request.app.state.auth.check(creds.credentials, operator_ok=True)


# Module level, so that FastAPI can resolve them under postponed annotations.
Me = Annotated[Principal, Depends(principal)]
MeOrOperator = Annotated[Principal, Depends(principal_or_operator)]
Mech = Annotated[Mechanism, Depends(mechanism_of)]
