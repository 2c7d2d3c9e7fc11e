"""Request and response bodies of the API (pydantic), SI units, no NaN or infinity anywhere.

Signed statements are described here field for field, so that the document says what the
service takes; the routes hand the statement on as the caller sent it (its signature is over
those very bytes, not over a model's re-serialisation).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AckBody",
    "AckStatement",
    "ChallengeRequest",
    "ChallengeResponse",
    "CosignatureIn",
    "IngestResponse",
    "KeyBody",
    "KeyStatement",
    "MessageBody",
    "MessageStatement",
    "SignedAck",
    "SignedKeyStatement",
    "SignedMessage",
    "StatementsIn",
    "TokenRequest",
    "TokenResponse",
]

_STRICT = ConfigDict(allow_inf_nan=False, extra="forbid")

# Canonical base64 (RFC 4648, padded) of exactly 32 and 64 bytes: keys and signatures.
B64_32 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
B64_64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"
# Integers that index the record, or count seconds: JSON numbers that every client holds
# exactly (a larger one does not fit the store's 64-bit integers either).
MAX_INT = 2**53 - 1
# Ids in paths and bodies: an alert's (uuid4 hex), a hotline message's (its sender chooses).
MESSAGE_ID = r"^[A-Za-z0-9-]{1,64}$"
Signature = Annotated[str, Field(pattern=B64_64, description="base64 Ed25519 signature")]
Text = Annotated[str, Field(min_length=1, max_length=64)]


class IngestResponse(BaseModel):
    accepted: int
    in_picture: int


class ChallengeRequest(BaseModel):
    model_config = _STRICT
    party: Text
    official: Text | None = None


class ChallengeResponse(BaseModel):
    challenge: str = Field(description="base64; sign b'detente login v1\\x00' + its bytes")
    expires_at: float


class TokenRequest(BaseModel):
    model_config = _STRICT
    challenge: str = Field(pattern=B64_32, description="as /v1/auth/challenge gave it")
    signature: Signature


class TokenResponse(BaseModel):
    token: str
    party: str
    official: str | None
    expires_at: float
    expires_in_s: float = Field(description="how long the token lasts from now (s), by the "
                                "service's clock: renew before it runs out")


class _Statement(BaseModel):
    """What every statement holds (``detente.ledger.statements``)."""

    model_config = _STRICT
    author: str = Field(min_length=1, max_length=128,
                        description="the caller: its party, or party/official")
    key_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="id of the signing key")
    time: float = Field(ge=0, description="s of the UTC epoch, within 300 s of the service's")


class MessageBody(BaseModel):
    model_config = _STRICT
    id: str = Field(pattern=MESSAGE_ID, description="chosen by the sender: a retry with the "
                                                   "same id and content is the same message")
    to_party: Text
    to_official: Text | None = None
    priority: Literal["routine", "urgent", "flash"]
    body: str = Field(min_length=1, max_length=4000)
    alert_id: str | None = Field(None, max_length=64)


class MessageStatement(_Statement):
    kind: Literal["hotline.message"]
    body: MessageBody
    ref: None


class AckBody(BaseModel):
    model_config = _STRICT
    message_id: str = Field(pattern=MESSAGE_ID)
    reply: str | None = Field(None, max_length=4000)


class AckStatement(_Statement):
    kind: Literal["hotline.ack"]
    body: AckBody
    ref: int = Field(ge=0, le=MAX_INT, description="the message's record entry")


class KeyBody(BaseModel):
    model_config = _STRICT
    public_key: str = Field(pattern=B64_32, description="base64 raw Ed25519 public key")


class KeyStatement(_Statement):
    kind: Literal["key.register", "key.rotate"]
    body: KeyBody
    ref: None


class ReceiptBody(BaseModel):
    model_config = _STRICT
    leaf_hash: str = Field(pattern=B64_32, description="base64 SHA-256 leaf hash of the entry "
                           "delivered, computed from it as received (salt included)")


class DeliveryReceiptStatement(_Statement):
    kind: Literal["delivery.receipt"]
    body: ReceiptBody
    ref: int = Field(ge=0, le=MAX_INT, description="the index of the entry delivered")


class SignedMessage(BaseModel):
    model_config = _STRICT
    signature: Signature
    statement: MessageStatement


class SignedAck(BaseModel):
    model_config = _STRICT
    signature: Signature
    statement: AckStatement


class SignedKeyStatement(BaseModel):
    model_config = _STRICT
    signature: Signature
    statement: KeyStatement


class SignedDeliveryReceipt(BaseModel):
    model_config = _STRICT
    signature: Signature
    statement: DeliveryReceiptStatement


class StatementsIn(BaseModel):
    model_config = _STRICT
    statements: list[SignedKeyStatement | SignedDeliveryReceipt] = Field(
        min_length=1, max_length=500)


class CosignatureIn(BaseModel):
    """A party's cosignature/v1 of a tree head (c2sp.org/tlog-cosignature): its signature line
    and the size of the head it signs."""

    model_config = _STRICT
    cosignature: str = Field(
        max_length=400, pattern="^\u2014 [^ +]+ [A-Za-z0-9+/]+={0,2}$",
        description="the signature line: '\u2014 <party> <base64(4-byte key id || u64 time || "
                    "Ed25519 signature)>', the key id that of the party's key for "
                    "cosignature/v1 (type 0x04)")
    size: int = Field(ge=0, le=MAX_INT, description="of the tree head co-signed")


def raw_json(model: BaseModel) -> dict[str, Any]:
    """Unused fields left out, as the caller sent them (for models with no defaults that
    change the caller's values)."""
    return model.model_dump(exclude_unset=True)
