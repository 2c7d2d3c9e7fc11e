"""What travels on a link between two nodes: signed, sequenced frames, and the handshake.

A frame on the wire is one binary WebSocket message: the sender node's Ed25519 signature (64
bytes) of ``FRAME_CONTEXT + payload``, then the payload, JSON::

    {"v": 1, "from": "TUR", "to": "RUS", "kind": "alert", "t": 1448349000.1,
     "seq": 17,                      # durable frames: the link's sequence, never reused
     "sid": "9f..", "n": 5,          # live frames: the session, and a counter within it
     "body": {...}}

Durable frames (``DURABLE_KINDS``: alerts, hotline traffic, receipts, the party's key, tree
heads and cosignatures) are numbered for the life of the link, kept by the sender until acknowledged
and re-sent after a cut from where the receiver stopped: each must come exactly after the
last, once. Live frames (``LIVE_KINDS``: states, acknowledgements, clock pings) are numbered
within a session, which the two nodes' challenges name, so that no frame of an earlier
session can be played again in a later one.

The handshake (text messages, before any frame) authenticates both ends with their node keys
over both sides' fresh challenges, as login does for clients::

    dialer   -> {"from": D, "to": L, "challenge": c1}
    listener -> {"from": L, "to": D, "challenge": c2,
                 "signature": sign_L(HELLO_CONTEXT + "accept" D L c1 c2)}
    dialer   -> {"have": n, "time": t, "signature": sign_D(HELLO_CONTEXT + "dial" D L c1 c2)}
    listener -> {"have": n, "time": t}

``have`` is the last durable sequence number each took in from the other: where the other
resumes; ``time`` each one's clock, a first guess of their offset. The listener says them only
once the dialer has proved its key: whoever may reach the endpoint learns nothing of a link.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import msgspec

from detente.errors import VerificationError
from detente.ledger.keys import Ed25519PrivateKey, ed25519_verifies

__all__ = [
    "DURABLE_KINDS",
    "FRAME_CONTEXT",
    "HELLO_CONTEXT",
    "LIVE_KINDS",
    "Frame",
    "FrameError",
    "decode_frame",
    "encode_frame",
    "hello_message",
    "session_id",
]

FRAME_CONTEXT = b"detente link frame v1\x00"
HELLO_CONTEXT = b"detente link hello v1\x00"
SIGNATURE_BYTES = 64
DURABLE_KINDS = frozenset({"alert", "hotline", "receipt", "key", "head", "cosig"})
LIVE_KINDS = frozenset({"states", "ack", "ping", "pong"})
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class FrameError(VerificationError):
    """A frame refused before its content is looked at. ``reason``: forged (the signature
    does not verify), malformed, misaddressed."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Frame:
    sender: str
    to: str
    kind: str
    t: float
    body: dict[str, Any]
    wire: bytes
    seq: int | None = None
    sid: str | None = None
    n: int | None = None

    @property
    def durable(self) -> bool:
        return self.seq is not None

    @property
    def digest(self) -> str:
        """SHA-256 of the whole frame as sent (signature included), hex."""
        return hashlib.sha256(self.wire).hexdigest()


def encode_frame(key: Ed25519PrivateKey, sender: str, to: str, kind: str,
                 body: dict[str, Any], t: float, *, seq: int | None = None,
                 sid: str | None = None, n: int | None = None) -> bytes:
    """A signed frame: durable with ``seq``, live with ``sid`` and ``n``."""
    if (seq is None) == (sid is None):
        raise ValueError("a frame is durable (seq) or live (sid, n)")
    payload: dict[str, Any] = {"v": 1, "from": sender, "to": to, "kind": kind, "t": t}
    if seq is not None:
        payload["seq"] = seq
    else:
        payload["sid"], payload["n"] = sid, n
    payload["body"] = body
    data = _encoder.encode(payload)
    return key.sign(FRAME_CONTEXT + data) + data


def decode_frame(wire: bytes, public_key: bytes, sender: str, to: str) -> Frame:
    """Check a frame's signature with the sender node's key, then its form and address."""
    if not isinstance(wire, bytes | bytearray) or len(wire) <= SIGNATURE_BYTES:
        raise FrameError("malformed", f"a frame of {len(wire)} bytes")
    signature, data = bytes(wire[:SIGNATURE_BYTES]), bytes(wire[SIGNATURE_BYTES:])
    if not ed25519_verifies(public_key, signature, FRAME_CONTEXT + data):
        raise FrameError("forged", f"the signature does not verify with {sender}'s node key")
    try:
        p = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise FrameError("malformed", f"not JSON: {exc}") from None
    if not isinstance(p, dict) or p.get("v") != 1:
        raise FrameError("malformed", "not a version 1 frame")
    if p.get("from") != sender or p.get("to") != to:
        raise FrameError("misaddressed", f"from {p.get('from')!r} to {p.get('to')!r}, on the "
                         f"link from {sender} to {to}")
    kind, t, body = p.get("kind"), p.get("t"), p.get("body")
    if not isinstance(body, dict) or not isinstance(t, int | float) or isinstance(t, bool):
        raise FrameError("malformed", "missing body or time")
    seq, sid, n = p.get("seq"), p.get("sid"), p.get("n")
    if kind in DURABLE_KINDS:
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise FrameError("malformed", f"a {kind} frame without a sequence number")
        return Frame(sender, to, kind, float(t), body, bytes(wire), seq=seq)
    if kind in LIVE_KINDS:
        if not isinstance(sid, str) or not isinstance(n, int) or isinstance(n, bool):
            raise FrameError("malformed", f"a {kind} frame without its session and counter")
        return Frame(sender, to, kind, float(t), body, bytes(wire), sid=sid, n=n)
    raise FrameError("malformed", f"unknown kind {kind!r}")


def hello_message(role: str, dialer: str, listener: str, c1: bytes, c2: bytes) -> bytes:
    """What each end signs in the handshake: its role, both names, both challenges."""
    return b"\x00".join([HELLO_CONTEXT + role.encode(), dialer.encode(), listener.encode(),
                         c1, c2])


def session_id(c1: bytes, c2: bytes) -> str:
    return hashlib.sha256(b"detente link session\x00" + c1 + c2).hexdigest()[:32]
