"""The replay service: a small read-only FastAPI app that serves the console in replay mode.

Nothing here changes anything: it answers, for a party and an instant, what that party was
shown (``detente.service.replay.Replay``), and serves the console's static files. No login:
whoever holds the recording holds all of it already.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Query
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from detente import __version__
from detente.api.problems import install_problem_handlers
from detente.service.replay import Replay

__all__ = ["create_replay_app"]


def create_replay_app(replay: Replay, party: str | None = None) -> FastAPI:
    """``party``: the party the console opens on (any can be chosen there)."""
    app = FastAPI(
        title="detente replay",
        version=__version__,
        description="What each party was shown, at any instant of a recording. Read-only.",
    )
    install_problem_handlers(app)
    app.mount("/console", StaticFiles(packages=[("detente.web", "static")], html=True),
              name="console")
    start = f"/console/?source=replay{'&party=' + quote(party) if party else ''}"

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse(start)

    @app.get("/health", tags=["replay"])
    async def health() -> dict[str, Any]:
        return {"status": "ok", "replay": True}

    @app.get("/v1/replay", tags=["replay"])
    async def info() -> dict[str, Any]:
        """The time range, the parties and officials, the record (verified) and the recording
        (not signed)."""
        return {**replay.info(), "party": party}

    @app.get("/v1/replay/view", tags=["replay"])
    def view(party: str = Query(..., description="whose view"),
             t: float = Query(..., description="the instant (s, UTC epoch)")) -> dict[str, Any]:
        """What ``party`` was shown at ``t``: tracks (as the sharing agreements let it see them),
        alerts as it was told them, its hotline messages as they then stood, and the record's
        latest signed tree head with the cosignatures made by then."""
        return replay.view(party, t)

    @app.get("/v1/replay/timeline", tags=["replay"])
    def timeline(party: str = Query(...)) -> dict[str, Any]:
        """The moments worth jumping to: alerts raised or changing severity, hotline traffic."""
        return {"party": party, "moments": replay.timeline(party)}

    @app.get("/v1/replay/receipts/{index}", tags=["replay"])
    def receipt(index: int, t: float = Query(..., description="the instant (s, UTC epoch)")
                ) -> dict[str, Any]:
        """Entry ``index`` of the record (verified at start) with its inclusion proof under
        the latest head signed by ``t``: the service's receipt, from the export."""
        return replay.receipt(index, t)

    @app.get("/v1/airspaces", tags=["replay"])
    async def airspaces() -> dict[str, Any]:
        """The protected airspaces the service ran with (GeoJSON, as the service gives them)."""
        return replay.recording.airspaces

    return app
