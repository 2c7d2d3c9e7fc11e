"""Errors as RFC 9457 problem documents (application/problem+json), at one boundary.

detente errors map by class (most specific first); FastAPI's request validation becomes 422 with
the failing field named; anything unexpected is logged and answered as a 500 problem document,
never a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from detente.errors import (
    ConflictingWriteError,
    DetenteError,
    InputError,
    StoreError,
    VerificationError,
)

__all__ = ["PROBLEM_JSON", "ForbiddenError", "install_problem_handlers", "problem"]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("detente.api")


class ForbiddenError(DetenteError):
    """Authenticated, but not allowed to do this (another party's aircraft, say)."""


# (class, status, type, title): most specific first.
_MAP: list[tuple[type[DetenteError], int, str, str]] = [
    (ForbiddenError, 403, "/problems/forbidden", "Forbidden"),
    (VerificationError, 401, "/problems/unauthenticated", "Not authenticated"),
    (ConflictingWriteError, 409, "/problems/conflict", "Refused by a rule of the mechanism"),
    (InputError, 400, "/problems/bad-input", "Bad input"),
    (StoreError, 503, "/problems/store-unavailable", "Store unavailable"),
    (DetenteError, 400, "/problems/error", "Error"),
]


def problem(status: int, type_: str, title: str, detail: str, instance: str | None = None,
            **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if instance:
        body["instance"] = instance
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def detente_error(request: Request, exc: Exception) -> JSONResponse:
        for cls, status, type_, title in _MAP:
            if isinstance(exc, cls):
                return problem(status, type_, title, str(exc), request.url.path)
        raise exc  # unreachable: DetenteError is the last row

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        fields = []
        for e in errors[:20]:
            loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body")
            fields.append({"field": loc, "problem": e.get("msg", "invalid")})
        first = fields[0] if fields else {"field": "", "problem": "invalid request"}
        detail = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        return problem(422, "/problems/invalid-request", "Invalid request", detail,
                       request.url.path, errors=fields)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return problem(exc.status_code, "about:blank", _phrase(exc.status_code),
                       str(exc.detail), request.url.path)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return problem(500, "/problems/internal", "Internal error",
                       "the service failed on this request; it has been logged",
                       request.url.path)

    app.add_exception_handler(DetenteError, detente_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def _phrase(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
