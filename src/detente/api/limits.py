"""Request body size limit as ASGI middleware: refuse before reading more than the limit."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detente.api.problems import PROBLEM_JSON, Problem

__all__ = ["BodySizeLimit"]


class BodySizeLimit:
    """Answer 413 (problem+json) to any HTTP request whose body exceeds ``max_bytes``.

    Checks the declared Content-Length first, then counts streamed chunks, so a chunked upload
    cannot get around it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send, scope.get("path", ""))
                return
        seen = 0
        refused = False

        async def counting_receive() -> Message:
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._refuse(send, scope.get("path", ""))

    async def _refuse(self, send: Send, path: str) -> None:
        body = json.dumps(Problem(
            413, "/problems/too-large", "Request body too large",
            f"body: over the limit of {self.max_bytes} bytes").body(path)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", PROBLEM_JSON.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass
