"""Login challenges and tokens, on an injected clock: expiry, one use, the caps per source
address and per identity, and a cost per call that does not grow with the table."""

from __future__ import annotations

import base64
import sys

import pytest

from detente.errors import AuthenticationError, RateLimitError
from detente.ledger.keys import generate_private_key
from detente.service.auth import Authenticator, ChallengeTable
from detente.service.config import parse_config
from detente.service.keys import login_message
from tests.live_server import public_b64


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture()
def keys():
    return {name: generate_private_key() for name in ("A", "A-1", "B")}


@pytest.fixture()
def auth(keys):
    cfg = parse_config({
        "region": {"name": "auth", "centre": [36.0, 36.0]},
        "service": {"token_ttl_s": 900},
        "parties": [
            {"id": "A", "public_keys": [public_b64(keys["A"])],
             "officials": [{"id": "A-1", "name": "a", "level": 1,
                            "public_key": public_b64(keys["A-1"])}]},
            {"id": "B", "public_keys": [public_b64(keys["B"])]},
        ],
    })
    clock = Clock()
    return Authenticator(cfg, wall=clock, challenges=ChallengeTable(
        ttl_s=60.0, per_address=3, per_identity=5)), clock


def signed(key, challenge: str) -> str:
    return base64.b64encode(key.sign(login_message(base64.b64decode(challenge)))).decode()


def test_a_challenge_logs_in_once_and_expires(auth, keys):
    a, clock = auth
    c, expires = a.challenge("A", None, "10.0.0.1")
    assert expires == clock.t + 60.0
    token, p = a.login(c, signed(keys["A"], c))
    assert (p.party, p.official, p.expires_at) == ("A", None, clock.t + 900)
    assert a.check(token) == p
    with pytest.raises(AuthenticationError, match=r"^challenge: unknown, used or expired"):
        a.login(c, signed(keys["A"], c))  # used
    c, _ = a.challenge("A", None, "10.0.0.1")
    clock.t += 60.0  # expiry is exclusive: at expires_at it is gone
    with pytest.raises(AuthenticationError, match=r"^challenge:"):
        a.login(c, signed(keys["A"], c))
    assert len(a.challenges) == 0
    clock.t += 840.0  # 900 s since the token was issued: it is up
    with pytest.raises(AuthenticationError, match="expired token"):
        a.check(token)


def test_a_wrong_key_is_an_authentication_error(auth, keys):
    a, _ = auth
    c, _ = a.challenge("A", "A-1", "10.0.0.1")
    with pytest.raises(AuthenticationError, match=r"^signature: does not verify with .* A-1"):
        a.login(c, signed(keys["A"], c))  # the party's key, for its official's challenge


def test_unknown_identities_get_a_challenge_that_is_never_stored(auth, keys):
    a, _ = auth
    for party, official in (("Z", None), ("A", "B-9"), ("B", "A-1")):
        c, _ = a.challenge(party, official, "10.0.0.1")
        assert len(base64.b64decode(c)) == 32
    assert len(a.challenges) == 0
    with pytest.raises(AuthenticationError, match=r"^challenge:"):
        a.login(c, signed(keys["A-1"], c))


def test_an_address_holds_three_and_drops_its_oldest(auth, keys):
    a, clock = auth
    issued = []
    for _ in range(4):
        issued.append(a.challenge("A", None, "10.0.0.1")[0])
        clock.t += 1.0
    assert len(a.challenges) == 3  # the fourth dropped the first
    with pytest.raises(AuthenticationError):
        a.login(issued[0], signed(keys["A"], issued[0]))
    a.login(issued[1], signed(keys["A"], issued[1]))
    # Another address is untouched by the first one's retries.
    other = a.challenge("A", None, "10.0.0.2")[0]
    for _ in range(10):
        a.challenge("A", None, "10.0.0.1")
    a.login(other, signed(keys["A"], other))


def test_an_identity_holds_five_from_all_addresses_then_waits(auth, keys):
    a, clock = auth
    first = None
    for k in range(5):
        c, _ = a.challenge("A", "A-1", f"10.0.0.{k}")
        first = first or c
        clock.t += 2.0
    with pytest.raises(RateLimitError, match=r"^party/official: 5 login challenges") as err:
        a.challenge("A", "A-1", "10.0.0.9")
    assert err.value.retry_after_s == pytest.approx(60.0 - 10.0)  # when the first expires
    # Other identities are not held up, and using one frees a place.
    a.challenge("A", None, "10.0.0.9")
    a.login(first, signed(keys["A-1"], first))
    a.challenge("A", "A-1", "10.0.0.9")
    # So does expiry.
    with pytest.raises(RateLimitError):
        a.challenge("A", "A-1", "10.0.0.8")
    clock.t += 60.0
    a.challenge("A", "A-1", "10.0.0.8")


def _lines_run(fn) -> int:
    """Python lines executed by ``fn()``, everything it calls included."""
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if event == "line":
            count += 1
        return tracer

    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(None)
    return count


def test_the_cost_of_a_call_does_not_grow_with_the_table():
    """A challenge asked and used costs the same lines of Python with 10 outstanding as with
    20,000 (caps lifted so that the table can grow; nothing expires meanwhile). Rebuilding
    the table at every call, as before, ran a line per challenge held."""
    clock = Clock()
    costs = {}
    for n in (10, 20_000):
        table = ChallengeTable(ttl_s=60.0, per_address=10**9, per_identity=10**9)
        for k in range(n):
            table.issue(("A", None), f"10.0.{k % 250}.{k // 250}", clock.t)

        def one() -> None:
            raw, _ = table.issue(("A", None), "10.1.0.1", clock.t)  # noqa: B023
            assert table.take(raw, clock.t) == ("A", None)  # noqa: B023

        costs[n] = _lines_run(one)
    assert costs[10] == costs[20_000], costs
    # And expiring them all costs a sweep of what expires, once.
    assert len(table) == 20_000
    clock.t += 61.0
    assert table.take(b"x" * 32, clock.t) is None and len(table) == 0
