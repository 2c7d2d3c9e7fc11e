"""Access tokens as F3548 has them: RS256 JWTs from an issuer whose public keys are configured.

A request carries ``Authorization: Bearer <JWT>``. The token must verify against one of the
configured keys (RS256 only: ``alg: none`` or HS256 are refused), be within its ``exp`` (and
``nbf``), name one of the configured audiences in ``aud`` (the host name USSs call this
service by), and carry ``sub`` and ``scope``. Otherwise 401. Then its scopes must include one
of the endpoint's alternatives (utm.yaml's ``security``), else 403; and its ``sub`` must be a
configured manager, else 403.

Verified tokens are remembered until they expire (a USS sends the same token for an hour):
an RS256 check costs tens of microseconds, a lookup nothing.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import jwt

from detente.errors import DetenteError
from detente.service.dss.model import PermissionDeniedError
from detente.service.dss.settings import DssSettings

__all__ = ["Caller", "NotAuthenticatedError", "TokenVerifier"]

_CACHE_MAX = 4_096


class NotAuthenticatedError(DetenteError):
    """No token, or one that does not verify (401)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated USS: its ``sub``, the party it flies for, its token's scopes."""

    manager: str
    party: str
    scopes: frozenset[str]


class TokenVerifier:
    def __init__(self, settings: DssSettings) -> None:
        self._settings = settings
        self._seen: dict[str, tuple[float, str, frozenset[str]]] = {}

    def _claims(self, token: str) -> tuple[str, frozenset[str]]:
        seen = self._seen.get(token)
        if seen is not None and seen[0] > time.time():
            return seen[1], seen[2]
        last: Exception | None = None
        for key in self._settings.public_keys:
            try:
                claims = jwt.decode(token, key, algorithms=["RS256"],
                                    audience=list(self._settings.audiences),
                                    options={"require": ["exp", "sub", "aud"]})
                break
            except jwt.InvalidSignatureError as exc:
                last = exc  # perhaps another of the keys
            except jwt.PyJWTError as exc:
                raise NotAuthenticatedError(f"access token refused: {exc}") from None
        else:
            raise NotAuthenticatedError(f"access token refused: {last}")
        sub, scope = claims.get("sub"), claims.get("scope", "")
        if not isinstance(sub, str) or not sub or not isinstance(scope, str):
            raise NotAuthenticatedError("access token refused: sub and scope must be strings")
        scopes = frozenset(scope.split())
        if len(self._seen) >= _CACHE_MAX:
            now = time.time()
            self._seen = {k: v for k, v in self._seen.items() if v[0] > now}
            if len(self._seen) >= _CACHE_MAX:
                self._seen.clear()
        self._seen[token] = (float(claims["exp"]), sub, scopes)
        return sub, scopes

    def check(self, authorization: str | None, alternatives: Sequence[Collection[str]]
              ) -> Caller:
        """The caller of a request with this Authorization header, if one of the scope sets
        in ``alternatives`` is within its token's scopes."""
        if not authorization:
            raise NotAuthenticatedError("missing Authorization header with a bearer token")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthenticatedError("the Authorization header is not 'Bearer <token>'")
        sub, scopes = self._claims(token.strip())
        if not any(set(alt) <= scopes for alt in alternatives):
            wanted = " or ".join(" and ".join(sorted(a)) for a in alternatives)
            raise PermissionDeniedError(f"this endpoint needs the scope {wanted}; the token "
                                        f"grants {' '.join(sorted(scopes)) or 'none'}")
        party = self._settings.managers.get(sub)
        if party is None:
            raise PermissionDeniedError(f"{sub!r} is not a USS this DSS serves")
        return Caller(sub, party, scopes)
