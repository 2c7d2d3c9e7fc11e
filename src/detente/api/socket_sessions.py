"""The session of an open WebSocket (``/v1/stream``, ``/v1/ingest``): it lasts as long as the
token the socket was opened with, and no longer, unless the client renews it over the socket.

A token lasts ``token_ttl_s`` (15 minutes by default); a console or a feed stays open for
hours. Before its token expires the client logs in again over HTTP (a new challenge signed
with its key: a renewal proves the key again, so a token taken from a client cannot be
stretched for ever) and sends the new token on the open socket::

    {"type": "renew", "token": "<the new token>"}

The service answers ``{"seq": null, "type": "renewed", "data": {"expires_at": ...,
"expires_in_s": ...}}`` and the socket lives on, nothing missed and nothing repeated. A token
of another party or official is refused (the socket closes with 4403), an invalid or expired
one too (4401). A socket whose token expires unrenewed is closed with code 4401
(``CLOSE_EXPIRED``) and a reason that says so; a stream client logs in again and reconnects
with ``since`` = the last ``seq`` it saw (nothing durable is missed), an ingest client
sends again the batch that was refused with it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from detente.errors import ForbiddenError
from detente.service.auth import Authenticator, Principal

__all__ = ["CLOSE_EXPIRED", "CLOSE_FORBIDDEN", "SocketSession", "renewal_token"]

CLOSE_EXPIRED = 4401  # the token expired (or a renewal's was invalid): log in again
CLOSE_FORBIDDEN = 4403  # a renewal with another party's or official's token

# A renewal message is small; anything longer is a batch of states (on the ingest socket).
_MAX_RENEWAL_BYTES = 1024


class _Renewal(msgspec.Struct, forbid_unknown_fields=True):
    type: Literal["renew"]
    token: str


_DECODE = msgspec.json.Decoder(_Renewal)


def renewal_token(body: bytes) -> str | None:
    """The token of a renewal message, or None when ``body`` is not one."""
    if len(body) > _MAX_RENEWAL_BYTES or b"renew" not in body:
        return None
    try:
        return _DECODE.decode(body).token
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


class SocketSession:
    """Who holds an open socket, and until when (wall-clock seconds, as tokens count)."""

    def __init__(self, auth: Authenticator, principal: Principal) -> None:
        self.auth = auth
        self.principal = principal

    @property
    def expires_at(self) -> float:
        return self.principal.expires_at

    def remaining_s(self) -> float:
        return self.principal.expires_at - self.auth.wall()

    def expired(self) -> bool:
        return self.remaining_s() <= 0

    def renew(self, token: str) -> dict[str, Any]:
        """Take a fresh token of the same party and official; returns the ``renewed`` data.
        AuthenticationError if the token does not hold; PermissionError if it is another's."""
        try:
            fresh = self.auth.check(token)
        except ForbiddenError:  # the operator's: not this socket's party
            raise PermissionError("token: the operator's, but this socket is "
                                  f"{_who(self.principal)}'s") from None
        if (fresh.party, fresh.official) != (self.principal.party, self.principal.official):
            raise PermissionError(
                f"token: of {_who(fresh)}, but this socket is {_who(self.principal)}'s")
        if fresh.expires_at > self.principal.expires_at:
            self.principal = fresh
        return self.view()

    def view(self) -> dict[str, Any]:
        return {"expires_at": self.expires_at, "expires_in_s": round(self.remaining_s(), 3)}

    def expired_reason(self) -> str:
        # A WebSocket close reason holds at most 123 bytes.
        return "token expired: log in again and reconnect (since=the last seq seen)"


def _who(p: Principal) -> str:
    return p.party if p.official is None else f"{p.party}/{p.official}"
