"""The OpenAPI document, made to say what the API does.

FastAPI documents what it generates itself (200 and a 422 in its own shape). Here every error
is a problem document (``application/problem+json``): each route lists the statuses it can
answer with ``problems(...)``, and ``complete`` adds those every route of a kind shares: 401
(asking to log in) where a bearer token is needed, 422 where there are parameters or a body,
413 where there is a body. Bodies decoded outside FastAPI (``/v1/states`` and the feeds) join
the components here. Paths under ``/dss/`` are another API with its own document (ASTM F3548,
``utm.yaml``), and are left out of this one.
"""

from __future__ import annotations

import re
from typing import Any

from detente.api.problems import PROBLEM_JSON

__all__ = ["PROBLEM_SCHEMA", "allowed_methods", "complete", "problems"]

_REF = "#/components/schemas/Problem"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "a URI reference naming the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what is wrong, naming the field first"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array", "description": "every field at fault (422 only)",
            "items": {"type": "object", "required": ["field", "problem"],
                      "properties": {"field": {"type": "string"},
                                     "problem": {"type": "string"}}},
        },
        "retry_after_s": {"type": "integer", "description": "seconds to wait before trying "
                          "again (as Retry-After; for the /v1/ingest socket's answers too)"},
    },
}

_WHY = {
    400: "Bad input: a value the service refuses (the detail names the field)",
    401: "Not authenticated: log in at /v1/auth/token (or the token expired)",
    403: "Forbidden: not the caller's to do, or a signature that does not verify",
    404: "Not found: no such id, or not the caller's to see",
    409: "Refused by a rule of the mechanism (ownership, state, a different retry)",
    413: "Request body too large",
    422: "The request does not match this document (the detail names the field)",
    429: "Too many requests: see Retry-After",
    503: "The store failed, or its disk is nearly full (then Retry-After); try again",
}

_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "integer"},
                          "description": "seconds (when the disk is nearly full)"}},
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status answered with a problem document."""
    return {s: _response(s) for s in statuses}


def _response(status: int) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _WHY[status],
                           "content": {PROBLEM_JSON: {"schema": {"$ref": _REF}}}}
    if status in _HEADERS:
        out["headers"] = _HEADERS[status]
    return out


def complete(doc: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (FastAPI's) with the shared problem responses and the extra ``schemas``."""
    doc["paths"] = {p: ops for p, ops in doc.get("paths", {}).items()
                    if not p.startswith("/dss/")}
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components.update(schemas)
    components["Problem"] = PROBLEM_SCHEMA
    for ops in doc["paths"].values():
        for op in ops.values():
            responses = op.setdefault("responses", {})
            shared = []
            if op.get("security"):
                shared.append(401)
            if op.get("parameters") or op.get("requestBody"):
                shared.append(422)
            if op.get("requestBody"):
                shared.append(413)
            for status in shared:
                responses[str(status)] = _response(status)
    # FastAPI's own 422 shapes are no longer referred to.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return doc


def allowed_methods(doc: dict[str, Any], path: str) -> str | None:
    """The methods the document gives ``path`` (``Allow`` of a 405), or None if it has none."""
    for template, ops in doc.get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^}]*\\\}", "[^?#]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            return ", ".join(sorted(m.upper() for m in ops))
    return None
