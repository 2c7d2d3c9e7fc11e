"""Request and response bodies of the API (pydantic), SI units, no NaN or infinity anywhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChallengeRequest",
    "ChallengeResponse",
    "IngestResponse",
    "TokenRequest",
    "TokenResponse",
]

_STRICT = ConfigDict(allow_inf_nan=False, extra="forbid")


class IngestResponse(BaseModel):
    accepted: int
    in_picture: int


class ChallengeRequest(BaseModel):
    model_config = _STRICT
    party: str = Field(min_length=1, max_length=64)
    official: str | None = Field(default=None, max_length=64)


class ChallengeResponse(BaseModel):
    challenge: str = Field(description="base64; sign b'detente login v1\\x00' + its bytes")
    expires_at: float


class TokenRequest(BaseModel):
    model_config = _STRICT
    challenge: str = Field(max_length=200)
    signature: str = Field(max_length=200, description="base64 Ed25519 signature")


class TokenResponse(BaseModel):
    token: str
    party: str
    official: str | None
    expires_at: float
