"""Errors as RFC 9457 problem documents (application/problem+json), at one boundary.

``problem_of`` is the one translation, for HTTP and WebSocket alike: detente errors map by
class (most specific first); request validation becomes 422 naming the failing field; HTTP
errors of the framework (404, 405 with its ``Allow``) keep their status and headers; anything
unexpected is a 500 that says nothing of the service's insides (the handler logs it).

Only AuthenticationError is a 401 (with ``WWW-Authenticate``, asking to log in): a statement
or cosignature whose signature does not verify comes from a caller who is logged in, and is
refused with 403.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from detente.errors import (
    AuthenticationError,
    ConflictingWriteError,
    DetenteError,
    DiskFullError,
    ForbiddenError,
    InputError,
    NotFoundError,
    RateLimitError,
    StoreError,
    UnavailableError,
    VerificationError,
)

__all__ = [
    "PROBLEM_JSON", "ForbiddenError", "Problem", "install_problem_handlers", "logged",
    "problem_of", "problem_response",
]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("detente.api")

MAX_FIELDS = 20  # validation errors listed in one problem at most


# (class, status, type, title): most specific first.
_MAP: list[tuple[type[DetenteError], int, str, str]] = [
    (ForbiddenError, 403, "/problems/forbidden", "Forbidden"),
    (AuthenticationError, 401, "/problems/unauthenticated", "Not authenticated"),
    (VerificationError, 403, "/problems/does-not-verify", "Does not verify"),
    (NotFoundError, 404, "/problems/not-found", "Not found"),
    (ConflictingWriteError, 409, "/problems/conflict", "Refused by a rule of the mechanism"),
    (RateLimitError, 429, "/problems/too-many-requests", "Too many requests"),
    (UnavailableError, 503, "/problems/unavailable", "Unavailable here now; retry"),
    (InputError, 400, "/problems/bad-input", "Bad input"),
    (DetenteError, 400, "/problems/error", "Error"),
]


@dataclass(frozen=True)
class Problem:
    """A problem document and the headers that go with it."""

    status: int
    type: str
    title: str
    detail: str
    headers: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status,
                               "detail": self.detail}
        if instance:
            out["instance"] = instance
        out.update(self.extra)
        return out


def problem_of(exc: BaseException) -> Problem:
    """The problem document for ``exc``: the one mapping of errors to HTTP statuses."""
    if isinstance(exc, DiskFullError):
        # Retryable, and the caller's to know: it should hold its data and send it again. In
        # the body too: a WebSocket's answer has no headers.
        wait = max(1, round(exc.retry_after_s + 0.5))
        return Problem(503, "/problems/disk-full", "Disk nearly full", str(exc),
                       {"Retry-After": str(wait)}, {"retry_after_s": wait})
    if isinstance(exc, StoreError):
        # The driver's message may quote SQL and the values of other callers' rows: logged
        # (``logged``), not shown.
        return Problem(503, "/problems/store-unavailable", "Store unavailable",
                       "the store failed on this request; it has been logged; try again",
                       {"Retry-After": "1"})
    if isinstance(exc, DetenteError):
        for cls, status, type_, title in _MAP:
            if isinstance(exc, cls):
                return Problem(status, type_, title, str(exc), _headers_of(exc, status))
    if isinstance(exc, RequestValidationError):
        fields = [_field_error(e) for e in exc.errors()[:MAX_FIELDS]]
        first = fields[0] if fields else {"field": "body", "problem": "invalid request"}
        detail = f"{first['field']}: {first['problem']}" if first["field"] else first["problem"]
        if len(exc.errors()) > 1:
            detail += f" (and {len(exc.errors()) - 1} more)"
        return Problem(422, "/problems/invalid-request", "Invalid request", detail,
                       extra={"errors": fields})
    if isinstance(exc, StarletteHTTPException):
        return Problem(exc.status_code, "about:blank", _phrase(exc.status_code),
                       str(exc.detail), dict(exc.headers or {}))
    return Problem(500, "/problems/internal", "Internal error",
                   "the service failed on this request; it has been logged")


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    return JSONResponse(problem.body(instance), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=problem.headers or None)


def install_problem_handlers(app: FastAPI,
                             allow: Callable[[Request], str | None] | None = None) -> None:
    """``allow``: the methods a 405's ``Allow`` names for a request's path, where the router
    knows only those of the one route it matched (GET and POST of one path are two routes)."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        problem = problem_of(exc)
        logged(problem, exc, request.url.path)
        if problem.status == 405 and allow is not None:
            methods = allow(request)
            if methods:
                problem.headers["Allow"] = methods
        return problem_response(problem, request.url.path)

    for cls in (DetenteError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(cls, handle)


def logged(problem: Problem, exc: BaseException, where: str) -> None:
    """Log what a problem document does not show: a failure of the service's own."""
    if isinstance(exc, DiskFullError):
        if exc.__cause__ is None:
            return  # the watch's refusal: service.disk logs each change once
        # SQLite itself refused (SQLITE_FULL): the disk did fill up; the operator must know.
        log.error("%s on %s: %s", problem.title, where, exc)
        return
    if problem.status in (500, 503):
        log.error("%s on %s", problem.title, where, exc_info=exc)


def _headers_of(exc: DetenteError, status: int) -> dict[str, str]:
    if status == 401:
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, RateLimitError | UnavailableError):
        return {"Retry-After": str(max(1, round(exc.retry_after_s + 0.5)))}
    return {}


def _field_error(e: dict[str, Any]) -> dict[str, str]:
    """One validation error as {field, problem}: ``states.3.lat``, ``query.size``, ``body``.

    A body that is not JSON at all is the body's problem: its byte offset goes in the text,
    not in the field's name.
    """
    loc = list(e.get("loc", ()))
    if loc[:1] == ["body"]:  # FastAPI's name for the body itself, not a field of it
        loc = loc[1:]
    problem = str(e.get("msg", "invalid"))
    if e.get("type") == "json_invalid":
        at = loc[0] if loc and isinstance(loc[0], int) else -1
        where = f" at byte {at}" if at >= 0 else ""
        error = (e.get("ctx") or {}).get("error")
        return {"field": "body", "problem": f"not JSON: {error or problem}{where}"}
    return {"field": ".".join(str(p) for p in loc) or "body", "problem": problem}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
