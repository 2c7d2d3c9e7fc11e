"""Request and response bodies of the API (pydantic), SI units, no NaN or infinity anywhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from detente.model.reports import TrackReport

__all__ = [
    "ChallengeRequest",
    "ChallengeResponse",
    "IngestResponse",
    "StateIn",
    "StatesBatch",
    "TokenRequest",
    "TokenResponse",
]

_STRICT = ConfigDict(allow_inf_nan=False, extra="forbid")


class StateIn(BaseModel):
    """One aircraft state of the sender's own party. ``party``, when given, must be the
    sender's."""

    model_config = _STRICT
    id: str = Field(min_length=1, max_length=64, description="the party's own track id")
    party: str | None = Field(default=None, description="optional; must be the sender's party")
    t: float = Field(description="time of the position, s of the UTC epoch")
    lat: float = Field(ge=-90, le=90, description="deg WGS84")
    lon: float = Field(ge=-180, le=180, description="deg WGS84")
    alt_m: float = Field(ge=-1_000, le=100_000, description="m")
    gs_mps: float = Field(ge=0, le=1_500, description="ground speed, m/s")
    trk_deg: float = Field(ge=-360, le=360, description="true track, deg")
    vs_mps: float = Field(default=0.0, ge=-1_500, le=1_500, description="vertical rate, m/s")

    def report(self) -> TrackReport:
        return TrackReport(self.id, self.t, self.lat, self.lon, self.alt_m, self.gs_mps,
                           self.trk_deg, self.vs_mps)


class StatesBatch(BaseModel):
    model_config = _STRICT
    states: list[StateIn] = Field(max_length=10_000)


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
