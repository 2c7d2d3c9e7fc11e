"""JSON request bodies, decoded strictly and once, whoever reads them.

Strict: UTF-8 (RFC 8259), no NaN or Infinity, at most ``MAX_DEPTH`` levels of arrays and
objects. The standard library's decoder takes NaN, and both it and msgspec raise
RecursionError near a thousand levels (FastAPI then answered 400 without a field, and a route
decoding by hand answered 500): every document this API takes nests less than ten deep, and
whatever nests deeper would reach recursive code further in (validation, canonical JSON).

``decode_json`` is for routes that read their body themselves; ``StrictJsonRoute`` makes
FastAPI decode its bodies the same way (the route class of every router of the API).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["MAX_DEPTH", "StrictJsonRoute", "decode_json", "json_problem"]

MAX_DEPTH = 32


def json_problem(body: bytes, exc: Exception) -> tuple[str, int | None]:
    """Why ``body`` is not JSON (decoding raised ``exc``), and at which byte if known."""
    if isinstance(exc, UnicodeDecodeError):
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as whole:
            return f"not UTF-8 ({whole.reason})", whole.start
        return f"not UTF-8 ({exc.reason})", None
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DEPTH} levels deep", None
    return str(exc), None


def decode_json(body: bytes) -> Any:
    """The value of ``body``, or RequestValidationError (a 422 problem naming ``body``)."""
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _invalid(*json_problem(body, exc)) from None
    if not _within_depth(value, MAX_DEPTH):
        raise _invalid(f"nested more than {MAX_DEPTH} levels deep", None)
    return value


def _invalid(problem: str, at: int | None) -> RequestValidationError:
    loc: tuple[str | int, ...] = ("body",) if at is None else ("body", at)
    return RequestValidationError([{"type": "json_invalid", "loc": loc,
                                    "msg": "JSON decode error", "ctx": {"error": problem}}])


def _within_depth(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest at most ``limit`` deep (without recursion)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        children = v.values() if isinstance(v, dict) else v if isinstance(v, list) else None
        if children is None:
            continue
        if depth > limit:
            return False
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return True


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = decode_json(body)
            except RequestValidationError as exc:
                # FastAPI turns a JSONDecodeError into its own 422 (``json_invalid``); any
                # other exception here would become a 400 that names nothing.
                err = exc.errors()[0]
                at = err["loc"][1] if len(err["loc"]) > 1 else -1  # -1: nowhere in particular
                raise json.JSONDecodeError(err["ctx"]["error"], "", at) from None
        return self._json


class StrictJsonRoute(APIRoute):
    """An APIRoute whose JSON body is decoded by ``decode_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
