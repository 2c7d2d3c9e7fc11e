"""A follower of a node passes to the leader what only the leader does (``service.leadership``).

Served here by every instance: login, ingest (HTTP, feeds and the WebSocket), the picture, the
airspaces, the open alerts, the streams, the console and the API's own documents. Everything
else (acknowledgements, the hotline, the record, intents, the DSS) is the leader's: a follower
passes the request on as it came (the bearer token is good at every instance of the node) and
gives back the leader's answer. With no live leader, or a leader that does not answer, it
answers 503 with Retry-After and does nothing itself: the client tries again, here or at the
other instance, and no write is made twice or half (the request did not reach the leader, or
its answer says what it did).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from detente.api.problems import problem_response
from detente.errors import UnavailableError

__all__ = ["LeaderForwarding", "served_by_every_instance"]

log = logging.getLogger("detente.api")

_EXACT = {"/", "/health", "/v1/auth/challenge", "/v1/auth/token", "/v1/picture",
          "/v1/airspaces", "/v1/console", "/openapi.json", "/docs", "/docs/oauth2-redirect",
          "/redoc", "/v1/node/delivered"}
_PREFIXES = ("/console/", "/v1/states")
# Hop-by-hop headers (RFC 9110, 7.6.1) and those the client library sets itself.
_DROP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
         "trailer", "transfer-encoding", "upgrade", "host", "content-length"}


def served_by_every_instance(method: str, path: str) -> bool:
    if path in _EXACT or path.startswith(_PREFIXES):
        return True
    return method == "GET" and path == "/v1/alerts"


class LeaderForwarding:
    """ASGI middleware: at a follower, requests that are the leader's go to the leader."""

    def __init__(self, app: ASGIApp, timeout_s: float = 30.0) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        node = getattr(scope["app"].state, "node", None) if "app" in scope else None
        if node is None or node.leading or served_by_every_instance(scope["method"],
                                                                     scope["path"]):
            await self.app(scope, receive, send)
            return
        await self._forward(node, scope, receive, send)

    async def _forward(self, node: Any, scope: Scope, receive: Receive, send: Send) -> None:
        address = node.leader_address()
        retry = node.settings.retry_after_s
        if address is None:
            await _refuse(scope, receive, send, UnavailableError(
                "no leader of this node is known now (one is taking over): nothing was done; "
                "retry", retry))
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                   if k.decode("latin-1").lower() not in _DROP]
        headers.append(("x-forwarded-for", (scope.get("client") or ("", 0))[0]))
        url = address.rstrip("/") + scope.get("raw_path", scope["path"].encode()).decode()
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        try:
            answer = await self._client.request(scope["method"], url, headers=headers,
                                                 content=body)
        except httpx.HTTPError as exc:
            # Not known to have reached the leader, or no answer: the client must retry (the
            # hotline's and the record's statements carry their ids: a retry of one that did
            # go through is recognised, not made twice).
            log.warning("forwarding %s %s to the leader at %s: %s", scope["method"],
                        scope["path"], address, exc)
            await _refuse(scope, receive, send, UnavailableError(
                "the node's leader did not answer (it may be changing): retry", retry))
            return
        out = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers.items()
               if k.lower() not in _DROP and k.lower() != "content-encoding"]
        out.append((b"content-length", str(len(answer.content)).encode()))
        await send({"type": "http.response.start", "status": answer.status_code,
                    "headers": out})
        await send({"type": "http.response.body", "body": answer.content})


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: UnavailableError) -> None:
    from detente.api.problems import problem_of
    response = problem_response(problem_of(exc), scope["path"])
    await response(scope, receive, send)
