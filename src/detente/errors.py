"""The errors detente raises, drawn once::

    DetenteError                 base: every error the package means to show a user
    ├── InputError               bad input at an edge (a file, a request body, a CLI option)
    │   ├── RecordError          one bad record of a file: names file, line and field
    │   ├── GeometryError        a polygon, circle or volume that is not usable geometry
    │   └── NotFoundError        a well-formed id that names nothing the caller may see
    ├── VerificationError        a signature, proof or tree head that does not verify
    │   └── AuthenticationError  a login or bearer token that does not hold: who is calling?
    ├── ForbiddenError           authenticated, but not allowed this (another party's data)
    ├── ConflictingWriteError    a write refused by a rule (missing key, priority, ownership)
    ├── RateLimitError           a caller asked for more than its share; try again later
    ├── UnavailableError         not served here now (an instance between leaders); try again
    └── StoreError               the durable store failed (wraps the driver's error)
        └── DiskFullError        the disk is (nearly) full: nothing written; try again later

Foreign errors (SQLAlchemy, cryptography, json) are translated into these at the layer that
calls the foreign library, with ``raise ... from exc``; the CLI prints ``Type: message`` for any
DetenteError and exits 1, the API maps them to RFC 9457 problem documents.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConflictingWriteError",
    "DetenteError",
    "DiskFullError",
    "ForbiddenError",
    "GeometryError",
    "InputError",
    "NotFoundError",
    "RateLimitError",
    "RecordError",
    "StoreError",
    "UnavailableError",
    "VerificationError",
]


class DetenteError(Exception):
    """Base of every error detente means to show to a user, without a traceback."""


class InputError(DetenteError):
    """Input at an edge is malformed or out of range."""


class RecordError(InputError):
    """One record of a file is bad; the message names the file, the line and the field."""

    def __init__(self, source: str, line: int, field: str | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.field = field
        self.problem = problem
        where = f"{source}, line {line}" + (f", field {field!r}" if field else "")
        super().__init__(f"{where}: {problem}")


class GeometryError(InputError):
    """A footprint, airspace or volume is not usable geometry (open ring, self-intersection...)."""


class NotFoundError(InputError):
    """A well-formed id (of an alert, a message, an entry...) names nothing the caller may see:
    absent, or another party's (the two are not told apart)."""


class VerificationError(DetenteError):
    """A signature, inclusion or consistency proof, or tree head failed to verify."""


class AuthenticationError(VerificationError):
    """The caller could not be authenticated: a missing, invalid or expired bearer token, or a
    login whose challenge or signature does not hold. Only this asks the caller to log in
    (HTTP 401); a statement whose signature does not verify is refused, not re-authenticated."""


class ForbiddenError(DetenteError):
    """Authenticated, but not allowed to do this (another party's aircraft, say)."""


class ConflictingWriteError(DetenteError):
    """A write was refused by a rule of the mechanism, not by its syntax."""


class RateLimitError(DetenteError):
    """A caller asked for more than its share; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class UnavailableError(DetenteError):
    """This instance cannot take the request now, and nothing of it was done: it is not the
    node's leader, or the leader is changing. ``retry_after_s`` says when to try again (here
    or at another instance of the node)."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)


class StoreError(DetenteError):
    """The durable store failed; the driver's error is chained as ``__cause__``."""


class DiskFullError(StoreError):
    """The database's disk is nearly full (the service refuses new reports) or full (SQLite
    refused the write): nothing of the request was written; ``retry_after_s`` says when to
    try again."""

    def __init__(self, message: str, retry_after_s: float = 30.0) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)
