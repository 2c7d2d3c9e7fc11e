"""Dependencies shared by the routers: the mechanism and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from detente.errors import AuthenticationError
from detente.service.auth import Principal
from detente.service.mechanism import Mechanism

__all__ = ["Me", "Mech", "mechanism_of", "principal"]

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


# Module level, so that FastAPI can resolve them under postponed annotations.
Me = Annotated[Principal, Depends(principal)]
Mech = Annotated[Mechanism, Depends(mechanism_of)]
