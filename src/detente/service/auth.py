"""Login by signature: the server hands out a random challenge, the client signs it with a key
the configuration lists for its party (or for one of its officials), and gets a short-lived
bearer token. No passwords, nothing for the service to leak. Tokens are signed by the service
(HMAC), not kept: the instances of one node accept each other's.

Asking for a challenge needs no login, so the challenges are bounded (``ChallengeTable``):
each expires after ``CHALLENGE_TTL_S``; a source address holds at most ``PER_ADDRESS`` (a new
one drops that address's oldest: a client retrying never locks itself out, and no address can
crowd out another's); an identity (a party, or one of its officials) holds at most
``PER_IDENTITY`` from all addresses together (beyond that, RateLimitError until the oldest
expires). A challenge asked for a party or official the configuration does not know is handed
out but never stored: it cannot log in, and the reply does not tell who exists. So the table
never holds more than ``PER_IDENTITY`` times the number of identities, and every operation on
it costs the same however many it holds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from detente.errors import AuthenticationError, ForbiddenError, InputError, RateLimitError
from detente.ledger.keys import ed25519_verifies, public_key_bytes
from detente.service.config import Config
from detente.service.keys import login_message

__all__ = [
    "CHALLENGE_TTL_S", "OPERATOR", "PER_ADDRESS", "PER_IDENTITY", "Authenticator",
    "ChallengeTable", "Principal",
]

CHALLENGE_TTL_S = 60.0
PER_ADDRESS = 8
PER_IDENTITY = 32

Identity = tuple[str, str | None]  # (party, official)

# The operator logs in as this "party" with the log's own key: it speaks for no party, and its
# token opens only what the operator may read (the full record, the service's own figures).
OPERATOR = "detente"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a party, and the official acting for it when an official logged in."""

    party: str
    official: str | None
    expires_at: float

    @property
    def operator(self) -> bool:
        return self.party == OPERATOR


@dataclass(frozen=True, slots=True)
class _Challenge:
    identity: Identity
    address: str
    expires_at: float


class ChallengeTable:
    """Outstanding challenges, bounded per source address and per identity.

    Every challenge lives the same ``ttl_s``, so the order they were issued in is the order
    they expire in: one ordered map, oldest first, is swept from its head, and each call
    touches only what expires (amortised O(1)); no call walks the table.
    """

    def __init__(self, ttl_s: float = CHALLENGE_TTL_S, per_address: int = PER_ADDRESS,
                 per_identity: int = PER_IDENTITY) -> None:
        self.ttl_s = ttl_s
        self.per_address = per_address
        self.per_identity = per_identity
        self._all: OrderedDict[bytes, _Challenge] = OrderedDict()  # oldest first
        self._by_address: dict[str, OrderedDict[bytes, None]] = {}
        self._by_identity: dict[Identity, OrderedDict[bytes, None]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def issue(self, identity: Identity, address: str, now: float) -> tuple[bytes, float]:
        """A new challenge (32 random bytes) for ``identity`` asked from ``address``, and when
        it expires. RateLimitError if the identity holds its share already."""
        self._expire(now)
        theirs = self._by_identity.get(identity)
        if theirs is not None and len(theirs) >= self.per_identity:
            # The identity's oldest outstanding challenge is the first of its to expire.
            wait = self._all[next(iter(theirs))].expires_at - now
            raise RateLimitError(
                f"party/official: {self.per_identity} login challenges are outstanding for "
                f"{_name(identity)}; use one, or wait for one to expire", wait)
        mine = self._by_address.get(address)
        if mine is not None and len(mine) >= self.per_address:
            self._drop(next(iter(mine)))
        raw = secrets.token_bytes(32)
        expires = now + self.ttl_s
        self._all[raw] = _Challenge(identity, address, expires)
        self._by_address.setdefault(address, OrderedDict())[raw] = None
        self._by_identity.setdefault(identity, OrderedDict())[raw] = None
        return raw, expires

    def take(self, raw: bytes, now: float) -> Identity | None:
        """The identity ``raw`` was issued for, once: None if unknown, used or expired."""
        self._expire(now)
        c = self._all.get(raw)
        if c is None:
            return None
        self._drop(raw)
        return c.identity

    def _expire(self, now: float) -> None:
        while self._all:
            raw, c = next(iter(self._all.items()))
            if c.expires_at > now:
                return
            self._drop(raw)

    def _drop(self, raw: bytes) -> None:
        c = self._all.pop(raw)
        mine = self._by_address[c.address]
        del mine[raw]
        if not mine:
            del self._by_address[c.address]
        theirs = self._by_identity[c.identity]
        del theirs[raw]
        if not theirs:
            del self._by_identity[c.identity]


class Authenticator:
    """Challenges and bearer tokens. They live in real (wall-clock) time, whatever clock the
    service's picture runs on: a demo running twenty times faster must not log its clients out
    after 45 s of their time (``wall``: the time function, for tests).

    A token says who and until when, with an HMAC-SHA256 under ``secret``: nothing is kept per
    token, and every instance of a node given the same secret (derived from the log key they
    share) takes the tokens of the others, so a client whose instance went down carries on at
    another without logging in again. Without a secret, one is drawn for this process."""

    def __init__(self, config: Config, wall: Callable[[], float] = time.time,
                 challenges: ChallengeTable | None = None, secret: bytes | None = None,
                 operator_key: bytes | None = None) -> None:
        self.config = config
        # The log's public key (raw): whoever holds its private key runs the service.
        self.operator_key = operator_key
        self.wall = wall
        self.challenges = ChallengeTable() if challenges is None else challenges
        self._secret = secrets.token_bytes(32) if secret is None else secret

    def challenge(self, party: str, official: str | None = None, address: str = ""
                  ) -> tuple[str, float]:
        """A fresh challenge (base64) for ``party`` (and ``official``), asked from ``address``,
        and when it expires."""
        now = self.wall()
        if not self._known(party, official):
            # Indistinguishable from a real one, and never stored: nothing can log in with it.
            return base64.b64encode(secrets.token_bytes(32)).decode(), now + CHALLENGE_TTL_S
        raw, expires = self.challenges.issue((party, official), address, now)
        return base64.b64encode(raw).decode(), expires

    def login(self, challenge_b64: str, signature_b64: str) -> tuple[str, Principal]:
        """Exchange a signed challenge for a bearer token. Each challenge works once."""
        try:
            raw = base64.b64decode(challenge_b64, validate=True)
            signature = base64.b64decode(signature_b64, validate=True)
        except ValueError:
            raise InputError("challenge, signature: must be base64") from None
        now = self.wall()
        identity = self.challenges.take(raw, now)
        if identity is None:
            raise AuthenticationError(
                "challenge: unknown, used or expired (or asked for a party or official this "
                "service does not know): ask for a new one")
        party, official = identity
        if party == OPERATOR:
            keys = [self.operator_key]
        elif official is not None:
            keys = [public_key_bytes(self.config.official(official).public_key)]  # type: ignore[union-attr]
        else:
            keys = [public_key_bytes(k) for k in self.config.parties[party].public_keys]
        if not any(ed25519_verifies(k, signature, login_message(raw)) for k in keys):
            raise AuthenticationError(
                f"signature: does not verify with the key(s) of {official or party}")
        principal = Principal(party, official, now + self.config.settings.token_ttl_s)
        payload = base64.urlsafe_b64encode(json.dumps(
            [party, official, principal.expires_at, secrets.token_hex(8)],
            separators=(",", ":")).encode()).rstrip(b"=")
        return f"{payload.decode()}.{self._mac(payload)}", principal

    def check(self, token: str, operator_ok: bool = False) -> Principal:
        """The caller a token stands for. The operator's token is refused unless the caller
        asks for it (``operator_ok``): it speaks for no party, so it opens no party's
        channels (its streams, its ingest, its hotline)."""
        payload, _, mac = token.encode("utf-8", "replace").partition(b".")
        try:
            if not hmac.compare_digest(self._mac(payload).encode(), mac):
                raise ValueError("mac")
            party, official, expires_at, _ = json.loads(
                base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
            p = Principal(str(party), None if official is None else str(official),
                          float(expires_at))
        except (ValueError, TypeError):
            raise AuthenticationError("invalid or expired token: log in again") from None
        if p.expires_at <= self.wall():
            raise AuthenticationError("invalid or expired token: log in again")
        if p.operator and not operator_ok:
            raise ForbiddenError("the operator's token speaks for no party: this needs a "
                                 "party's or an official's login")
        return p

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def _known(self, party: str, official: str | None) -> bool:
        if party == OPERATOR:
            return official is None and self.operator_key is not None
        if party not in self.config.parties:
            return False
        if official is not None:
            o = self.config.official(official)
            return o is not None and o.party == party
        return bool(self.config.parties[party].public_keys)


def _name(identity: Identity) -> str:
    party, official = identity
    return party if official is None else f"{official} ({party})"
