"""Login by signature: the server hands out a random challenge, the client signs it with a key
the configuration lists for its party (or for one of its officials), and gets a short-lived
bearer token. No passwords, nothing for the service to leak.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from detente.errors import InputError, VerificationError
from detente.ledger.keys import ed25519_verifies, public_key_bytes
from detente.service.config import Config
from detente.service.keys import login_message

__all__ = ["Authenticator", "Principal"]

CHALLENGE_TTL_S = 60.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: a party, and the official acting for it when an official logged in."""

    party: str
    official: str | None
    expires_at: float


class Authenticator:
    """Challenges and bearer tokens. They live in real (wall-clock) time, whatever clock the
    service's picture runs on: a demo running twenty times faster must not log its clients out
    after 45 s of their time (``wall``: the time function, for tests)."""

    def __init__(self, config: Config, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.wall = wall
        self._challenges: dict[bytes, tuple[str, str | None, float]] = {}
        self._tokens: dict[str, Principal] = {}

    def challenge(self, party: str, official: str | None = None) -> tuple[str, float]:
        """A fresh challenge (base64) for ``party`` (and ``official``) and when it expires."""
        self._check_identity(party, official)
        now = self.wall()
        self._challenges = {c: v for c, v in self._challenges.items() if v[2] > now}
        raw = secrets.token_bytes(32)
        self._challenges[raw] = (party, official, now + CHALLENGE_TTL_S)
        return base64.b64encode(raw).decode(), now + CHALLENGE_TTL_S

    def login(self, challenge_b64: str, signature_b64: str) -> tuple[str, Principal]:
        """Exchange a signed challenge for a bearer token. Each challenge works once."""
        try:
            raw = base64.b64decode(challenge_b64, validate=True)
            signature = base64.b64decode(signature_b64, validate=True)
        except ValueError:
            raise InputError("challenge and signature must be base64") from None
        entry = self._challenges.pop(raw, None)
        now = self.wall()
        if entry is None or entry[2] <= now:
            raise VerificationError("unknown or expired challenge: ask for a new one")
        party, official, _ = entry
        keys = (
            [self.config.official(official).public_key]  # type: ignore[union-attr]
            if official is not None
            else list(self.config.parties[party].public_keys)
        )
        if not any(ed25519_verifies(public_key_bytes(k), signature, login_message(raw))
                   for k in keys):
            raise VerificationError(
                f"signature does not verify with the key(s) of {official or party}"
            )
        token = secrets.token_urlsafe(32)
        principal = Principal(party, official, now + self.config.settings.token_ttl_s)
        self._tokens = {t: p for t, p in self._tokens.items() if p.expires_at > now}
        self._tokens[token] = principal
        return token, principal

    def check(self, token: str) -> Principal:
        p = self._tokens.get(token)
        if p is None or p.expires_at <= self.wall():
            raise VerificationError("invalid or expired token: log in again")
        return p

    def _check_identity(self, party: str, official: str | None) -> None:
        if party not in self.config.parties:
            raise InputError(f"unknown party {party!r}")
        if official is not None:
            o = self.config.official(official)
            if o is None or o.party != party:
                raise InputError(f"unknown official {official!r} of party {party!r}")
        elif not self.config.parties[party].public_keys:
            raise InputError(f"party {party!r} has no party key: log in as one of its officials")

